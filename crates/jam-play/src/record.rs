//! What a listener heard, as a multitrack MIDI file (`jam record`): a [`RoomSink`] that keeps
//! every played note on its player's track, at the time they played it.

use std::path::Path;
use std::sync::Mutex;

use jam_midi::Recording;
use jam_protocol::MusicalEvent;
use jam_protocol::event::{PianoNote, TempoChange};

use crate::error::Result;
use crate::room::{Names, RoomEvent, RoomSink};
use crate::sync::lock;

/// A MIDI take of what the room plays, from relay time `start_ms` on.
#[derive(Debug)]
pub struct MidiTake {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    recording: Recording,
    names: Names,
    start_ms: f64,
    events: usize,
    /// Sounds chosen whose program changes go in before the chooser's next note.
    pending: std::collections::HashMap<String, MusicalEvent>,
}

impl MidiTake {
    /// An empty take starting at relay time `start_ms`.
    pub fn new(start_ms: f64) -> MidiTake {
        MidiTake {
            state: Mutex::new(State {
                recording: Recording::new(),
                names: Names::default(),
                start_ms,
                events: 0,
                pending: std::collections::HashMap::new(),
            }),
        }
    }

    /// Notes recorded so far, and the players they came from.
    pub fn counts(&self) -> (usize, usize) {
        let state = lock(&self.state);
        (state.events, state.recording.track_count())
    }

    /// Writes the take as a Standard MIDI File.
    pub fn save(&self, path: &Path) -> Result<()> {
        lock(&self.state).recording.save(path)?;
        Ok(())
    }
}

impl State {
    fn keep(&mut self, sender_id: &str, at_ms: f64, event: &MusicalEvent) -> bool {
        let name = self.names.of(sender_id).to_owned();
        let track = self.recording.track(&name);
        let since_ms = (at_ms - self.start_ms).max(0.0);
        let since = std::time::Duration::try_from_secs_f64(since_ms / 1_000.0).unwrap_or_default();
        let time_us = u64::try_from(since.as_micros()).unwrap_or(u64::MAX);
        self.recording.record_musical(track, time_us, event)
    }
}

impl RoomSink for MidiTake {
    fn send(&self, event: RoomEvent) {
        let mut state = lock(&self.state);
        state.names.learn(&event);
        match event {
            RoomEvent::Played {
                sender_id,
                input,
                duration_ms,
                at_ms,
                ..
            } => {
                let Ok(Some(mut musical)) = input.to_event(at_ms) else {
                    return;
                };
                if let (MusicalEvent::PianoNote(PianoNote { duration, .. }), Some(ms)) =
                    (&mut musical, duration_ms)
                {
                    *duration = Some(ms);
                }
                if let Some(chosen) = state.pending.remove(&sender_id) {
                    state.keep(&sender_id, at_ms, &chosen);
                }
                if state.keep(&sender_id, at_ms, &musical) {
                    state.events += 1;
                }
            }
            RoomEvent::InstrumentChanged {
                sender_id,
                keys,
                drums,
            } => {
                let chosen = jam_protocol::event::InstrumentChange { keys, drums };
                state
                    .pending
                    .insert(sender_id, MusicalEvent::Instrument(chosen));
            }
            RoomEvent::UserLeft { user_id } => {
                state.pending.remove(&user_id);
            }
            RoomEvent::Joined { instruments, .. } => {
                for i in instruments {
                    let chosen = jam_protocol::event::InstrumentChange {
                        keys: i.keys,
                        drums: i.drums,
                    };
                    state
                        .pending
                        .insert(i.user_id, MusicalEvent::Instrument(chosen));
                }
            }
            RoomEvent::TempoChanged {
                sender_id,
                tempo,
                at_ms,
            } => {
                let change: TempoChange = tempo.to_change();
                state.keep(&sender_id, at_ms, &MusicalEvent::TempoChange(change));
            }
            _ => {}
        }
    }
}
