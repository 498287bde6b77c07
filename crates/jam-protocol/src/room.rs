//! Rooms as clients see them: codes, roles, participants and the late-join state.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A room code such as `K7M2QXH4`: eight characters from a 32-symbol alphabet (40 bits), short
/// enough to read out loud and free of look-alikes (no `0`, `O`, `1` or `I`). Forty bits make
/// guessing hopeless behind the relay's join-failure limits (see `docs/PROTOCOL.md`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomCode(String);

impl RoomCode {
    /// The symbols a room code is made of: digits 2–9 and the letters A–Z without I and O.
    pub const ALPHABET: &'static [u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    /// Number of symbols in a room code (8 × 5 bits = 40 bits).
    pub const LEN: usize = 8;

    /// Builds a code from [`Self::LEN`] random numbers (each taken modulo 32).
    pub fn from_random(values: [u8; Self::LEN]) -> RoomCode {
        let code = values
            .iter()
            .map(|v| char::from(Self::ALPHABET[usize::from(v % 32)]))
            .collect();
        RoomCode(code)
    }

    /// Reads a code typed by a person: surrounding spaces and letter case are forgiven; anything
    /// else that is not a code (wrong length, a symbol outside [`Self::ALPHABET`]) is `None`.
    pub fn parse(input: &str) -> Option<RoomCode> {
        let code: String = input.trim().to_ascii_uppercase();
        let valid = code.len() == Self::LEN && code.bytes().all(|b| Self::ALPHABET.contains(&b));
        valid.then_some(RoomCode(code))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `input`, read as [`RoomCode::parse`] reads it, is this code. Clients send the
    /// code exactly as the relay gave it, so that case is answered without reading it again.
    pub fn is(&self, input: &str) -> bool {
        input == self.0 || RoomCode::parse(input).as_ref() == Some(self)
    }
}

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest room password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 128;
/// Longest host token or creation key, in bytes.
pub const MAX_TOKEN_BYTES: usize = 64;

/// Why a display name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "your name must be 1–{MAX_NAME_CHARS} characters, without control or invisible formatting characters"
)]
pub struct NameError;

/// Checks a display name and returns it trimmed: 1–[`MAX_NAME_CHARS`] characters, no control
/// characters and no invisible format characters (Unicode category Cf: bidirectional
/// overrides, zero-width joiners and spaces, …), which could make one name pass for another or
/// reverse the text around it. The relay refuses such names; clients check what they receive.
pub fn clean_name(name: &str) -> Result<&str, NameError> {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    let name = name.trim();
    let chars = name.chars().count();
    let bad = |c: char| c.is_control() || c.general_category() == GeneralCategory::Format;
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(bad) {
        return Err(NameError);
    }
    Ok(name)
}

impl std::fmt::Display for RoomCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a participant may do in a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Role {
    /// Plays and hears everything (the default).
    #[default]
    Player,
    /// Hears everything, cannot broadcast.
    Listener,
}

/// A member of a room, as announced in `participants` and `session:user-joined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Participant {
    /// The member's user id (the same as the `clientId` of their connection).
    pub id: String,
    /// Display name, 1–32 characters.
    pub name: String,
    /// Player or listener.
    pub role: Role,
    /// True for the room's host: the member who created it (or came back with its host token).
    pub is_host: bool,
    /// What the member measured of its own link to the relay when it joined, if it said and
    /// the figures are within bounds (older clients don't say; see [`LinkFigures`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub link: Option<LinkFigures>,
}

/// A member's own link to the relay, as its clock pings measured it just before it joined:
/// evidence for everyone else's playout about how much that member's events jitter, from its
/// first note on (`docs/PROTOCOL.md`, "Link figures"). Every field is bounded; figures out of
/// bounds are dropped by the relay and ignored by clients, never refused: they are only a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LinkFigures {
    /// Shortest round trip of those pings, µs (at most [`LinkFigures::MAX_US`]).
    pub rtt_us: u32,
    /// Longest minus shortest round trip of those pings, µs (at most [`LinkFigures::MAX_US`]).
    pub spread_us: u32,
    /// How many pings they come from ([`LinkFigures::MIN_SAMPLES`]–[`LinkFigures::MAX_SAMPLES`]).
    pub samples: u8,
}

impl LinkFigures {
    /// Largest round trip or spread, µs: 10 s, the longest round trip a clock ping may take.
    pub const MAX_US: u32 = 10_000_000;
    /// Fewest pings that say anything about a spread.
    pub const MIN_SAMPLES: u8 = 2;
    /// Most pings counted (a client's clock-sync window).
    pub const MAX_SAMPLES: u8 = 64;

    /// The figures if they are within bounds.
    pub fn checked(self) -> Option<LinkFigures> {
        (self.rtt_us <= Self::MAX_US
            && self.spread_us <= Self::MAX_US
            && (Self::MIN_SAMPLES..=Self::MAX_SAMPLES).contains(&self.samples))
        .then_some(self)
    }
}

/// A piano note still sounding for a member (key down, or held by the sustain pedal), as sent
/// in [`RoomState::held_notes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HeldNote {
    /// The member holding the note.
    pub user_id: String,
    /// MIDI note number, 0–127.
    pub note: u8,
    /// Note-on velocity, 1–127.
    pub velocity: u8,
}

/// What the relay knows about a room, sent to everyone who creates or joins it so that late
/// joiners start in the same place as everyone else.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomState {
    /// The payload of the last `tempo_change`, exactly as sent; `null` before the first one.
    pub tempo: Option<Box<RawValue>>,
    /// The payload of the last `pattern_change`, exactly as sent; `null` before the first one.
    pub pattern: Option<Box<RawValue>>,
    /// Every piano note still sounding (key down, or released while that member's sustain pedal is down).
    pub held_notes: Vec<HeldNote>,
    /// Ids of the members whose sustain pedal is down.
    pub sustain: Vec<String>,
    /// Each member's last `instrument`, for members who sent one (the others play the grand
    /// piano and the standard kit). Absent from relays that predate instruments.
    /// Read leniently: an entry of another shape (a newer relay's, a broken one's) is dropped
    /// alone, and never costs the client the welcome.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_instruments"
    )]
    pub instruments: Vec<crate::MemberInstrument>,
}

fn lenient_instruments<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<crate::MemberInstrument>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    let serde_json::Value::Array(entries) = value else {
        return Ok(Vec::new());
    };
    Ok(entries
        .into_iter()
        .filter_map(|e| serde_json::from_value(e).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_forgivingly_and_reject_look_alikes() {
        assert_eq!(RoomCode::parse(" k7m2qxh4 ").unwrap().as_str(), "K7M2QXH4");
        assert!(RoomCode::parse("K7M2QXH0").is_none(), "0 is never used");
        assert!(RoomCode::parse("K7M2QXHO").is_none(), "O is never used");
        assert!(RoomCode::parse("K7M2QXH").is_none(), "too short");
        assert!(RoomCode::parse("K7M2QXH44").is_none(), "too long");
        assert!(RoomCode::parse("K7M2QX").is_none(), "old six-symbol codes");
    }

    #[test]
    fn a_code_is_what_parse_reads_as_it() {
        let code = RoomCode::parse("K7M2QXH4").unwrap();
        for input in [
            "K7M2QXH4",
            " k7m2qxh4 ",
            "k7M2qXh4",
            "K7M2QXH5",
            "K7M2QXH",
            "",
            "K7M2QXH0",
        ] {
            assert_eq!(
                code.is(input),
                RoomCode::parse(input).as_ref() == Some(&code),
                "{input:?}"
            );
        }
    }

    #[test]
    fn alphabet_has_no_look_alikes_and_gives_forty_bits() {
        for bad in b"01IO" {
            assert!(!RoomCode::ALPHABET.contains(bad));
        }
        let bits = (RoomCode::ALPHABET.len() as f64).log2() * RoomCode::LEN as f64;
        assert!(bits >= 40.0, "{bits} bits");
        let code = RoomCode::from_random([0, 31, 32, 63, 7, 200, 255, 128]);
        assert!(RoomCode::parse(code.as_str()).is_some());
    }

    #[test]
    fn names_are_trimmed_and_refuse_invisible_and_control_characters() {
        assert_eq!(clean_name("  Keys ").unwrap(), "Keys");
        assert_eq!(clean_name(&"é".repeat(32)).unwrap().chars().count(), 32);
        for bad in [
            "",
            "   ",
            "a\u{7}b",
            "evil\u{202E}nimda",    // right-to-left override
            "Ke\u{200B}ys",         // zero-width space
            "Ke\u{200D}ys",         // zero-width joiner
            "\u{2066}Keys\u{2069}", // isolates
            "Keys\u{FEFF}",         // BOM
            "\u{E0041}Keys",        // tag character
        ] {
            assert_eq!(clean_name(bad), Err(NameError), "{bad:?}");
        }
        assert!(clean_name(&"x".repeat(33)).is_err());
    }
}
