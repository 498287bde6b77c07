//! Wire types of the Jamwire relay protocol, version 1.
//!
//! Everything that crosses the network between a Jamwire client and a relay is defined here and
//! nowhere else; `docs/PROTOCOL.md` is the prose version of this crate.
//!
//! - [`client`]: [`ClientMsg`], what a client sends to the relay.
//! - [`server`]: [`ServerMsg`], what the relay sends to a client.
//! - [`event`]: [`MusicalEvent`], the vocabulary of musical events carried inside
//!   `event:broadcast` (the relay forwards any event name, but understands these).
//! - [`room`]: [`RoomCode`], [`Role`], [`Participant`], [`RoomState`], [`HeldNote`].
//! - [`error`]: [`ErrorCode`] (sent to clients) and [`ParseError`] (a frame that is not a valid message).
//! - [`instrument`]: the sounds a player can choose ([`instrument::MELODIC`], [`instrument::KITS`]).
//! - [`pattern`]: [`Pattern`], the step-sequencer layout inside `pattern_change`.
//! - [`clock`]: [`EpochClock`], the one epoch-milliseconds clock every process reads.
//! - [`transport`]: the TCP setting both ends make (a short retransmission timeout).
//! - [`lane`]: the spare lane (a second connection carrying a copy of each event) and
//!   [`SeqWindow`], which keeps the first copy of each.
//!
//! With the `ts` feature the types a user interface shows derive `ts_rs::TS`, so that their
//! TypeScript declarations are generated from here, never retyped.
//!
//! Frames are WebSocket text frames holding one JSON object each, whose `type` field names the
//! message. Event payloads are kept as [`serde_json::value::RawValue`] so the relay forwards them
//! exactly as sent, without re-encoding.

pub mod client;
pub mod clock;
pub mod error;
pub mod event;
pub mod groove;
pub mod instrument;
pub mod lane;
pub mod pattern;
pub mod room;
pub mod server;
pub mod transport;

pub use client::{
    Broadcast, BroadcastRef, ClientFrame, ClientMsg, ClockPing, CreateRoom, JoinRoom, LaneOpen,
};
pub use clock::EpochClock;
pub use error::{ErrorCode, ParseError};
pub use event::{EventError, MusicalEvent};
pub use instrument::MemberInstrument;
pub use lane::SeqWindow;
pub use pattern::{Pattern, Row};
pub use room::{
    HeldNote, LinkFigures, MAX_NAME_CHARS, MAX_PASSWORD_BYTES, MAX_TOKEN_BYTES, NameError,
    Participant, Role, RoomCode, RoomState, clean_name,
};
pub use server::{
    ClockPong, Connected, ErrorMsg, JamEnded, RelayedEvent, RelayedEventRef, RoomWelcome,
    ServerMsg, UserJoined, UserLeft,
};

/// Largest frame a client accepts from a relay, bytes: a welcome to a full room with its state
/// fits many times over; anything larger is a broken or hostile relay.
pub const MAX_RELAY_FRAME_BYTES: usize = 64 * 1024;

/// The protocol version this crate speaks; sent by the relay in `connected`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Reads the `type` tag of a frame, then the message body for that tag.
///
/// Serde's internally tagged enums cannot hold a `RawValue` (they buffer the object first), so
/// both directions parse in two steps: the tag, then the body struct from the same text.
pub(crate) fn parse_tag(text: &str) -> Result<std::borrow::Cow<'_, str>, ParseError> {
    #[derive(serde::Deserialize)]
    struct Tag<'a> {
        /// Borrowed from the text unless it holds escapes: no allocation per message.
        #[serde(rename = "type", borrow)]
        ty: Option<std::borrow::Cow<'a, str>>,
    }
    let value: Tag = serde_json::from_str(text).map_err(|e| ParseError::NotJson(e.to_string()))?;
    value.ty.ok_or(ParseError::MissingType)
}

/// The tag of a frame that starts `{"type":"<tag>"`, as every Jamwire client writes it, read
/// without parsing the rest: the full tag parse costs as much as the body's, since it must
/// skip the whole object. `None` (parse in full) unless the answer is certainly the same as
/// [`parse_tag`]'s: the tag is plain (ASCII letters, digits, `:`, `-`, `_`), and nothing after
/// it could be another `type` key (no `"type"`, no backslash, so no escaped spelling of it).
/// The caller must still parse the body from the whole text, which checks that it is JSON.
pub(crate) fn quick_tag(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(r#"{"type":""#)?;
    let (tag, tail) = rest.split_at(rest.find('"')?);
    let plain = !tag.is_empty()
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_'));
    (plain && !tail.contains(r#""type""#) && !tail.contains('\\')).then_some(tag)
}

/// Parses the body of a message whose tag is `ty`, naming the message in the error.
pub(crate) fn parse_body<'a, T: serde::Deserialize<'a>>(
    ty: &str,
    text: &'a str,
) -> Result<T, ParseError> {
    serde_json::from_str(text).map_err(|e| ParseError::BadField {
        message_type: ty.to_owned(),
        detail: strip_position(&e.to_string()),
    })
}

/// serde_json appends " at line 1 column 57" to its errors; clients see the message, so drop it.
fn strip_position(detail: &str) -> String {
    match detail.rfind(" at line ") {
        Some(i) => detail[..i].to_owned(),
        None => detail.to_owned(),
    }
}
