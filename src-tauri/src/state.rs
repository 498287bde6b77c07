//! The app's managed state: the speaker (audio engine), the groove, the jam, the settings and
//! the MIDI inputs. One [`AppState`] lives for the app's whole run.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jam_protocol::event::{DrumHit, PianoNote, PianoNoteOff, Sustain};
use jam_protocol::{MusicalEvent, Role};
use jam_session::{SessionHandle, Speaker};
use serde::Deserialize;

use crate::error::{AppError, Result};
use crate::groove::Groove;
use crate::jam::{Jam, Timeline, lock};
use crate::midi::MidiState;
use crate::settings::Settings;

/// Everything the commands share.
pub struct AppState {
    /// The local audio engine and device.
    pub speaker: Arc<Mutex<Speaker>>,
    /// Tempo, pattern, click.
    pub groove: Arc<Mutex<Groove>>,
    /// Local time before a jam, relay time in one.
    pub timeline: Arc<Mutex<Timeline>>,
    /// The jam we are in, if any. Async: hosting and leaving await the network.
    pub jam: tokio::sync::Mutex<Option<Jam>>,
    /// Where our playing goes besides the speaker: the fast path of [`AppState::perform`].
    pub sender: Mutex<Option<(SessionHandle, Role)>>,
    /// What is remembered between launches.
    pub settings: Mutex<Settings>,
    /// Where it is remembered.
    pub settings_path: PathBuf,
    /// MIDI inputs.
    pub midi: Arc<Mutex<MidiState>>,
    /// The takes' session log: `takes.sqlite` in the app's data directory.
    pub takes_path: PathBuf,
    /// Its writer, when it could be opened (why not, otherwise).
    pub recorder: Result<jam_takes::Recorder, String>,
    /// The writer thread, finished (flushed) when the app exits.
    pub recorder_thread: Mutex<Option<jam_takes::RecorderThread>>,
}

/// A key, pad or pedal from the UI (or a MIDI device).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PlayInput {
    /// A key or pad went down.
    #[serde(rename_all = "camelCase")]
    NoteOn {
        /// `piano` or `drums`.
        instrument: InstrumentName,
        /// MIDI note number.
        note: u8,
        /// 1–127.
        velocity: u8,
    },
    /// A piano key came up.
    #[serde(rename_all = "camelCase")]
    NoteOff {
        /// `piano` or `drums` (drums ignore it).
        instrument: InstrumentName,
        /// MIDI note number.
        note: u8,
    },
    /// The sustain pedal.
    Sustain {
        /// Down.
        on: bool,
    },
}

/// `piano` or `drums`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InstrumentName {
    /// The piano.
    Piano,
    /// The drum kit.
    Drums,
}

impl PlayInput {
    /// The musical event, stamped with `now_ms`; `None` for what plays nothing (a drum release).
    pub fn to_event(self, now_ms: f64) -> Result<Option<MusicalEvent>> {
        let event = match self {
            PlayInput::NoteOn {
                instrument: InstrumentName::Drums,
                note,
                velocity,
            } => MusicalEvent::DrumHit(DrumHit {
                note,
                velocity,
                timestamp: now_ms,
            }),
            PlayInput::NoteOn {
                instrument: InstrumentName::Piano,
                note,
                velocity,
            } => MusicalEvent::PianoNote(PianoNote {
                note,
                velocity,
                timestamp: now_ms,
                duration: None,
            }),
            PlayInput::NoteOff {
                instrument: InstrumentName::Drums,
                ..
            } => return Ok(None),
            PlayInput::NoteOff {
                instrument: InstrumentName::Piano,
                note,
            } => MusicalEvent::PianoNoteOff(PianoNoteOff {
                note,
                timestamp: now_ms,
            }),
            PlayInput::Sustain { on } => MusicalEvent::Sustain(Sustain {
                on,
                timestamp: now_ms,
            }),
        };
        event
            .validate()
            .map_err(|e| AppError::BadInput(e.to_string()))?;
        Ok(Some(event))
    }
}

impl AppState {
    /// Relay time in a jam, local time outside one, ms.
    pub fn now_ms(&self) -> f64 {
        lock(&self.timeline).now_ms()
    }

    /// Plays something of ours: at once on the local engine, and to the room in parallel.
    pub fn perform(&self, input: PlayInput) -> Result<()> {
        let sender = lock(&self.sender);
        if matches!(*sender, Some((_, Role::Listener))) {
            return Err(AppError::Listener);
        }
        let now_ms = sender
            .as_ref()
            .map_or_else(|| self.now_ms(), |(session, _)| session.relay_now_ms());
        let Some(event) = input.to_event(now_ms)? else {
            return Ok(());
        };
        lock(&self.speaker).play_local(&event);
        if let Some((session, _)) = sender.as_ref() {
            session.send(&event)?;
        }
        Ok(())
    }

    /// Sends a non-sounding event (chat, tempo, pattern) to the room, if we are in one.
    pub fn share(&self, event: &MusicalEvent) -> Result<()> {
        event
            .validate()
            .map_err(|e| AppError::BadInput(e.to_string()))?;
        match lock(&self.sender).as_ref() {
            // The relay refuses anything from a listener, chat included.
            Some((_, Role::Listener)) => Err(AppError::Listener),
            Some((session, _)) => Ok(session.send(event)?),
            None => Ok(()),
        }
    }

    /// Saves the settings, after `change`.
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings> {
        let mut settings = lock(&self.settings);
        change(&mut settings);
        settings
            .save(&self.settings_path)
            .map_err(|e| AppError::Settings(e.to_string()))?;
        Ok(settings.clone())
    }
}
