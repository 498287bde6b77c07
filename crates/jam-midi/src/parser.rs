//! Turning a raw MIDI byte stream into typed events, one byte at a time.

/// A MIDI channel message, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MidiMessage {
    /// A key went down; `velocity` is 1–127 (a note-on with velocity 0 arrives as `NoteOff`).
    NoteOn {
        /// 0–127.
        note: u8,
        /// 1–127.
        velocity: u8,
    },
    /// A key came up.
    NoteOff {
        /// 0–127.
        note: u8,
        /// Release velocity, 0–127.
        velocity: u8,
    },
    /// Sustain pedal (CC64): down when the value is 64 or more.
    Sustain {
        /// Pedal down.
        on: bool,
    },
    /// Any other controller.
    ControlChange {
        /// Controller number, 0–127.
        controller: u8,
        /// 0–127.
        value: u8,
    },
    /// Pitch bend, −8192..=8191 (0 = centre).
    PitchBend {
        /// Signed 14-bit value.
        value: i16,
    },
    /// Program (instrument) change.
    ProgramChange {
        /// 0–127.
        program: u8,
    },
    /// Channel aftertouch.
    ChannelPressure {
        /// 0–127.
        pressure: u8,
    },
    /// Polyphonic aftertouch.
    PolyPressure {
        /// 0–127.
        note: u8,
        /// 0–127.
        pressure: u8,
    },
}

/// A channel message and its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MidiEvent {
    /// MIDI channel 0–15 (channel "10" of the General MIDI drums is 9 here).
    pub channel: u8,
    /// The message.
    pub message: MidiMessage,
}

impl MidiEvent {
    /// Builds the event from a status byte and its data bytes (already known to be complete).
    pub fn from_bytes(status: u8, d1: u8, d2: u8) -> Option<MidiEvent> {
        let channel = status & 0x0F;
        let message = match status & 0xF0 {
            0x80 => MidiMessage::NoteOff {
                note: d1,
                velocity: d2,
            },
            0x90 if d2 == 0 => MidiMessage::NoteOff {
                note: d1,
                velocity: 0,
            },
            0x90 => MidiMessage::NoteOn {
                note: d1,
                velocity: d2,
            },
            0xA0 => MidiMessage::PolyPressure {
                note: d1,
                pressure: d2,
            },
            0xB0 if d1 == 64 => MidiMessage::Sustain { on: d2 >= 64 },
            0xB0 => MidiMessage::ControlChange {
                controller: d1,
                value: d2,
            },
            0xC0 => MidiMessage::ProgramChange { program: d1 },
            0xD0 => MidiMessage::ChannelPressure { pressure: d1 },
            0xE0 => MidiMessage::PitchBend {
                value: ((i16::from(d2) << 7) | i16::from(d1)) - 8192,
            },
            _ => return None,
        };
        Some(MidiEvent { channel, message })
    }

    /// The event as MIDI bytes (3, or 2 for program change and channel pressure).
    pub fn to_bytes(&self) -> ([u8; 3], usize) {
        let ch = self.channel & 0x0F;
        match self.message {
            MidiMessage::NoteOn { note, velocity } => ([0x90 | ch, note, velocity], 3),
            MidiMessage::NoteOff { note, velocity } => ([0x80 | ch, note, velocity], 3),
            MidiMessage::PolyPressure { note, pressure } => ([0xA0 | ch, note, pressure], 3),
            MidiMessage::Sustain { on } => ([0xB0 | ch, 64, if on { 127 } else { 0 }], 3),
            MidiMessage::ControlChange { controller, value } => ([0xB0 | ch, controller, value], 3),
            MidiMessage::ProgramChange { program } => ([0xC0 | ch, program, 0], 2),
            MidiMessage::ChannelPressure { pressure } => ([0xD0 | ch, pressure, 0], 2),
            MidiMessage::PitchBend { value } => {
                let v = (value.clamp(-8192, 8191) + 8192) as u16;
                ([0xE0 | ch, (v & 0x7F) as u8, (v >> 7) as u8], 3)
            }
        }
    }
}

/// A streaming MIDI parser with running status. Fixed size, no allocation: real-time safe.
///
/// - Running status: data bytes after a complete message reuse the last channel status.
/// - System real-time bytes (`0xF8`–`0xFF`: clock, start, stop, active sensing, …) may appear
///   anywhere, even inside another message, and are ignored without disturbing it.
/// - SysEx (`0xF0` … `0xF7`) is skipped, however long; other system common messages are
///   skipped with their data bytes. Both cancel running status, as the MIDI spec says.
/// - Data bytes with no status to belong to, and messages cut short by a new status byte, are
///   dropped. No input can make it panic.
#[derive(Debug, Clone, Default)]
pub struct MidiParser {
    /// Current channel status byte (0 = none).
    status: u8,
    /// Data bytes collected for the current message.
    data: [u8; 2],
    /// How many of `data` are filled.
    filled: u8,
    /// Inside a SysEx message.
    in_sysex: bool,
    /// Data bytes of a system common message still to skip.
    skip: u8,
}

impl MidiParser {
    /// A parser with no running status.
    pub const fn new() -> MidiParser {
        MidiParser {
            status: 0,
            data: [0; 2],
            filled: 0,
            in_sysex: false,
            skip: 0,
        }
    }

    /// Feeds one byte; returns an event when it completes one. Real-time safe.
    #[inline]
    pub fn push(&mut self, byte: u8) -> Option<MidiEvent> {
        match byte {
            0xF8..=0xFF => None, // system real-time: ignore, keep state
            0xF0 => {
                self.reset();
                self.in_sysex = true;
                None
            }
            0xF7 => {
                self.reset();
                None
            }
            0xF1..=0xF6 => {
                self.reset();
                self.skip = match byte {
                    0xF1 | 0xF3 => 1, // MTC quarter frame, song select
                    0xF2 => 2,        // song position
                    _ => 0,           // undefined, tune request
                };
                None
            }
            0x80..=0xEF => {
                self.reset();
                self.status = byte;
                None
            }
            data => {
                if self.in_sysex || self.status == 0 {
                    return None;
                }
                if self.skip > 0 {
                    self.skip -= 1;
                    return None;
                }
                self.data[usize::from(self.filled)] = data;
                self.filled += 1;
                let needed = if matches!(self.status & 0xF0, 0xC0 | 0xD0) {
                    1
                } else {
                    2
                };
                if self.filled < needed {
                    return None;
                }
                self.filled = 0;
                MidiEvent::from_bytes(self.status, self.data[0], self.data[1])
            }
        }
    }

    /// Feeds a slice, calling `emit` for each complete event. Real-time safe.
    pub fn feed(&mut self, bytes: &[u8], mut emit: impl FnMut(MidiEvent)) {
        for &b in bytes {
            if let Some(event) = self.push(b) {
                emit(event);
            }
        }
    }

    fn reset(&mut self) {
        self.status = 0;
        self.filled = 0;
        self.in_sysex = false;
        self.skip = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MidiMessage::*;

    fn parse(bytes: &[u8]) -> Vec<MidiEvent> {
        let mut out = Vec::new();
        MidiParser::new().feed(bytes, |e| out.push(e));
        out
    }

    fn ev(channel: u8, message: MidiMessage) -> MidiEvent {
        MidiEvent { channel, message }
    }

    #[test]
    fn running_status_across_notes() {
        assert_eq!(
            parse(&[0x90, 60, 100, 64, 90, 67, 80, 60, 0]),
            [
                ev(
                    0,
                    NoteOn {
                        note: 60,
                        velocity: 100
                    }
                ),
                ev(
                    0,
                    NoteOn {
                        note: 64,
                        velocity: 90
                    }
                ),
                ev(
                    0,
                    NoteOn {
                        note: 67,
                        velocity: 80
                    }
                ),
                ev(
                    0,
                    NoteOff {
                        note: 60,
                        velocity: 0
                    }
                ),
            ]
        );
    }

    #[test]
    fn real_time_bytes_inside_a_message_are_ignored() {
        assert_eq!(
            parse(&[0xF8, 0x99, 0xFE, 38, 0xF8, 0xFA, 110, 0xFC]),
            [ev(
                9,
                NoteOn {
                    note: 38,
                    velocity: 110
                }
            )]
        );
    }

    #[test]
    fn sysex_in_the_middle_is_skipped_and_cancels_running_status() {
        assert_eq!(
            parse(&[
                0x90, 60, 100, 0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7, 62, 100, 0x80, 60, 64
            ]),
            [
                ev(
                    0,
                    NoteOn {
                        note: 60,
                        velocity: 100
                    }
                ),
                ev(
                    0,
                    NoteOff {
                        note: 60,
                        velocity: 64
                    }
                )
            ],
            "62,100 after the SysEx has no status and is dropped"
        );
        // An unterminated SysEx ends at the next status byte.
        assert_eq!(
            parse(&[0xF0, 1, 2, 3, 0x91, 40, 50]),
            [ev(
                1,
                NoteOn {
                    note: 40,
                    velocity: 50
                }
            )]
        );
    }

    #[test]
    fn velocity_zero_is_a_note_off_and_sustain_follows_cc64() {
        assert_eq!(
            parse(&[0x92, 72, 0, 0xB2, 64, 127, 64, 63, 64, 64, 7, 100]),
            [
                ev(
                    2,
                    NoteOff {
                        note: 72,
                        velocity: 0
                    }
                ),
                ev(2, Sustain { on: true }),
                ev(2, Sustain { on: false }),
                ev(2, Sustain { on: true }),
                ev(
                    2,
                    ControlChange {
                        controller: 7,
                        value: 100
                    }
                ),
            ]
        );
    }

    #[test]
    fn other_messages_are_typed() {
        assert_eq!(
            parse(&[
                0xE0, 0, 0x40, 0xE0, 0x7F, 0x7F, 0xE0, 0, 0, 0xC5, 12, 0xD3, 99, 0xA1, 60, 30
            ]),
            [
                ev(0, PitchBend { value: 0 }),
                ev(0, PitchBend { value: 8191 }),
                ev(0, PitchBend { value: -8192 }),
                ev(5, ProgramChange { program: 12 }),
                ev(3, ChannelPressure { pressure: 99 }),
                ev(
                    1,
                    PolyPressure {
                        note: 60,
                        pressure: 30
                    }
                ),
            ]
        );
    }

    #[test]
    fn garbage_and_truncation_are_dropped() {
        assert_eq!(parse(&[1, 2, 3, 0x90, 60]), []);
        assert_eq!(
            parse(&[0x90, 60, 0x80, 60, 0]),
            [ev(
                0,
                NoteOff {
                    note: 60,
                    velocity: 0
                }
            )],
            "cut short"
        );
        assert_eq!(
            parse(&[0xF2, 1, 2, 60, 100]),
            [],
            "song position and its data, then orphans"
        );
        assert_eq!(
            parse(&[0xF1, 5, 0x90, 1, 2]),
            [ev(
                0,
                NoteOn {
                    note: 1,
                    velocity: 2
                }
            )]
        );
    }

    #[test]
    fn events_round_trip_through_bytes() {
        for e in parse(&[
            0x90, 60, 100, 0x85, 61, 3, 0xBF, 64, 127, 0xB0, 1, 2, 0xE4, 5, 6, 0xC1, 7, 0xD2, 8,
            0xA3, 9, 10,
        ]) {
            let (bytes, len) = e.to_bytes();
            assert_eq!(parse(&bytes[..len]), [e]);
        }
    }
}
