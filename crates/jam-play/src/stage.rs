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

/// What the real-time paths share.
pub(crate) struct Stage {
    /// The local engine.
    pub(crate) speaker: Speaker,
    /// Tempo, pattern, click.
    pub(crate) groove: Groove,
    /// Where our playing goes besides the speaker, in a jam.
    pub(crate) link: Option<(SessionHandle, Role)>,
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

    /// Plays something of ours played at `played_at`: at once on the local engine, and to the
    /// room. Stamped with that moment (at most a second ago), so that a delay between playing
    /// and sending is not sent on as a change of rhythm.
    pub(crate) fn perform_at(&mut self, input: PlayInput, played_at: Instant) -> Result<()> {
        if matches!(self.link, Some((_, Role::Listener))) {
            return Err(PlayError::Listener);
        }
        let ago_ms = played_at.elapsed().min(MAX_PERFORM_AGO).as_secs_f64() * 1_000.0;
        let Some(event) = input.to_event(self.now_ms() - ago_ms)? else {
            return Ok(());
        };
        self.speaker.play_local(&event);
        if let Some((session, _)) = &self.link {
            session.send(&event)?;
        }
        Ok(())
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
        let now = stage.now_ms();
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
