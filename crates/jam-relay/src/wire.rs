//! WebSocket frames as the bytes that go on the wire.
//!
//! Why: a server's frames are never masked, so every receiver of an event gets identical
//! bytes. The relay encodes each frame once ([`Frame`], with tungstenite's own encoder) and
//! hands every member a cheap clone of the same buffer; the member's [`crate::outlet`] writes
//! it to the socket. Going through tungstenite's `Sink` instead framed and copied the event
//! again for every receiver and took the split stream's lock on each call. The stream those
//! bytes go into is [`crate::stream`].

use std::io::Cursor;

use tokio_tungstenite::tungstenite::Bytes;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Control, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{self, FrameHeader};

use jam_protocol::{RelayedEventRef, ServerMsg};

/// What a frame is, for the outlet's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A text frame: a message of the protocol (a tail probe may follow it).
    Text,
    /// A ping or a pong.
    Control,
    /// A close frame, or bytes that hold one: nothing is written after it.
    Close,
}

/// One encoded WebSocket frame (or, from tungstenite, a run of whole frames). Cloning it is
/// cheap: the bytes are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    bytes: Bytes,
    kind: Kind,
}

/// Room in front of a message for the longest header of a server's (unmasked) frame: the
/// first byte, the length byte and a 64-bit length (RFC 6455 §5.2).
const HEADER_ROOM: usize = 10;

impl Frame {
    /// A text frame holding `msg`, serialised once, straight into the frame's own buffer
    /// behind [`HEADER_ROOM`]; the header then goes right in front of the text. The text is
    /// never copied, and the frame costs one allocation (tungstenite's encoder took a second
    /// buffer and a copy).
    pub(crate) fn message(msg: &ServerMsg) -> Frame {
        Frame::written(msg.json_capacity(), |buf| msg.write_json(buf))
    }

    /// A text frame holding a relayed event, written from the borrowed parts as
    /// [`Frame::message`] writes a message.
    pub(crate) fn event(event: &RelayedEventRef<'_>) -> Frame {
        Frame::written(event.json_capacity(), |buf| event.write_json(buf))
    }

    /// A text frame whose text `write` appends, into a buffer made for `capacity` bytes of it.
    fn written(capacity: usize, write: impl FnOnce(&mut Vec<u8>)) -> Frame {
        let mut buf = Vec::with_capacity(HEADER_ROOM.saturating_add(capacity));
        buf.resize(HEADER_ROOM, 0);
        write(&mut buf);
        let (header, header_len) = text_header(buf.len().saturating_sub(HEADER_ROOM));
        let start = HEADER_ROOM - header_len;
        buf[start..HEADER_ROOM].copy_from_slice(&header[..header_len]);
        Frame {
            bytes: Bytes::from(buf).slice(start..),
            kind: Kind::Text,
        }
    }

    /// A text frame holding `text`, through tungstenite's encoder (the tests' reference).
    #[cfg(test)]
    pub(crate) fn text(text: String) -> Frame {
        Frame::encode(
            frame::Frame::message(text, OpCode::Data(frame::coding::Data::Text), true),
            Kind::Text,
        )
    }

    /// An empty ping: the heartbeat, and the tail probe.
    pub(crate) fn ping() -> Frame {
        // Two bytes, the same for every connection: FIN + ping, no payload.
        Frame {
            bytes: Bytes::from_static(&[0x89, 0x00]),
            kind: Kind::Control,
        }
    }

    /// A close frame with `code` and `reason` (cut to fit a control frame, at a character
    /// boundary), or without a status when `code` is `None`.
    pub(crate) fn close(code: Option<u16>, reason: &str) -> Frame {
        let close = code.map(|code| CloseFrame {
            code: CloseCode::from(code),
            reason: cut(reason, MAX_CLOSE_REASON_BYTES).to_owned().into(),
        });
        Frame::encode(frame::Frame::close(close), Kind::Close)
    }

    /// Bytes tungstenite wrote by itself: whole frames, one of them perhaps a close.
    pub(crate) fn from_tungstenite(bytes: &[u8]) -> Frame {
        let kind = if holds_close(bytes) {
            Kind::Close
        } else {
            Kind::Control
        };
        Frame {
            bytes: Bytes::copy_from_slice(bytes),
            kind,
        }
    }

    fn encode(frame: frame::Frame, kind: Kind) -> Frame {
        let mut bytes = Vec::with_capacity(frame.len());
        // Writing into a `Vec` cannot fail; an empty frame would be a bug, never sent as garbage.
        if frame.format(&mut bytes).is_err() {
            bytes.clear();
        }
        Frame {
            bytes: Bytes::from(bytes),
            kind,
        }
    }

    pub(crate) fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        self.bytes
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// The header of a final, unmasked text frame of `len` payload bytes, and its length (2, 4 or
/// 10 bytes: the length in 7, 16 or 64 bits, RFC 6455 §5.2).
fn text_header(len: usize) -> ([u8; HEADER_ROOM], usize) {
    let mut header = [0; HEADER_ROOM];
    header[0] = 0x81; // FIN, text
    if let Some(short) = u8::try_from(len).ok().filter(|l| *l < 126) {
        header[1] = short;
        (header, 2)
    } else if let Ok(medium) = u16::try_from(len) {
        header[1] = 126;
        header[2..4].copy_from_slice(&medium.to_be_bytes());
        (header, 4)
    } else {
        header[1] = 127;
        let long = u64::try_from(len).unwrap_or(u64::MAX);
        header[2..10].copy_from_slice(&long.to_be_bytes());
        (header, 10)
    }
}

/// A close frame's payload is at most 125 bytes, two of them the code.
const MAX_CLOSE_REASON_BYTES: usize = 123;

fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    text.get(..end).unwrap_or_default()
}

/// Whether a run of whole frames holds a close frame (read with tungstenite's header parser).
fn holds_close(bytes: &[u8]) -> bool {
    let mut cursor = Cursor::new(bytes);
    while let Ok(Some((header, length))) = FrameHeader::parse(&mut cursor) {
        if header.opcode == OpCode::Control(Control::Close) {
            return true;
        }
        let next = usize::try_from(length)
            .ok()
            .and_then(|length| usize::try_from(cursor.position()).ok()?.checked_add(length));
        match next.and_then(|next| Some((next, u64::try_from(next).ok()?))) {
            Some((next, at)) if next < bytes.len() => cursor.set_position(at),
            _ => return false,
        }
    }
    false
}

/// Decodes frames a server wrote (tests read what an outlet wrote with tungstenite itself).
#[cfg(test)]
pub(crate) fn decode(bytes: &[u8]) -> Vec<tokio_tungstenite::tungstenite::Message> {
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
    let mut ws = WebSocket::from_raw_socket(Cursor::new(bytes.to_vec()), Role::Client, None);
    std::iter::from_fn(|| ws.read().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::Message;

    #[test]
    fn frames_are_what_tungstenite_reads() {
        let text = "x".repeat(300);
        let mut bytes = Vec::new();
        for frame in [
            Frame::text("hello".into()),
            Frame::text(text.clone()),
            Frame::ping(),
            Frame::close(Some(4008), "slow consumer"),
        ] {
            bytes.extend_from_slice(frame.bytes());
        }
        let read = decode(&bytes);
        assert_eq!(read.len(), 4, "{read:?}");
        assert_eq!(read[0], Message::text("hello"));
        assert_eq!(read[1], Message::text(text));
        assert_eq!(read[2], Message::Ping(Bytes::new()));
        let Message::Close(Some(close)) = &read[3] else {
            panic!("{:?}", read[3])
        };
        assert_eq!(u16::from(close.code), 4008);
        assert_eq!(close.reason.as_str(), "slow consumer");
    }

    /// A message framed in place has exactly the bytes tungstenite's encoder gives, at every
    /// length where the header changes (7-bit, 16-bit and 64-bit lengths), and reads back.
    #[test]
    fn a_message_framed_in_place_is_what_tungstenite_encodes() {
        use jam_protocol::{ErrorCode, ServerMsg};
        // `{"type":"error","code":"BAD_MESSAGE","message":"…"}` around the message.
        let around = ServerMsg::error(ErrorCode::BadMessage, "").to_json().len();
        for len in [0_usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let message = "m".repeat(len.saturating_sub(around));
            let msg = ServerMsg::error(ErrorCode::BadMessage, message);
            let text = msg.to_json();
            let framed = Frame::message(&msg);
            assert_eq!(framed, Frame::text(text.clone()), "{} bytes", text.len());
            assert_eq!(decode(framed.bytes()), [Message::text(text)]);
        }
    }

    #[test]
    fn a_long_close_reason_is_cut_to_fit_at_a_character() {
        let frame = Frame::close(Some(1000), &"é".repeat(100));
        assert!(frame.len() <= 127, "{}", frame.len());
        let read = decode(frame.bytes());
        let Some(Message::Close(Some(close))) = read.first() else {
            panic!("{read:?}")
        };
        assert_eq!(close.reason.as_str(), "é".repeat(61));
    }

    #[test]
    fn a_close_is_found_among_tungstenites_frames() {
        let pong = frame::Frame::pong(Bytes::from_static(b"abc"));
        let mut bytes = Vec::new();
        pong.format(&mut bytes).unwrap();
        assert_eq!(Frame::from_tungstenite(&bytes).kind(), Kind::Control);
        bytes.extend_from_slice(Frame::close(None, "").bytes());
        assert_eq!(Frame::from_tungstenite(&bytes).kind(), Kind::Close);
        // Garbage or a cut frame is not taken for a close.
        assert_eq!(Frame::from_tungstenite(&[0x8a, 0x7f]).kind(), Kind::Control);
        assert_eq!(Frame::from_tungstenite(&[]).kind(), Kind::Control);
    }
}
