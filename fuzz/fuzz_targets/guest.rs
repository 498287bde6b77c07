//! The browser guest's reading of relay frames (`jam-web`, the code the page runs as
//! WebAssembly) fed arbitrary frames at arbitrary times, after a real welcome and clock sample:
//! it never panics, whatever it hands the page is JSON, and every sound it asks for plays no
//! earlier than it arrived and within the playout's bound after.
#![no_main]

use arbitrary::Arbitrary;
use jam_web::{Guest, Output};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Frame {
    /// Raw text, or (when `shaped`) a relayed event with arbitrary fields.
    text: String,
    shaped: bool,
    name: u8,
    sender: u8,
    note: i64,
    velocity: i64,
    timestamp: f64,
    at: f64,
}

const NAMES: [&str; 7] = ["drum_hit", "piano_note", "piano_note_off", "sustain", "tempo_change", "chat", "instrument"];

fuzz_target!(|frames: Vec<Frame>| {
    let mut guest = Guest::new();
    let now = 1_800_000_000_000.0;
    let welcome = r#"{"type":"session:joined","roomCode":"K7M2QXH4","userId":"u0","participants":[],"state":{"tempo":null,"pattern":null,"heldNotes":[],"sustain":[]},"serverTime":1800000000000}"#;
    guest.read(welcome, now);
    let pong = format!(r#"{{"type":"clock:pong","clientTime":{now},"serverTime":{}}}"#, now + 5.0);
    guest.read(&pong, now + 10.0);
    for f in frames.iter().take(500) {
        let arrived = if f.at.is_finite() { now + f.at.clamp(0.0, 1e7) } else { f.at };
        let text = if f.shaped {
            let name = NAMES[usize::from(f.name) % NAMES.len()];
            format!(
                r#"{{"type":"event:broadcast","eventName":"{name}","senderId":"s{}","seq":1,"serverTime":0,"payload":{{"note":{},"velocity":{},"timestamp":{},"bpm":{},"beatsPerBar":4,"on":true,"keys":"finger-bass","drums":"room-kit","text":{:?}}}}}"#,
                f.sender,
                f.note,
                f.velocity,
                if f.timestamp.is_finite() { f.timestamp } else { 0.0 },
                if f.timestamp.is_finite() { f.timestamp } else { 120.0 },
                f.text
            )
        } else {
            f.text.clone()
        };
        let json = guest.receive(&text, arrived);
        assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "JSON for the page");
        if !arrived.is_finite() {
            continue;
        }
        for out in guest.read(&text, arrived) {
            if let Output::Sound { play_at_ms, .. } = out {
                // Page time: arrival (page clock) … arrival + the bound (and a sync's worth).
                assert!(play_at_ms >= arrived - 1.0, "{play_at_ms} before {arrived}");
                assert!(play_at_ms <= arrived + jam_session::MAX_DELAY_MS + 600.0, "{play_at_ms} long after {arrived}");
            }
        }
    }
});
