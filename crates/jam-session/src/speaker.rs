//! Playing what the room plays through the local audio engine.
//!
//! [`Speaker`] is the glue between a [`crate::Session`] and a `jam-audio` engine, shared by the
//! `jam` tool and the desktop app: each participant gets their own engine source (so their volume,
//! mute and "release everything" are theirs alone), remote events are placed at the frame the
//! playout chose, local ones play at once. Without an audio device it stays silent and says why.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jam_audio::output::{self, AudioOutput, OutputConfig, OutputPlan};
use jam_audio::{Action, Command, Engine, EngineConfig, Instrument, SampleBank, SourceId};
use jam_protocol::{MusicalEvent, RoomWelcome};

use crate::{RemoteEvent, SessionHandle};

/// The local engine and its device, when there is one.
pub struct Speaker {
    engine: Option<(Engine, AudioOutput)>,
    /// Why there is no engine, for people.
    silent_reason: Option<String>,
    /// Participant ids, in order of first appearance; index + 1 is their engine source.
    sources: Vec<String>,
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker")
            .field("device", &self.plan().map(|p| p.device.clone()))
            .field("silent_reason", &self.silent_reason)
            .finish_non_exhaustive()
    }
}

impl Speaker {
    /// Opens an audio output (the system default with `OutputConfig::default()`). Without one it
    /// logs why, remembers it for [`Speaker::silent_reason`], and plays nothing.
    pub fn open(config: &OutputConfig) -> Speaker {
        match start(config) {
            Ok(engine) => Speaker {
                engine: Some(engine),
                silent_reason: None,
                sources: Vec::new(),
            },
            Err(reason) => {
                tracing::warn!(%reason, "playing silently");
                Speaker::silent(reason)
            }
        }
    }

    /// A speaker that plays nothing (`--no-audio`).
    pub fn silent(reason: impl Into<String>) -> Speaker {
        Speaker {
            engine: None,
            silent_reason: Some(reason.into()),
            sources: Vec::new(),
        }
    }

    /// Why nothing is heard, if nothing is.
    pub fn silent_reason(&self) -> Option<&str> {
        self.silent_reason.as_deref()
    }

    /// The device and stream settings in use.
    pub fn plan(&self) -> Option<&OutputPlan> {
        self.engine.as_ref().map(|(_, out)| out.plan())
    }

    /// The engine, for scheduling anything else (metronome, sequencer).
    pub fn engine(&mut self) -> Option<&mut Engine> {
        self.engine.as_mut().map(|(engine, _)| engine)
    }

    /// The engine source that plays a participant.
    pub fn source(&mut self, participant_id: &str) -> SourceId {
        let index = self
            .sources
            .iter()
            .position(|s| s == participant_id)
            .unwrap_or_else(|| {
                self.sources.push(participant_id.to_owned());
                self.sources.len() - 1
            });
        SourceId((1 + index % (SourceId::MAX - 1)) as u8)
    }

    fn send(&mut self, at: Option<Instant>, action: Action) {
        if let Some((engine, _)) = &mut self.engine {
            let command = match at {
                Some(at) => Command::at(engine.clock().frame_at(at), action),
                None => Command::now(action),
            };
            // A full command ring means the audio thread has stalled: nothing better to do
            // than drop the command (the engine counts it).
            let _ = engine.send(command);
        }
    }

    /// Plays a remote event at the time the session's playout chose for it.
    pub fn play_remote(&mut self, session: &SessionHandle, event: &RemoteEvent) {
        let Some(musical) = &event.event else { return };
        let source = self.source(&event.sender_id);
        let at = session.instant_at(event.play_at_ms);
        for (delay, action) in actions_for(source, musical).into_iter().flatten() {
            self.send(Some(at + delay), action);
        }
    }

    /// Plays an event as participant `participant_id` at instant `at` (a take being replayed).
    pub fn play_at(&mut self, participant_id: &str, at: Instant, musical: &MusicalEvent) {
        let source = self.source(participant_id);
        for (delay, action) in actions_for(source, musical).into_iter().flatten() {
            self.send(Some(at + delay), action);
        }
    }

    /// Plays one of our own events now.
    pub fn play_local(&mut self, musical: &MusicalEvent) {
        for (delay, action) in actions_for(SourceId::LOCAL, musical).into_iter().flatten() {
            let at = (!delay.is_zero()).then(|| Instant::now() + delay);
            self.send(at, action);
        }
    }

    /// Applies the room state of a (re)join: whatever was sounding before is released (a note-off
    /// may have been missed while disconnected), then the notes others hold now start.
    pub fn apply_state(&mut self, welcome: &RoomWelcome) {
        let known: Vec<String> = self.sources.clone();
        for id in &known {
            self.release(id);
        }
        for sustained in &welcome.state.sustain {
            let source = self.source(sustained);
            self.send(None, Action::Sustain { source, on: true });
        }
        for held in &welcome.state.held_notes {
            let source = self.source(&held.user_id);
            let action = Action::NoteOn {
                source,
                instrument: Instrument::Piano,
                note: held.note,
                velocity: held.velocity,
            };
            self.send(None, action);
        }
    }

    /// Releases everything a participant holds (they left).
    pub fn release(&mut self, participant_id: &str) {
        let source = self.source(participant_id);
        self.send(None, Action::AllNotesOff { source });
    }

    /// Sets a participant's volume (linear gain, 0–2) and mute.
    pub fn set_volume(&mut self, participant_id: &str, gain: f32, muted: bool) {
        let source = self.source(participant_id);
        self.send(
            None,
            Action::SourceGain {
                source,
                gain: gain.clamp(0.0, 2.0),
            },
        );
        self.send(None, Action::SourceMute { source, muted });
    }

    /// Stops the device and hands back nothing: used before reopening another device.
    pub fn close(&mut self) {
        if let Some((_, out)) = self.engine.take() {
            drop(out.stop());
        }
    }
}

fn start(config: &OutputConfig) -> Result<(Engine, AudioOutput), String> {
    let bank = SampleBank::load(&SampleBank::default_dir()).map_err(|e| e.to_string())?;
    let plan = output::plan(config).map_err(|e| e.to_string())?;
    let (engine, renderer) = jam_audio::engine(
        Arc::new(bank),
        EngineConfig {
            sample_rate: plan.sample_rate,
            ..EngineConfig::default()
        },
    );
    let out = output::start(plan, renderer).map_err(|failed| failed.error.to_string())?;
    Ok((engine, out))
}

/// What the engine does for a musical event, each after a delay from its start (a note with a
/// `duration` releases itself).
fn actions_for(source: SourceId, musical: &MusicalEvent) -> [Option<(Duration, Action)>; 2] {
    let now = Duration::ZERO;
    match musical {
        MusicalEvent::DrumHit(h) => [
            Some((
                now,
                Action::NoteOn {
                    source,
                    instrument: Instrument::Drums,
                    note: h.note,
                    velocity: h.velocity,
                },
            )),
            None,
        ],
        MusicalEvent::PianoNote(n) => [
            Some((
                now,
                Action::NoteOn {
                    source,
                    instrument: Instrument::Piano,
                    note: n.note,
                    velocity: n.velocity,
                },
            )),
            n.duration.map(|ms| {
                (
                    Duration::from_secs_f64(ms.max(0.0) / 1_000.0),
                    Action::NoteOff {
                        source,
                        instrument: Instrument::Piano,
                        note: n.note,
                    },
                )
            }),
        ],
        MusicalEvent::PianoNoteOff(n) => [
            Some((
                now,
                Action::NoteOff {
                    source,
                    instrument: Instrument::Piano,
                    note: n.note,
                },
            )),
            None,
        ],
        MusicalEvent::Sustain(s) => [Some((now, Action::Sustain { source, on: s.on })), None],
        _ => [None, None],
    }
}
