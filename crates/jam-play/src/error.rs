//! What can go wrong in the app core, each with a sentence a musician can act on, and a stable
//! [`PlayError::kind`] for a UI to match on.

use jam_session::SessionError;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    /// Joining or staying in the jam failed.
    #[error("{0}")]
    Session(#[from] SessionError),
    /// The relay could not start.
    #[error("Couldn't start hosting on {address}: {detail}")]
    Host {
        /// Where we tried to listen.
        address: String,
        /// Why it failed, with what to do.
        detail: String,
    },
    /// Already in a jam: leave it first.
    #[error("You're already in a jam — leave it first.")]
    AlreadyInJam,
    /// A listener tried to play.
    #[error("You joined as a listener — rejoin as a player to play along.")]
    Listener,
    /// A value from the user is out of range.
    #[error("{0}")]
    BadInput(String),
    /// The audio output could not be (re)opened.
    #[error("No sound from that output: {0}")]
    Audio(String),
    /// MIDI input failed.
    #[error("{0}")]
    Midi(#[from] jam_midi::MidiError),
    /// The takes' session log failed.
    #[error("{0}")]
    Takes(#[from] jam_takes::TakesError),
    /// Takes can't be recorded on this computer (the log couldn't be opened).
    #[error("Takes can't be recorded here: {0}")]
    TakesUnavailable(String),
    /// A take couldn't be written as a file.
    #[error("Couldn't write {path}: {detail}")]
    Export {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// A take couldn't be rendered as stems.
    #[error("{0}")]
    Bounce(#[from] crate::stems::BounceError),
    /// The settings file could not be written.
    #[error("Couldn't save your settings ({0}); they'll apply until you quit.")]
    Settings(String),
}

impl PlayError {
    /// The stable name of this kind of error (`relay:CODE` for the relay's refusals).
    pub fn kind(&self) -> String {
        match self {
            PlayError::Session(e) => match e {
                SessionError::BadInvite(_) => "badInvite".into(),
                SessionError::Unreachable { .. } => "unreachable".into(),
                SessionError::TimedOut { .. } => "timedOut".into(),
                SessionError::Refused { .. } => "refused".into(),
                SessionError::UnknownHost { .. } => "unknownHost".into(),
                SessionError::Tls { .. } => "tls".into(),
                SessionError::Relay { code, .. } => format!("relay:{}", code.as_str()),
                SessionError::Protocol { .. } => "protocol".into(),
                SessionError::JamEnded { .. } => "jamEnded".into(),
                SessionError::Closed => "closed".into(),
                SessionError::Backlogged => "backlogged".into(),
            },
            PlayError::Host { .. } => "host".into(),
            PlayError::AlreadyInJam => "alreadyInJam".into(),
            PlayError::Listener => "listener".into(),
            PlayError::BadInput(_) => "badInput".into(),
            PlayError::Audio(_) => "audio".into(),
            PlayError::Midi(_) => "midi".into(),
            PlayError::Takes(_)
            | PlayError::TakesUnavailable(_)
            | PlayError::Export { .. }
            | PlayError::Bounce(_) => "takes".into(),
            PlayError::Settings(_) => "settings".into(),
        }
    }
}

/// Result of the core's calls.
pub type Result<T, E = PlayError> = std::result::Result<T, E>;
