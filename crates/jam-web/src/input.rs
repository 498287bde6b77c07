//! A key, pad or pedal as the page hands it over: the app's `PlayInput` JSON, and the protocol
//! event it becomes (and comes from).

use jam_protocol::MusicalEvent;
use jam_protocol::event::{DrumHit, Modulation, PianoNote, PianoNoteOff, PitchBend, Sustain};
use serde::{Deserialize, Serialize};

/// `piano` or `drums` (the app's `InstrumentName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Instrument {
    /// The piano.
    Piano,
    /// The drum kit.
    Drums,
}

/// A key, pad or pedal (the app's `PlayInput`, the same JSON).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Input {
    /// A key or pad went down.
    NoteOn {
        /// `piano` or `drums`.
        instrument: Instrument,
        /// MIDI note.
        note: u8,
        /// 1–127.
        velocity: u8,
    },
    /// A key came up.
    NoteOff {
        /// `piano` or `drums`.
        instrument: Instrument,
        /// MIDI note.
        note: u8,
    },
    /// The sustain pedal.
    Sustain {
        /// Down.
        on: bool,
    },
    /// The pitch wheel, −8192–8191.
    PitchBend {
        /// Signed 14-bit value.
        value: i16,
    },
    /// The modulation wheel, 0–127.
    Modulation {
        /// 0–127.
        value: u8,
    },
}

impl Input {
    /// The protocol event, or `None` for what plays nothing (a drum's release).
    pub(crate) fn to_event(self, timestamp: f64) -> Option<MusicalEvent> {
        Some(match self {
            Input::NoteOn {
                instrument: Instrument::Drums,
                note,
                velocity,
            } => MusicalEvent::DrumHit(DrumHit {
                note,
                velocity,
                timestamp,
            }),
            Input::NoteOn {
                instrument: Instrument::Piano,
                note,
                velocity,
            } => MusicalEvent::PianoNote(PianoNote {
                note,
                velocity,
                timestamp,
                duration: None,
            }),
            Input::NoteOff {
                instrument: Instrument::Drums,
                ..
            } => return None,
            Input::NoteOff {
                instrument: Instrument::Piano,
                note,
            } => MusicalEvent::PianoNoteOff(PianoNoteOff { note, timestamp }),
            Input::Sustain { on } => MusicalEvent::Sustain(Sustain { on, timestamp }),
            Input::PitchBend { value } => MusicalEvent::PitchBend(PitchBend { value, timestamp }),
            Input::Modulation { value } => {
                MusicalEvent::Modulation(Modulation { value, timestamp })
            }
        })
    }

    pub(crate) fn from_event(event: &MusicalEvent) -> Option<(Input, Option<f64>)> {
        Some(match event {
            MusicalEvent::DrumHit(h) => (
                Input::NoteOn {
                    instrument: Instrument::Drums,
                    note: h.note,
                    velocity: h.velocity,
                },
                None,
            ),
            MusicalEvent::PianoNote(n) => (
                Input::NoteOn {
                    instrument: Instrument::Piano,
                    note: n.note,
                    velocity: n.velocity,
                },
                n.duration,
            ),
            MusicalEvent::PianoNoteOff(n) => (
                Input::NoteOff {
                    instrument: Instrument::Piano,
                    note: n.note,
                },
                None,
            ),
            MusicalEvent::Sustain(s) => (Input::Sustain { on: s.on }, None),
            MusicalEvent::PitchBend(b) => (Input::PitchBend { value: b.value }, None),
            MusicalEvent::Modulation(m) => (Input::Modulation { value: m.value }, None),
            _ => return None,
        })
    }
}
