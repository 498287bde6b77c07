//! Errors of the MIDI crate.

use std::path::PathBuf;

/// What went wrong with MIDI.
#[derive(Debug, thiserror::Error)]
pub enum MidiError {
    /// There is no MIDI system to talk to (on Linux: no ALSA sequencer, `/dev/snd/seq`).
    #[error(
        "MIDI isn't available on this computer ({detail}) — you can still play with the mouse and the computer keyboard"
    )]
    NoMidiSystem {
        /// What the MIDI system said.
        detail: String,
    },
    /// The named device is not connected.
    #[error("the MIDI device \"{name}\" isn't connected — available: {}", if available.is_empty() { "none".to_owned() } else { available.join(", ") })]
    DeviceNotFound {
        /// The name asked for.
        name: String,
        /// What is connected.
        available: Vec<String>,
    },
    /// The device is there but could not be opened.
    #[error("couldn't open the MIDI device \"{name}\": {detail} — is another program using it?")]
    ConnectFailed {
        /// The device.
        name: String,
        /// What the MIDI system said.
        detail: String,
    },
    /// Virtual MIDI ports were asked for where the system has none (Windows).
    #[error(
        "this computer can't make MIDI ports of its own (Windows has none) — send MIDI out to an existing output instead, such as a loopMIDI port"
    )]
    NoVirtualPorts,
    /// A MIDI file could not be read.
    #[error("couldn't read {path}: {source}")]
    FileUnreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A MIDI file is not a valid Standard MIDI File.
    #[error("{what} is not a valid MIDI file: {detail}")]
    FileInvalid {
        /// The file (or "the data").
        what: String,
        /// What the parser said.
        detail: String,
    },
    /// A MIDI file could not be written.
    #[error("couldn't write {path}: {detail}")]
    FileWrite {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The audio engine failed (bouncing to audio).
    #[error(transparent)]
    Audio(#[from] jam_audio::AudioError),
}

/// The crate's result type.
pub type Result<T, E = MidiError> = std::result::Result<T, E>;
