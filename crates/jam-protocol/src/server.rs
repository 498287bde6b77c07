//! Messages the relay sends to a client.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{ErrorCode, ParseError, Participant, RoomState, parse_body, parse_tag};

/// A message from the relay to a client. Encode with [`ServerMsg::to_json`], parse with
/// [`ServerMsg::parse`].
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum ServerMsg {
    /// `connected`: the first message on every connection.
    #[serde(rename = "connected")]
    Connected(Connected),
    /// `session:created`: answer to `session:create`.
    #[serde(rename = "session:created")]
    Created(RoomWelcome),
    /// `session:joined`: answer to `session:join`.
    #[serde(rename = "session:joined")]
    Joined(RoomWelcome),
    /// `session:user-joined`: someone else entered the room.
    #[serde(rename = "session:user-joined")]
    UserJoined(UserJoined),
    /// `session:user-left`: someone else left the room or dropped.
    #[serde(rename = "session:user-left")]
    UserLeft(UserLeft),
    /// `event:broadcast`: an event another member sent.
    #[serde(rename = "event:broadcast")]
    Event(RelayedEvent),
    /// `session:ended`: the host ended the jam; the room is closed.
    #[serde(rename = "session:ended")]
    Ended(JamEnded),
    /// `clock:pong`: answer to `clock:ping`.
    #[serde(rename = "clock:pong")]
    ClockPong(ClockPong),
    /// `error`: a request failed; the connection stays usable unless it is closed right after.
    #[serde(rename = "error")]
    Error(ErrorMsg),
    /// `lane:opened`: answer to `lane:open`; this connection is now the member's spare lane.
    #[serde(rename = "lane:opened")]
    LaneOpened,
}

/// Body of `connected`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connected {
    /// This connection's id; it becomes the user id in any room the connection enters.
    pub client_id: String,
    /// Relay time in milliseconds (see `docs/PROTOCOL.md`, "Relay time").
    pub server_time: f64,
    /// The protocol version, [`crate::PROTOCOL_VERSION`].
    pub protocol: u32,
    /// The relay repairs a lost retransmission on this connection in tens of milliseconds
    /// ([`crate::transport::retransmit_quickly`] took). Absent (false): its system keeps
    /// TCP's 200 ms floor, and a client may want the spare lane ([`crate::lane`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quick_retransmit: bool,
}

/// Body of `session:created` and `session:joined`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomWelcome {
    /// The room's code.
    pub room_code: String,
    /// The receiver's own user id in the room.
    pub user_id: String,
    /// Everyone in the room, the receiver included, in order of arrival.
    pub participants: Vec<Participant>,
    /// Tempo, pattern and held notes, so a late joiner starts where the others are.
    pub state: RoomState,
    /// Relay time in milliseconds.
    pub server_time: f64,
    /// The relay records this room (a session log of every event): clients show it to every
    /// participant. Absent (false) from relays that do not record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recording: bool,
    /// Only to the host: the secret that gives the host role back after a drop (send it in
    /// `session:join`'s `hostToken`). Never sent to anyone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_token: Option<String>,
    /// Only to the receiver: the secret that opens its spare lane (`lane:open`, see
    /// [`crate::lane`]). Absent from relays without lanes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane_token: Option<String>,
}

/// Body of `session:ended`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JamEnded {
    /// The host who ended it.
    pub user_id: String,
    /// The host's display name, as the room knew it.
    pub name: String,
}

/// Body of `session:user-joined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserJoined {
    /// The new member.
    pub user: Participant,
}

/// Body of `session:user-left`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserLeft {
    /// The member who left.
    pub user_id: String,
}

/// Body of `event:broadcast` as the relay delivers it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayedEvent {
    /// The event's name, as sent.
    pub event_name: String,
    /// The event's payload, exactly as sent.
    pub payload: Box<RawValue>,
    /// Who sent it, set by the relay (never taken from the client).
    pub sender_id: String,
    /// Position of this event in the room's event sequence: one more than the previous event.
    pub seq: u64,
    /// Relay time in milliseconds when the relay accepted the event.
    pub server_time: f64,
    /// True for note-offs the relay made up for a member who left while holding notes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub synthetic: bool,
}

impl RelayedEvent {
    /// The same event, borrowed: what the relay writes.
    pub fn as_borrowed(&self) -> RelayedEventRef<'_> {
        RelayedEventRef {
            event_name: &self.event_name,
            payload: &self.payload,
            sender_id: &self.sender_id,
            seq: self.seq,
            server_time: self.server_time,
            synthetic: self.synthetic,
        }
    }
}

/// A [`RelayedEvent`] borrowing its names and payload: the relay writes each event it relays
/// from the sender's frame, without copying them first.
#[derive(Debug, Clone, Copy)]
pub struct RelayedEventRef<'a> {
    /// See [`RelayedEvent::event_name`].
    pub event_name: &'a str,
    /// See [`RelayedEvent::payload`].
    pub payload: &'a RawValue,
    /// See [`RelayedEvent::sender_id`].
    pub sender_id: &'a str,
    /// See [`RelayedEvent::seq`].
    pub seq: u64,
    /// See [`RelayedEvent::server_time`].
    pub server_time: f64,
    /// See [`RelayedEvent::synthetic`].
    pub synthetic: bool,
}

impl RelayedEventRef<'_> {
    /// Bytes enough for the event's JSON text (see [`ServerMsg::json_capacity`]).
    pub fn json_capacity(&self) -> usize {
        self.payload
            .get()
            .len()
            .saturating_add(self.event_name.len())
            .saturating_add(self.sender_id.len())
            .saturating_add(FIXED_JSON_CAPACITY)
    }

    /// Appends `{"type":"event:broadcast",…}` to `out`: the bytes serde gives for
    /// `ServerMsg::Event`, without serde's map machinery (a third of the cost of writing
    /// an event). The fixed parts are written here; each value still goes through serde_json,
    /// so escaping and number formats are serde_json's own.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"type":"event:broadcast","eventName":"#);
        write_value(out, self.event_name);
        out.extend_from_slice(br#","payload":"#);
        out.extend_from_slice(self.payload.get().as_bytes());
        out.extend_from_slice(br#","senderId":"#);
        write_value(out, self.sender_id);
        out.extend_from_slice(br#","seq":"#);
        write_value(out, &self.seq);
        out.extend_from_slice(br#","serverTime":"#);
        write_value(out, &self.server_time);
        if self.synthetic {
            out.extend_from_slice(br#","synthetic":true"#);
        }
        out.push(b'}');
    }
}

/// Room for the fixed parts of a message's JSON in [`ServerMsg::json_capacity`].
const FIXED_JSON_CAPACITY: usize = 160;

/// Appends one value's JSON to `out`. Writing into a `Vec` cannot fail, and every value the
/// relay writes has string keys only.
fn write_value<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("server messages always serialize: string keys only");
}

/// Body of `clock:pong`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockPong {
    /// The `clientTime` of the ping, unchanged.
    pub client_time: f64,
    /// Relay time in milliseconds when the relay answered.
    pub server_time: f64,
}

/// Body of `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMsg {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ServerMsg {
    /// Builds an `error` message.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> ServerMsg {
        ServerMsg::Error(ErrorMsg {
            code,
            message: message.into(),
        })
    }

    /// Encodes the message as one JSON text frame.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(self.json_capacity());
        self.write_json(&mut out);
        // serde_json writes UTF-8 only.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Bytes enough for the message's JSON text in all but unusual cases (a relayed event's
    /// payload and names plus room for the fixed fields), so that a buffer of this capacity is
    /// never grown while the message is written into it.
    pub fn json_capacity(&self) -> usize {
        match self {
            ServerMsg::Event(e) => e.as_borrowed().json_capacity(),
            _ => FIXED_JSON_CAPACITY,
        }
    }

    /// Appends the message's JSON text (what [`ServerMsg::to_json`] gives) to `out`. The relay
    /// writes it straight into a WebSocket frame's buffer, behind room for the header, having
    /// made room for [`ServerMsg::json_capacity`] bytes.
    ///
    /// A relayed event, the message the relay writes most, is written field by field in
    /// serde's own order and formats ([`RelayedEventRef::write_json`]); every other message goes
    /// through serde. Both give the same bytes (a unit test and the protocol fuzz target check).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            ServerMsg::Event(e) => e.as_borrowed().write_json(out),
            _ => write_value(out, self),
        }
    }

    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<ServerMsg, ParseError> {
        let ty = parse_tag(text)?;
        Ok(match &*ty {
            "connected" => ServerMsg::Connected(parse_body(&ty, text)?),
            "session:created" => ServerMsg::Created(parse_body(&ty, text)?),
            "session:joined" => ServerMsg::Joined(parse_body(&ty, text)?),
            "session:user-joined" => ServerMsg::UserJoined(parse_body(&ty, text)?),
            "session:user-left" => ServerMsg::UserLeft(parse_body(&ty, text)?),
            "session:ended" => ServerMsg::Ended(parse_body(&ty, text)?),
            "event:broadcast" => ServerMsg::Event(parse_body(&ty, text)?),
            "clock:pong" => ServerMsg::ClockPong(parse_body(&ty, text)?),
            "error" => ServerMsg::Error(parse_body(&ty, text)?),
            "lane:opened" => ServerMsg::LaneOpened,
            _ => return Err(ParseError::UnknownType(ty.into_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HeldNote, Role};

    #[test]
    fn relayed_event_has_the_documented_shape() {
        let msg = ServerMsg::Event(RelayedEvent {
            event_name: "drum_hit".into(),
            payload: RawValue::from_string(r#"{"note":38}"#.into()).unwrap(),
            sender_id: "ABC".into(),
            seq: 7,
            server_time: 1.5,
            synthetic: false,
        });
        assert_eq!(
            msg.to_json(),
            r#"{"type":"event:broadcast","eventName":"drum_hit","payload":{"note":38},"senderId":"ABC","seq":7,"serverTime":1.5}"#
        );
    }

    /// The relay's own writer for events gives exactly serde's bytes, on the values where
    /// they could part: escapes and non-ASCII in the names, numbers at their edges (serde
    /// writes a float that is not finite as `null`), with and without `synthetic`.
    #[test]
    fn an_event_written_field_by_field_is_what_serde_writes() {
        let names = [
            "drum_hit",
            "quote\"back\\slash",
            "tab\tnew\nline\u{1}",
            "ünï ♪",
            "",
        ];
        let numbers = [
            0.0,
            -0.0,
            1.5,
            1.8e12,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
        ];
        for (i, name) in names.iter().enumerate() {
            for (j, server_time) in numbers.iter().enumerate() {
                let e = RelayedEvent {
                    event_name: (*name).into(),
                    payload: RawValue::from_string(r#"{ "note" : 38, "s":"\u00e9" }"#.into())
                        .unwrap(),
                    sender_id: names[(i + j) % names.len()].into(),
                    seq: [0, 1, u64::MAX][j % 3],
                    server_time: *server_time,
                    synthetic: j % 2 == 0,
                };
                let msg = ServerMsg::Event(e);
                let mut ours = Vec::new();
                msg.write_json(&mut ours);
                assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    serde_json::to_string(&msg).unwrap()
                );
            }
        }
    }

    #[test]
    fn welcome_round_trips_with_state() {
        let msg = ServerMsg::Joined(RoomWelcome {
            room_code: "K7M2QXH4".into(),
            user_id: "U1".into(),
            participants: vec![Participant {
                id: "U1".into(),
                name: "Bob".into(),
                role: Role::Listener,
                is_host: false,
                link: None,
            }],
            state: RoomState {
                tempo: Some(RawValue::from_string(r#"{"bpm":96}"#.into()).unwrap()),
                pattern: None,
                held_notes: vec![HeldNote {
                    user_id: "U0".into(),
                    note: 60,
                    velocity: 90,
                }],
                sustain: vec!["U0".into()],
                instruments: vec![crate::MemberInstrument {
                    user_id: "U0".into(),
                    keys: "finger-bass".into(),
                    drums: "brush-kit".into(),
                }],
            },
            server_time: 10.0,
            recording: true,
            host_token: None,
            lane_token: Some("L".into()),
        });
        let json = msg.to_json();
        assert!(
            json.contains(r#""isHost":false"#) && json.contains(r#""heldNotes":[{"userId":"U0""#),
            "{json}"
        );
        let ServerMsg::Joined(back) = ServerMsg::parse(&json).unwrap() else {
            panic!()
        };
        assert_eq!(back.state.tempo.unwrap().get(), r#"{"bpm":96}"#);
        assert!(back.state.pattern.is_none());
        assert_eq!(back.state.instruments[0].keys, "finger-bass");
        // A relay that predates instruments sends none: the field is optional.
        let old = json.replace(
            r#","instruments":[{"userId":"U0","keys":"finger-bass","drums":"brush-kit"}]"#,
            "",
        );
        assert_ne!(old, json);
        let ServerMsg::Joined(back) = ServerMsg::parse(&old).unwrap() else {
            panic!()
        };
        assert!(back.state.instruments.is_empty());
        // Entries of another shape are dropped one by one; the welcome stands.
        let odd = json.replace(
            r#""instruments":[{"#,
            r#""instruments":[{"userId":"U9","keys":7},"x",{"#,
        );
        let ServerMsg::Joined(back) = ServerMsg::parse(&odd).unwrap() else {
            panic!()
        };
        assert_eq!(back.state.instruments.len(), 1);
        let odd = json.replace(
            r#""instruments":[{"userId":"U0","keys":"finger-bass","drums":"brush-kit"}]"#,
            r#""instruments":{"U0":"finger-bass"}"#,
        );
        let ServerMsg::Joined(back) = ServerMsg::parse(&odd).unwrap() else {
            panic!()
        };
        assert!(back.state.instruments.is_empty());
    }

    #[test]
    fn unknown_error_codes_from_newer_relays_are_tolerated() {
        let ServerMsg::Error(e) =
            ServerMsg::parse(r#"{"type":"error","code":"SOMETHING_NEW","message":"m"}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(e.code, ErrorCode::Unknown);
    }
}
