//! What one frame from the relay means for the page: the app's own room events, plus `sound`,
//! `refused` and `ended`.

use jam_protocol::groove::Tempo;
use jam_protocol::{HeldNote, MemberInstrument, Participant, Pattern};
use serde::Serialize;

use crate::input::Input;

/// What one frame from the relay means for the page.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Output {
    /// Joined: replace the room view (the app's `RoomEvent::Joined`).
    #[serde(rename_all = "camelCase")]
    Joined {
        /// Our id.
        user_id: String,
        /// The room's code.
        room: String,
        /// Everyone, us included.
        participants: Vec<Participant>,
        /// Piano notes others hold now.
        held_notes: Vec<HeldNote>,
        /// The room's tempo.
        tempo: Tempo,
        /// The room's pattern.
        pattern: Pattern,
        /// The host records this jam.
        recording: bool,
        /// The sounds of those who chose theirs.
        instruments: Vec<MemberInstrument>,
    },
    /// Someone chose their sounds (the app's `RoomEvent::InstrumentChanged`).
    #[serde(rename_all = "camelCase")]
    InstrumentChanged {
        /// Who.
        sender_id: String,
        /// Their keys sound.
        keys: String,
        /// Their kit.
        drums: String,
    },
    /// From when (page clock, ms) a player's notes play with these sounds: placed by the
    /// playout between their notes, as the app's engine places it.
    #[serde(rename_all = "camelCase")]
    Program {
        /// Whose.
        sender_id: String,
        /// Their keys sound.
        keys: String,
        /// Their kit.
        drums: String,
        /// From when, in the page's clock.
        play_at_ms: f64,
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
    /// Someone played (the app's `RoomEvent::Played`).
    #[serde(rename_all = "camelCase")]
    Played {
        /// Who.
        sender_id: String,
        /// What.
        input: Input,
        /// A piano note that releases itself after this many ms.
        duration_ms: Option<f64>,
        /// In how many ms it sounds here.
        in_ms: f64,
        /// When they played it, relay time, ms.
        at_ms: f64,
        /// A release the relay made for someone who left.
        synthetic: bool,
    },
    /// Someone changed the tempo.
    #[serde(rename_all = "camelCase")]
    TempoChanged {
        /// Who.
        sender_id: String,
        /// The new tempo.
        tempo: Tempo,
        /// When, relay time, ms.
        at_ms: f64,
    },
    /// Someone changed the pattern.
    #[serde(rename_all = "camelCase")]
    PatternChanged {
        /// Who.
        sender_id: String,
        /// The new pattern.
        pattern: Pattern,
    },
    /// A chat line (plain text).
    #[serde(rename_all = "camelCase")]
    Chat {
        /// Who.
        sender_id: String,
        /// What they wrote.
        text: String,
    },
    /// What the page's sound must play, and when (page clock, ms).
    #[serde(rename_all = "camelCase")]
    Sound {
        /// Whose source it sounds in (their volume and mute).
        sender_id: String,
        /// What.
        input: Input,
        /// A piano note that releases itself after this many ms.
        duration_ms: Option<f64>,
        /// When, in the page's clock.
        play_at_ms: f64,
    },
    /// The relay refused something (a wrong password, no such room, a rate limit).
    Refused {
        /// The stable code (`ROOM_NOT_FOUND`, …).
        code: String,
        /// The relay's sentence.
        message: String,
    },
    /// A clock sample was taken from a `clock:pong` that answers one of our pings.
    Clock {
        /// The best round trip so far, ms.
        rtt_ms: Option<f64>,
    },
    /// The host ended the jam.
    Ended {
        /// The host's name (made safe to show).
        host: String,
    },
}
