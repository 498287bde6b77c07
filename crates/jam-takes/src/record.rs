//! What a relay reports to the session log.

use jam_protocol::{Role, RoomCode};
use serde_json::value::RawValue;

/// One thing that happened on the relay, stamped with relay time (ms since the Unix epoch).
/// Records of one room arrive in the order they happened.
#[derive(Debug, Clone)]
pub enum Record {
    /// A room was created: a new session starts.
    RoomOpened {
        /// The room.
        room: RoomCode,
        /// Relay time, ms.
        at_ms: f64,
    },
    /// Someone entered the room (the creator too).
    Joined {
        /// The room.
        room: RoomCode,
        /// Their id in the room.
        user_id: String,
        /// Their display name.
        name: String,
        /// Player or listener.
        role: Role,
        /// Relay time, ms.
        at_ms: f64,
    },
    /// Someone left or dropped.
    Left {
        /// The room.
        room: RoomCode,
        /// Their id.
        user_id: String,
        /// Relay time, ms.
        at_ms: f64,
    },
    /// An event was relayed.
    Event {
        /// The room.
        room: RoomCode,
        /// The room's sequence number.
        seq: u64,
        /// Relay time of the relaying, ms.
        at_ms: f64,
        /// Who sent it.
        sender_id: String,
        /// Event name.
        event_name: String,
        /// Payload, as relayed.
        payload: Box<RawValue>,
        /// A release the relay made for someone who left.
        synthetic: bool,
    },
    /// The last member left: the session ends.
    RoomClosed {
        /// The room.
        room: RoomCode,
        /// Relay time, ms.
        at_ms: f64,
    },
}
