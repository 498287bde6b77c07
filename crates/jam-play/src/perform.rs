//! Playing: one key, pad or pedal — from the mouse, the computer keyboard, a MIDI device or a
//! MIDI file — as a [`PlayInput`], and the protocol event it becomes. Written once, for every
//! face of Jamwire.

use jam_midi::PlayEvent;
use jam_protocol::MusicalEvent;
use jam_protocol::event::{DrumHit, Modulation, PianoNote, PianoNoteOff, PitchBend, Sustain};
use serde::{Deserialize, Serialize};

use crate::error::{PlayError, Result};

/// `piano` or `drums`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum InstrumentName {
    /// The piano.
    Piano,
    /// The drum kit.
    Drums,
}

impl From<jam_audio::Instrument> for InstrumentName {
    fn from(instrument: jam_audio::Instrument) -> InstrumentName {
        match instrument {
            jam_audio::Instrument::Drums => InstrumentName::Drums,
            jam_audio::Instrument::Piano => InstrumentName::Piano,
        }
    }
}

/// A key, pad or pedal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PlayInput {
    /// A key or pad went down.
    #[serde(rename_all = "camelCase")]
    NoteOn {
        /// `piano` or `drums`.
        instrument: InstrumentName,
        /// MIDI note number (drums: the General MIDI drum), 0–127.
        note: u8,
        /// 1–127.
        velocity: u8,
    },
    /// A key came up (a drum's release plays nothing: the protocol has no drum note-off).
    #[serde(rename_all = "camelCase")]
    NoteOff {
        /// `piano` or `drums`.
        instrument: InstrumentName,
        /// MIDI note number.
        note: u8,
    },
    /// The sustain pedal.
    Sustain {
        /// Down.
        on: bool,
    },
    /// The pitch wheel: −8192–8191, 0 = centre.
    PitchBend {
        /// Signed 14-bit value.
        value: i16,
    },
    /// The modulation wheel: 0–127.
    Modulation {
        /// 0–127.
        value: u8,
    },
}

impl From<PlayEvent> for PlayInput {
    fn from(event: PlayEvent) -> PlayInput {
        match event {
            PlayEvent::NoteOn {
                instrument,
                note,
                velocity,
            } => PlayInput::NoteOn {
                instrument: instrument.into(),
                note,
                velocity,
            },
            PlayEvent::NoteOff { instrument, note } => PlayInput::NoteOff {
                instrument: instrument.into(),
                note,
            },
            PlayEvent::Sustain { on } => PlayInput::Sustain { on },
            PlayEvent::PitchBend { value } => PlayInput::PitchBend { value },
            PlayEvent::Modulation { value } => PlayInput::Modulation { value },
        }
    }
}

impl PlayInput {
    /// The protocol event, stamped `now_ms` (relay time when in a jam), checked against the
    /// protocol's bounds; `None` for what plays nothing (a drum's release).
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
            PlayInput::PitchBend { value } => MusicalEvent::PitchBend(PitchBend {
                value,
                timestamp: now_ms,
            }),
            PlayInput::Modulation { value } => MusicalEvent::Modulation(Modulation {
                value,
                timestamp: now_ms,
            }),
        };
        event
            .validate()
            .map_err(|e| PlayError::BadInput(e.to_string()))?;
        Ok(Some(event))
    }

    /// What a received event plays, as an input (so a UI lights the same key it would for its
    /// own playing), with the note's own length if it has one (ms). `None` for events that are
    /// not notes or pedal.
    pub fn from_event(event: &MusicalEvent) -> Option<(PlayInput, Option<f64>)> {
        match event {
            MusicalEvent::DrumHit(h) => Some((
                PlayInput::NoteOn {
                    instrument: InstrumentName::Drums,
                    note: h.note,
                    velocity: h.velocity,
                },
                None,
            )),
            MusicalEvent::PianoNote(n) => Some((
                PlayInput::NoteOn {
                    instrument: InstrumentName::Piano,
                    note: n.note,
                    velocity: n.velocity,
                },
                n.duration,
            )),
            MusicalEvent::PianoNoteOff(n) => Some((
                PlayInput::NoteOff {
                    instrument: InstrumentName::Piano,
                    note: n.note,
                },
                None,
            )),
            MusicalEvent::Sustain(s) => Some((PlayInput::Sustain { on: s.on }, None)),
            MusicalEvent::PitchBend(b) => Some((PlayInput::PitchBend { value: b.value }, None)),
            MusicalEvent::Modulation(m) => Some((PlayInput::Modulation { value: m.value }, None)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_become_protocol_events_and_back_and_a_drum_release_plays_nothing() {
        let hit = PlayInput::NoteOn {
            instrument: InstrumentName::Drums,
            note: 38,
            velocity: 100,
        };
        let event = hit.to_event(1_000.0).unwrap().unwrap();
        assert_eq!(
            event,
            MusicalEvent::DrumHit(DrumHit {
                note: 38,
                velocity: 100,
                timestamp: 1_000.0
            })
        );
        assert_eq!(PlayInput::from_event(&event), Some((hit, None)));
        let release = PlayInput::NoteOff {
            instrument: InstrumentName::Drums,
            note: 38,
        };
        assert_eq!(release.to_event(1_000.0).unwrap(), None);
        let piano_off = PlayInput::NoteOff {
            instrument: InstrumentName::Piano,
            note: 60,
        };
        assert!(matches!(
            piano_off.to_event(5.0).unwrap(),
            Some(MusicalEvent::PianoNoteOff(_))
        ));
        // A MIDI keyboard's events become the same inputs.
        let midi = PlayEvent::NoteOn {
            instrument: jam_audio::Instrument::Piano,
            note: 60,
            velocity: 90,
        };
        assert_eq!(
            PlayInput::from(midi),
            PlayInput::NoteOn {
                instrument: InstrumentName::Piano,
                note: 60,
                velocity: 90
            }
        );
    }

    #[test]
    fn out_of_range_input_is_refused_with_a_reason() {
        for bad in [
            PlayInput::NoteOn {
                instrument: InstrumentName::Piano,
                note: 128,
                velocity: 90,
            },
            PlayInput::NoteOn {
                instrument: InstrumentName::Drums,
                note: 36,
                velocity: 0,
            },
        ] {
            assert!(
                matches!(bad.to_event(1.0), Err(PlayError::BadInput(_))),
                "{bad:?}"
            );
        }
    }
}
