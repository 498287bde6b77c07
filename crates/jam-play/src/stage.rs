//! The stage: what the real-time paths share — the speaker, the groove and where our playing
//! goes — behind one lock, held for microseconds, never across an `.await`, never while opening
//! a device or decoding. Playing (ours, the room's, the groove's, a replay's) goes through it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jam_protocol::{EpochClock, MusicalEvent, Role};
use jam_session::SessionHandle;

use crate::error::{PlayError, Result};
use crate::groove::Groove;
use crate::perform::PlayInput;
use crate::speaker::Speaker;
use crate::sync::lock;

/// How far ahead the groove is handed to the engine, ms.
const GROOVE_LOOKAHEAD_MS: f64 = 120.0;
/// How often the groove task wakes up.
const GROOVE_TICK: Duration = Duration::from_millis(25);
/// The furthest back [`Stage::perform_at`] stamps an event.
const MAX_PERFORM_AGO: Duration = Duration::from_secs(1);
/// The least time between two moves of one wheel sent to the room: a MIDI keyboard sends a
/// pitch wheel's every step (hundreds a second), the room hears at most 100 a second of each
/// wheel (the latest position; the last one always goes, within a groove tick).
const WHEEL_GAP: Duration = Duration::from_millis(10);

/// What the real-time paths share.
pub(crate) struct Stage {
    /// The local engine.
    pub(crate) speaker: Speaker,
    /// Tempo, pattern, click.
    pub(crate) groove: Groove,
    /// Where our playing goes besides the speaker, in a jam.
    pub(crate) link: Option<(SessionHandle, Role)>,
    /// Our wheels' moves not yet sent to the room (see [`WHEEL_GAP`]).
    pub(crate) wheels: Wheels,
    /// Where MIDI out goes, if anywhere (kept between jams).
    pub(crate) midi_out_config: Option<crate::midi_out::MidiOutConfig>,
    /// MIDI out for the jam we are in.
    pub(crate) midi_out: Option<crate::midi_out::MidiOut>,
}

/// The pitch and modulation wheels' moves on their way to the room, thinned to one per
/// [`WHEEL_GAP`] each: when each was last sent, and the latest held back.
#[derive(Debug, Default)]
pub(crate) struct Wheels {
    sent: [Option<Instant>; 2],
    pending: [Option<MusicalEvent>; 2],
}

impl Wheels {
    fn slot(event: &MusicalEvent) -> Option<usize> {
        match event {
            MusicalEvent::PitchBend(_) => Some(0),
            MusicalEvent::Modulation(_) => Some(1),
            _ => None,
        }
    }

    /// Whether `event` goes now; if not, it is kept (replacing an older move) for [`Wheels::due`].
    fn admit(&mut self, event: &MusicalEvent, now: Instant) -> bool {
        let Some(i) = Wheels::slot(event) else {
            return true;
        };
        let open = self.sent[i].is_none_or(|t| now.duration_since(t) >= WHEEL_GAP);
        if open {
            self.sent[i] = Some(now);
            self.pending[i] = None;
        } else {
            self.pending[i] = Some(event.clone());
        }
        open
    }

    /// The moves held back whose gap has passed, to send now.
    fn due(&mut self, now: Instant) -> Vec<MusicalEvent> {
        let mut out = Vec::new();
        for i in 0..2 {
            let open = self.sent[i].is_none_or(|t| now.duration_since(t) >= WHEEL_GAP);
            if open && let Some(event) = self.pending[i].take() {
                self.sent[i] = Some(now);
                out.push(event);
            }
        }
        out
    }
}

/// The stage behind its lock: cheap to clone, one for the whole core.
#[derive(Clone)]
pub(crate) struct StageHandle(Arc<Mutex<Stage>>);

impl StageHandle {
    pub(crate) fn new(stage: Stage) -> StageHandle {
        StageHandle(Arc::new(Mutex::new(stage)))
    }

    /// Takes the stage's lock (never across an `.await`).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Stage> {
        lock(&self.0)
    }
}

impl Stage {
    /// Relay time in a jam, this machine's epoch time outside one, ms.
    pub(crate) fn now_ms(&self) -> f64 {
        match &self.link {
            Some((session, _)) => session.relay_now_ms(),
            None => EpochClock::process().now_ms(),
        }
    }

    /// The local instant of time `ms` on [`Stage::now_ms`]'s clock.
    fn instant_at(&self, ms: f64) -> Instant {
        match &self.link {
            Some((session, _)) => session.instant_at(ms),
            None => EpochClock::process().instant_at(ms),
        }
    }

    /// Sends a non-sounding event (chat, tempo, pattern) to the room, if we are in one.
    pub(crate) fn share(&self, event: &MusicalEvent) -> Result<()> {
        event
            .validate()
            .map_err(|e| PlayError::BadInput(e.to_string()))?;
        match &self.link {
            // The relay refuses anything from a listener, chat included.
            Some((_, Role::Listener)) => Err(PlayError::Listener),
            Some((session, _)) => Ok(session.send(event)?),
            None => Ok(()),
        }
    }

    /// Plays something of ours played at `played_at`: at once on the local engine (or, when
    /// `placed`, at `played_at` plus the output's lead, frame-exact, as a remote note is), and
    /// to the room. Stamped with that moment (at most a second ago), so that a delay between
    /// playing and sending is not sent on as a change of rhythm.
    pub(crate) fn perform_at(
        &mut self,
        input: PlayInput,
        played_at: Instant,
        placed: bool,
    ) -> Result<()> {
        if matches!(self.link, Some((_, Role::Listener))) {
            return Err(PlayError::Listener);
        }
        let ago = played_at.elapsed().min(MAX_PERFORM_AGO);
        let Some(event) = input.to_event(self.now_ms() - ago.as_secs_f64() * 1_000.0)? else {
            return Ok(());
        };
        if placed {
            let now = Instant::now();
            let played = now.checked_sub(ago).unwrap_or(now);
            let lead = self.speaker.output_lead();
            self.speaker
                .play_local_at(&event, played.checked_add(lead).unwrap_or(now));
        } else {
            self.speaker.play_local(&event);
        }
        // My part through a synth of mine, if I chose one: at once.
        if let Some(midi) = &self.midi_out {
            midi.play_at(crate::midi_out::MY_PART, Instant::now(), &event);
        }
        if let Some((session, _)) = &self.link
            && self.wheels.admit(&event, Instant::now())
        {
            session.send(&event)?;
        }
        Ok(())
    }

    /// Sends the wheel moves held back whose gap has passed.
    fn flush_wheels(&mut self) {
        let due = self.wheels.due(Instant::now());
        if let Some((session, _)) = &self.link {
            for event in due {
                // Dropped only when the connection is gone (the session counts it).
                let _ = session.send(&event);
            }
        }
    }

    /// The session ended by itself (the host ended the jam, the room refused us): our playing
    /// stays here, on this machine's clock, until the jam is left.
    pub(crate) fn unlink(&mut self, session: &SessionHandle) {
        if self
            .link
            .as_ref()
            .is_some_and(|(s, _)| s.user_id() == session.user_id() && s.room() == session.room())
        {
            self.link = None;
        }
    }
}

/// Hands the metronome and the sequencer to the engine a little ahead of time, for as long as
/// the runtime runs. The engine places each hit at its exact frame.
pub(crate) async fn run_groove(stage: StageHandle) {
    let mut tick = tokio::time::interval(GROOVE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let mut stage = stage.lock();
        stage.flush_wheels();
        let now = stage.now_ms();
        if let Some(midi) = &stage.midi_out {
            midi.follow(stage.groove.tempo, now, Instant::now());
        }
        let hits = stage.groove.due(now, GROOVE_LOOKAHEAD_MS);
        for hit in hits {
            let at = stage.instant_at(hit.at_ms);
            let who = if hit.click {
                "~metronome"
            } else {
                "~sequencer"
            };
            let hit = MusicalEvent::DrumHit(jam_protocol::event::DrumHit {
                note: hit.note,
                velocity: hit.velocity,
                timestamp: hit.at_ms,
            });
            stage.speaker.play_at(who, at, &hit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jam_protocol::event::PitchBend;

    fn bend(value: i16) -> MusicalEvent {
        MusicalEvent::PitchBend(PitchBend {
            value,
            timestamp: 1.0,
        })
    }

    #[test]
    fn a_wheel_reaches_the_room_at_most_every_10_ms_and_its_last_move_always() {
        let mut wheels = Wheels::default();
        let t0 = Instant::now();
        assert!(wheels.admit(&bend(100), t0));
        // A sweep within the gap: held back, the latest kept.
        for (ms, value) in [(1, 200), (3, 300), (9, 0)] {
            assert!(!wheels.admit(&bend(value), t0 + Duration::from_millis(ms)));
        }
        assert!(wheels.due(t0 + Duration::from_millis(9)).is_empty());
        assert_eq!(wheels.due(t0 + Duration::from_millis(10)), vec![bend(0)]);
        assert!(wheels.due(t0 + Duration::from_millis(40)).is_empty());
        // Notes are never held back.
        let note = MusicalEvent::Sustain(jam_protocol::event::Sustain {
            on: true,
            timestamp: 1.0,
        });
        assert!(wheels.admit(&note, t0));
        assert!(wheels.admit(&bend(5), t0 + Duration::from_millis(50)));
    }
}
