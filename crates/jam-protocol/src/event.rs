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
    /// [`super::InstrumentChange`]
    pub const INSTRUMENT: &str = "instrument";
    /// [`super::PitchBend`]
    pub const PITCH_BEND: &str = "pitch_bend";
    /// [`super::Modulation`]
    pub const MODULATION: &str = "modulation";
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
/// Longest `duration` of a `piano_note`, ms (a minute).
pub const MAX_DURATION_MS: f64 = 60_000.0;
/// Largest `timestamp` at all, ms: 2^53, the largest integer an `f64` holds exactly. Relay time
/// is ms since the Unix epoch (about 1.8 × 10^12 today), so this refuses only nonsense.
pub const MAX_TIMESTAMP_MS: f64 = 9_007_199_254_740_992.0;
/// Furthest a `timestamp` may lie from the receiver's relay time, ms (a day). The relay refuses
/// events outside it; clients drop them.
pub const MAX_TIMESTAMP_SKEW_MS: f64 = 86_400_000.0;
/// Largest magnitude of a `cursor` coordinate.
pub const MAX_CURSOR: f64 = 1_000_000.0;
/// Longest `patternId`, bytes.
pub const MAX_PATTERN_ID_BYTES: usize = 64;
/// Largest `pattern_change` payload, bytes (Jamwire's own 16 × 16 pattern is about 600).
pub const MAX_PATTERN_BYTES: usize = 4_096;
/// Largest payload of an event outside the vocabulary, bytes: unknown events are relayed
/// unread, so they get a much smaller budget than the frame limit.
pub const MAX_UNKNOWN_EVENT_BYTES: usize = 1_024;
/// Longest event name, bytes.
pub const MAX_EVENT_NAME_BYTES: usize = 64;
/// Deepest nesting of arrays and objects in a payload (Jamwire's own pattern needs 4).
pub const MAX_PAYLOAD_DEPTH: usize = 32;

/// How deeply a JSON text nests arrays and objects, read without building anything: the
/// relay forwards payloads unparsed, so it checks this before a receiver's parser meets them.
pub fn json_depth(json: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Whether `json` nests arrays and objects deeper than `max` ([`json_depth`]). Nesting can't be
/// deeper than the number of `[` and `{` bytes (those inside strings only add to the count):
/// a count the compiler vectorises settles almost every payload, and only one with more than
/// `max` of them is scanned in full.
fn nests_deeper_than(json: &str, max: usize) -> bool {
    let openings = json.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    openings > max && json_depth(json) > max
}

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

/// `instrument`: the sender's sounds from now on, for their keys and their drums; each an id
/// from [`crate::instrument::MELODIC`] and [`crate::instrument::KITS`]. Placed in time after
/// the sender's earlier notes and before their later ones; kept by the relay for late joiners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentChange {
    /// The keys part's sound.
    pub keys: String,
    /// The drum kit.
    pub drums: String,
}

/// Lowest and highest `pitch_bend` value (MIDI's 14 bits, centred on 0).
pub const MIN_BEND: i16 = -8192;
/// See [`MIN_BEND`].
pub const MAX_BEND: i16 = 8191;

/// `pitch_bend`: the sender's pitch wheel, for their keys part: −8192 (down by the sound's
/// bend range, 2 semitones unless the palette says otherwise) to 8191 (up), 0 = centre.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PitchBend {
    /// −8192–8191.
    pub value: i16,
    /// Relay time of the move, ms.
    pub timestamp: f64,
}

/// `modulation`: the sender's modulation wheel (MIDI CC1), for their keys part: 0 (none) to
/// 127 (the deepest vibrato).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Modulation {
    /// 0–127.
    pub value: u8,
    /// Relay time of the move, ms.
    pub timestamp: f64,
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
    /// `instrument`.
    Instrument(InstrumentChange),
    /// `pitch_bend`.
    PitchBend(PitchBend),
    /// `modulation`.
    Modulation(Modulation),
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
        if nests_deeper_than(payload.get(), MAX_PAYLOAD_DEPTH) {
            return Err(EventError {
                event: "event",
                detail: format!("payload nests deeper than {MAX_PAYLOAD_DEPTH} levels"),
            });
        }
        let event = match event_name {
            DRUM_HIT => MusicalEvent::DrumHit(decode(DRUM_HIT, payload)?),
            PIANO_NOTE => MusicalEvent::PianoNote(decode(PIANO_NOTE, payload)?),
            PIANO_NOTE_OFF => MusicalEvent::PianoNoteOff(decode(PIANO_NOTE_OFF, payload)?),
            SUSTAIN => MusicalEvent::Sustain(decode(SUSTAIN, payload)?),
            TEMPO_CHANGE => MusicalEvent::TempoChange(decode(TEMPO_CHANGE, payload)?),
            PATTERN_CHANGE => {
                if payload.get().len() > MAX_PATTERN_BYTES {
                    return Err(EventError {
                        event: PATTERN_CHANGE,
                        detail: format!("payload is over {MAX_PATTERN_BYTES} bytes"),
                    });
                }
                MusicalEvent::PatternChange(decode(PATTERN_CHANGE, payload)?)
            }
            CHAT => MusicalEvent::Chat(decode(CHAT, payload)?),
            CURSOR => MusicalEvent::Cursor(decode(CURSOR, payload)?),
            INSTRUMENT => MusicalEvent::Instrument(decode(INSTRUMENT, payload)?),
            PITCH_BEND => MusicalEvent::PitchBend(decode(PITCH_BEND, payload)?),
            MODULATION => MusicalEvent::Modulation(decode(MODULATION, payload)?),
            _ => return Ok(None),
        };
        event.validate()?;
        Ok(Some(event))
    }

    /// [`MusicalEvent::parse`], then [`MusicalEvent::check_time`] against `relay_now_ms`: what
    /// the relay accepts and what a client plays.
    pub fn parse_at(
        event_name: &str,
        payload: &RawValue,
        relay_now_ms: f64,
    ) -> Result<Option<MusicalEvent>, EventError> {
        let event = MusicalEvent::parse(event_name, payload)?;
        if let Some(event) = &event {
            event.check_time(relay_now_ms)?;
        }
        Ok(event)
    }

    /// Refuses a `timestamp` more than [`MAX_TIMESTAMP_SKEW_MS`] (a day) away from
    /// `relay_now_ms`: no honest clock is that far off, and nothing that far can be placed in
    /// time.
    pub fn check_time(&self, relay_now_ms: f64) -> Result<(), EventError> {
        // Written so that NaN on either side is refused too.
        let within = |t: f64| (t - relay_now_ms).abs() <= MAX_TIMESTAMP_SKEW_MS;
        match self.timestamp() {
            Some(t) if !within(t) => Err(EventError {
                event: self.name(),
                detail: format!(
                    "timestamp {} is more than a day from relay time {}: is this computer's clock set?",
                    short_number(t),
                    short_number(relay_now_ms)
                ),
            }),
            _ => Ok(()),
        }
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
            MusicalEvent::PitchBend(b) => Some(b.timestamp),
            MusicalEvent::Modulation(m) => Some(m.timestamp),
            MusicalEvent::Chat(_) | MusicalEvent::Cursor(_) | MusicalEvent::Instrument(_) => None,
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
            MusicalEvent::Instrument(_) => INSTRUMENT,
            MusicalEvent::PitchBend(_) => PITCH_BEND,
            MusicalEvent::Modulation(_) => MODULATION,
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
            MusicalEvent::Instrument(e) => serde_json::to_string(e),
            MusicalEvent::PitchBend(e) => serde_json::to_string(e),
            MusicalEvent::Modulation(e) => serde_json::to_string(e),
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
        let time_ok = |t: f64| (0.0..=MAX_TIMESTAMP_MS).contains(&t);
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
                    return fail(format!(
                        "timestamp must be relay time in ms, 0–{MAX_TIMESTAMP_MS}"
                    ));
                }
                if let MusicalEvent::PianoNote(PianoNote {
                    duration: Some(d), ..
                }) = self
                {
                    if !(0.0..=MAX_DURATION_MS).contains(d) {
                        return fail(format!(
                            "duration {} must be 0–{MAX_DURATION_MS} ms",
                            short_number(*d)
                        ));
                    }
                }
            }
            MusicalEvent::PianoNoteOff(PianoNoteOff { note, timestamp }) => {
                if !note_ok(*note) {
                    return fail(format!("note {note} is outside 0–127"));
                }
                if !time_ok(*timestamp) {
                    return fail(format!(
                        "timestamp must be relay time in ms, 0–{MAX_TIMESTAMP_MS}"
                    ));
                }
            }
            MusicalEvent::PitchBend(PitchBend { value, timestamp }) => {
                if !(MIN_BEND..=MAX_BEND).contains(value) {
                    return fail(format!("value {value} is outside {MIN_BEND}–{MAX_BEND}"));
                }
                if !time_ok(*timestamp) {
                    return fail(format!(
                        "timestamp must be relay time in ms, 0–{MAX_TIMESTAMP_MS}"
                    ));
                }
            }
            MusicalEvent::Modulation(Modulation { value, timestamp }) => {
                if *value > 127 {
                    return fail(format!("value {value} is outside 0–127"));
                }
                if !time_ok(*timestamp) {
                    return fail(format!(
                        "timestamp must be relay time in ms, 0–{MAX_TIMESTAMP_MS}"
                    ));
                }
            }
            MusicalEvent::Sustain(Sustain { timestamp, .. }) => {
                if !time_ok(*timestamp) {
                    return fail(format!(
                        "timestamp must be relay time in ms, 0–{MAX_TIMESTAMP_MS}"
                    ));
                }
            }
            MusicalEvent::TempoChange(TempoChange {
                bpm,
                beats_per_bar,
                timestamp,
            }) => {
                if !(MIN_BPM..=MAX_BPM).contains(bpm) {
                    return fail(format!(
                        "bpm {} is outside {MIN_BPM}–{MAX_BPM}",
                        short_number(*bpm)
                    ));
                }
                if !(1..=MAX_BEATS_PER_BAR).contains(beats_per_bar) {
                    return fail(format!(
                        "beatsPerBar {beats_per_bar} is outside 1–{MAX_BEATS_PER_BAR}"
                    ));
                }
                if !time_ok(*timestamp) {
                    return fail(format!(
                        "timestamp must be relay time in ms, 0–{MAX_TIMESTAMP_MS}"
                    ));
                }
            }
            MusicalEvent::PatternChange(p) => {
                if p.pattern_id.len() > MAX_PATTERN_ID_BYTES {
                    return fail(format!(
                        "patternId must be at most {MAX_PATTERN_ID_BYTES} bytes"
                    ));
                }
                if let Some(bpm) = p.bpm {
                    if !(MIN_BPM..=MAX_BPM).contains(&bpm) {
                        return fail(format!(
                            "bpm {} is outside {MIN_BPM}–{MAX_BPM}",
                            short_number(bpm)
                        ));
                    }
                }
                if !time_ok(p.timestamp) {
                    return fail(format!(
                        "timestamp must be relay time in ms, 0–{MAX_TIMESTAMP_MS}"
                    ));
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
                let ok = |v: f64| (-MAX_CURSOR..=MAX_CURSOR).contains(&v);
                if !(ok(*x) && ok(*y)) {
                    return fail(format!("x and y must be within ±{MAX_CURSOR}"));
                }
            }
            MusicalEvent::Instrument(InstrumentChange { keys, drums }) => {
                // Ids are short ASCII: anything else is shown only as its length.
                let shown = |id: &str| {
                    if id.len() <= 32 && id.bytes().all(|b| b.is_ascii_graphic()) {
                        format!("{id:?}")
                    } else {
                        format!("of {} bytes", id.len())
                    }
                };
                if crate::instrument::melodic(keys).is_none() {
                    return fail(format!("keys {} is not a known instrument", shown(keys)));
                }
                if crate::instrument::kit(drums).is_none() {
                    return fail(format!("drums {} is not a known kit", shown(drums)));
                }
            }
        }
        Ok(())
    }
}

/// A number for a message: at most a dozen characters, whatever was sent.
fn short_number(v: f64) -> String {
    if v.is_finite() && v.abs() < 1e12 {
        format!("{v}")
    } else {
        format!("{v:.3e}")
    }
}

#[cfg(test)]
mod tests;
