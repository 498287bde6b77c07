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
    /// The command ring is full: the audio side is not running or is far behind.
    #[error(
        "the audio engine isn't taking commands (its queue is full); is the audio output running?"
    )]
    CommandQueueFull,
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
