//! The connection to a relay: join, stay joined, sync the clock, schedule what arrives.
//!
//! - `config`: [`SessionConfig`]; `events`: [`Status`], [`SessionEvent`], [`RemoteEvent`].
//! - this file: [`Session`] and [`SessionHandle`], the app's side.
//! - `shared`: what the handle and the task share, and what the handle asks of the task.
//! - `link`: the task: establish (connect, clock, join), run, reconnect.
//! - `connected`: one live connection's loop and each relay message.

mod config;
mod connected;
mod events;
mod link;
mod shared;

pub use config::SessionConfig;
pub use events::{RemoteEvent, SessionEvent, Status};

use std::sync::{Arc, Mutex};
use std::time::Instant;

use jam_protocol::{EpochClock, MusicalEvent, RoomCode};
use serde_json::value::RawValue;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::{ClockSync, Playout, PlayoutMode, SenderFigures, SessionError};

use link::Link;
use shared::{Outgoing, Shared};

/// Longest output lead believed, ms: an output slower than this is broken, not late.
const MAX_OUTPUT_LEAD_MS: f64 = 500.0;

/// A joined session. Dropping it leaves the room.
///
/// It derefs to its [`SessionHandle`], which can be cloned to send and read the clock from other
/// tasks (an app's commands) while one task reads [`Session::next_event`].
pub struct Session {
    handle: SessionHandle,
    events: mpsc::Receiver<SessionEvent>,
    task: JoinHandle<()>,
}

/// The sending and clock side of a [`Session`]: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct SessionHandle {
    outgoing: mpsc::Sender<Outgoing>,
    status: watch::Receiver<Status>,
    shared: Arc<Shared>,
    room: RoomCode,
    user_id: String,
}

impl std::ops::Deref for Session {
    type Target = SessionHandle;

    fn deref(&self) -> &SessionHandle {
        &self.handle
    }
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("room", &self.room)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("room", &self.handle.room)
            .field("user_id", &self.handle.user_id)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects, creates or joins the room, and starts staying connected in the background.
    /// Errors here are final (unreachable relay, no such room, wrong password, …).
    pub async fn connect(config: SessionConfig) -> Result<Session, SessionError> {
        let shared = Arc::new(Shared {
            local: EpochClock::process().skewed(config.clock_skew_ms),
            clock: Mutex::new(ClockSync::new()),
            playout: Mutex::new(Playout::new(config.playout)),
            dropped: Default::default(),
            refused: Default::default(),
            output_lead_ms: Default::default(),
            lane_open: watch::Sender::new(false),
        });
        let room = config.room.clone();
        let mut link = Link {
            config,
            shared: shared.clone(),
            room,
            host: false,
            host_token: None,
            lane_plan: None,
            client_seq: 0,
        };
        let (ws, welcome) = link.establish().await?;
        let room = RoomCode::parse(&welcome.room_code).ok_or_else(|| SessionError::Protocol {
            address: link.config.address.clone(),
            detail: "the relay sent an invalid room code".into(),
        })?;
        let user_id = welcome.user_id.clone();
        let (outgoing_tx, outgoing_rx) = mpsc::channel(link.config.outgoing_capacity.max(1));
        let (events_tx, events) = mpsc::channel(link.config.event_capacity.max(1));
        let (status_tx, status) = watch::channel(Status::Connected {
            room: room.clone(),
            user_id: user_id.clone(),
        });
        let _ = events_tx.try_send(SessionEvent::Joined(welcome));
        let task = tokio::spawn(link.run(ws, outgoing_rx, events_tx, status_tx));
        Ok(Session {
            handle: SessionHandle {
                outgoing: outgoing_tx,
                status,
                shared,
                room,
                user_id,
            },
            events,
            task,
        })
    }

    /// A handle for sending and reading the clock from elsewhere.
    pub fn handle(&self) -> SessionHandle {
        self.handle.clone()
    }

    /// The next event from the room; `None` once the session has ended.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    /// Leaves the room and closes the connection.
    pub async fn leave(self) {
        let _ = self.handle.outgoing.send(Outgoing::Leave).await;
        let _ = self.task.await;
    }
}

impl SessionHandle {
    /// The room's code.
    pub fn room(&self) -> &RoomCode {
        &self.room
    }

    /// Our user id (from the first join; a rejoin gets a new one, see [`SessionEvent::Joined`]).
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// Sends a musical event to the others. Stamp its `timestamp` with [`SessionHandle::relay_now_ms`]
    /// taken when the sound was made locally.
    pub fn send(&self, event: &MusicalEvent) -> Result<(), SessionError> {
        self.send_raw(event.name(), event.to_payload())
    }

    /// Sends any event.
    pub fn send_raw(&self, event_name: &str, payload: Box<RawValue>) -> Result<(), SessionError> {
        self.outgoing
            .try_send(Outgoing::Event(event_name.to_owned(), payload))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SessionError::Backlogged,
                mpsc::error::TrySendError::Closed(_) => SessionError::Closed,
            })
    }

    /// The connection status, as a watch the UI can await.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Whether the spare lane ([`crate::LaneMode`]) is open now; changes as it opens and closes.
    pub fn spare_lane(&self) -> watch::Receiver<bool> {
        self.shared.lane_open.subscribe()
    }

    /// Relay time now, ms (our best estimate).
    pub fn relay_now_ms(&self) -> f64 {
        self.shared.relay_now_ms()
    }

    /// Tells the playout how far ahead of now the local output must be handed a sound to play
    /// it exactly (its latency plus a block: `jam_audio::AudioClock::lead`). Remote events are
    /// then placed from `arrival + lead`, so an event that arrives just in time for the network
    /// is still in time for the speakers. 0 (the default) for a session that plays nothing.
    pub fn set_output_lead_ms(&self, lead_ms: f64) {
        let lead = if lead_ms.is_finite() {
            lead_ms.clamp(0.0, MAX_OUTPUT_LEAD_MS)
        } else {
            0.0
        };
        self.shared
            .output_lead_ms
            .store(lead.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The local instant at which relay time `ms` happens (to hand to the audio clock).
    pub fn instant_at(&self, relay_ms: f64) -> Instant {
        let offset = self.shared.clock().offset_ms().unwrap_or(0.0);
        self.shared.local.instant_at(relay_ms - offset)
    }

    /// `relay time − local time` in ms, once synced.
    pub fn clock_offset_ms(&self) -> Option<f64> {
        self.shared.clock().offset_ms()
    }

    /// Smallest recent round trip to the relay, ms.
    pub fn rtt_ms(&self) -> Option<f64> {
        self.shared.clock().min_rtt_ms()
    }

    /// Timing figures of one remote participant.
    pub fn figures(&self, sender_id: &str) -> Option<SenderFigures> {
        self.shared.playout().figures(sender_id)
    }

    /// Changes how remote events are placed in time.
    pub fn set_playout(&self, mode: PlayoutMode) {
        self.shared.playout().set_mode(mode);
    }

    /// Received events refused because a value in them was out of bounds.
    pub fn refused_events(&self) -> u64 {
        self.shared
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// As the room's host: ends the jam for everyone (the relay checks that we are the host),
    /// then leaves. Returns once the relay has closed the room (or after 2 s without an answer).
    /// Guests see [`SessionError::JamEnded`].
    pub async fn end_jam(&self) {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        if self.outgoing.send(Outgoing::EndJam(done_tx)).await.is_ok() {
            let _ = done_rx.await;
        }
    }

    /// Received events dropped because they were not read in time.
    pub fn dropped_events(&self) -> u64 {
        self.shared
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// While reconnecting, skips the rest of the wait and tries at once ("Try now").
    pub fn retry_now(&self) {
        let _ = self.outgoing.try_send(Outgoing::RetryNow);
    }

    /// Asks the session to leave the room; the [`Session`]'s events then end.
    pub async fn leave(&self) {
        let _ = self.outgoing.send(Outgoing::Leave).await;
    }
}
