//! Which piano notes each member is sounding: what a late joiner is told is held, and what is
//! released for the others when a member leaves.

use jam_protocol::MusicalEvent;
use jam_protocol::event::{Modulation, PianoNote, PianoNoteOff, PitchBend, Sustain};

/// Which piano notes a member is sounding, so late joiners hear them and nobody hears a stuck
/// note when the member leaves. Fixed size: a member can hold at most 128 notes.
#[derive(Debug, Clone)]
pub(crate) struct NoteLedger {
    /// Note-on velocity of every sounding note (key down or held by the pedal); 0 = silent.
    velocity: [u8; 128],
    /// Bit n set while the key of note n is down.
    keys_down: u128,
    /// True while the sustain pedal is down.
    pedal: bool,
    /// The pitch wheel's position (0 = centre) and the modulation wheel's.
    bend: i16,
    modulation: u8,
}

impl Default for NoteLedger {
    fn default() -> NoteLedger {
        NoteLedger {
            velocity: [0; 128],
            keys_down: 0,
            pedal: false,
            bend: 0,
            modulation: 0,
        }
    }
}

impl NoteLedger {
    /// True for events that release something this member holds; those are never rate limited.
    pub(crate) fn releases_held(&self, event: Option<&MusicalEvent>) -> bool {
        match event {
            Some(MusicalEvent::PianoNoteOff(PianoNoteOff { note, .. })) => {
                self.velocity[usize::from(*note)] != 0
            }
            Some(MusicalEvent::Sustain(Sustain { on: false, .. })) => self.pedal,
            // A wheel back to rest is never dropped: nobody is left bent.
            Some(MusicalEvent::PitchBend(PitchBend { value: 0, .. })) => self.bend != 0,
            Some(MusicalEvent::Modulation(Modulation { value: 0, .. })) => self.modulation != 0,
            _ => false,
        }
    }

    pub(crate) fn apply(&mut self, event: &MusicalEvent) {
        match *event {
            // A note with a duration releases itself on every receiver: nothing to remember.
            MusicalEvent::PianoNote(PianoNote {
                duration: Some(_), ..
            }) => {}
            MusicalEvent::PianoNote(PianoNote { note, velocity, .. }) => {
                self.velocity[usize::from(note)] = velocity;
                self.keys_down |= 1 << note;
            }
            MusicalEvent::PianoNoteOff(PianoNoteOff { note, .. }) => {
                self.keys_down &= !(1u128 << note);
                if !self.pedal {
                    self.velocity[usize::from(note)] = 0;
                }
            }
            MusicalEvent::PitchBend(PitchBend { value, .. }) => self.bend = value,
            MusicalEvent::Modulation(Modulation { value, .. }) => self.modulation = value,
            MusicalEvent::Sustain(Sustain { on, .. }) => {
                self.pedal = on;
                if !on {
                    for note in 0..128u8 {
                        if self.keys_down & (1 << note) == 0 {
                            self.velocity[usize::from(note)] = 0;
                        }
                    }
                }
            }
            _ => {}
        }
    }

    pub(crate) fn sounding(&self) -> impl Iterator<Item = (u8, u8)> + '_ {
        (0..128u8)
            .map(|n| (n, self.velocity[usize::from(n)]))
            .filter(|&(_, v)| v != 0)
    }

    /// True while the sustain pedal is down.
    pub(crate) fn pedal(&self) -> bool {
        self.pedal
    }

    /// True while the pitch wheel is off centre.
    pub(crate) fn bent(&self) -> bool {
        self.bend != 0
    }

    /// True while the modulation wheel is up.
    pub(crate) fn modulated(&self) -> bool {
        self.modulation != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note_on(note: u8) -> MusicalEvent {
        MusicalEvent::PianoNote(PianoNote {
            note,
            velocity: 90,
            timestamp: 0.0,
            duration: None,
        })
    }
    fn note_off(note: u8) -> MusicalEvent {
        MusicalEvent::PianoNoteOff(PianoNoteOff {
            note,
            timestamp: 0.0,
        })
    }
    fn pedal(on: bool) -> MusicalEvent {
        MusicalEvent::Sustain(Sustain { on, timestamp: 0.0 })
    }

    #[test]
    fn ledger_follows_keys_and_pedal() {
        let mut l = NoteLedger::default();
        l.apply(&note_on(60));
        l.apply(&note_on(64));
        l.apply(&pedal(true));
        l.apply(&note_off(60));
        assert_eq!(
            l.sounding().map(|(n, _)| n).collect::<Vec<_>>(),
            [60, 64],
            "pedal holds 60"
        );
        assert!(l.releases_held(Some(&pedal(false))));
        l.apply(&pedal(false));
        assert_eq!(
            l.sounding().map(|(n, _)| n).collect::<Vec<_>>(),
            [64],
            "64 is still down"
        );
        assert!(l.releases_held(Some(&note_off(64))));
        assert!(!l.releases_held(Some(&note_off(65))), "65 is not held");
        l.apply(&note_off(64));
        assert_eq!(l.sounding().count(), 0);
        assert!(!l.releases_held(Some(&pedal(false))), "pedal is already up");
    }

    #[test]
    fn notes_with_a_duration_are_not_held() {
        let mut l = NoteLedger::default();
        l.apply(&MusicalEvent::PianoNote(PianoNote {
            note: 127,
            velocity: 1,
            timestamp: 0.0,
            duration: Some(200.0),
        }));
        assert_eq!(l.sounding().count(), 0);
        l.apply(&note_on(127));
        assert_eq!(l.sounding().collect::<Vec<_>>(), [(127, 90)]);
    }
}
