//! Export: a take written as a MIDI file reads back, with an independent reader (midly's raw
//! events and our own tempo arithmetic), as the same notes, velocities, names and times (±1 ms).

use jam_protocol::{Role, RoomCode};
use jam_takes::{Record, Recorder, TakeStore, export};
use midly::{MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};
use serde_json::json;
use serde_json::value::to_raw_value;

const START: f64 = 1_763_800_000_000.0;

fn event(
    room: &RoomCode,
    seq: u64,
    at_ms: f64,
    sender: &str,
    name: &str,
    payload: serde_json::Value,
) -> Record {
    Record::Event {
        room: room.clone(),
        seq,
        at_ms,
        sender_id: sender.into(),
        event_name: name.into(),
        payload: to_raw_value(&payload).unwrap(),
        synthetic: false,
    }
}

/// A note read from the file: (track name, channel, note, velocity or 0 for off, ms from start).
type Note = (String, u8, u8, u8, f64);

/// A program change read from the file: (track name, channel, program, ms from start).
type Program = (String, u8, u8, f64);

/// Track names, notes and program changes read from the file.
fn read_back(bytes: &[u8]) -> (Vec<String>, Vec<Note>, Vec<Program>) {
    let smf = Smf::parse(bytes).unwrap();
    let Timing::Metrical(ppq) = smf.header.timing else {
        panic!("metrical timing")
    };
    let ppq = f64::from(ppq.as_int());
    // The conductor track's tempo map: (tick, µs per quarter).
    let mut tempo_map = vec![(0u64, 500_000.0)];
    let mut tick = 0u64;
    for e in &smf.tracks[0] {
        tick += u64::from(e.delta.as_int());
        if let TrackEventKind::Meta(MetaMessage::Tempo(t)) = e.kind {
            tempo_map.push((tick, f64::from(t.as_int())));
        }
    }
    let ms_at = |tick: u64| {
        let mut ms = 0.0;
        let mut last = (0u64, 500_000.0);
        for &(t, us) in tempo_map.iter().skip(1).filter(|(t, _)| *t <= tick) {
            ms += (t - last.0) as f64 * last.1 / ppq / 1_000.0;
            last = (t, us);
        }
        ms + (tick - last.0) as f64 * last.1 / ppq / 1_000.0
    };
    let mut names = Vec::new();
    let mut notes = Vec::new();
    let mut programs = Vec::new();
    for track in &smf.tracks[1..] {
        let mut name = String::new();
        let mut tick = 0u64;
        for e in track {
            tick += u64::from(e.delta.as_int());
            match e.kind {
                TrackEventKind::Meta(MetaMessage::TrackName(n)) => {
                    name = String::from_utf8_lossy(n).into()
                }
                TrackEventKind::Midi { channel, message } => {
                    let (note, vel) = match message {
                        MidiMessage::NoteOn { key, vel } => (key.as_int(), vel.as_int()),
                        MidiMessage::NoteOff { key, .. } => (key.as_int(), 0),
                        MidiMessage::ProgramChange { program } => {
                            let p = (
                                name.clone(),
                                channel.as_int(),
                                program.as_int(),
                                ms_at(tick),
                            );
                            programs.push(p);
                            continue;
                        }
                        _ => continue,
                    };
                    notes.push((name.clone(), channel.as_int(), note, vel, ms_at(tick)));
                }
                _ => {}
            }
        }
        names.push(name);
    }
    (names, notes, programs)
}

#[test]
fn an_exported_take_reads_back_as_the_same_notes_names_and_times() {
    let dir = std::env::temp_dir().join(format!("jam-takes-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("log.sqlite");
    let room = RoomCode::parse("K7M2QXH4").unwrap();
    let (recorder, writer) = Recorder::start(&path, 1_024).unwrap();
    recorder.log(Record::RoomOpened {
        room: room.clone(),
        at_ms: START,
    });
    for (id, name, role) in [
        ("A1", "Ann", Role::Player),
        ("L1", "Lis", Role::Listener),
        ("B1", "Ben", Role::Player),
    ] {
        recorder.log(Record::Joined {
            room: room.clone(),
            user_id: id.into(),
            name: name.into(),
            role,
            at_ms: START,
        });
    }
    // Ann: C4 at 1 000 ms for 500 ms, then the tempo goes to 90 BPM at 2 000 ms, then E4 at
    // 3 333.3 ms. Ben: a snare at 2 500.5 ms. Relay times lag the senders' by 7 ms of network.
    let played = [
        (
            "A1",
            "piano_note",
            json!({"note": 60, "velocity": 100, "timestamp": START + 1_000.0}),
        ),
        (
            "A1",
            "piano_note_off",
            json!({"note": 60, "timestamp": START + 1_500.0}),
        ),
        (
            "A1",
            "tempo_change",
            json!({"bpm": 90, "beatsPerBar": 4, "timestamp": START + 2_000.0}),
        ),
        (
            "B1",
            "drum_hit",
            json!({"note": 38, "velocity": 77, "timestamp": START + 2_500.5}),
        ),
        // Chosen just before E4, sent before it but logged (arriving) after E4's own timestamp: exported at E4's time.
        (
            "A1",
            "instrument",
            json!({"keys": "finger-bass", "drums": "brush-kit"}),
        ),
        (
            "A1",
            "piano_note",
            json!({"note": 64, "velocity": 64, "timestamp": START + 3_333.3}),
        ),
        ("A1", "chat", json!({"text": "not music"})),
        (
            "A1",
            "piano_note_off",
            json!({"note": 64, "timestamp": START + 4_000.0}),
        ),
    ];
    for (i, (sender, name, payload)) in played.iter().enumerate() {
        let ts = payload["timestamp"].as_f64().unwrap_or(START + 3_500.0);
        recorder.log(event(
            &room,
            i as u64 + 1,
            ts + 7.0,
            sender,
            name,
            payload.clone(),
        ));
    }
    recorder.log(Record::RoomClosed {
        room: room.clone(),
        at_ms: START + 5_000.0,
    });
    drop(recorder);
    writer.finish();

    let store = TakeStore::open(&path).unwrap();
    let take = store.latest().unwrap();
    let summary = store.session(take).unwrap();
    assert_eq!(summary.participants, ["Ann", "Lis", "Ben"]);
    assert_eq!(summary.duration_ms, 5_000.0);
    let bytes = export::to_smf(&store, take).unwrap();
    let (names, notes, programs) = read_back(&bytes);
    assert_eq!(programs.len(), 2, "{programs:?}");
    for ((name, ch, program, ms), got) in [("Ann", 0, 33, 3_333.3), ("Ann", 9, 40, 3_333.3)]
        .iter()
        .zip(&programs)
    {
        assert_eq!((got.0.as_str(), got.1, got.2), (*name, *ch, *program));
        assert!((got.3 - ms).abs() <= 1.0, "program at {} ms", got.3);
    }
    assert_eq!(
        names,
        ["Ann", "Ben"],
        "one named track per player, listeners have none"
    );
    let expect = [
        ("Ann", 0, 60, 100, 1_000.0),
        ("Ann", 0, 60, 0, 1_500.0),
        ("Ann", 0, 64, 64, 3_333.3),
        ("Ann", 0, 64, 0, 4_000.0),
        ("Ben", 9, 38, 77, 2_500.5),
        ("Ben", 9, 38, 0, 2_600.5),
    ];
    assert_eq!(notes.len(), expect.len(), "{notes:?}");
    for ((name, ch, note, vel, ms), got) in expect.iter().zip(&notes) {
        assert_eq!(
            (got.0.as_str(), got.1, got.2, got.3),
            (*name, *ch, *note, *vel)
        );
        assert!(
            (got.4 - ms).abs() <= 1.0,
            "{name} {note} at {} ms, logged {ms} ms",
            got.4
        );
    }
}
