//! How long a take takes to export as stems (`jam export --stems`, the takes list's "Stems"):
//! a 10-minute take of 4 players — keys chords, drums in 16ths, a bass line, a string pad —
//! written to a real session log, then rendered and written (4 stems, the mix, the MIDI file)
//! through `Takes::export_stems`, as the app and `jam` do. Prints the figures.
//!
//!   cargo bench -p jam-play --bench stems            (JAM_STEMS_MINUTES=N for another length)

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use jam_audio::SampleBank;
use jam_play::Takes;
use jam_protocol::{Role, RoomCode};
use jam_takes::{Record, TakeStore};
use serde_json::json;
use serde_json::value::RawValue;

fn main() {
    let minutes: u32 = std::env::var("JAM_STEMS_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(10);
    let dir = std::env::temp_dir().join(format!("jam-stems-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let log = dir.join("takes.sqlite");
    let events = write_take(&log, minutes);
    let bank = Arc::new(
        SampleBank::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets"))
            .expect("the samples"),
    );
    let takes = Takes::read(&log);
    let id = takes.latest().expect("the take");
    let out = dir.join("stems");
    let started = Instant::now();
    let files = takes
        .export_stems(id, &bank, 48_000, &out)
        .expect("the stems are written");
    let took = started.elapsed().as_secs_f64();
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    println!(
        "stems: {minutes}-minute take, 4 players, {events} events: {} files, {:.0} MB, exported in {took:.1} s ({:.0}× real time, {cores} cores)",
        files.len(),
        bytes as f64 / 1e6,
        f64::from(minutes) * 60.0 / took
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A take of `minutes` with four players at 120 BPM, written as a relay logs it. Returns its
/// musical events.
fn write_take(log: &Path, minutes: u32) -> usize {
    let room = RoomCode::parse("BENCH234").expect("a room code");
    let start = 1_000_000.0;
    let mut records = vec![Record::RoomOpened {
        room: room.clone(),
        at_ms: start,
    }];
    let players = [
        ("k", "Keys", "grand-piano"),
        ("d", "Drums", "grand-piano"),
        ("b", "Bass", "finger-bass"),
        ("p", "Pad", "slow-strings"),
    ];
    for (id, name, _) in players {
        records.push(Record::Joined {
            room: room.clone(),
            user_id: id.into(),
            name: name.into(),
            role: Role::Player,
            at_ms: start,
        });
    }
    let mut seq = 0;
    let mut event = |records: &mut Vec<Record>, who: &str, name: &str, at: f64, payload| {
        seq += 1;
        let payload: serde_json::Value = payload;
        records.push(Record::Event {
            room: room.clone(),
            seq,
            at_ms: at,
            sender_id: who.into(),
            event_name: name.into(),
            payload: RawValue::from_string(payload.to_string()).expect("JSON"),
            synthetic: false,
        });
    };
    for (id, _, keys) in players {
        event(
            &mut records,
            id,
            "instrument",
            start,
            json!({"keys": keys, "drums": "standard-kit"}),
        );
    }
    let sixteenth = 125.0;
    let steps = u64::from(minutes) * 60 * 8;
    for step in 0..steps {
        let t = start + 10.0 + step as f64 * sixteenth;
        let drum = match step % 4 {
            0 => 36,
            2 => 38,
            _ => 42,
        };
        event(
            &mut records,
            "d",
            "drum_hit",
            t,
            json!({"note": drum, "velocity": 100, "timestamp": t}),
        );
        if step % 2 == 0 {
            let note = [40, 43, 45, 47][(step / 8 % 4) as usize];
            event(
                &mut records,
                "b",
                "piano_note",
                t,
                json!({"note": note, "velocity": 90, "timestamp": t, "duration": 200.0}),
            );
        }
        if step % 4 == 0 {
            for note in [60, 64, 67] {
                event(
                    &mut records,
                    "k",
                    "piano_note",
                    t,
                    json!({"note": note + (step / 16 % 3) as u8, "velocity": 80, "timestamp": t, "duration": 400.0}),
                );
            }
        }
        if step % 32 == 0 {
            for note in [48, 55, 64, 71] {
                event(
                    &mut records,
                    "p",
                    "piano_note",
                    t,
                    json!({"note": note, "velocity": 60, "timestamp": t, "duration": 3_900.0}),
                );
            }
        }
    }
    let end = start + 10.0 + steps as f64 * sixteenth + 1_000.0;
    records.push(Record::RoomClosed { room, at_ms: end });
    let events = seq as usize;
    let mut store = TakeStore::open(log).expect("a session log");
    store.write(&records).expect("the take is written");
    events
}
