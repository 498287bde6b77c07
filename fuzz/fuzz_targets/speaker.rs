//! `Speaker` turning events into engine actions — with values no validation would pass, to
//! prove the conversions themselves never panic — and handing out sources to a churning room.
#![no_main]

use std::time::Instant;

use arbitrary::Arbitrary;
use jam_protocol::MusicalEvent;
use jam_protocol::event::{DrumHit, PianoNote, PianoNoteOff, Sustain};
use jam_play::Speaker;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Op {
    Play {
        who: u8,
        kind: u8,
        note: u8,
        velocity: u8,
        duration: Option<f64>,
        timestamp: f64,
    },
    Forget {
        who: u8,
    },
    /// A sound chosen (any strings: validation is not the speaker's), or previewed.
    Sound {
        who: u8,
        keys: String,
        drums: String,
        preview: bool,
    },
    Volume {
        who: u8,
        gain: f32,
        muted: bool,
    },
}

fuzz_target!(|ops: Vec<Op>| {
    let mut speaker = Speaker::silent("fuzzing");
    let now = Instant::now();
    for op in ops.iter().take(4_000) {
        match op {
            Op::Play {
                who,
                kind,
                note,
                velocity,
                duration,
                timestamp,
            } => {
                let event = match kind % 6 {
                    4 => MusicalEvent::PitchBend(jam_protocol::event::PitchBend {
                        value: i16::from(*velocity) * 128 - 8192,
                        timestamp: *timestamp,
                    }),
                    5 => MusicalEvent::Modulation(jam_protocol::event::Modulation {
                        value: *velocity,
                        timestamp: *timestamp,
                    }),
                    0 => MusicalEvent::DrumHit(DrumHit {
                        note: *note,
                        velocity: *velocity,
                        timestamp: *timestamp,
                    }),
                    1 => MusicalEvent::PianoNote(PianoNote {
                        note: *note,
                        velocity: *velocity,
                        timestamp: *timestamp,
                        duration: *duration,
                    }),
                    2 => MusicalEvent::PianoNoteOff(PianoNoteOff {
                        note: *note,
                        timestamp: *timestamp,
                    }),
                    _ => MusicalEvent::Sustain(Sustain {
                        on: note % 2 == 0,
                        timestamp: *timestamp,
                    }),
                };
                speaker.play_at(&format!("p{who}"), now, &event);
            }
            Op::Forget { who } => speaker.forget(&format!("p{who}")),
            Op::Sound {
                who,
                keys,
                drums,
                preview,
            } => {
                let chosen = jam_protocol::event::InstrumentChange {
                    keys: keys.clone(),
                    drums: drums.clone(),
                };
                if *preview {
                    speaker.preview(&chosen, who % 2 == 0);
                } else {
                    speaker.play_at(&format!("p{who}"), now, &MusicalEvent::Instrument(chosen));
                }
            }
            Op::Volume { who, gain, muted } => {
                speaker.set_volume(&format!("p{who}"), *gain, *muted)
            }
        }
    }
});
