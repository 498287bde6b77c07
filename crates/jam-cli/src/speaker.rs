//! Playing what the room plays through the local audio engine (or nothing, with `--no-audio`).

use std::sync::Arc;

use jam_audio::output::{self, AudioOutput, OutputConfig};
use jam_audio::{Action, Command, Engine, EngineConfig, Instrument, SampleBank, SourceId};
use jam_protocol::MusicalEvent;
use jam_session::{RemoteEvent, Session};

/// The local engine and its device, when there is one.
pub struct Speaker {
    engine: Option<(Engine, AudioOutput)>,
    /// Participant ids, in order of first appearance; index + 1 is their engine source.
    sources: Vec<String>,
}

impl Speaker {
    /// Opens the default audio output. Without one, says why on stderr and stays silent.
    pub fn open(enabled: bool) -> Speaker {
        let engine = if enabled {
            start()
                .map_err(|e| eprintln!("jam: playing silently: {e:#}"))
                .ok()
        } else {
            None
        };
        Speaker {
            engine,
            sources: Vec::new(),
        }
    }

    fn source(&mut self, sender_id: &str) -> SourceId {
        let index = self
            .sources
            .iter()
            .position(|s| s == sender_id)
            .unwrap_or_else(|| {
                self.sources.push(sender_id.to_owned());
                self.sources.len() - 1
            });
        SourceId((1 + index % (SourceId::MAX - 1)) as u8)
    }

    /// Plays a remote event at the time the session's playout chose for it.
    pub fn play_remote(&mut self, session: &Session, event: &RemoteEvent) {
        let Some(musical) = &event.event else { return };
        let source = self.source(&event.sender_id);
        let Some((engine, _)) = &mut self.engine else {
            return;
        };
        let Some(action) = action_for(source, musical) else {
            return;
        };
        let frame = engine
            .clock()
            .frame_at(session.instant_at(event.play_at_ms));
        let _ = engine.send(Command::at(frame, action));
    }

    /// Plays one of our own events now.
    pub fn play_local(&mut self, musical: &MusicalEvent) {
        let Some((engine, _)) = &mut self.engine else {
            return;
        };
        if let Some(action) = action_for(SourceId::LOCAL, musical) {
            let _ = engine.send(Command::now(action));
        }
    }

    /// Applies the room state of a (re)join: whatever was sounding before is released (a note-off
    /// may have been missed while disconnected), then the notes others hold now start.
    pub fn apply_state(&mut self, welcome: &jam_protocol::RoomWelcome) {
        let known: Vec<String> = self.sources.clone();
        for id in &known {
            self.release(id);
        }
        for sustained in &welcome.state.sustain {
            let source = self.source(sustained);
            if let Some((engine, _)) = &mut self.engine {
                let _ = engine.send(Command::now(Action::Sustain { source, on: true }));
            }
        }
        for held in &welcome.state.held_notes {
            let source = self.source(&held.user_id);
            if let Some((engine, _)) = &mut self.engine {
                let action = Action::NoteOn {
                    source,
                    instrument: Instrument::Piano,
                    note: held.note,
                    velocity: held.velocity,
                };
                let _ = engine.send(Command::now(action));
            }
        }
    }

    /// Releases everything a participant holds (they left).
    pub fn release(&mut self, sender_id: &str) {
        let source = self.source(sender_id);
        if let Some((engine, _)) = &mut self.engine {
            let _ = engine.send(Command::now(Action::AllNotesOff { source }));
        }
    }
}

fn start() -> anyhow::Result<(Engine, AudioOutput)> {
    let bank = Arc::new(SampleBank::load(&SampleBank::default_dir())?);
    let plan = output::plan(&OutputConfig::default())?;
    let (engine, renderer) = jam_audio::engine(
        bank,
        EngineConfig {
            sample_rate: plan.sample_rate,
            ..EngineConfig::default()
        },
    );
    let out = output::start(plan, renderer).map_err(|failed| failed.error)?;
    Ok((engine, out))
}

fn action_for(source: SourceId, musical: &MusicalEvent) -> Option<Action> {
    Some(match musical {
        MusicalEvent::DrumHit(h) => Action::NoteOn {
            source,
            instrument: Instrument::Drums,
            note: h.note,
            velocity: h.velocity,
        },
        MusicalEvent::PianoNote(n) => Action::NoteOn {
            source,
            instrument: Instrument::Piano,
            note: n.note,
            velocity: n.velocity,
        },
        MusicalEvent::PianoNoteOff(n) => Action::NoteOff {
            source,
            instrument: Instrument::Piano,
            note: n.note,
        },
        MusicalEvent::Sustain(s) => Action::Sustain { source, on: s.on },
        _ => return None,
    })
}
