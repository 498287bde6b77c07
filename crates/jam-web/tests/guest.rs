//! The browser guest's Rust, natively: the JSON it hands the page is the app's own room events
//! (checked against `jam-play`'s types), and what a relay sends is read as hostile.

use jam_play::{InstrumentName, PlayInput, RoomEvent, Tempo};
use jam_web::{Guest, Output};
use serde_json::{Value, json};

const NOW: f64 = 1_800_000_000_000.0;

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or_else(|e| panic!("{e}"))
}

fn joined(guest: &mut Guest) {
    let welcome = json!({
        "type": "session:joined", "roomCode": "K7M2QXH4", "userId": "u2",
        "participants": [
            {"id": "u1", "name": "Host", "role": "player", "isHost": true},
            {"id": "u2", "name": "Guest", "role": "player", "isHost": false}
        ],
        "state": {"tempo": null, "pattern": null, "heldNotes": [], "sustain": []}, "serverTime": NOW, "recording": false
    });
    let out = guest.read(&welcome.to_string(), NOW);
    assert!(matches!(out.as_slice(), [Output::Joined { .. }]), "{out:?}");
}

#[test]
fn what_the_page_gets_is_the_apps_room_events() {
    let mut guest = Guest::new();
    joined(&mut guest);
    let hit = json!({
        "type": "event:broadcast", "eventName": "drum_hit", "senderId": "u1", "seq": 1,
        "serverTime": NOW, "payload": {"note": 38, "velocity": 100, "timestamp": NOW - 20.0}
    });
    let out = guest.read(&hit.to_string(), NOW);
    let [
        Output::Sound { play_at_ms, .. },
        played @ Output::Played { at_ms, in_ms, .. },
    ] = out.as_slice()
    else {
        panic!("a sound and a played event: {out:?}");
    };
    assert!(*play_at_ms >= NOW, "never before it arrived");
    let app = RoomEvent::Played {
        sender_id: "u1".into(),
        input: PlayInput::NoteOn {
            instrument: InstrumentName::Drums,
            note: 38,
            velocity: 100,
        },
        duration_ms: None,
        in_ms: *in_ms,
        at_ms: *at_ms,
        synthetic: false,
    };
    assert_eq!(
        to_value(played),
        to_value(&app),
        "the same JSON as the app's"
    );

    let tempo = json!({
        "type": "event:broadcast", "eventName": "tempo_change", "senderId": "u1", "seq": 2,
        "serverTime": NOW, "payload": {"bpm": 96.0, "beatsPerBar": 3, "timestamp": NOW}
    });
    let out = guest.read(&tempo.to_string(), NOW);
    let app = RoomEvent::TempoChanged {
        sender_id: "u1".into(),
        tempo: Tempo {
            bpm: 96.0,
            beats_per_bar: 3,
            anchor_ms: NOW,
        },
        at_ms: NOW,
    };
    assert_eq!(out.first().map(to_value), Some(to_value(&app)));
}

#[test]
fn frames_it_sends_are_checked_and_stamped_in_relay_time() {
    let mut guest = Guest::new();
    assert!(
        guest
            .join_frame("K7M2QXH4", "\u{202e}evil", false, None)
            .is_err(),
        "a bidi control is no name"
    );
    assert!(guest.join_frame("nope", "Ann", false, None).is_err());
    let join = guest
        .join_frame(" k7m2qxh4 ", " Ann ", true, Some(String::new()))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let join: Value = serde_json::from_str(&join).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(join["roomCode"], "K7M2QXH4");
    assert_eq!(join["name"], "Ann");
    assert_eq!(join["role"], "listener");
    assert!(join.get("password").is_none(), "an empty password is none");

    let key = r#"{"type":"noteOn","instrument":"piano","note":60,"velocity":90}"#;
    assert!(guest.play_frame(key, NOW).is_err(), "not in a room yet");
    joined(&mut guest);
    // The relay's clock is 1 s ahead of the page's.
    let pong = json!({"type": "clock:pong", "clientTime": NOW, "serverTime": NOW + 1_005.0});
    assert!(matches!(
        guest.read(&pong.to_string(), NOW + 10.0).as_slice(),
        [Output::Clock { .. }]
    ));
    let sent = guest
        .play_frame(key, NOW + 10.0)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_default();
    let sent: Value = serde_json::from_str(&sent).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sent["eventName"], "piano_note");
    let stamped = sent["payload"]["timestamp"].as_f64().unwrap_or_default();
    assert!((stamped - (NOW + 1_010.0)).abs() < 1.0, "{stamped}");
    let release = r#"{"type":"noteOff","instrument":"drums","note":38}"#;
    assert_eq!(
        guest.play_frame(release, NOW).ok(),
        Some(None),
        "a drum's release sends nothing"
    );
    assert!(
        guest
            .play_frame(
                r#"{"type":"noteOn","instrument":"piano","note":200,"velocity":90}"#,
                NOW
            )
            .is_err()
    );
    assert!(guest.tempo_frame(f64::NAN, 4, NOW).is_err());
    assert!(guest.chat_frame("").is_err());
}

#[test]
fn hostile_frames_change_nothing_and_never_panic() {
    let mut guest = Guest::new();
    joined(&mut guest);
    let huge = "x".repeat(jam_web::MAX_FRAME_BYTES + 1);
    let absurd = json!({
        "type": "event:broadcast", "eventName": "piano_note", "senderId": "u1", "seq": 3,
        "serverTime": NOW, "payload": {"note": 60, "velocity": 90, "timestamp": 1e300}
    })
    .to_string();
    let out_of_range = absurd
        .replace("1e300", &format!("{NOW}"))
        .replace("\"note\":60", "\"note\":128");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    for frame in [
        huge.as_str(),
        "",
        "{",
        "null",
        "{\"type\":1}",
        deep.as_str(),
        &out_of_range,
        "\u{0}",
    ] {
        assert!(guest.read(frame, NOW).is_empty(), "{:.40}", frame);
    }
    assert!(guest.read("[]", f64::NAN).is_empty());
    // A timestamp from nowhere: played at arrival, bounded, never in the past.
    let out = guest.read(&absurd, NOW);
    if let Some(Output::Sound { play_at_ms, .. }) = out.first() {
        assert!(
            *play_at_ms >= NOW && *play_at_ms <= NOW + jam_session::MAX_DELAY_MS,
            "{play_at_ms}"
        );
    }
    assert!(guest.refused() >= 2, "refusals are counted");
    // A welcome with a name the relay should have refused is shown as "?".
    let bad_name = json!({
        "type": "session:user-joined", "user": {"id": "u3", "name": "a\u{0007}b", "role": "player", "isHost": false}
    });
    match guest.read(&bad_name.to_string(), NOW).as_slice() {
        [Output::UserJoined { participant }] => assert_eq!(participant.name, "?"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_rooms_sequencer_plays_here_on_the_rooms_grid_in_the_pages_clock() {
    let mut guest = Guest::new();
    joined(&mut guest);
    // The relay is 1 s ahead of the page.
    let pong = json!({"type": "clock:pong", "clientTime": NOW, "serverTime": NOW + 1_000.0});
    guest.read(&pong.to_string(), NOW);
    assert_eq!(
        guest.groove_due(NOW, 120.0),
        "[]",
        "nothing runs before the pattern does"
    );
    let rows = json!([{"note": 36, "on": "x...x...x...x..."}]);
    let change = json!({
        "type": "event:broadcast", "eventName": "pattern_change", "senderId": "u1", "seq": 4,
        "serverTime": NOW, "payload": {"patternId": "main", "steps": {"running": true, "rows": rows}, "timestamp": NOW + 1_000.0}
    });
    let out = guest.read(&change.to_string(), NOW);
    assert!(
        matches!(out.as_slice(), [Output::PatternChanged { .. }]),
        "{out:?}"
    );
    let mut kicks = Vec::new();
    for i in 0..100 {
        let hits: Value = serde_json::from_str(&guest.groove_due(NOW + 25.0 * f64::from(i), 120.0))
            .unwrap_or_else(|e| panic!("{e}"));
        kicks.extend(
            hits.as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h["playAtMs"].as_f64()),
        );
    }
    // 120 BPM from relay time 0: a kick every 500 ms of relay time, so on 500 ms multiples
    // minus the page's offset; none twice.
    assert!(kicks.len() >= 4, "{kicks:?}");
    for pair in kicks.windows(2) {
        assert!((pair[1] - pair[0] - 500.0).abs() < 1e-6, "{kicks:?}");
    }
    assert!(((kicks[0] + 1_000.0) % 500.0).abs() < 1e-3, "{}", kicks[0]);
}
