//! The relay over real sockets: rooms, broadcast to everyone but the sender, late join, errors,
//! limits. Every client is a real tokio-tungstenite connection to a relay on 127.0.0.1:0.

use jam_relay::RelayConfig;
use jam_tests::{Client, Ending, at, drum_hit, piano_note, piano_note_off, relay};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A relay and a room with the named members, the first one hosting.
async fn room_with(config: RelayConfig, names: &[&str]) -> (jam_relay::RelayHandle, Vec<Client>) {
    let relay = relay(config).await;
    let mut clients = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut c = Client::connect(&relay.url()).await;
        if i == 0 {
            c.create(name).await;
        } else {
            let code = clients
                .first()
                .map(|h: &Client| h.room.clone().unwrap())
                .unwrap();
            c.join(&code, name).await;
        }
        // Everyone already there hears of the newcomer.
        for other in clients.iter_mut() {
            let joined = other.expect("session:user-joined").await;
            assert_eq!(joined["user"]["id"], c.id.as_str());
        }
        clients.push(c);
    }
    (relay, clients)
}

#[tokio::test]
async fn an_event_reaches_everyone_but_its_sender() {
    let (_relay, mut c) = room_with(RelayConfig::default(), &["Alice", "Bob", "Carol"]).await;
    let hit = drum_hit(38, 110);
    c[0].broadcast("drum_hit", hit.clone()).await;
    for receiver in &mut c[1..] {
        let msg = receiver.expect("event:broadcast").await;
        assert_eq!(msg["eventName"], "drum_hit");
        assert_eq!(msg["payload"], hit);
        assert_eq!(msg["seq"], 1);
        assert!(msg["serverTime"].as_f64().is_some());
        assert!(msg.get("synthetic").is_none(), "{msg}");
    }
    let alice = c[0].id.clone();
    for receiver in &mut c[1..] {
        receiver.expect_nothing_pending().await;
    }
    c[0].expect_nothing_pending().await; // no echo to the sender
    // The relay sets senderId; a client cannot choose it.
    c[1].broadcast(
        "drum_hit",
        json!({"note": 36, "velocity": 90, "timestamp": at(1.0), "senderId": alice}),
    )
    .await;
    let msg = c[0].expect("event:broadcast").await;
    assert_eq!(msg["senderId"], c[1].id.as_str());
    assert_eq!(
        msg["payload"]["senderId"],
        alice.as_str(),
        "payload is untouched"
    );
    assert_eq!(msg["seq"], 2);
    let msg = c[2].expect("event:broadcast").await;
    assert_eq!(msg["senderId"], c[1].id.as_str());
}

#[tokio::test]
async fn payloads_of_every_event_arrive_unchanged_and_seq_counts_per_room() {
    let (_relay, mut c) = room_with(RelayConfig::default(), &["Alice", "Bob"]).await;
    let room = c[0].room.clone().unwrap();
    // Relay time in whole ms, so the number is spelt as written below.
    let t = at(0.0);
    let events = [
        (
            "drum_hit",
            format!(r#"{{"note":42,"velocity":64,"timestamp":{t}.5}}"#),
        ),
        (
            "piano_note",
            format!(r#"{{"note":60,"velocity":100,"timestamp":{t}.25,"duration":250}}"#),
        ),
        (
            "piano_note_off",
            format!(r#"{{"note":60,"timestamp":{t}}}"#),
        ),
        ("sustain", format!(r#"{{"on":true,"timestamp":{t}}}"#)),
        (
            "tempo_change",
            format!(r#"{{"bpm":96,"beatsPerBar":4,"timestamp":{t}}}"#),
        ),
        (
            "pattern_change",
            format!(
                r#"{{"patternId":"p1","steps":[[36,0],[38,4]],"timestamp":{t},"playing":true}}"#
            ),
        ),
        (
            "chat",
            r#"{"text":"<b>hi</b> \u00e9 \"quoted\""}"#.to_owned(),
        ),
        ("cursor", r#"{"x":0.25,"y":0.75}"#.to_owned()),
        (
            "my_custom_thing",
            r#"{ "spaced" : [1, 2.50, {"deep": null}] , "emoji":"🥁" }"#.to_owned(),
        ),
        ("bare_value", r#"42"#.to_owned()),
    ];
    for (name, payload) in &events {
        // Raw text, so the spacing and number spelling above reach the relay as written.
        c[0].send_text(format!(
            r#"{{"type":"event:broadcast","roomCode":"{room}","eventName":"{name}","payload":{payload}}}"#
        ))
        .await;
    }
    for (i, (name, payload)) in events.iter().enumerate() {
        let msg = c[1].expect("event:broadcast").await;
        assert_eq!(msg["eventName"], *name);
        let sent: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(msg["payload"], sent, "{name}");
        assert_eq!(msg["seq"], i as u64 + 1);
    }
    c[0].expect_nothing_pending().await;
}

#[tokio::test]
async fn payload_bytes_are_forwarded_verbatim() {
    let (relay, mut alice) = {
        let (relay, mut c) = room_with(RelayConfig::default(), &["Alice"]).await;
        (relay, c.remove(0))
    };
    let room = alice.room.clone().unwrap();
    let mut raw = tokio_tungstenite::connect_async(relay.url())
        .await
        .unwrap()
        .0;
    use futures_util::{SinkExt, StreamExt};
    raw.next().await.unwrap().unwrap(); // connected
    raw.send(Message::text(format!(
        r#"{{"type":"session:join","roomCode":"{room}","name":"Raw"}}"#
    )))
    .await
    .unwrap();
    raw.next().await.unwrap().unwrap(); // joined
    alice.expect("session:user-joined").await;
    let payload = r#"{ "b" : 1.50 ,"a":[ ] }"#;
    alice
        .send_text(format!(r#"{{"type":"event:broadcast","roomCode":"{room}","eventName":"x","payload":{payload}}}"#))
        .await;
    let text = loop {
        if let Message::Text(t) = raw.next().await.unwrap().unwrap() {
            break t.to_string();
        }
    };
    assert!(text.contains(&format!(r#""payload":{payload},"#)), "{text}");
}

#[tokio::test]
async fn rooms_are_isolated() {
    let relay = relay(RelayConfig::default()).await;
    let url = relay.url();
    let (mut a1, mut a2, mut b1, mut b2) = (
        Client::connect(&url).await,
        Client::connect(&url).await,
        Client::connect(&url).await,
        Client::connect(&url).await,
    );
    let room_a = a1.create("A1").await["roomCode"]
        .as_str()
        .unwrap()
        .to_owned();
    let room_b = b1.create("B1").await["roomCode"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(room_a, room_b);
    a2.join(&room_a, "A2").await;
    a1.expect("session:user-joined").await;
    let joined = b2.join(&room_b, "B2").await;
    assert_eq!(
        joined["participants"].as_array().unwrap().len(),
        2,
        "only room B's members"
    );
    b1.expect("session:user-joined").await;

    a1.broadcast("drum_hit", drum_hit(36, 100)).await;
    b1.broadcast("drum_hit", drum_hit(38, 100)).await;
    let got_a = a2.expect("event:broadcast").await;
    let got_b = b2.expect("event:broadcast").await;
    assert_eq!(got_a["payload"]["note"], 36);
    assert_eq!(got_b["payload"]["note"], 38);
    assert_eq!(
        (got_a["seq"].as_u64(), got_b["seq"].as_u64()),
        (Some(1), Some(1)),
        "seq is per room"
    );
    for c in [&mut a1, &mut a2, &mut b1, &mut b2] {
        c.expect_nothing_pending().await;
    }
    // Broadcasting to the other room's code is refused and relays nothing.
    a1.send(json!({"type":"event:broadcast","roomCode":room_b,"eventName":"drum_hit","payload":drum_hit(40, 1)}))
        .await;
    a1.expect_error("NOT_IN_ROOM").await;
    b1.expect_nothing_pending().await;
    b2.expect_nothing_pending().await;
}

#[tokio::test]
async fn playing_alone_is_fine() {
    let (_relay, mut c) = room_with(RelayConfig::default(), &["Solo"]).await;
    for i in 0..10 {
        c[0].broadcast("piano_note", piano_note(60 + i, 80)).await;
    }
    c[0].expect_nothing_pending().await;
}

#[tokio::test]
async fn bad_requests_get_their_error_and_the_connection_keeps_working() {
    let config = RelayConfig {
        max_room_size: 3,
        // This test makes several honest mistakes on one connection (see hostile.rs for the cap).
        join_failures_per_connection: 10,
        ..RelayConfig::default()
    };
    let relay = relay(config).await;
    let url = relay.url();
    let mut host = Client::connect(&url).await;
    host.send(json!({"type":"session:create","name":"Host","password":"s3cret"}))
        .await;
    let room = host.expect("session:created").await["roomCode"]
        .as_str()
        .unwrap()
        .to_owned();
    host.room = Some(room.clone());
    let mut c = Client::connect(&url).await;

    // Not in a room yet: broadcast and leave are refused, nothing is relayed.
    c.send(json!({"type":"event:broadcast","roomCode":room,"eventName":"drum_hit","payload":drum_hit(38, 1)}))
        .await;
    c.expect_error("NOT_IN_ROOM").await;
    c.send(json!({"type":"session:leave"})).await;
    c.expect_error("NOT_IN_ROOM").await;
    host.expect_nothing_pending().await;

    let bad = [
        ("not json at all", "BAD_MESSAGE"),
        ("[1,2,3]", "BAD_MESSAGE"),
        (r#"{"name":"no type"}"#, "BAD_MESSAGE"),
        (r#"{"type":"session:dance"}"#, "BAD_MESSAGE"),
        (r#"{"type":"session:join","name":"Bob"}"#, "BAD_MESSAGE"),
        (
            r#"{"type":"clock:ping","clientTime":"noon"}"#,
            "BAD_MESSAGE",
        ),
        (r#"{"type":"session:create","name":"   "}"#, "BAD_MESSAGE"),
        (
            r#"{"type":"session:join","roomCode":"ZZZZZZZZ","name":"Bob"}"#,
            "ROOM_NOT_FOUND",
        ),
        (
            r#"{"type":"session:join","roomCode":"not a code","name":"Bob"}"#,
            "ROOM_NOT_FOUND",
        ),
    ];
    for (text, code) in bad {
        c.send_text(text).await;
        let err = c.expect_error(code).await;
        c.expect_nothing_pending().await;
        let _ = err;
    }
    c.send_frame(Message::binary(vec![1u8, 2, 3])).await;
    c.expect_error("BAD_MESSAGE").await;

    // Passwords: a missing or wrong one gets the very answer a room that doesn't exist gets
    // (but for the code it echoes), so nobody can learn which codes exist by trying them.
    let answer_for =
        |code: &str, msg: &Value| msg["message"].as_str().unwrap().replace(code, "CODE");
    c.send(json!({"type":"session:join","roomCode":"ZZZZZZZZ","name":"Bob"}))
        .await;
    let absent = answer_for("ZZZZZZZZ", &c.expect_error("ROOM_NOT_FOUND").await);
    c.send(json!({"type":"session:join","roomCode":room,"name":"Bob"}))
        .await;
    let no_password = answer_for(&room, &c.expect_error("ROOM_NOT_FOUND").await);
    c.send(json!({"type":"session:join","roomCode":room,"name":"Bob","password":"guess"}))
        .await;
    let wrong = answer_for(&room, &c.expect_error("ROOM_NOT_FOUND").await);
    assert_eq!(absent, no_password);
    assert_eq!(absent, wrong);
    assert!(absent.contains("password"), "{absent}");
    host.expect_nothing_pending().await;
    // Codes are forgiving about case and spaces.
    c.send(json!({"type":"session:join","roomCode":format!(" {} ", room.to_lowercase()),"name":"Bob","password":"s3cret"}))
        .await;
    c.expect("session:joined").await;
    c.room = Some(room.clone());
    host.expect("session:user-joined").await;

    // Already in a room.
    c.send(json!({"type":"session:create","name":"Bob"})).await;
    c.expect_error("ALREADY_IN_ROOM").await;

    // Oversized: refused, not relayed, connection stays.
    let big = "x".repeat(20 * 1024);
    c.broadcast("chat_blob", json!({ "blob": big })).await;
    c.expect_error("PAYLOAD_TOO_LARGE").await;
    // An invalid musical event is refused rather than reaching the others' engines.
    c.broadcast(
        "piano_note",
        json!({"note": 200, "velocity": 90, "timestamp": at(0.0)}),
    )
    .await;
    let err = c.expect_error("BAD_MESSAGE").await;
    assert!(
        err["message"].as_str().unwrap().contains("note 200"),
        "{err}"
    );
    c.send(json!({"type":"event:broadcast","roomCode":room,"eventName":"","payload":{}}))
        .await;
    c.expect_error("BAD_MESSAGE").await;
    host.expect_nothing_pending().await;

    // A listener hears but cannot play.
    let mut listener = Client::connect(&url).await;
    listener.send(json!({"type":"session:join","roomCode":room,"name":"Lis","role":"listener","password":"s3cret"})).await;
    let joined = listener.expect("session:joined").await;
    listener.room = Some(room.clone());
    let me = joined["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Lis")
        .unwrap()
        .clone();
    assert_eq!(me["role"], "listener");
    assert_eq!(me["isHost"], false);
    host.expect("session:user-joined").await;
    c.expect("session:user-joined").await;
    listener.broadcast("drum_hit", drum_hit(38, 100)).await;
    listener.expect_error("FORBIDDEN").await;
    host.expect_nothing_pending().await;
    host.broadcast("drum_hit", drum_hit(38, 100)).await;
    listener.expect("event:broadcast").await;
    c.expect("event:broadcast").await;

    // The room holds three: a fourth is turned away.
    let mut fourth = Client::connect(&url).await;
    fourth
        .send(json!({"type":"session:join","roomCode":room,"name":"Dee","password":"s3cret"}))
        .await;
    fourth.expect_error("ROOM_FULL").await;
    fourth.expect_nothing_pending().await;

    // After all that, everyone still plays normally.
    c.broadcast("drum_hit", drum_hit(42, 90)).await;
    assert_eq!(host.expect("event:broadcast").await["payload"]["note"], 42);
    assert_eq!(relay.stats().members, 3);
}

#[tokio::test]
async fn a_late_joiner_gets_tempo_pattern_and_held_notes() {
    let (relay, mut c) = room_with(RelayConfig::default(), &["Keys", "Drums"]).await;
    let room = c[0].room.clone().unwrap();
    c[0].broadcast(
        "tempo_change",
        json!({"bpm": 90, "beatsPerBar": 4, "timestamp": at(1.0)}),
    )
    .await;
    let tempo = json!({"bpm": 96, "beatsPerBar": 3, "timestamp": at(2.0)});
    c[0].broadcast("tempo_change", tempo.clone()).await;
    let pattern =
        json!({"patternId": "groove", "steps": [[36, 0, 8], [38, 4, 12]], "timestamp": at(3.0)});
    c[1].broadcast("pattern_change", pattern.clone()).await;
    c[0].broadcast("piano_note", piano_note(60, 100)).await;
    c[0].broadcast("piano_note", piano_note(64, 90)).await;
    c[0].broadcast("piano_note", piano_note(67, 80)).await;
    c[0].broadcast("piano_note_off", piano_note_off(67)).await; // released
    c[0].broadcast("sustain", json!({"on": true, "timestamp": at(4.0)}))
        .await;
    c[0].broadcast("piano_note_off", piano_note_off(64)).await; // held by the pedal
    c[0].broadcast(
        "piano_note",
        json!({"note": 72, "velocity": 70, "timestamp": at(5.0), "duration": 100}),
    )
    .await; // releases itself
    c[1].broadcast("piano_note", piano_note(48, 50)).await;
    // Wait until the relay has handled all of it: Drums hears Keys' 9 events, Keys hears Drums' 2.
    for _ in 0..9 {
        c[1].expect("event:broadcast").await;
    }
    for _ in 0..2 {
        c[0].expect("event:broadcast").await;
    }

    let mut late = Client::connect(&relay.url()).await;
    let joined = late.join(&room, "Late").await;
    let state = &joined["state"];
    assert_eq!(state["tempo"], tempo);
    assert_eq!(state["pattern"], pattern);
    let mut held: Vec<(String, u64, u64)> = state["heldNotes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["userId"].as_str().unwrap().to_owned(),
                h["note"].as_u64().unwrap(),
                h["velocity"].as_u64().unwrap(),
            )
        })
        .collect();
    held.sort();
    let mut expected = vec![
        (c[0].id.clone(), 60, 100),
        (c[0].id.clone(), 64, 90),
        (c[1].id.clone(), 48, 50),
    ];
    expected.sort();
    assert_eq!(held, expected);
    assert_eq!(state["sustain"], json!([c[0].id]));
    let names: Vec<&str> = joined["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Keys", "Drums", "Late"]);
    assert_eq!(joined["participants"][0]["isHost"], true);
    assert_eq!(joined["userId"], late.id.as_str());
}

#[tokio::test]
async fn a_member_who_drops_mid_note_leaves_no_stuck_notes() {
    let (relay, mut c) = room_with(RelayConfig::default(), &["Keys", "Bob", "Carol"]).await;
    let keys = c[0].id.clone();
    c[0].broadcast("piano_note", piano_note(60, 100)).await;
    c[0].broadcast("piano_note", piano_note(64, 100)).await;
    c[0].broadcast("sustain", json!({"on": true, "timestamp": at(2.0)}))
        .await;
    c[0].broadcast("piano_note_off", piano_note_off(64)).await; // still sounding: pedal
    for receiver in &mut c[1..] {
        for _ in 0..4 {
            receiver.expect("event:broadcast").await;
        }
    }
    // Keys' machine vanishes: the socket is dropped without a close frame.
    let keys_client = c.remove(0);
    drop(keys_client);
    for receiver in &mut c {
        let mut offs = Vec::new();
        let sustain_off = loop {
            let msg = receiver.expect("event:broadcast").await;
            assert_eq!(msg["senderId"], keys.as_str());
            assert_eq!(msg["synthetic"], true, "{msg}");
            match msg["eventName"].as_str().unwrap() {
                "piano_note_off" => offs.push(msg["payload"]["note"].as_u64().unwrap()),
                "sustain" => break msg,
                other => panic!("unexpected {other}"),
            }
        };
        offs.sort();
        assert_eq!(offs, [60, 64]);
        assert_eq!(sustain_off["payload"]["on"], false);
        let left = receiver.expect("session:user-left").await;
        assert_eq!(left["userId"], keys.as_str());
    }
    // The room forgot Keys' notes: a late joiner sees nothing held.
    let mut late = Client::connect(&relay.url()).await;
    let joined = late.join(c[0].room.as_deref().unwrap(), "Late").await;
    assert_eq!(joined["state"]["heldNotes"], json!([]));
    assert_eq!(joined["state"]["sustain"], json!([]));
}

#[tokio::test]
async fn a_member_who_drops_with_the_wheels_moved_leaves_nobody_bent() {
    let (_relay, mut c) = room_with(RelayConfig::default(), &["Keys", "Bob"]).await;
    let keys = c[0].id.clone();
    c[0].broadcast("pitch_bend", json!({"value": 4096, "timestamp": at(0.0)}))
        .await;
    c[0].broadcast("modulation", json!({"value": 90, "timestamp": at(0.0)}))
        .await;
    for _ in 0..2 {
        c[1].expect("event:broadcast").await;
    }
    drop(c.remove(0));
    let mut rests = Vec::new();
    for _ in 0..2 {
        let msg = c[0].expect("event:broadcast").await;
        assert_eq!(
            (msg["senderId"].as_str(), msg["synthetic"].as_bool()),
            (Some(keys.as_str()), Some(true))
        );
        rests.push((
            msg["eventName"].as_str().unwrap().to_owned(),
            msg["payload"]["value"].as_i64(),
        ));
    }
    assert_eq!(
        rests,
        [
            ("pitch_bend".to_owned(), Some(0)),
            ("modulation".to_owned(), Some(0))
        ]
    );
    c[0].expect("session:user-left").await;
}

#[tokio::test]
async fn leaving_politely_releases_notes_and_keeps_the_connection() {
    let (_relay, mut c) = room_with(RelayConfig::default(), &["Host", "Bob"]).await;
    c[1].broadcast("piano_note", piano_note(62, 90)).await;
    c[0].expect("event:broadcast").await;
    c[1].send(json!({"type": "session:leave"})).await;
    let off = c[0].expect("event:broadcast").await;
    assert_eq!(
        (off["eventName"].as_str(), off["synthetic"].as_bool()),
        (Some("piano_note_off"), Some(true))
    );
    c[0].expect("session:user-left").await;
    // Bob is out of the room but still connected, and can create a room of his own.
    c[1].broadcast("drum_hit", drum_hit(38, 90)).await;
    c[1].expect_error("NOT_IN_ROOM").await;
    c[1].create("Bob").await;
    c[0].expect_nothing_pending().await;
}

#[tokio::test]
async fn a_stalled_reader_is_disconnected_while_the_others_get_everything() {
    let config = RelayConfig {
        outbound_queue: 32,
        rate_per_sec: 1_000_000,
        rate_burst: 1_000_000,
        byte_rate_per_sec: u32::MAX,
        byte_burst: u32::MAX,
        stale_note_ms: 60_000,
        ..RelayConfig::default()
    };
    let (relay, mut c) = room_with(config, &["Sender", "Reader", "Stalled"]).await;
    let stalled_id = c[2].id.clone();
    // Enough data (about 16 MB) to fill any socket buffer between the relay and the stalled
    // client, in events just under the 1 KiB allowed outside the vocabulary.
    const EVENTS: u64 = 17_600;
    let blob = "x".repeat(950);
    let [sender, reader, stalled] = &mut c[..] else {
        unreachable!()
    };
    // The sender plays in bursts of 16 and the reader keeps up with each burst; the stalled
    // client reads nothing at all.
    let mut next = 0;
    let mut saw_stalled_leave = false;
    for burst in 0..EVENTS / 16 {
        for i in burst * 16..(burst + 1) * 16 {
            sender
                .broadcast("sample_chunk", json!({"i": i, "blob": blob}))
                .await;
        }
        while next < (burst + 1) * 16 {
            let msg = reader.recv().await;
            match msg["type"].as_str().unwrap() {
                "event:broadcast" => {
                    assert_eq!(msg["payload"]["i"], next, "in order, nothing missing");
                    next += 1;
                }
                "session:user-left" => {
                    assert_eq!(msg["userId"], stalled_id.as_str());
                    saw_stalled_leave = true;
                }
                other => panic!("unexpected {other}: {msg}"),
            }
        }
    }
    if !saw_stalled_leave {
        let left = reader.expect("session:user-left").await;
        assert_eq!(left["userId"], stalled_id.as_str());
    }
    assert_eq!(next, EVENTS / 16 * 16);
    assert_eq!(relay.stats().slow_consumers, 1);
    // The stalled client finds its connection ended by the relay (close 4008, or cut off).
    let ending = stalled.ending().await;
    assert!(
        matches!(ending, Ending::Closed(4008, _) | Ending::Dropped),
        "{ending:?}"
    );
}

#[tokio::test]
async fn the_rate_limit_drops_excess_events_but_never_a_release() {
    // No refill: exactly `rate_burst` messages pass, so the test does not depend on timing.
    let config = RelayConfig {
        rate_per_sec: 0,
        rate_burst: 20,
        ..RelayConfig::default()
    };
    let (relay, mut c) = room_with(config, &["Flood", "Ear"]).await;
    // `session:create` took one token: 19 left.
    let start = std::time::Instant::now();
    c[0].broadcast("piano_note", piano_note(60, 90)).await;
    c[0].broadcast("sustain", json!({"on": true, "timestamp": at(1.0)}))
        .await;
    for _ in 0..100 {
        c[0].broadcast("drum_hit", drum_hit(38, 100)).await;
    }
    c[0].broadcast("piano_note_off", piano_note_off(60)).await; // held: never dropped
    c[0].broadcast("piano_note_off", piano_note_off(61)).await; // not held: dropped
    c[0].broadcast("sustain", json!({"on": false, "timestamp": at(2.0)}))
        .await; // pedal down: never dropped
    let mut hits = 0;
    let mut others = Vec::new();
    loop {
        let msg = c[1].expect("event:broadcast").await;
        let name = msg["eventName"].as_str().unwrap().to_owned();
        if name == "drum_hit" {
            hits += 1;
        } else {
            others.push(name.clone());
        }
        if name == "sustain" && msg["payload"]["on"] == false {
            break;
        }
    }
    assert_eq!(hits, 17, "19 tokens: piano_note, sustain and 17 hits");
    assert_eq!(
        others,
        ["piano_note", "sustain", "piano_note_off", "sustain"]
    );
    assert_eq!(
        relay.stats().rate_limited,
        84,
        "83 hits and the stray note-off"
    );
    // Everything Flood was told is queued before this marker from Ear.
    c[1].broadcast("marker", json!({})).await;
    let mut notices = 0;
    loop {
        let msg = c[0].recv().await;
        if msg["type"] == "event:broadcast" {
            assert_eq!(msg["eventName"], "marker");
            break;
        }
        assert_eq!(msg["code"], "RATE_LIMITED", "{msg}");
        notices += 1;
    }
    let windows = start.elapsed().as_secs() + 1;
    assert!(
        notices >= 1 && notices <= windows,
        "one notice per window, not per event: {notices}"
    );
}

#[tokio::test]
async fn cursors_are_coalesced_latest_wins_and_notes_are_not() {
    let (_relay, mut c) = room_with(RelayConfig::default(), &["Mover", "Watcher"]).await;
    let start = std::time::Instant::now();
    for i in 0..200 {
        c[0].broadcast("cursor", json!({"x": i, "y": 0})).await;
        if i % 50 == 0 {
            c[0].broadcast("drum_hit", drum_hit(42, 80)).await;
        }
    }
    let mut cursors = Vec::new();
    let mut hits = 0;
    // The last position always arrives (latest wins); notes are never held back or merged.
    while cursors.last() != Some(&199) {
        let msg = c[1].expect("event:broadcast").await;
        match msg["eventName"].as_str().unwrap() {
            "cursor" => cursors.push(msg["payload"]["x"].as_u64().unwrap()),
            "drum_hit" => hits += 1,
            other => panic!("unexpected {other}"),
        }
    }
    let elapsed_ms = start.elapsed().as_millis() as usize;
    assert_eq!(hits, 4);
    assert_eq!(cursors[0], 0, "the first position goes at once");
    assert!(
        cursors.windows(2).all(|w| w[0] < w[1]),
        "in order: {cursors:?}"
    );
    assert!(
        cursors.len() <= 2 + elapsed_ms / 100,
        "at most one per 100 ms: {} in {elapsed_ms} ms",
        cursors.len()
    );
}

#[tokio::test]
async fn a_full_relay_says_so_and_closes() {
    let relay = relay(RelayConfig {
        max_connections: 2,
        ..RelayConfig::default()
    })
    .await;
    let _a = Client::connect(&relay.url()).await;
    let _b = Client::connect(&relay.url()).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(relay.url()).await.unwrap();
    use futures_util::StreamExt;
    let Some(Ok(Message::Text(t))) = ws.next().await else {
        panic!("an error message first")
    };
    let msg: Value = serde_json::from_str(t.as_str()).unwrap();
    assert_eq!(msg["code"], "SERVER_FULL");
    let Some(Ok(Message::Close(Some(frame)))) = ws.next().await else {
        panic!("then a close")
    };
    assert_eq!(u16::from(frame.code), 1013);
}

#[tokio::test]
async fn stopping_the_relay_closes_every_connection_with_going_away() {
    let (relay, mut c) = room_with(RelayConfig::default(), &["A", "B"]).await;
    relay.stop().await.unwrap();
    for client in &mut c {
        assert_eq!(
            client.ending().await,
            Ending::Closed(1001, "the relay is shutting down".into())
        );
    }
}

#[tokio::test]
async fn a_frame_over_the_hard_limit_closes_with_1009() {
    let relay = relay(RelayConfig {
        max_message_bytes: 1024,
        ..RelayConfig::default()
    })
    .await;
    let mut c = Client::connect(&relay.url()).await;
    c.send_text("y".repeat(2048)).await; // over the message limit, under the hard limit
    c.expect_error("PAYLOAD_TOO_LARGE").await;
    c.expect_nothing_pending().await;
    c.send_text("z".repeat(relay.config().hard_frame_limit() + 1))
        .await;
    let ending = c.ending().await;
    assert!(
        matches!(ending, Ending::Closed(1009, _) | Ending::Dropped),
        "{ending:?}"
    );
}

#[tokio::test]
async fn a_host_can_recreate_its_room_under_the_same_code() {
    let relay = relay(RelayConfig::default()).await;
    let mut first = Client::connect(&relay.url()).await;
    let code = first.create("Host").await["roomCode"]
        .as_str()
        .unwrap()
        .to_owned();
    // While the room exists, asking for its code gives a new one.
    let mut other = Client::connect(&relay.url()).await;
    other
        .send(json!({"type": "session:create", "name": "Other", "roomCode": code}))
        .await;
    let taken = other.expect("session:created").await;
    assert_ne!(taken["roomCode"], code.as_str());
    // Once it is gone (the relay restarted, or everyone left), the host gets it back.
    first.send(json!({"type": "session:leave"})).await;
    first.expect_nothing_pending().await;
    first
        .send(json!({"type": "session:create", "name": "Host", "roomCode": code.to_lowercase()}))
        .await;
    assert_eq!(
        first.expect("session:created").await["roomCode"],
        code.as_str()
    );
}
