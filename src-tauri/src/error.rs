//! Errors as the UI sees them: `{kind, message}`, where `kind` is stable for the UI to match on
//! and `message` is a sentence a musician can act on.

use jam_session::SessionError;
use serde::ser::SerializeStruct;

/// What went wrong in a command.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Joining or staying in the jam failed.
    #[error("{0}")]
    Session(#[from] SessionError),
    /// The embedded relay could not start.
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
    /// A value from the UI is out of range.
    #[error("{0}")]
    BadInput(String),
    /// The audio output could not be (re)opened.
    #[error("{0}")]
    Audio(String),
    /// MIDI input failed.
    #[error("{0}")]
    Midi(#[from] jam_midi::MidiError),
    /// The takes' session log failed.
    #[error("{0}")]
    Takes(String),
    /// The settings file could not be written.
    #[error("Couldn't save your settings ({0}); they'll apply until you quit.")]
    Settings(String),
}

impl AppError {
    /// The stable name of this kind of error, for the UI.
    pub fn kind(&self) -> String {
        match self {
            AppError::Session(e) => match e {
                SessionError::BadInvite(_) => "badInvite".into(),
                SessionError::Unreachable { .. } => "unreachable".into(),
                SessionError::Relay { code, .. } => format!("relay:{}", code.as_str()),
                SessionError::Protocol { .. } => "protocol".into(),
                SessionError::JamEnded { .. } => "jamEnded".into(),
                SessionError::Closed => "closed".into(),
                SessionError::Backlogged => "backlogged".into(),
            },
            AppError::Host { .. } => "host".into(),
            AppError::AlreadyInJam => "alreadyInJam".into(),
            AppError::Listener => "listener".into(),
            AppError::BadInput(_) => "badInput".into(),
            AppError::Audio(_) => "audio".into(),
            AppError::Midi(_) => "midi".into(),
            AppError::Takes(_) => "takes".into(),
            AppError::Settings(_) => "settings".into(),
        }
    }
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("AppError", 2)?;
        s.serialize_field("kind", &self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

impl From<jam_takes::TakesError> for AppError {
    fn from(e: jam_takes::TakesError) -> AppError {
        AppError::Takes(e.to_string())
    }
}

/// Result of a command.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_reach_the_ui_as_kind_and_message() {
        let e = AppError::Session(SessionError::Relay {
            code: jam_protocol::ErrorCode::WrongPassword,
            message: "wrong password for room K7M2QXH4".into(),
        });
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"kind": "relay:WRONG_PASSWORD", "message": "wrong password for room K7M2QXH4"})
        );
        let e = AppError::Listener;
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "listener");
        assert!(json["message"].as_str().unwrap().contains("listener"));
    }
}
