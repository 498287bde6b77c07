//! Messages a client sends to the relay.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{LinkFigures, ParseError, Role, parse_body, parse_tag};

/// A message from a client to the relay. Parse with [`ClientMsg::parse`], encode with
/// [`ClientMsg::to_json`].
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum ClientMsg {
    /// `session:create`: make a room and become its host.
    #[serde(rename = "session:create")]
    Create(CreateRoom),
    /// `session:join`: enter an existing room.
    #[serde(rename = "session:join")]
    Join(JoinRoom),
    /// `session:leave`: leave the room (the connection stays open).
    #[serde(rename = "session:leave")]
    Leave,
    /// `session:end`: end the jam for everyone (the room's host only).
    #[serde(rename = "session:end")]
    End,
    /// `event:broadcast`: send an event to every other member of the room.
    #[serde(rename = "event:broadcast")]
    Broadcast(Broadcast),
    /// `clock:ping`: ask for the relay's time.
    #[serde(rename = "clock:ping")]
    ClockPing(ClockPing),
    /// `lane:open`: make this connection the spare lane of a member (see [`crate::lane`]).
    #[serde(rename = "lane:open")]
    LaneOpen(LaneOpen),
}

/// Body of `session:create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoom {
    /// The creator's display name.
    pub name: String,
    /// Optional password that joiners must give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Optional code to create the room under — a host re-creating its room after the relay
    /// restarted, so guests can rejoin with the invite they have. Used if it is a valid code and
    /// no room has it; otherwise the relay picks a new code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_code: Option<String>,
    /// The relay's creation key, when it has one: a relay embedded in an app lets only that app
    /// create rooms (see `docs/PROTOCOL.md`, "Who may create a room").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_key: Option<String>,
    /// The creator's link to the relay, as its clock pings measured it (passed on in its
    /// [`crate::Participant`] record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkFigures>,
}

/// Body of `session:join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRoom {
    /// The room to join, as typed (the relay forgives case and spaces).
    pub room_code: String,
    /// The joiner's display name.
    pub name: String,
    /// Player (default) or listener.
    #[serde(default)]
    pub role: Role,
    /// The room's password, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The host token `session:created` gave: a host coming back after a drop gets its host
    /// role back with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_token: Option<String>,
    /// The joiner's link to the relay, as its clock pings measured it (passed on in its
    /// [`crate::Participant`] record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkFigures>,
}

/// Body of `event:broadcast` as sent by a client.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Broadcast {
    /// The room the client believes it is in; must match, or the relay answers `NOT_IN_ROOM`.
    pub room_code: String,
    /// The event's name, e.g. `piano_note`; any name of 1–64 characters is relayed.
    pub event_name: String,
    /// The event's payload, kept byte for byte.
    pub payload: Box<RawValue>,
    /// The sender's own count of its events (1, 2, …). A client that sends each event on two
    /// connections (the spare lane, [`crate::lane`]) gives both copies the same number, and the
    /// relay relays only the first to arrive. Absent: every copy is relayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_seq: Option<u64>,
}

impl Broadcast {
    /// The same body, borrowed: what the relay handles.
    pub fn as_borrowed(&self) -> BroadcastRef<'_> {
        BroadcastRef {
            _type: serde::de::IgnoredAny,
            room_code: Cow::Borrowed(&self.room_code),
            event_name: Cow::Borrowed(&self.event_name),
            payload: &self.payload,
            client_seq: self.client_seq,
        }
    }
}

/// Body of `event:broadcast`, borrowed from the frame's text: the message the relay reads most,
/// read without an allocation (the names are copied only if they hold escapes).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastRef<'a> {
    /// The message's `type`, read as a field only so that a second `type` key, however it is
    /// spelled, is refused here as the tag parse refuses it.
    #[serde(rename = "type", default)]
    _type: serde::de::IgnoredAny,
    /// See [`Broadcast::room_code`].
    #[serde(borrow)]
    pub room_code: Cow<'a, str>,
    /// See [`Broadcast::event_name`].
    #[serde(borrow)]
    pub event_name: Cow<'a, str>,
    /// See [`Broadcast::payload`].
    #[serde(borrow)]
    pub payload: &'a RawValue,
    /// See [`Broadcast::client_seq`].
    #[serde(default)]
    pub client_seq: Option<u64>,
}

/// One client frame as the relay reads it: [`ClientMsg::parse_frame`].
#[derive(Debug)]
pub enum ClientFrame<'a> {
    /// An `event:broadcast` written as clients write it, borrowed from the text.
    Broadcast(BroadcastRef<'a>),
    /// Any other message, and a broadcast written some other way (its tag not first, or
    /// spaces around it): parsed by [`ClientMsg::parse`].
    Msg(ClientMsg),
}

/// Body of `lane:open`, sent on a second connection, in no room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaneOpen {
    /// The member's room.
    pub room_code: String,
    /// The member's user id (its first connection's).
    pub user_id: String,
    /// The `laneToken` the member's welcome gave.
    pub lane_token: String,
}

/// Body of `clock:ping`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockPing {
    /// The client's own clock reading, echoed back unchanged in `clock:pong`.
    pub client_time: f64,
}

impl ClientMsg {
    /// Parses one text frame.
    ///
    /// A frame that starts with its `type` (as clients write them) is parsed in one pass
    /// ([`crate::quick_tag`]); any other, and any frame that fails that way, is parsed in full,
    /// so the result, errors included, is always [`ClientMsg::parse_in_full`]'s.
    pub fn parse(text: &str) -> Result<ClientMsg, ParseError> {
        match crate::quick_tag(text) {
            // Messages without a body: only the full parse checks that the text is JSON.
            Some(ty) if !matches!(ty, "session:leave" | "session:end") => {
                ClientMsg::parse_body_of(ty, text).or_else(|_| ClientMsg::parse_in_full(text))
            }
            _ => ClientMsg::parse_in_full(text),
        }
    }

    /// Parses one text frame as [`ClientMsg::parse`] does, but reads an `event:broadcast` that
    /// starts with its `type` (as every Jamwire client writes it) into a body borrowed from
    /// `text`. Anything else, and any broadcast the borrowed read refuses, goes through
    /// [`ClientMsg::parse`], so what is accepted and every error are exactly its (the protocol
    /// fuzz target checks that the two read every broadcast alike).
    pub fn parse_frame(text: &str) -> Result<ClientFrame<'_>, ParseError> {
        // The tag is first and is exactly this; `BroadcastRef` refuses a second `type` key.
        if text.starts_with(r#"{"type":"event:broadcast","#) {
            if let Ok(b) = serde_json::from_str::<BroadcastRef<'_>>(text) {
                return Ok(ClientFrame::Broadcast(b));
            }
        }
        ClientMsg::parse(text).map(ClientFrame::Msg)
    }

    /// Parses one text frame: its tag from the whole text, then its body. What
    /// [`ClientMsg::parse`] always returns; public so that fuzzing can compare the two.
    pub fn parse_in_full(text: &str) -> Result<ClientMsg, ParseError> {
        let ty = parse_tag(text)?;
        ClientMsg::parse_body_of(&ty, text)
    }

    fn parse_body_of(ty: &str, text: &str) -> Result<ClientMsg, ParseError> {
        Ok(match ty {
            "session:create" => ClientMsg::Create(parse_body(ty, text)?),
            "session:join" => ClientMsg::Join(parse_body(ty, text)?),
            "session:leave" => ClientMsg::Leave,
            "session:end" => ClientMsg::End,
            "event:broadcast" => ClientMsg::Broadcast(parse_body(ty, text)?),
            "clock:ping" => ClientMsg::ClockPing(parse_body(ty, text)?),
            "lane:open" => ClientMsg::LaneOpen(parse_body(ty, text)?),
            _ => return Err(ParseError::UnknownType(ty.to_owned())),
        })
    }

    /// Encodes the message as one JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("client messages always serialize: string keys only")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass parse answers exactly what the full parse does, errors included, on the
    /// shapes where they could differ (the fuzz target checks the same on any input).
    #[test]
    fn the_quick_parse_always_agrees_with_the_full_parse() {
        let event = r#""roomCode":"K7M2QXH4","eventName":"drum_hit","payload":{"note":38}"#;
        let texts = [
            format!(r#"{{"type":"event:broadcast",{event}}}"#),
            format!(r#"{{"type":"event:broadcast",{event},"clientSeq":3}}"#),
            format!(r#"{{"type":"event:broadcast",{event},"type":"session:leave"}}"#),
            format!(r#"{{"type":"event:broadcast",{event},"typ\u0065":"session:end"}}"#),
            format!(r#"{{"type":"event:broadcast",{event}"#),
            format!(r#"{{"type":"event:broadcast",{event}}} trailing"#),
            r#"{"type":"event:broadcast","roomCode":7}"#.to_owned(),
            format!(r#"{{ "type":"event:broadcast",{event}}}"#),
            format!(r#"{{"type":"event:br\u0061dcast",{event}}}"#),
            format!(r#"{{"type":"dance",{event}}}"#),
            r#"{"type":"session:leave"}"#.to_owned(),
            r#"{"type":"session:leave", not json"#.to_owned(),
            r#"{"type":"session:end","type":"x"}"#.to_owned(),
            r#"{"type":"clock:ping","clientTime":1.5}"#.to_owned(),
            r#"{"type":"clock:ping","clientTime":"soon"}"#.to_owned(),
            r#"{"type":"","x":1}"#.to_owned(),
            r#"{"type":""#.to_owned(),
            r#"{"type":"clock:ping"#.to_owned(),
            String::new(),
        ];
        for text in &texts {
            assert_eq!(
                format!("{:?}", ClientMsg::parse(text)),
                format!("{:?}", ClientMsg::parse_in_full(text)),
                "{text}"
            );
        }
        assert!(
            crate::quick_tag(&texts[0]).is_some(),
            "clients' frames take the quick path"
        );
        assert!(
            crate::quick_tag(&texts[2]).is_none(),
            "a second type key: in full"
        );
        assert!(
            crate::quick_tag(&texts[3]).is_none(),
            "an escaped one: in full"
        );
    }

    #[test]
    fn round_trips_every_message() {
        let payload = RawValue::from_string(r#"{"note":60, "velocity":100}"#.into()).unwrap();
        let msgs = [
            ClientMsg::Create(CreateRoom {
                name: "Alice".into(),
                password: None,
                room_code: Some("K7M2QXH4".into()),
                create_key: Some("k".into()),
                link: Some(LinkFigures {
                    rtt_us: 850,
                    spread_us: 120,
                    samples: 8,
                }),
            }),
            ClientMsg::Join(JoinRoom {
                room_code: "K7M2QXH4".into(),
                name: "Bob".into(),
                role: Role::Listener,
                password: Some("pw".into()),
                host_token: Some("t".into()),
                link: None,
            }),
            ClientMsg::Leave,
            ClientMsg::End,
            ClientMsg::Broadcast(Broadcast {
                room_code: "K7M2QXH4".into(),
                event_name: "piano_note".into(),
                payload,
                client_seq: Some(7),
            }),
            ClientMsg::ClockPing(ClockPing { client_time: 12.5 }),
            ClientMsg::LaneOpen(LaneOpen {
                room_code: "K7M2QXH4".into(),
                user_id: "U1".into(),
                lane_token: "t".into(),
            }),
        ];
        for msg in msgs {
            let json = msg.to_json();
            let back = ClientMsg::parse(&json).unwrap();
            assert_eq!(back.to_json(), json);
        }
    }

    #[test]
    fn payload_is_kept_byte_for_byte() {
        let text = r#"{"type":"event:broadcast","roomCode":"K7M2QXH4","eventName":"x","payload":{"b": 1.50, "a":[ ]}}"#;
        let ClientMsg::Broadcast(b) = ClientMsg::parse(text).unwrap() else {
            panic!()
        };
        assert_eq!(b.payload.get(), r#"{"b": 1.50, "a":[ ]}"#);
    }

    #[test]
    fn role_defaults_to_player() {
        let text = r#"{"type":"session:join","roomCode":"K7M2QXH4","name":"Bob"}"#;
        let ClientMsg::Join(j) = ClientMsg::parse(text).unwrap() else {
            panic!()
        };
        assert_eq!(j.role, Role::Player);
    }

    #[test]
    fn bad_frames_say_what_is_wrong() {
        assert!(matches!(
            ClientMsg::parse("nope"),
            Err(ParseError::NotJson(_))
        ));
        assert!(matches!(
            ClientMsg::parse("[1]"),
            Err(ParseError::NotJson(_))
        ));
        assert_eq!(
            ClientMsg::parse(r#"{"name":"x"}"#).unwrap_err(),
            ParseError::MissingType
        );
        assert_eq!(
            ClientMsg::parse(r#"{"type":"dance"}"#).unwrap_err(),
            ParseError::UnknownType("dance".into())
        );
        let err = ClientMsg::parse(r#"{"type":"session:join","name":"Bob"}"#).unwrap_err();
        assert_eq!(err.to_string(), "session:join: missing field `roomCode`");
        let err = ClientMsg::parse(r#"{"type":"clock:ping","clientTime":"soon"}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("clock:ping: invalid type"),
            "{err}"
        );
    }

    /// The relay's read of a client's broadcast borrows everything from the text; a broadcast
    /// written another way still arrives, and every refusal is the owned parse's.
    #[test]
    fn broadcasts_are_read_borrowed_and_anything_else_as_before() {
        let text = r#"{"type":"event:broadcast","roomCode":"K7M2QXH4","eventName":"drum_hit","payload":{"note":38},"clientSeq":9}"#;
        let Ok(ClientFrame::Broadcast(b)) = ClientMsg::parse_frame(text) else {
            panic!("a client's broadcast is read borrowed");
        };
        assert!(matches!(b.room_code, Cow::Borrowed("K7M2QXH4")));
        assert!(matches!(b.event_name, Cow::Borrowed("drum_hit")));
        assert_eq!(b.payload.get(), r#"{"note":38}"#);
        assert_eq!(b.client_seq, Some(9));

        // An escape: still borrowed, but that name is a copy.
        let escaped =
            r#"{"type":"event:broadcast","roomCode":"K7M2QXH4","eventName":"\u0078","payload":1}"#;
        let Ok(ClientFrame::Broadcast(b)) = ClientMsg::parse_frame(escaped) else {
            panic!("{escaped}");
        };
        assert!(matches!(b.event_name, Cow::Owned(ref name) if name == "x"));

        // The tag not first: the owned parse reads it.
        let later =
            r#"{"roomCode":"K7M2QXH4","type":"event:broadcast","eventName":"x","payload":1}"#;
        let Ok(ClientFrame::Msg(ClientMsg::Broadcast(b))) = ClientMsg::parse_frame(later) else {
            panic!("{later}");
        };
        assert_eq!(b.event_name, "x");

        for text in [
            r#"{"type":"event:broadcast","roomCode":"K7M2QXH4","eventName":"x"}"#,
            r#"{"type":"event:broadcast","roomCode":7,"eventName":"x","payload":1}"#,
            r#"{"type":"event:broadcast","roomCode":"K","eventName":"x","payload":1"#,
            r#"{"type":"event:broadcast","roomCode":"K","eventName":"x","payload":1,"type":"session:end"}"#,
            r#"{"type":"event:broadcast","roomCode":"K","eventName":"x","payload":1,"typ\u0065":"x"}"#,
            r#"{"type":"session:leave"}"#,
        ] {
            assert_eq!(
                format!(
                    "{:?}",
                    ClientMsg::parse_frame(text).map_err(|e| e.to_string())
                ),
                format!(
                    "{:?}",
                    ClientMsg::parse(text)
                        .map(ClientFrame::Msg)
                        .map_err(|e| e.to_string())
                ),
                "{text}"
            );
        }
    }
}
