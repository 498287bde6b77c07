//! Being in a jam: the session, the embedded relay when hosting, the task that plays what the
//! room plays and tells the UI, and the groove scheduler.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jam_audio::{Action, Command, Instrument};
use jam_protocol::event::names;
use jam_protocol::{MusicalEvent, Participant, Role};
use jam_relay::RelayHandle;
use jam_session::{Session, SessionError, SessionEvent, SessionHandle, Speaker, Status};
use serde::Serialize;
use serde_json::value::RawValue;
use tauri::ipc::Channel;
use tauri::{AppHandle, Emitter};

use crate::groove::{Groove, Pattern, Tempo};

/// How far ahead the groove is handed to the engine, ms.
const GROOVE_LOOKAHEAD_MS: f64 = 120.0;
/// How often the groove scheduler wakes up.
const GROOVE_TICK: Duration = Duration::from_millis(25);
/// How often latency figures go to the UI.
const FIGURES_EVERY: Duration = Duration::from_secs(1);

/// Locks a mutex, carrying on after a panic elsewhere (the data stays usable).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where "now" comes from: the relay's clock in a jam, this machine's before (so the metronome
/// and sequencer work alone too).
#[derive(Debug, Clone)]
pub enum Timeline {
    /// Not in a jam: Unix time in ms.
    Local,
    /// In a jam: relay time.
    Relay(SessionHandle),
}

impl Timeline {
    /// Now, ms.
    pub fn now_ms(&self) -> f64 {
        match self {
            Timeline::Local => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64() * 1_000.0),
            Timeline::Relay(session) => session.relay_now_ms(),
        }
    }

    /// The local instant of time `ms` on this timeline.
    pub fn instant_at(&self, ms: f64) -> Instant {
        match self {
            Timeline::Local => {
                // Never panics: NaN is now, and nothing lies more than a day away.
                let delta_ms = ms - self.now_ms();
                let now = Instant::now();
                let magnitude = Duration::try_from_secs_f64(delta_ms.abs() / 1_000.0)
                    .unwrap_or(Duration::ZERO)
                    .min(Duration::from_secs(86_400));
                if delta_ms >= 0.0 {
                    now.checked_add(magnitude).unwrap_or(now)
                } else {
                    now.checked_sub(magnitude).unwrap_or(now)
                }
            }
            Timeline::Relay(session) => session.instant_at(ms),
        }
    }
}

/// What the room tells the UI, over the jam's `ipc::Channel`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RoomEvent {
    /// Joined or re-joined: replace the room view.
    #[serde(rename_all = "camelCase")]
    Joined {
        /// The welcome as the relay sent it (room code, our id, participants, state).
        welcome: Box<RawValue>,
    },
    /// Someone arrived.
    UserJoined {
        /// Who.
        participant: Participant,
    },
    /// Someone left.
    #[serde(rename_all = "camelCase")]
    UserLeft {
        /// Who.
        user_id: String,
    },
    /// Someone played or changed something.
    #[serde(rename_all = "camelCase")]
    Remote {
        /// Who.
        sender_id: String,
        /// Event name (`piano_note`, `drum_hit`, …).
        event: String,
        /// Its payload as sent.
        payload: Box<RawValue>,
        /// In how many ms it sounds here (light the key then).
        in_ms: f64,
        /// A release the relay made for someone who left.
        synthetic: bool,
    },
    /// Timing figures, once a second.
    #[serde(rename_all = "camelCase")]
    Figures {
        /// Round trip to the relay, ms.
        rtt_ms: Option<f64>,
        /// Per remote participant.
        participants: Vec<ParticipantFigures>,
    },
}

/// One participant's timing, for their row in the list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantFigures {
    /// Who.
    pub id: String,
    /// Current playout delay after their timestamp, ms.
    pub delay_ms: f64,
    /// One-way trip estimate, ms.
    pub one_way_ms: f64,
    /// Spread of their lateness, ms.
    pub jitter_ms: f64,
    /// Their events in the last second.
    pub events_per_s: f64,
}

/// Connection status, as the `jam-status` event carries it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// `connecting`, `connected`, `reconnecting` or `ended`.
    pub state: &'static str,
    /// Reconnecting: ms until the next attempt.
    pub retry_in_ms: Option<u64>,
    /// Why it dropped or ended, for people.
    pub reason: Option<String>,
    /// Ended because the host ended the jam (the relay said so; no guest can).
    pub jam_ended: bool,
}

impl From<&Status> for StatusView {
    fn from(status: &Status) -> StatusView {
        match status {
            Status::Connecting => StatusView {
                state: "connecting",
                retry_in_ms: None,
                reason: None,
                jam_ended: false,
            },
            Status::Connected { .. } => StatusView {
                state: "connected",
                retry_in_ms: None,
                reason: None,
                jam_ended: false,
            },
            Status::Reconnecting {
                retry_in, reason, ..
            } => StatusView {
                state: "reconnecting",
                retry_in_ms: Some(u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX)),
                reason: Some(reason.clone()),
                jam_ended: false,
            },
            Status::Ended { reason } => StatusView {
                state: "ended",
                retry_in_ms: None,
                reason: reason.as_ref().map(ToString::to_string),
                jam_ended: matches!(reason, Some(SessionError::JamEnded { .. })),
            },
        }
    }
}

/// The jam we are in.
pub struct Jam {
    /// Sending and the clock.
    pub session: SessionHandle,
    /// The embedded relay, when we host.
    pub relay: Option<RelayHandle>,
    /// Player or listener.
    pub role: Role,
    /// The invite to show and copy.
    pub invite: String,
    /// Every address the host can be reached at (host only).
    pub addresses: Vec<String>,
    /// The task that reads the room.
    pub task: tauri::async_runtime::JoinHandle<()>,
}

/// What the room task needs.
pub struct RoomTask {
    pub app: AppHandle,
    pub session: Session,
    pub speaker: Arc<Mutex<Speaker>>,
    pub groove: Arc<Mutex<Groove>>,
    pub events: Channel<RoomEvent>,
}

impl RoomTask {
    /// Plays and shows what the room does until the session ends.
    pub async fn run(mut self) {
        let handle = self.session.handle();
        let mut status = self.session.status();
        let mut figures = tokio::time::interval(FIGURES_EVERY);
        let mut members: Vec<String> = Vec::new();
        loop {
            tokio::select! {
                event = self.session.next_event() => {
                    let Some(event) = event else { break };
                    self.handle(&handle, &mut members, event);
                }
                changed = status.changed() => {
                    if changed.is_err() { break }
                    let view = StatusView::from(&*status.borrow_and_update());
                    let _ = self.app.emit("jam-status", view);
                }
                _ = figures.tick() => {
                    let participants = members
                        .iter()
                        .filter_map(|id| handle.figures(id).map(|f| ParticipantFigures {
                            id: id.clone(),
                            delay_ms: f.delay_ms,
                            one_way_ms: f.one_way_ms,
                            jitter_ms: f.jitter_ms,
                            events_per_s: f.events_per_s,
                        }))
                        .collect();
                    let _ = self.events.send(RoomEvent::Figures { rtt_ms: handle.rtt_ms(), participants });
                }
            }
        }
        let view = StatusView::from(&*status.borrow());
        let _ = self.app.emit("jam-status", view);
    }

    fn handle(&mut self, handle: &SessionHandle, members: &mut Vec<String>, event: SessionEvent) {
        match event {
            SessionEvent::Joined(welcome) => {
                lock(&self.speaker).apply_state(&welcome);
                {
                    let mut groove = lock(&self.groove);
                    // Parsed and range-checked like any event (the session has already
                    // dropped a state out of bounds); anything else leaves the defaults.
                    groove.tempo = welcome
                        .state
                        .tempo
                        .as_deref()
                        .and_then(|t| MusicalEvent::parse(names::TEMPO_CHANGE, t).ok().flatten())
                        .and_then(|e| match e {
                            MusicalEvent::TempoChange(t) => Some(Tempo::from(&t)),
                            _ => None,
                        })
                        .unwrap_or_default();
                    groove.pattern = welcome
                        .state
                        .pattern
                        .as_deref()
                        .and_then(|p| MusicalEvent::parse(names::PATTERN_CHANGE, p).ok().flatten())
                        .and_then(|e| match e {
                            MusicalEvent::PatternChange(p) => Pattern::from_change(&p),
                            _ => None,
                        })
                        .unwrap_or_default();
                }
                members.clear();
                members.extend(welcome.participants.iter().map(|p| p.id.clone()));
                if let Ok(welcome) = serde_json::value::to_raw_value(&welcome) {
                    let _ = self.events.send(RoomEvent::Joined { welcome });
                }
            }
            SessionEvent::UserJoined(participant) => {
                members.push(participant.id.clone());
                let _ = self.events.send(RoomEvent::UserJoined { participant });
            }
            SessionEvent::UserLeft(user_id) => {
                lock(&self.speaker).forget(&user_id);
                members.retain(|m| *m != user_id);
                let _ = self.events.send(RoomEvent::UserLeft { user_id });
            }
            SessionEvent::Remote(remote) => {
                lock(&self.speaker).play_remote(handle, &remote);
                match &remote.event {
                    Some(MusicalEvent::TempoChange(t)) => lock(&self.groove).tempo = Tempo::from(t),
                    Some(MusicalEvent::PatternChange(p)) => {
                        if let Some(pattern) = Pattern::from_change(p) {
                            lock(&self.groove).pattern = pattern;
                        }
                    }
                    _ => {}
                }
                let _ = self.events.send(RoomEvent::Remote {
                    in_ms: (remote.play_at_ms - handle.relay_now_ms()).max(0.0),
                    sender_id: remote.sender_id,
                    event: remote.event_name,
                    payload: remote.payload,
                    synthetic: remote.synthetic,
                });
            }
        }
    }
}

/// Hands the metronome and the sequencer to the engine a little ahead of time, for as long as
/// the app runs. The engine places each hit at its exact frame.
pub async fn run_groove(
    speaker: Arc<Mutex<Speaker>>,
    groove: Arc<Mutex<Groove>>,
    timeline: Arc<Mutex<Timeline>>,
) {
    let mut tick = tokio::time::interval(GROOVE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let timeline = lock(&timeline).clone();
        let hits = lock(&groove).due(timeline.now_ms(), GROOVE_LOOKAHEAD_MS);
        if hits.is_empty() {
            continue;
        }
        let mut speaker = lock(&speaker);
        let sequencer = speaker.source("~sequencer");
        let metronome = speaker.source("~metronome");
        let Some(engine) = speaker.engine() else {
            continue;
        };
        for hit in hits {
            let frame = engine.clock().frame_at(timeline.instant_at(hit.at_ms));
            let action = Action::NoteOn {
                source: if hit.click { metronome } else { sequencer },
                instrument: Instrument::Drums,
                note: hit.note,
                velocity: hit.velocity,
            };
            let _ = engine.send(Command::at(frame, action));
        }
    }
}
