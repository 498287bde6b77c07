//! What a session reports: its [`Status`] for the UI, and the [`SessionEvent`]s it hands the
//! app (a joined room, members coming and going, remote events placed in time).

use std::time::Duration;

use jam_protocol::{MusicalEvent, Participant, RoomCode, RoomWelcome};
use serde_json::value::RawValue;

use crate::SessionError;

/// Connection state, for the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Connecting for the first time.
    Connecting,
    /// In the room.
    Connected {
        /// The room.
        room: RoomCode,
        /// Our user id in it.
        user_id: String,
    },
    /// The connection dropped; the next attempt is in `retry_in`.
    Reconnecting {
        /// Attempts so far.
        attempt: u32,
        /// Wait before the next attempt.
        retry_in: Duration,
        /// Why the last attempt or the connection failed.
        reason: String,
    },
    /// Given up (the room refused us, or the session was left).
    Ended {
        /// Why; `None` when we left.
        reason: Option<SessionError>,
    },
}

/// An event from another participant, with the time to play it.
#[derive(Debug)]
pub struct RemoteEvent {
    /// Who sent it.
    pub sender_id: String,
    /// Its name.
    pub event_name: String,
    /// Its payload, as sent.
    pub payload: Box<RawValue>,
    /// The payload read as a musical event, if it is one.
    pub event: Option<MusicalEvent>,
    /// The room's sequence number.
    pub seq: u64,
    /// A release the relay made for someone who left.
    pub synthetic: bool,
    /// Relay time it arrived, ms.
    pub arrived_ms: f64,
    /// Relay time to play it, ms (see [`PlayoutMode`]).
    pub play_at_ms: f64,
}

/// What the session tells the app.
#[derive(Debug)]
pub enum SessionEvent {
    /// Joined (or re-joined after a drop): apply `state` and the participant list afresh.
    Joined(RoomWelcome),
    /// Someone arrived.
    UserJoined(Participant),
    /// Someone left.
    UserLeft(String),
    /// A remote event.
    Remote(RemoteEvent),
}
