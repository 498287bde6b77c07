//! Deciding what a MIDI event plays: the drum kit or the piano.

use jam_audio::Instrument;

use crate::{MidiEvent, MidiMessage};

/// Where a device's notes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Route {
    /// By channel: the drum channels play drums, the others piano.
    #[default]
    ByChannel,
    /// Everything from the device plays the drum kit (an electronic drum kit on any channel).
    Drums,
    /// Everything from the device plays the piano.
    Piano,
}

/// What to play, after routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayEvent {
    /// Start a note.
    NoteOn {
        /// Drums or piano.
        instrument: Instrument,
        /// MIDI note (drums: General MIDI drum number), after transposition.
        note: u8,
        /// 1–127.
        velocity: u8,
    },
    /// Release a note.
    NoteOff {
        /// Drums or piano.
        instrument: Instrument,
        /// MIDI note, after transposition.
        note: u8,
    },
    /// Sustain pedal.
    Sustain {
        /// Down.
        on: bool,
    },
    /// The pitch wheel, −8192–8191 (0 = centre).
    PitchBend {
        /// Signed 14-bit value.
        value: i16,
    },
    /// The modulation wheel (CC1), 0–127.
    Modulation {
        /// 0–127.
        value: u8,
    },
}

/// Routing rules. Defaults: MIDI channel 10 plays drums (General MIDI), every other channel
/// plays piano, no transposition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    /// Bit n set: channel n (0-based) plays drums under [`Route::ByChannel`].
    pub drum_channels: u16,
    /// Per-device overrides, by device name.
    pub devices: Vec<(String, Route)>,
    /// Semitones added to piano notes (drum notes are never transposed: they name sounds).
    pub transpose: i8,
}

impl Default for Router {
    fn default() -> Router {
        Router {
            drum_channels: 1 << 9,
            devices: Vec::new(),
            transpose: 0,
        }
    }
}

impl Router {
    /// Whether channel `channel` (0–15) plays the drums when routed by channel.
    pub fn is_drums(&self, channel: u8) -> bool {
        self.drum_channels & (1 << (channel & 0x0F)) != 0
    }

    /// Routes one event from `device` (its name, if it came from a device). Events that play
    /// nothing (controllers other than the modulation wheel, aftertouch, …) and notes transposed out of 0–127 give `None`.
    pub fn route(&self, device: Option<&str>, event: MidiEvent) -> Option<PlayEvent> {
        let route = device
            .and_then(|name| self.devices.iter().find(|(n, _)| n == name))
            .map_or(Route::ByChannel, |(_, r)| *r);
        let instrument = match route {
            Route::Drums => Instrument::Drums,
            Route::Piano => Instrument::Piano,
            Route::ByChannel if self.is_drums(event.channel) => Instrument::Drums,
            Route::ByChannel => Instrument::Piano,
        };
        let place = |note: u8| match instrument {
            Instrument::Drums => Some(note),
            Instrument::Piano => u8::try_from(i16::from(note) + i16::from(self.transpose))
                .ok()
                .filter(|n| *n <= 127),
        };
        match event.message {
            MidiMessage::NoteOn { note, velocity } => Some(PlayEvent::NoteOn {
                instrument,
                note: place(note)?,
                velocity,
            }),
            MidiMessage::NoteOff { note, .. } => Some(PlayEvent::NoteOff {
                instrument,
                note: place(note)?,
            }),
            MidiMessage::Sustain { on } => Some(PlayEvent::Sustain { on }),
            MidiMessage::PitchBend { value } => Some(PlayEvent::PitchBend { value }),
            MidiMessage::ControlChange {
                controller: 1,
                value,
            } => Some(PlayEvent::Modulation { value }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(channel: u8, note: u8) -> MidiEvent {
        MidiEvent {
            channel,
            message: MidiMessage::NoteOn {
                note,
                velocity: 100,
            },
        }
    }

    #[test]
    fn channel_ten_plays_drums_and_the_rest_piano() {
        let r = Router::default();
        assert_eq!(
            r.route(None, on(9, 38)),
            Some(PlayEvent::NoteOn {
                instrument: Instrument::Drums,
                note: 38,
                velocity: 100
            })
        );
        assert_eq!(
            r.route(None, on(0, 60)),
            Some(PlayEvent::NoteOn {
                instrument: Instrument::Piano,
                note: 60,
                velocity: 100
            })
        );
    }

    #[test]
    fn devices_and_channels_can_be_rerouted_and_piano_transposed() {
        let r = Router {
            drum_channels: (1 << 9) | (1 << 3),
            devices: vec![
                ("TD-17".into(), Route::Drums),
                ("Keystation 49".into(), Route::Piano),
            ],
            transpose: 12,
        };
        assert_eq!(
            r.route(Some("TD-17"), on(0, 36)),
            Some(PlayEvent::NoteOn {
                instrument: Instrument::Drums,
                note: 36,
                velocity: 100
            }),
            "drums are not transposed"
        );
        assert_eq!(
            r.route(Some("Keystation 49"), on(9, 60)),
            Some(PlayEvent::NoteOn {
                instrument: Instrument::Piano,
                note: 72,
                velocity: 100
            })
        );
        assert_eq!(
            r.route(None, on(3, 42)),
            Some(PlayEvent::NoteOn {
                instrument: Instrument::Drums,
                note: 42,
                velocity: 100
            })
        );
        assert_eq!(r.route(None, on(0, 120)), None, "132 is out of range");
        let bend = MidiEvent {
            channel: 0,
            message: MidiMessage::PitchBend { value: 5 },
        };
        assert_eq!(r.route(None, bend), Some(PlayEvent::PitchBend { value: 5 }));
        let wheel = |controller| MidiEvent {
            channel: 0,
            message: MidiMessage::ControlChange {
                controller,
                value: 70,
            },
        };
        assert_eq!(
            r.route(None, wheel(1)),
            Some(PlayEvent::Modulation { value: 70 })
        );
        assert_eq!(r.route(None, wheel(7)), None, "volume plays nothing");
    }
}
