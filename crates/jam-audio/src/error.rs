//! Errors of the audio engine.

use std::path::PathBuf;

/// What went wrong in the audio engine.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// A sample file is missing or unreadable.
    #[error("couldn't read the sample {path}: {source} — is Jamwire's assets folder complete?")]
    SampleUnreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A sample file is not valid FLAC.
    #[error("the sample {path} is damaged or not FLAC: {detail}")]
    SampleInvalid {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        detail: String,
    },
    /// The assets folder lacks samples the instruments need.
    #[error("no {what} samples in {dir} — is Jamwire's assets folder complete?")]
    SamplesMissing {
        /// Piano or drum.
        what: &'static str,
        /// The folder searched.
        dir: PathBuf,
    },
    /// The palette manifest (`palette.json`) is damaged or out of bounds.
    #[error(
        "the instrument palette {path} is damaged: {detail} — is Jamwire's assets folder complete?"
    )]
    PaletteInvalid {
        /// The manifest.
        path: PathBuf,
        /// What is wrong, naming the instrument.
        detail: String,
    },
    /// A player's own sound (a SoundFont or a folder of recordings) can't be read.
    #[error("couldn't open {path} as your sound: {source}")]
    OwnSoundUnreadable {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A player's own sound is damaged, too large or not something Jamwire plays.
    #[error("{path} can't be your sound: {detail}")]
    OwnSoundInvalid {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong and what to do.
        detail: String,
    },
    /// The command ring is full: the audio side is not running or is far behind.
    #[error(
        "the audio engine isn't taking commands (its queue is full); is the audio output running?"
    )]
    CommandQueueFull,
    /// The system offers no output device at all (no sound card, no sound server).
    #[error(
        "no audio output is available ({detail}) — Jamwire keeps running without sound; connect headphones or speakers, or start your sound server, then pick an output in Settings"
    )]
    NoOutputDevice {
        /// What the audio system said.
        detail: String,
    },
    /// The chosen device is not there.
    #[error("the audio output \"{name}\" isn't connected — available: {}", if available.is_empty() { "none".to_owned() } else { available.join(", ") })]
    DeviceNotFound {
        /// The name asked for.
        name: String,
        /// Devices that are there.
        available: Vec<String>,
    },
    /// The device is there but could not be opened or stopped working.
    #[error(
        "couldn't play through \"{device}\": {detail} — is another program using it? Pick another output in Settings"
    )]
    DeviceUnavailable {
        /// The device.
        device: String,
        /// What the audio system said.
        detail: String,
    },
    /// Writing a WAV file failed.
    #[error("couldn't write {path}: {detail}")]
    WavWrite {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

/// The engine's result type.
pub type Result<T, E = AudioError> = std::result::Result<T, E>;
