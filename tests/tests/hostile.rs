//! A hostile participant, and a hostile relay, against the real `jam` processes.
//!
//! The room: `jam host` (with its embedded relay), a `jam join` player, a `jam record` listener
//! (which writes what it heard as MIDI), an honest test client who plays, and a watcher. A
//! member, Mallory, sends every hostile message we could think of. After each one every honest
//! process is still running, an honest note still arrives (and the recorder records it), and at
//! the end the processes' memory has not grown. Then a fake relay feeds a real client what no
//! honest relay would send.

use std::process::Stdio;

use jam_midi::{MidiMessage, Song};
use jam_tests::{Client, PATIENCE, at, drum_hit, sigterm, workspace_binary};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};
use tokio_tungstenite::tungstenite::Message;

/// A `jam` process and its standard error, read line by line.
struct Jam {
    name: &'static str,
    child: Child,
    stderr: Lines<BufReader<ChildStderr>>,
}

impl Jam {
    fn spawn(name: &'static str, args: &[&str]) -> Jam {
        let mut child = Command::new(workspace_binary("jam", "jam"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("jam starts");
        let stderr = BufReader::new(child.stderr.take().expect("piped")).lines();
        Jam {
            name,
            child,
            stderr,
        }
    }

    /// `jam record PATH --from INVITE` as "Ear", once it has joined.
    async fn record(path: &std::path::Path, invite: &str) -> Jam {
        let path = path.to_str().expect("utf-8 path");
        let args = [
            "record",
            path,
            "--from",
            invite,
            "--name",
            "Ear",
            "--no-audio",
        ];
        let mut recorder = Jam::spawn("jam record", &args);
        recorder.line_with("joined").await;
        recorder
    }

    /// Reads standard error until a line contains `needle`.
    async fn line_with(&mut self, needle: &str) -> String {
        let name = self.name;
        tokio::time::timeout(PATIENCE, async {
            loop {
                match self.stderr.next_line().await {
                    Ok(Some(line)) if line.contains(needle) => return line,
                    Ok(Some(_)) => {}
                    _ => panic!("{name} ended before saying \"{needle}\""),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{name} said \"{needle}\" in time"))
    }

    fn assert_alive(&mut self, after: &str) {
        let status = self.child.try_wait().expect("can ask");
        assert!(
            status.is_none(),
            "{} died after {after}: {status:?}",
            self.name
        );
    }

    /// Resident memory, KiB.
    fn rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("procfs");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

/// The host's invite, from the line `jam host` prints.
async fn invite_of(host: &mut Child) -> String {
    let mut out = BufReader::new(host.stdout.take().expect("piped")).lines();
    let line = tokio::time::timeout(PATIENCE, out.next_line())
        .await
        .expect("in time")
        .expect("readable")
        .expect("a line");
    line.split_whitespace()
        .find(|w| w.starts_with("jam://"))
        .expect("an invite")
        .to_owned()
}

/// Every hostile thing Mallory sends, one case at a time: (what it is, its frames).
fn hostile_cases(code: &str) -> Vec<(String, Vec<Message>)> {
    let frame = |event: &str, payload: &Value| {
        Message::text(
            json!({"type": "event:broadcast", "roomCode": code, "eventName": event, "payload": payload})
                .to_string(),
        )
    };
    let raw = |text: String| Message::text(text);
    let now = at(0.0);
    let mut cases: Vec<(String, Vec<Message>)> = vec![
        (
            "a note lasting 1e300 ms".into(),
            vec![frame(
                "piano_note",
                &json!({"note": 60, "velocity": 90, "timestamp": now, "duration": 1e300}),
            )],
        ),
        (
            "a hit at -1e300, then a normal one".into(),
            vec![
                frame(
                    "drum_hit",
                    &json!({"note": 36, "velocity": 90, "timestamp": -1e300}),
                ),
                frame(
                    "drum_hit",
                    &json!({"note": 36, "velocity": 90, "timestamp": now}),
                ),
            ],
        ),
        (
            "a tempo anchored at -1e300".into(),
            vec![frame(
                "tempo_change",
                &json!({"bpm": 120, "beatsPerBar": 4, "timestamp": -1e300}),
            )],
        ),
        (
            "timestamps a day and more away".into(),
            vec![
                frame(
                    "drum_hit",
                    &json!({"note": 36, "velocity": 90, "timestamp": at(90_000_000.0)}),
                ),
                frame(
                    "sustain",
                    &json!({"on": true, "timestamp": at(-90_000_000.0)}),
                ),
            ],
        ),
    ];
    // Every numeric field of every event, with every kind of wrong value.
    let events: [(&str, Value); 10] = [
        ("pitch_bend", json!({"value": 100, "timestamp": now})),
        ("modulation", json!({"value": 64, "timestamp": now})),
        (
            "drum_hit",
            json!({"note": 36, "velocity": 90, "timestamp": now}),
        ),
        (
            "piano_note",
            json!({"note": 60, "velocity": 90, "timestamp": now, "duration": 100}),
        ),
        ("piano_note_off", json!({"note": 60, "timestamp": now})),
        ("sustain", json!({"on": true, "timestamp": now})),
        (
            "tempo_change",
            json!({"bpm": 120, "beatsPerBar": 4, "timestamp": now}),
        ),
        (
            "pattern_change",
            json!({"patternId": "main", "bpm": 120, "steps": {"running": true, "rows": []}, "timestamp": now}),
        ),
        ("cursor", json!({"x": 1, "y": 2})),
        ("chat", json!({"text": "hi"})),
    ];
    let wrong: [Value; 14] = [
        json!(-1e300),
        json!(1e300),
        json!(-1),
        json!(-0.0),
        json!(1.5),
        json!(1e19),
        json!(4_294_967_296_u64),
        json!(1e-300),
        json!("12"),
        Value::Null,
        json!([]),
        json!({}),
        json!(true),
        json!(u64::MAX),
    ];
    for (event, base) in &events {
        let fields: Vec<String> = base.as_object().expect("object").keys().cloned().collect();
        let mut frames = Vec::new();
        for field in fields {
            for value in &wrong {
                let mut payload = base.clone();
                payload[&field] = value.clone();
                frames.push(frame(event, &payload));
            }
        }
        cases.push((format!("wrong values in every field of {event}"), frames));
    }
    let deep_array = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    cases.extend([
        (
            "wrong types and shapes".into(),
            vec![
                raw(r#"{"type":"event:broadcast","roomCode":1,"eventName":"x","payload":1}"#.into()),
                raw(format!(r#"{{"type":"event:broadcast","roomCode":"{code}","eventName":7,"payload":1}}"#)),
                raw(format!(r#"{{"type":"event:broadcast","roomCode":"{code}","eventName":"drum_hit","payload":"hit"}}"#)),
                raw(format!(r#"{{"type":"event:broadcast","roomCode":"{code}","eventName":"drum_hit"}}"#)),
                raw(r#"{"type":5}"#.into()),
                raw("[]".into()),
                raw("null".into()),
                raw(r#""session:join""#.into()),
                raw("{".into()),
                raw(r#"{"type":"session:join","roomCode":["A"],"name":{"x":1}}"#.into()),
                raw(r#"{"type":"clock:ping","clientTime":"now"}"#.into()),
                Message::binary(vec![0xff; 100]),
            ],
        ),
        (
            "deep nesting".into(),
            vec![
                raw(format!(r#"{{"type":{}}}"#, deep_array(7_000))),
                frame("wobble", &serde_json::from_str(&deep_array(100)).expect("json")),
                raw(format!(
                    r#"{{"type":"event:broadcast","roomCode":"{code}","eventName":"wobble","payload":{}}}"#,
                    deep_array(400)
                )),
                raw(format!(
                    r#"{{"type":"event:broadcast","roomCode":"{code}","eventName":"pattern_change","payload":{{"patternId":"main","steps":{},"timestamp":{now}}}}}"#,
                    deep_array(1_000)
                )),
            ],
        ),
        (
            "60 KiB strings".into(),
            vec![
                frame("chat", &json!({"text": "x".repeat(60_000)})),
                raw(json!({"type": "session:join", "roomCode": code, "name": "n".repeat(60_000)}).to_string()),
                frame("x".repeat(60_000).as_str(), &json!({})),
            ],
        ),
        (
            "unknown events at the rate limit".into(),
            (0..1_200)
                .map(|i| frame("spam", &json!({"i": i, "pad": "p".repeat(900)})))
                .collect(),
        ),
        (
            "jam_ended and session:end from a guest".into(),
            vec![
                frame("jam_ended", &json!({})),
                raw(r#"{"type":"session:end"}"#.into()),
            ],
        ),
        (
            "a forged sender, a guessed host token, a second create".into(),
            vec![
                frame(
                    "drum_hit",
                    &json!({"note": 36, "velocity": 90, "timestamp": now, "senderId": "host"}),
                ),
                raw(json!({"type": "session:create", "name": "Keys", "createKey": "guess"}).to_string()),
            ],
        ),
        (
            "unknown instruments, garbage ids and a thousand changes at once".into(),
            [
                json!({"keys": "kazoo", "drums": "standard-kit"}),
                json!({"keys": "grand-piano", "drums": "grand-piano"}),
                json!({"keys": "x".repeat(10_000), "drums": "standard-kit"}),
                json!({"keys": "grand-piano\u{202e}", "drums": "standard-kit"}),
                json!({"keys": 7, "drums": null}),
                json!({"keys": ["finger-bass"], "drums": {"a": 1}}),
                json!({"keys": "finger-bass"}),
                json!("finger-bass"),
            ]
            .iter()
            .map(|p| frame("instrument", p))
            .chain((0..1_000).map(|i| {
                let keys = ["finger-bass", "trumpet", "warm-pad"][i % 3];
                frame("instrument", &json!({"keys": keys, "drums": "brush-kit"}))
            }))
            .collect(),
        ),
        (
            "a pitch wheel at 3,000 moves a second, and out-of-range wheels".into(),
            (0..3_000)
                .map(|i| frame("pitch_bend", &json!({"value": (i * 37) % 16_000 - 8_000, "timestamp": now})))
                .chain([
                    frame("pitch_bend", &json!({"value": 8192, "timestamp": now})),
                    frame("pitch_bend", &json!({"value": -1e300, "timestamp": now})),
                    frame("modulation", &json!({"value": 128, "timestamp": now})),
                    frame("modulation", &json!({"value": [1], "timestamp": now})),
                ])
                .collect(),
        ),
        (
            "cursors and pings as fast as possible".into(),
            (0..500)
                .flat_map(|i| {
                    [
                        frame("cursor", &json!({"x": i, "y": i})),
                        Message::Ping(vec![0; 100].into()),
                    ]
                })
                .collect(),
        ),
    ]);
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_member_costs_the_room_nothing_but_itself() {
    let dir = std::env::temp_dir().join(format!("jam-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let mut host = Jam::spawn(
        "jam host",
        &[
            "host",
            "--bind",
            "127.0.0.1:0",
            "--name",
            "Keys",
            "--no-audio",
        ],
    );
    let invite = invite_of(&mut host.child).await;
    let (address, code) = invite
        .trim_start_matches("jam://")
        .split_once('/')
        .expect("HOST:PORT/CODE");
    let url = format!("ws://{address}/");
    let recording = dir.join("heard.mid");
    let mut recorder = Jam::record(&recording, &invite).await;
    let mut player = Jam::spawn(
        "jam join",
        &["join", &invite, "--name", "Pia", "--no-audio"],
    );
    player.line_with("joined").await;

    let mut bob = Client::connect(&url).await;
    bob.join(code, "Bob").await;
    let mut watcher = Client::connect(&url).await;
    watcher.join_as(code, "Watcher", "listener").await;
    let mut mallory = Client::connect(&url).await;
    mallory.join(code, "Mallory").await;

    let cases = hostile_cases(code);
    let mut rss_after_first: Option<[u64; 3]> = None;
    for (i, (what, frames)) in cases.iter().enumerate() {
        for frame in frames {
            if mallory.try_send_frame(frame.clone()).await.is_err() {
                break; // the relay closed Mallory's connection: that is her problem
            }
        }
        if !mallory.is_open().await {
            mallory = Client::connect(&url).await;
            mallory.join(code, "Mallory").await;
        }
        // An honest note, unique to this case, still arrives.
        let velocity = u8::try_from(i + 1).expect("fewer than 127 cases");
        let hit = json!({"note": 42, "velocity": velocity, "timestamp": at(0.0)});
        bob.broadcast("drum_hit", hit.clone()).await;
        loop {
            let msg = watcher.recv().await;
            if msg["type"] == "event:broadcast" && msg["payload"] == hit {
                assert_eq!(msg["senderId"], bob.id.as_str());
                break;
            }
            // Anything Mallory got through is a valid event or an unknown one.
            if msg["type"] == "event:broadcast" && msg["senderId"] == mallory.id.as_str() {
                let name = msg["eventName"].as_str().expect("a name");
                let payload = serde_json::value::RawValue::from_string(msg["payload"].to_string())
                    .expect("json");
                jam_protocol::MusicalEvent::parse_at(name, &payload, at(0.0))
                    .unwrap_or_else(|e| panic!("{what}: the relay let through {msg}: {e}"));
            }
        }
        for jam in [&mut host, &mut recorder, &mut player] {
            jam.assert_alive(what);
        }
        if rss_after_first.is_none() {
            rss_after_first = Some([host.rss_kib(), recorder.rss_kib(), player.rss_kib()]);
        }
    }
    // Join/leave storms.
    for _ in 0..100 {
        let mut storm = Client::connect(&url).await;
        storm.join(code, "Storm").await;
        storm.send(json!({"type": "session:leave"})).await;
        storm.close().await;
    }
    bob.broadcast("drum_hit", drum_hit(46, 100)).await;
    loop {
        let msg = watcher.recv().await;
        if msg["type"] == "event:broadcast" && msg["payload"]["note"] == 46 {
            break;
        }
    }
    for jam in [&mut host, &mut recorder, &mut player] {
        jam.assert_alive("a join/leave storm");
    }
    // Memory stays flat: what the first case cost is the working size.
    let before = rss_after_first.expect("measured");
    let after = [host.rss_kib(), recorder.rss_kib(), player.rss_kib()];
    for ((b, a), who) in before.iter().zip(after).zip(["host", "recorder", "player"]) {
        assert!(
            a <= b + 16 * 1024,
            "{who} grew from {b} KiB to {a} KiB over {} hostile cases",
            cases.len()
        );
    }

    // The recorder heard every honest note, each once, and nothing of Mallory's that was
    // out of bounds.
    sigterm(recorder.child.id().expect("running"));
    assert!(recorder.child.wait().await.expect("exits").success());
    let song = Song::load(&recording).expect("a MIDI file");
    let bob_track = song
        .track_names
        .iter()
        .position(|n| n == "Bob")
        .expect("a track for Bob");
    let mut velocities: Vec<u8> = song
        .events
        .iter()
        .filter(|e| usize::from(e.track) == bob_track)
        .filter_map(|e| match e.event.message {
            MidiMessage::NoteOn { note: 42, velocity } => Some(velocity),
            _ => None,
        })
        .collect();
    velocities.sort_unstable();
    let expected: Vec<u8> = (1..=cases.len())
        .map(|v| u8::try_from(v).expect("small"))
        .collect();
    assert_eq!(velocities, expected);

    // Only the host ends the jam: its guests are told so, and the player leaves cleanly.
    sigterm(host.child.id().expect("running"));
    let ended = watcher.expect_eventually("session:ended").await;
    assert_eq!(ended["name"], "Keys");
    player.line_with("Keys ended the jam.").await;
    assert!(player.child.wait().await.expect("exits").success());
    assert!(host.child.wait().await.expect("exits").success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A relay that says whatever the test wants: it greets, welcomes any join with a hostile
/// room state, then sends the frames it is given and finally one honest note.
async fn fake_relay(
    listener: tokio::net::TcpListener,
    frames: Vec<String>,
    honest: String,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use futures_util::{SinkExt, StreamExt};
    let (stream, _) = listener.accept().await.expect("the client connects");
    let mut ws = tokio_tungstenite::accept_async(stream)
        .await
        .expect("handshake");
    let now = at(0.0);
    ws.send(Message::text(
        json!({"type": "connected", "clientId": "ME", "serverTime": now, "protocol": 1})
            .to_string(),
    ))
    .await
    .expect("greet");
    while let Some(Ok(frame)) = ws.next().await {
        let Message::Text(text) = frame else { continue };
        if text.as_str().contains("session:join") {
            break;
        }
    }
    let welcome = json!({
        "type": "session:joined",
        "roomCode": "K7M2QXH4",
        "userId": "ME",
        "participants": [
            {"id": "ME", "name": "Ear", "role": "listener", "isHost": false},
            {"id": "EVIL", "name": "evil\u{202E}nimda", "role": "player", "isHost": true},
            {"id": "BOB", "name": "Bob", "role": "player", "isHost": false}
        ],
        "state": {
            "tempo": {"bpm": 120, "beatsPerBar": 4, "timestamp": -1e300},
            "pattern": {"patternId": "main", "steps": {"running": true, "rows": []}, "timestamp": 1e300},
            "heldNotes": [
                {"userId": "EVIL", "note": 200, "velocity": 90},
                {"userId": "EVIL", "note": 60, "velocity": 0}
            ],
            "sustain": ["EVIL"],
            "instruments": [
                {"userId": "EVIL", "keys": "kazoo", "drums": "standard-kit"},
                {"userId": "NOBODY", "keys": "trumpet", "drums": "standard-kit"},
                {"userId": "BOB", "keys": "x", "drums": 5},
                {"userId": "EVIL", "keys": "trumpet", "drums": "brush-kit"}
            ]
        },
        "serverTime": now
    });
    ws.send(Message::text(welcome.to_string()))
        .await
        .expect("welcome");
    for frame in frames {
        ws.send(Message::text(frame)).await.expect("send");
    }
    ws.send(Message::text(honest)).await.expect("send");
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_relay_cannot_crash_a_client_and_its_lies_are_not_played() {
    let dir = std::env::temp_dir().join(format!("jam-hostile-relay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let invite = format!("jam://{}/K7M2QXH4", listener.local_addr().expect("bound"));
    let now = at(0.0);
    let event = |name: &str, payload: Value, seq: u64| {
        json!({"type": "event:broadcast", "eventName": name, "payload": payload, "senderId": "EVIL", "seq": seq, "serverTime": now})
            .to_string()
    };
    let mut frames = vec![
        event(
            "piano_note",
            json!({"note": 61, "velocity": 90, "timestamp": now, "duration": 1e300}),
            1,
        ),
        event(
            "drum_hit",
            json!({"note": 36, "velocity": 90, "timestamp": -1e300}),
            2,
        ),
        event(
            "drum_hit",
            json!({"note": 37, "velocity": 90, "timestamp": 1e300}),
            3,
        ),
        event(
            "tempo_change",
            json!({"bpm": 120, "beatsPerBar": 4, "timestamp": -1e300}),
            4,
        ),
        event(
            "drum_hit",
            json!({"note": 38, "velocity": 90, "timestamp": now + 90_000_000.0}),
            5,
        ),
        event("piano_note_off", json!({"note": 300, "timestamp": now}), 6),
        event("wobble", json!({"x": "y".repeat(30_000)}), 7),
        event("instrument", json!({"keys": "kazoo", "drums": "room-kit"}), 7),
        event("instrument", json!({"keys": "z".repeat(40_000), "drums": "room-kit"}), 7),
        event("instrument", json!({"keys": null}), 7),
        json!({"type": "session:user-joined", "user": {"id": "Z", "name": "\u{200B}", "role": "player", "isHost": true}}).to_string(),
        json!({"type": "session:user-left", "userId": "NOBODY"}).to_string(),
        json!({"type": "clock:pong", "clientTime": 1e300, "serverTime": -1e300}).to_string(),
        json!({"type": "clock:pong", "clientTime": "x", "serverTime": null}).to_string(),
        json!({"type": "error", "code": "NOPE", "message": "m".repeat(20_000)}).to_string(),
        json!({"type": "mystery"}).to_string(),
        "not json".to_owned(),
    ];
    // Events from many made-up senders.
    frames.extend((0..300).map(|i| {
        json!({"type": "event:broadcast", "eventName": "drum_hit", "payload": {"note": 40, "velocity": 1, "timestamp": now}, "senderId": format!("S{i}"), "seq": 8 + i, "serverTime": now}).to_string()
    }));
    let honest = json!({"type": "event:broadcast", "eventName": "drum_hit", "payload": {"note": 42, "velocity": 99, "timestamp": now}, "senderId": "BOB", "seq": 400, "serverTime": now}).to_string();
    let relay = tokio::spawn(fake_relay(listener, frames, honest));

    let recording = dir.join("heard.mid");
    let mut recorder = Jam::record(&recording, &invite).await;
    let mut ws = tokio::time::timeout(PATIENCE, relay)
        .await
        .expect("in time")
        .expect("the fake relay ran");
    // A frame over the client's 64 KiB limit: the client drops this connection (and would
    // reconnect), it does not read 100 KiB of anything.
    {
        use futures_util::{SinkExt, StreamExt};
        let _ = ws
            .send(Message::text(format!(
                r#"{{"type":"{}"}}"#,
                "z".repeat(100_000)
            )))
            .await;
        let ended = tokio::time::timeout(PATIENCE, async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
        assert!(ended.is_ok(), "the client hung up on an oversized frame");
    }
    recorder.assert_alive("a hostile relay");
    sigterm(recorder.child.id().expect("running"));
    assert!(recorder.child.wait().await.expect("exits").success());
    let song = Song::load(&recording).expect("a MIDI file");
    let notes: Vec<(String, u8, u8)> = notes_by_track(&song);
    let bob: Vec<&(String, u8, u8)> = notes.iter().filter(|n| n.0 == "Bob").collect();
    assert_eq!(bob.len(), 1, "{notes:?}");
    assert_eq!((bob[0].1, bob[0].2), (42, 99));
    // No unknown sound became a program change; Bob, who chose nothing, has none either.
    let programs: Vec<_> = song
        .events
        .iter()
        .filter(|e| matches!(e.event.message, MidiMessage::ProgramChange { .. }))
        .collect();
    assert!(programs.is_empty(), "{programs:?}");
    for lie in [61, 36, 37, 38] {
        assert!(
            !notes.iter().any(|n| n.1 == lie),
            "note {lie} was out of bounds and must not be recorded: {notes:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every note-on in a song: (track name, note, velocity).
fn notes_by_track(song: &Song) -> Vec<(String, u8, u8)> {
    song.events
        .iter()
        .filter_map(|e| match e.event.message {
            MidiMessage::NoteOn { note, velocity } if velocity > 0 => Some((
                song.track_names
                    .get(usize::from(e.track))
                    .cloned()
                    .unwrap_or_default(),
                note,
                velocity,
            )),
            _ => None,
        })
        .collect()
}
