//! Error codes the relay sends, and why a frame could not be read as a message.

use serde::{Deserialize, Serialize};

/// The `code` of an `error` message. Clients match on it; the `message` beside it is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Not JSON, no or unknown `type`, a missing or ill-typed field, or an invalid musical event.
    BadMessage,
    /// `session:join` named a room that does not exist (or no longer exists).
    RoomNotFound,
    /// `event:broadcast` or `session:leave` from a connection that is not in that room.
    NotInRoom,
    /// A listener tried to broadcast.
    Forbidden,
    /// The room has a password and the one given does not match (or none was given).
    WrongPassword,
    /// The room already has its maximum number of participants.
    RoomFull,
    /// The frame is larger than the relay's message limit.
    PayloadTooLarge,
    /// The client sent more than its event rate allows; the excess events were dropped.
    RateLimited,
    /// `session:create` or `session:join` from a connection that is already in a room.
    AlreadyInRoom,
    /// The relay already hosts its maximum number of rooms.
    TooManyRooms,
    /// The relay already has its maximum number of connections; it closes this one.
    ServerFull,
    /// A code this version does not know (sent by a newer relay).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire, e.g. `"ROOM_NOT_FOUND"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "BAD_MESSAGE",
            ErrorCode::RoomNotFound => "ROOM_NOT_FOUND",
            ErrorCode::NotInRoom => "NOT_IN_ROOM",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::WrongPassword => "WRONG_PASSWORD",
            ErrorCode::RoomFull => "ROOM_FULL",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::AlreadyInRoom => "ALREADY_IN_ROOM",
            ErrorCode::TooManyRooms => "TOO_MANY_ROOMS",
            ErrorCode::ServerFull => "SERVER_FULL",
            ErrorCode::Unknown => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text frame is not a valid message. Every variant maps to [`ErrorCode::BadMessage`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The frame is not a JSON object.
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// The object has no string `type` field.
    #[error("the message has no \"type\" field")]
    MissingType,
    /// The `type` names no message of this protocol version.
    #[error("unknown message type \"{0}\"")]
    UnknownType(String),
    /// A field of a known message is missing, of the wrong type or out of range.
    #[error("{message_type}: {detail}")]
    BadField {
        /// The `type` of the message.
        message_type: String,
        /// What is wrong, e.g. "missing field `roomCode`".
        detail: String,
    },
}
