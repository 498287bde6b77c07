//! Jamwire's browser guest, in WebAssembly: what a guest's page does with the relay's bytes is
//! the app's own Rust, not a rewrite. [`Guest`] builds the frames a guest sends, and reads every
//! frame the relay sends as hostile — parsed and range-checked by `jam-protocol`, the room state
//! re-checked as `jam-session` does, the clock learnt by [`ClockSync`] and each remote note
//! placed in time by the same per-sender [`Playout`] as the desktop app.
//!
//! What it hands the page is JSON: the same room events the app's UI gets from its Rust side
//! (`RoomEvent`, shape-checked against `jam-play` in the tests), plus `sound` (what to play and
//! when, in the page's clock), `refused` (the relay's error) and `ended`. Times are the page's
//! clock in ms (`performance.timeOrigin + performance.now()`).

use jam_protocol::event::Chat;
use jam_protocol::groove::{Groove, Tempo};
use jam_protocol::{
    Broadcast, ClientMsg, ClockPing, JoinRoom, MusicalEvent, Pattern, Role, RoomCode, ServerMsg,
};
use jam_session::received::{sanitize_participant, sanitize_welcome};
use jam_session::{ClockSync, Playout, PlayoutMode};
use serde::Serialize;
use wasm_bindgen::prelude::*;

mod input;
mod output;

pub use input::{Input, Instrument};
pub use output::Output;

/// A sender timestamp further than this from our clock is not believed (shown at arrival).
const TIMESTAMP_TRUST_MS: f64 = 5_000.0;
/// The most frames one call to [`Guest::receive`] reads from (a relay sends one at a time).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Why a frame could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl From<Refusal> for JsValue {
    fn from(r: Refusal) -> JsValue {
        JsValue::from_str(&r.0)
    }
}

/// A guest's side of the protocol: one per connection.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Guest {
    clock: ClockSync,
    playout: Playout,
    lead_ms: f64,
    room: Option<String>,
    refused: u32,
    /// The room's tempo and pattern, and our click: what the sequencer plays here.
    groove: Groove,
}

/// One sequencer or click hit for the page to play (`Guest::groove_due`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrooveHit {
    /// GM drum note.
    pub note: u8,
    /// 1–127.
    pub velocity: u8,
    /// When, in the page's clock, ms.
    pub play_at_ms: f64,
}

impl Default for Guest {
    fn default() -> Guest {
        Guest::new()
    }
}

#[wasm_bindgen]
impl Guest {
    /// A guest not yet in a room.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Guest {
        Guest {
            clock: ClockSync::new(),
            playout: Playout::new(PlayoutMode::Tight),
            lead_ms: 0.0,
            room: None,
            refused: 0,
            groove: Groove::default(),
        }
    }

    /// The `session:join` frame, the name and code checked as the relay will.
    pub fn join_frame(
        &self,
        room_code: &str,
        name: &str,
        listener: bool,
        password: Option<String>,
    ) -> Result<String, Refusal> {
        let name = jam_protocol::clean_name(name.trim())
            .map_err(|e| Refusal(format!("That name won't do: {e}")))?;
        let code = RoomCode::parse(room_code).ok_or_else(|| {
            Refusal(format!(
                "\"{room_code}\" isn't a room code — it is 8 letters and digits, like K7M2QXH4"
            ))
        })?;
        Ok(ClientMsg::Join(JoinRoom {
            room_code: code.to_string(),
            name: name.to_owned(),
            role: if listener {
                Role::Listener
            } else {
                Role::Player
            },
            password: password.filter(|p| !p.is_empty()),
            host_token: None,
            link: self.clock.link_figures(),
        })
        .to_json())
    }

    /// A `clock:ping` stamped with the page's clock.
    pub fn ping_frame(&self, now_ms: f64) -> String {
        ClientMsg::ClockPing(ClockPing {
            client_time: now_ms,
        })
        .to_json()
    }

    /// `session:leave`.
    pub fn leave_frame(&mut self) -> String {
        self.room = None;
        ClientMsg::Leave.to_json()
    }

    /// The broadcast of one key, pad or pedal (`input`: the app's `PlayInput` JSON), stamped
    /// with relay time; `None` when it sends nothing (a drum's release, or not in a room).
    pub fn play_frame(&self, input: &str, now_ms: f64) -> Result<Option<String>, Refusal> {
        let input: Input =
            serde_json::from_str(input).map_err(|e| Refusal(format!("not a key or pad: {e}")))?;
        match input.to_event(self.relay_now_ms(now_ms)) {
            Some(event) => self.broadcast(&event).map(Some),
            None => Ok(None),
        }
    }

    /// Our sounds (palette ids): an `instrument` event, or a refusal for an unknown id.
    pub fn instrument_frame(&self, keys: &str, drums: &str) -> Result<Option<String>, Refusal> {
        self.broadcast(&MusicalEvent::Instrument(
            jam_protocol::event::InstrumentChange {
                keys: keys.to_owned(),
                drums: drums.to_owned(),
            },
        ))
        .map(Some)
    }

    /// A chat line.
    pub fn chat_frame(&self, text: &str) -> Result<Option<String>, Refusal> {
        self.broadcast(&MusicalEvent::Chat(Chat {
            text: text.to_owned(),
        }))
        .map(Some)
    }

    /// A tempo change taking over at the next beat (as the app does); the room's tempo here is
    /// then [`Guest::tempo`].
    pub fn tempo_frame(
        &mut self,
        bpm: f64,
        beats_per_bar: u8,
        now_ms: f64,
    ) -> Result<Option<String>, Refusal> {
        let tempo = self
            .groove
            .tempo
            .changed_at(self.relay_now_ms(now_ms), bpm, beats_per_bar);
        let frame = self.broadcast(&MusicalEvent::TempoChange(tempo.to_change()))?;
        self.groove.tempo = tempo;
        Ok(Some(frame))
    }

    /// The room's tempo (the app's `Tempo` JSON).
    pub fn tempo(&self) -> String {
        serde_json::to_string(&self.groove.tempo).unwrap_or_default()
    }

    /// Our metronome click (not shared).
    pub fn set_click(&mut self, on: bool) {
        self.groove.click = on;
    }

    /// The sequencer's and the click's hits to hand to the audio now (page time `now_ms`):
    /// everything up to `lookahead_ms` ahead not handed over yet — the app's groove task, as a
    /// JSON array of [`GrooveHit`].
    pub fn groove_due(&mut self, now_ms: f64, lookahead_ms: f64) -> String {
        if !now_ms.is_finite() || !lookahead_ms.is_finite() {
            return "[]".to_owned();
        }
        let offset = self.clock.offset_ms().unwrap_or(0.0);
        let hits: Vec<GrooveHit> = self
            .groove
            .due(now_ms + offset, lookahead_ms.clamp(0.0, 1_000.0))
            .into_iter()
            .map(|h| GrooveHit {
                note: h.note,
                velocity: h.velocity,
                play_at_ms: h.at_ms - offset,
            })
            .collect();
        serde_json::to_string(&hits).unwrap_or_else(|_| "[]".to_owned())
    }

    /// A pattern change (`pattern`: the app's `Pattern` JSON).
    pub fn pattern_frame(&mut self, pattern: &str, now_ms: f64) -> Result<Option<String>, Refusal> {
        let pattern: Pattern =
            serde_json::from_str(pattern).map_err(|e| Refusal(format!("not a pattern: {e}")))?;
        if !pattern.is_valid() {
            return Err(Refusal("that pattern has the wrong shape".into()));
        }
        let frame = self.broadcast(&MusicalEvent::PatternChange(
            pattern.to_change(self.relay_now_ms(now_ms)),
        ))?;
        self.groove.pattern = pattern;
        Ok(Some(frame))
    }

    /// How far ahead of now the page's audio must be handed a sound (its output latency).
    pub fn set_output_lead_ms(&mut self, lead_ms: f64) {
        if lead_ms.is_finite() {
            self.lead_ms = lead_ms.clamp(0.0, 500.0);
        }
    }

    /// `tight`, `fixed` (with `fixed_ms`) or `live`.
    pub fn set_playout(&mut self, mode: &str, fixed_ms: f64) {
        let mode = match mode {
            "fixed" if fixed_ms.is_finite() => PlayoutMode::Fixed(fixed_ms.clamp(0.0, 500.0)),
            "live" => PlayoutMode::Live,
            _ => PlayoutMode::Tight,
        };
        self.playout.set_mode(mode);
    }

    /// Relay time at page time `now_ms` (our clock until the first pong).
    pub fn relay_now_ms(&self, now_ms: f64) -> f64 {
        now_ms + self.clock.offset_ms().unwrap_or(0.0)
    }

    /// The room we are in (as the relay wrote its code), if any.
    pub fn room_code(&self) -> Option<String> {
        self.room.clone()
    }

    /// True once a clock sample is in.
    pub fn synced(&self) -> bool {
        self.clock.offset_ms().is_some()
    }

    /// The best round trip to the relay, ms.
    pub fn rtt_ms(&self) -> Option<f64> {
        self.clock.min_rtt_ms()
    }

    /// Frames refused so far as out of bounds.
    pub fn refused(&self) -> u32 {
        self.refused
    }

    /// The app's `RoomEvent::Figures` for `ids` (a JSON array of participant ids).
    pub fn figures(&self, ids: &str) -> String {
        let ids: Vec<String> = serde_json::from_str(ids).unwrap_or_default();
        let participants: Vec<serde_json::Value> = ids
            .iter()
            .take(jam_session::MAX_SENDERS)
            .filter_map(|id| {
                self.playout.figures(id).map(|f| {
                    serde_json::json!({
                        "id": id,
                        "delayMs": f.delay_ms,
                        "oneWayMs": f.one_way_ms,
                        "jitterMs": f.jitter_ms,
                        "eventsPerS": f.events_per_s,
                    })
                })
            })
            .collect();
        serde_json::json!({
            "type": "figures",
            "rttMs": self.rtt_ms(),
            "participants": participants,
        })
        .to_string()
    }

    /// Reads one frame from the relay, arrived at page time `now_ms`: a JSON array of
    /// [`Output`]s (empty for what asks nothing of the page, or what is refused).
    pub fn receive(&mut self, frame: &str, now_ms: f64) -> String {
        serde_json::to_string(&self.read(frame, now_ms)).unwrap_or_else(|_| "[]".to_owned())
    }
}

impl Guest {
    fn broadcast(&self, event: &MusicalEvent) -> Result<String, Refusal> {
        event
            .validate()
            .map_err(|e| Refusal(format!("that can't be sent: {e}")))?;
        let room_code = self
            .room
            .clone()
            .ok_or_else(|| Refusal("not in a jam".into()))?;
        Ok(ClientMsg::Broadcast(Broadcast {
            room_code,
            event_name: event.name().to_owned(),
            payload: event.to_payload(),
            client_seq: None,
        })
        .to_json())
    }

    /// [`Guest::receive`], typed.
    pub fn read(&mut self, frame: &str, now_ms: f64) -> Vec<Output> {
        if frame.len() > MAX_FRAME_BYTES || !now_ms.is_finite() {
            self.refused = self.refused.saturating_add(1);
            return Vec::new();
        }
        let Ok(msg) = ServerMsg::parse(frame) else {
            return Vec::new();
        };
        match msg {
            ServerMsg::ClockPong(pong) => {
                if self
                    .clock
                    .add_sample(pong.client_time, pong.server_time, now_ms)
                {
                    vec![Output::Clock {
                        rtt_ms: self.clock.min_rtt_ms(),
                    }]
                } else {
                    Vec::new()
                }
            }
            ServerMsg::Joined(welcome) | ServerMsg::Created(welcome) => {
                let welcome = sanitize_welcome(welcome, self.relay_now_ms(now_ms));
                self.room = Some(welcome.room_code.clone());
                // Our half of every path, and each member's own, for their first notes.
                self.playout.set_own_link(self.clock.link_figures());
                for member in welcome
                    .participants
                    .iter()
                    .filter(|m| m.id != welcome.user_id)
                {
                    self.playout.set_link(&member.id, member.link);
                }
                let tempo = welcome
                    .state
                    .tempo
                    .as_deref()
                    .and_then(|raw| {
                        MusicalEvent::parse(jam_protocol::event::names::TEMPO_CHANGE, raw).ok()?
                    })
                    .and_then(|e| match e {
                        MusicalEvent::TempoChange(t) => Some(Tempo::from(&t)),
                        _ => None,
                    })
                    .unwrap_or_default();
                let pattern = welcome
                    .state
                    .pattern
                    .as_deref()
                    .and_then(|raw| {
                        MusicalEvent::parse(jam_protocol::event::names::PATTERN_CHANGE, raw).ok()?
                    })
                    .and_then(|e| match e {
                        MusicalEvent::PatternChange(p) => Pattern::from_change(&p),
                        _ => None,
                    })
                    .unwrap_or_default();
                self.groove.tempo = tempo;
                self.groove.pattern = pattern.clone();
                vec![Output::Joined {
                    user_id: welcome.user_id,
                    room: welcome.room_code,
                    participants: welcome.participants,
                    held_notes: welcome.state.held_notes,
                    tempo,
                    pattern,
                    recording: welcome.recording,
                    instruments: welcome.state.instruments,
                }]
            }
            ServerMsg::UserJoined(u) => {
                let participant = sanitize_participant(u.user);
                self.playout.set_link(&participant.id, participant.link);
                vec![Output::UserJoined { participant }]
            }
            ServerMsg::UserLeft(u) => {
                self.playout.remove(&u.user_id);
                vec![Output::UserLeft { user_id: u.user_id }]
            }
            ServerMsg::Ended(ended) => {
                self.room = None;
                vec![Output::Ended {
                    host: jam_protocol::clean_name(&ended.name)
                        .unwrap_or("The host")
                        .to_owned(),
                }]
            }
            ServerMsg::Error(e) => vec![Output::Refused {
                code: e.code.to_string(),
                message: e.message.chars().take(300).collect(),
            }],
            ServerMsg::Event(e) => self.remote(e, now_ms),
            ServerMsg::Connected(_) | ServerMsg::LaneOpened => Vec::new(),
        }
    }

    fn remote(&mut self, e: jam_protocol::RelayedEvent, now_ms: f64) -> Vec<Output> {
        let arrived_ms = self.relay_now_ms(now_ms);
        let event = match MusicalEvent::parse_at(&e.event_name, &e.payload, arrived_ms) {
            Ok(Some(event)) => event,
            // Not of our vocabulary: relayed, never looked at.
            Ok(None) => return Vec::new(),
            Err(_) => {
                self.refused = self.refused.saturating_add(1);
                return Vec::new();
            }
        };
        let audible_ms = arrived_ms + self.lead_ms;
        self.playout.set_output_lead(self.lead_ms);
        let play_at_ms = self
            .playout
            .schedule(&e.sender_id, Some(&event), audible_ms);
        let at_ms = event
            .timestamp()
            .filter(|t| t.is_finite() && (t - arrived_ms).abs() <= TIMESTAMP_TRUST_MS)
            .unwrap_or(arrived_ms);
        let offset = self.clock.offset_ms().unwrap_or(0.0);
        let sender_id = e.sender_id;
        match &event {
            MusicalEvent::TempoChange(t) => {
                self.groove.tempo = Tempo::from(t);
                vec![Output::TempoChanged {
                    sender_id,
                    tempo: Tempo::from(t),
                    at_ms,
                }]
            }
            MusicalEvent::PatternChange(p) => match Pattern::from_change(p) {
                Some(pattern) => {
                    self.groove.pattern = pattern.clone();
                    vec![Output::PatternChanged { sender_id, pattern }]
                }
                None => Vec::new(),
            },
            MusicalEvent::Chat(c) => vec![Output::Chat {
                sender_id,
                text: c.text.clone(),
            }],
            MusicalEvent::Instrument(c) => vec![
                Output::Program {
                    sender_id: sender_id.clone(),
                    keys: c.keys.clone(),
                    drums: c.drums.clone(),
                    play_at_ms: play_at_ms - offset,
                },
                Output::InstrumentChanged {
                    sender_id,
                    keys: c.keys.clone(),
                    drums: c.drums.clone(),
                },
            ],
            other => match Input::from_event(other) {
                Some((input, duration_ms)) => vec![
                    Output::Sound {
                        sender_id: sender_id.clone(),
                        input,
                        duration_ms,
                        play_at_ms: play_at_ms - offset,
                    },
                    Output::Played {
                        sender_id,
                        input,
                        duration_ms,
                        in_ms: (play_at_ms - arrived_ms).max(0.0),
                        at_ms,
                        synthetic: e.synthetic,
                    },
                ],
                None => Vec::new(),
            },
        }
    }
}
