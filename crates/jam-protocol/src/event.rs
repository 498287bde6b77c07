//! The musical event vocabulary carried inside `event:broadcast`.
//!
//! The relay forwards any event name with any payload, but it reads these to keep the room state
//! (tempo, pattern, held notes), to exempt note-offs from rate limiting and to coalesce cursors.
//! A known event whose payload is invalid is refused with `BAD_MESSAGE` instead of reaching the
//! other players' engines.
//!
//! Units: `note` is a MIDI note number 0–127 (drums use General MIDI drum numbers: 36 kick,
//! 38 snare, 42 closed hi-hat, …); `velocity` is 1–127; `timestamp` is the sender's estimate of
//! relay time, in milliseconds, when the sound was triggered locally; `duration` is milliseconds.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Event names of the vocabulary.
pub mod names {
    /// A drum pad was hit.
    pub const DRUM_HIT: &str = "drum_hit";
    /// A piano key went down.
    pub const PIANO_NOTE: &str = "piano_note";
    /// A piano key came up.
    pub const PIANO_NOTE_OFF: &str = "piano_note_off";
    /// The sustain pedal went down or up.
    pub const SUSTAIN: &str = "sustain";
    /// The shared tempo changed.
    pub const TEMPO_CHANGE: &str = "tempo_change";
    /// The shared step-sequencer pattern changed.
    pub const PATTERN_CHANGE: &str = "pattern_change";
    /// A chat line.
    pub const CHAT: &str = "chat";
    /// A pointer position (presence); coalesced by the relay.
    pub const CURSOR: &str = "cursor";
}

/// Highest MIDI note number.
pub const MAX_NOTE: u8 = 127;
/// Slowest tempo a room accepts, in beats per minute.
pub const MIN_BPM: f64 = 20.0;
/// Fastest tempo a room accepts, in beats per minute.
pub const MAX_BPM: f64 = 400.0;
/// Most beats in a bar.
pub const MAX_BEATS_PER_BAR: u8 = 16;
/// Longest chat line, in characters.
pub const MAX_CHAT_CHARS: usize = 500;

/// `drum_hit`: a drum pad was hit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrumHit {
    /// General MIDI drum number, 0–127.
    pub note: u8,
    /// 1–127.
    pub velocity: u8,
    /// Relay time of the hit, ms.
    pub timestamp: f64,
}

/// `piano_note`: a piano key went down.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PianoNote {
    /// MIDI note number, 0–127.
    pub note: u8,
    /// 1–127.
    pub velocity: u8,
    /// Relay time of the key press, ms.
    pub timestamp: f64,
    /// If set, the note releases itself after this many ms and no `piano_note_off` follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
}

/// `piano_note_off`: a piano key came up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PianoNoteOff {
    /// MIDI note number, 0–127.
    pub note: u8,
    /// Relay time of the key release, ms.
    pub timestamp: f64,
}

/// `sustain`: the sustain pedal (MIDI CC64) went down (`on`) or up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sustain {
    /// True while the pedal is down.
    pub on: bool,
    /// Relay time of the pedal change, ms.
    pub timestamp: f64,
}

/// `tempo_change`: the room's shared tempo.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TempoChange {
    /// Beats per minute, 20–400.
    pub bpm: f64,
    /// Beats in a bar, 1–16.
    pub beats_per_bar: u8,
    /// Relay time from which the tempo applies, ms.
    pub timestamp: f64,
}

/// `pattern_change`: the room's shared step-sequencer pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatternChange {
    /// Which pattern this is.
    pub pattern_id: String,
    /// Tempo for the pattern, if it sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpm: Option<f64>,
    /// The steps; their layout is the client's (the relay only stores them).
    pub steps: serde_json::Value,
    /// Relay time of the change, ms.
    pub timestamp: f64,
}

/// `chat`: a line of plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chat {
    /// The text, 1–500 characters; clients display it as plain text, never as markup.
    pub text: String,
}

/// `cursor`: where a member's pointer is, for presence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    /// Horizontal position (client-defined units).
    pub x: f64,
    /// Vertical position (client-defined units).
    pub y: f64,
}

/// One event of the vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub enum MusicalEvent {
    /// `drum_hit`.
    DrumHit(DrumHit),
    /// `piano_note`.
    PianoNote(PianoNote),
    /// `piano_note_off`.
    PianoNoteOff(PianoNoteOff),
    /// `sustain`.
    Sustain(Sustain),
    /// `tempo_change`.
    TempoChange(TempoChange),
    /// `pattern_change`.
    PatternChange(PatternChange),
    /// `chat`.
    Chat(Chat),
    /// `cursor`.
    Cursor(Cursor),
}

/// A known event whose payload does not fit the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event}: {detail}")]
pub struct EventError {
    /// The event name.
    pub event: &'static str,
    /// What is wrong with the payload.
    pub detail: String,
}

fn decode<'a, T: Deserialize<'a>>(
    event: &'static str,
    payload: &'a RawValue,
) -> Result<T, EventError> {
    serde_json::from_str(payload.get()).map_err(|e| {
        let text = e.to_string();
        let detail = text
            .rfind(" at line ")
            .map_or(text.as_str(), |i| &text[..i])
            .to_owned();
        EventError { event, detail }
    })
}

impl MusicalEvent {
    /// Reads the payload of a known event and checks its ranges. Unknown names give `Ok(None)`:
    /// they are relayed without being looked at.
    pub fn parse(event_name: &str, payload: &RawValue) -> Result<Option<MusicalEvent>, EventError> {
        use names::*;
        let event = match event_name {
            DRUM_HIT => MusicalEvent::DrumHit(decode(DRUM_HIT, payload)?),
            PIANO_NOTE => MusicalEvent::PianoNote(decode(PIANO_NOTE, payload)?),
            PIANO_NOTE_OFF => MusicalEvent::PianoNoteOff(decode(PIANO_NOTE_OFF, payload)?),
            SUSTAIN => MusicalEvent::Sustain(decode(SUSTAIN, payload)?),
            TEMPO_CHANGE => MusicalEvent::TempoChange(decode(TEMPO_CHANGE, payload)?),
            PATTERN_CHANGE => MusicalEvent::PatternChange(decode(PATTERN_CHANGE, payload)?),
            CHAT => MusicalEvent::Chat(decode(CHAT, payload)?),
            CURSOR => MusicalEvent::Cursor(decode(CURSOR, payload)?),
            _ => return Ok(None),
        };
        event.validate()?;
        Ok(Some(event))
    }

    /// The sender's timestamp (its estimate of relay time, ms), for events that carry one.
    pub fn timestamp(&self) -> Option<f64> {
        match self {
            MusicalEvent::DrumHit(h) => Some(h.timestamp),
            MusicalEvent::PianoNote(n) => Some(n.timestamp),
            MusicalEvent::PianoNoteOff(n) => Some(n.timestamp),
            MusicalEvent::Sustain(s) => Some(s.timestamp),
            MusicalEvent::TempoChange(t) => Some(t.timestamp),
            MusicalEvent::PatternChange(p) => Some(p.timestamp),
            MusicalEvent::Chat(_) | MusicalEvent::Cursor(_) => None,
        }
    }

    /// The event's name on the wire.
    pub fn name(&self) -> &'static str {
        use names::*;
        match self {
            MusicalEvent::DrumHit(_) => DRUM_HIT,
            MusicalEvent::PianoNote(_) => PIANO_NOTE,
            MusicalEvent::PianoNoteOff(_) => PIANO_NOTE_OFF,
            MusicalEvent::Sustain(_) => SUSTAIN,
            MusicalEvent::TempoChange(_) => TEMPO_CHANGE,
            MusicalEvent::PatternChange(_) => PATTERN_CHANGE,
            MusicalEvent::Chat(_) => CHAT,
            MusicalEvent::Cursor(_) => CURSOR,
        }
    }

    /// The event's payload as JSON.
    pub fn to_payload(&self) -> Box<RawValue> {
        let json = match self {
            MusicalEvent::DrumHit(e) => serde_json::to_string(e),
            MusicalEvent::PianoNote(e) => serde_json::to_string(e),
            MusicalEvent::PianoNoteOff(e) => serde_json::to_string(e),
            MusicalEvent::Sustain(e) => serde_json::to_string(e),
            MusicalEvent::TempoChange(e) => serde_json::to_string(e),
            MusicalEvent::PatternChange(e) => serde_json::to_string(e),
            MusicalEvent::Chat(e) => serde_json::to_string(e),
            MusicalEvent::Cursor(e) => serde_json::to_string(e),
        }
        .expect("event payloads always serialize");
        RawValue::from_string(json).expect("serde_json wrote valid JSON")
    }

    /// True for a note-on whose value fades if it arrives late (`drum_hit`, `piano_note`).
    pub fn is_note_on(&self) -> bool {
        matches!(self, MusicalEvent::DrumHit(_) | MusicalEvent::PianoNote(_))
    }

    /// Checks ranges (notes 0–127, velocities 1–127, tempo, chat length): what the relay refuses
    /// with `BAD_MESSAGE`, so a client can refuse it first.
    pub fn validate(&self) -> Result<(), EventError> {
        let event = self.name();
        let fail = |detail: String| Err(EventError { event, detail });
        let note_ok = |note: u8| note <= MAX_NOTE;
        let velocity_ok = |v: u8| (1..=127).contains(&v);
        let time_ok = |t: f64| t.is_finite();
        match self {
            MusicalEvent::DrumHit(DrumHit {
                note,
                velocity,
                timestamp,
            })
            | MusicalEvent::PianoNote(PianoNote {
                note,
                velocity,
                timestamp,
                ..
            }) => {
                if !note_ok(*note) {
                    return fail(format!("note {note} is outside 0–127"));
                }
                if !velocity_ok(*velocity) {
                    return fail(format!("velocity {velocity} is outside 1–127"));
                }
                if !time_ok(*timestamp) {
                    return fail("timestamp must be a finite number".into());
                }
                if let MusicalEvent::PianoNote(PianoNote {
                    duration: Some(d), ..
                }) = self
                {
                    if !(d.is_finite() && *d >= 0.0) {
                        return fail(format!("duration {d} must be a non-negative number of ms"));
                    }
                }
            }
            MusicalEvent::PianoNoteOff(PianoNoteOff { note, timestamp }) => {
                if !note_ok(*note) {
                    return fail(format!("note {note} is outside 0–127"));
                }
                if !time_ok(*timestamp) {
                    return fail("timestamp must be a finite number".into());
                }
            }
            MusicalEvent::Sustain(Sustain { timestamp, .. }) => {
                if !time_ok(*timestamp) {
                    return fail("timestamp must be a finite number".into());
                }
            }
            MusicalEvent::TempoChange(TempoChange {
                bpm,
                beats_per_bar,
                timestamp,
            }) => {
                if !(MIN_BPM..=MAX_BPM).contains(bpm) {
                    return fail(format!("bpm {bpm} is outside {MIN_BPM}–{MAX_BPM}"));
                }
                if !(1..=MAX_BEATS_PER_BAR).contains(beats_per_bar) {
                    return fail(format!(
                        "beatsPerBar {beats_per_bar} is outside 1–{MAX_BEATS_PER_BAR}"
                    ));
                }
                if !time_ok(*timestamp) {
                    return fail("timestamp must be a finite number".into());
                }
            }
            MusicalEvent::PatternChange(p) => {
                if let Some(bpm) = p.bpm {
                    if !(MIN_BPM..=MAX_BPM).contains(&bpm) {
                        return fail(format!("bpm {bpm} is outside {MIN_BPM}–{MAX_BPM}"));
                    }
                }
                if !time_ok(p.timestamp) {
                    return fail("timestamp must be a finite number".into());
                }
            }
            MusicalEvent::Chat(Chat { text }) => {
                let chars = text.chars().count();
                if chars == 0 || chars > MAX_CHAT_CHARS {
                    return fail(format!(
                        "text must be 1–{MAX_CHAT_CHARS} characters, not {chars}"
                    ));
                }
            }
            MusicalEvent::Cursor(Cursor { x, y }) => {
                if !(x.is_finite() && y.is_finite()) {
                    return fail("x and y must be finite numbers".into());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.into()).unwrap()
    }

    #[test]
    fn known_events_parse_and_unknown_pass() {
        let e = MusicalEvent::parse(
            "piano_note",
            &raw(r#"{"note":60,"velocity":90,"timestamp":5}"#),
        );
        assert_eq!(
            e.unwrap(),
            Some(MusicalEvent::PianoNote(PianoNote {
                note: 60,
                velocity: 90,
                timestamp: 5.0,
                duration: None
            }))
        );
        assert_eq!(MusicalEvent::parse("wobble", &raw("[1,2]")).unwrap(), None);
    }

    #[test]
    fn out_of_range_values_are_refused_with_a_reason() {
        let cases = [
            (
                "drum_hit",
                r#"{"note":128,"velocity":90,"timestamp":0}"#,
                "note 128 is outside 0–127",
            ),
            (
                "piano_note",
                r#"{"note":60,"velocity":0,"timestamp":0}"#,
                "velocity 0 is outside 1–127",
            ),
            (
                "tempo_change",
                r#"{"bpm":2000,"beatsPerBar":4,"timestamp":0}"#,
                "bpm 2000 is outside 20–400",
            ),
            (
                "chat",
                r#"{"text":""}"#,
                "text must be 1–500 characters, not 0",
            ),
        ];
        for (name, payload, why) in cases {
            let err = MusicalEvent::parse(name, &raw(payload)).unwrap_err();
            assert_eq!(err.to_string(), format!("{name}: {why}"));
        }
        let err = MusicalEvent::parse("sustain", &raw(r#"{"timestamp":0}"#)).unwrap_err();
        assert_eq!(err.to_string(), "sustain: missing field `on`");
    }

    #[test]
    fn payload_round_trips() {
        let e = MusicalEvent::TempoChange(TempoChange {
            bpm: 96.0,
            beats_per_bar: 4,
            timestamp: 1.0,
        });
        assert_eq!(
            MusicalEvent::parse(e.name(), &e.to_payload()).unwrap(),
            Some(e)
        );
    }
}
