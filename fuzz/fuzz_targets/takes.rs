//! Take export: a session log holding whatever a relay (or a corrupted file) put there —
//! arbitrary times, names and payloads — reads back as a timeline and exports as a MIDI file
//! that reads back, and renders as stems (a tenth of a second of each), without a panic.
#![no_main]

use std::sync::Mutex;

use arbitrary::Arbitrary;
use jam_protocol::{Role, RoomCode};
use jam_takes::{Record, TakeStore};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

#[derive(Debug, Arbitrary)]
struct Logged {
    sender: u8,
    name: u8,
    at_ms: f64,
    payload: String,
}

#[derive(Debug, Arbitrary)]
struct Input {
    opened_ms: f64,
    code: [u8; 8],
    events: Vec<Logged>,
}

const NAMES: [&str; 8] = [
    "instrument",
    "drum_hit",
    "piano_note",
    "piano_note_off",
    "sustain",
    "tempo_change",
    "chat",
    "other",
];

/// The samples, loaded once per process.
static BANK: std::sync::OnceLock<std::sync::Arc<jam_audio::SampleBank>> =
    std::sync::OnceLock::new();

/// One store for the whole run (a file per process), emptied as takes are exported.
static STORE: Mutex<Option<TakeStore>> = Mutex::new(None);

fuzz_target!(|input: Input| {
    let mut guard = STORE.lock().unwrap_or_else(|e| e.into_inner());
    let store = guard.get_or_insert_with(|| {
        let path =
            std::env::temp_dir().join(format!("jamwire-fuzz-takes-{}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TakeStore::open(&path).expect("a store in the temp dir")
    });
    let room = RoomCode::from_random(input.code);
    let mut records = vec![Record::RoomOpened {
        room: room.clone(),
        at_ms: input.opened_ms,
    }];
    for id in ["A", "B", "C"] {
        records.push(Record::Joined {
            room: room.clone(),
            user_id: id.into(),
            name: format!("Player {id}"),
            role: Role::Player,
            at_ms: input.opened_ms,
        });
    }
    for (seq, e) in input.events.iter().take(500).enumerate() {
        let Ok(payload) = RawValue::from_string(e.payload.clone()) else {
            continue;
        };
        records.push(Record::Event {
            room: room.clone(),
            seq: u64::try_from(seq).unwrap_or(u64::MAX),
            at_ms: e.at_ms,
            sender_id: ["A", "B", "C"][usize::from(e.sender % 3)].into(),
            event_name: NAMES[usize::from(e.name) % NAMES.len()].into(),
            payload,
            synthetic: false,
        });
    }
    records.push(Record::RoomClosed {
        room,
        at_ms: input.opened_ms,
    });
    if store.write(&records).is_err() {
        return;
    }
    let Ok(id) = store.latest() else { return };
    if let Ok(timeline) = store.timeline(id) {
        for e in &timeline {
            let _ = e.offset_us();
        }
        let bank = BANK.get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
            std::sync::Arc::new(jam_audio::SampleBank::load(&dir).expect("the samples"))
        });
        if let Ok(bounce) = jam_play::stems::Bounce::new(&timeline, bank.clone(), 8_000) {
            for index in 0..bounce.players().len() {
                let frames = bounce.stem(index, 800, |block| {
                    assert!(
                        block.iter().all(|s| s.is_finite()),
                        "a stem's samples are finite"
                    );
                    Ok::<(), ()>(())
                });
                assert_eq!(frames, Ok(800), "a stem is as long as asked");
            }
        }
    }
    if let Ok(bytes) = jam_takes::export::to_smf(store, id) {
        assert!(bytes.starts_with(b"MThd"));
    }
    let _ = store.delete(id);
});
