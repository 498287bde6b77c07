//! The session log on a real relay: everything relayed is stored in order with nothing missing,
//! and a relay killed with SIGKILL mid-jam leaves a sound database with all but the last moments.

use std::time::{Duration, Instant};

use jam_relay::RelayConfig;
use jam_takes::{Recorder, TakeStore};
use jam_tests::{Client, at, drum_hit, piano_note, piano_note_off};
use serde_json::json;

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jam-takes-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("session.sqlite")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_relayed_event_is_logged_in_order_with_nothing_missing() {
    let path = temp_db("order");
    let (recorder, writer) = Recorder::start(&path, jam_takes::DEFAULT_QUEUE).unwrap();
    let relay = jam_relay::start_recording(
        "127.0.0.1:0".parse().unwrap(),
        RelayConfig::default(),
        Some(recorder),
    )
    .await
    .unwrap();
    let url = relay.url();
    let mut ann = Client::connect(&url).await;
    let mut ben = Client::connect(&url).await;
    let mut cat = Client::connect(&url).await;
    let code = ann.create("Ann").await["roomCode"]
        .as_str()
        .unwrap()
        .to_owned();
    ben.join(&code, "Ben").await;
    cat.join(&code, "Cat").await;
    ben.expect("session:user-joined").await;

    // Ann and Cat play; Ben receives everything (so all of it was relayed).
    let mut sent = 0;
    for i in 0..300u32 {
        let note = 48 + (i % 24) as u8;
        ann.broadcast("piano_note", piano_note(note, 90)).await;
        ann.broadcast("piano_note_off", piano_note_off(note)).await;
        cat.broadcast("drum_hit", drum_hit(36 + (i % 4) as u8, 100))
            .await;
        sent += 3;
    }
    ann.broadcast(
        "tempo_change",
        json!({"bpm": 96, "beatsPerBar": 4, "timestamp": at(5.0)}),
    )
    .await;
    ann.broadcast("chat", json!({"text": "<b>nice</b>"})).await;
    sent += 2;
    // Cat leaves holding a note: the relay releases it (a synthetic event, logged too).
    cat.broadcast("piano_note", piano_note(72, 80)).await;
    sent += 1;
    let mut received = Vec::new();
    while received.len() < sent {
        let msg = ben.expect("event:broadcast").await;
        received.push((msg["seq"].as_u64().unwrap(), msg["payload"].to_string()));
    }
    cat.close().await;
    let release = ben.expect("event:broadcast").await;
    assert_eq!(release["synthetic"], true);
    ben.expect("session:user-left").await;
    ann.close().await;
    ben.close().await;
    relay.stop().await.unwrap();
    writer.finish();

    let store = TakeStore::open(&path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let sessions = store.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    let take = &sessions[0];
    assert_eq!(take.room, code);
    assert_eq!(take.participants, ["Ann", "Ben", "Cat"]);
    assert_eq!(take.event_count as usize, sent + 1);
    assert!(take.duration_ms > 0.0);
    let events = store.events(take.id).unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=(sent as u64 + 1)).collect::<Vec<_>>(),
        "no gaps, in order"
    );
    for (seq, payload) in &received {
        let logged = &events[*seq as usize - 1];
        let logged: serde_json::Value = serde_json::from_str(&logged.payload).unwrap();
        assert_eq!(&logged.to_string(), payload, "seq {seq} stored as relayed");
    }
    let last = events.last().unwrap();
    assert!(last.synthetic && last.sender_name == "Cat" && last.event == "piano_note_off");
    assert!(
        events
            .iter()
            .any(|e| e.event == "chat" && e.sender_name == "Ann")
    );
    let people = store.participants(take.id).unwrap();
    assert!(
        people.iter().all(|p| p.left_ms.is_some()),
        "everyone's departure is logged"
    );

    store.delete(take.id).unwrap();
    assert!(store.sessions().unwrap().is_empty());
    assert!(
        store.events(take.id).unwrap().is_empty(),
        "its events go with it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_jam_leaves_a_sound_log_missing_at_most_the_last_second() {
    let path = temp_db("kill");
    let mut relay = jam_tests::RelayProcess::spawn([
        "--bind".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--log".as_ref(),
        path.as_os_str(),
    ]);
    let (url, _) = relay.next_url().await;
    let child = &mut relay.child;

    let mut ann = Client::connect(&url).await;
    let mut ben = Client::connect(&url).await;
    let code = ann.create("Ann").await["roomCode"]
        .as_str()
        .unwrap()
        .to_owned();
    ben.join(&code, "Ben").await;
    ann.expect("session:user-joined").await;

    // A busy jam: Ann plays steadily (within the rate limit); Ben notes when each event arrived.
    let player = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(4));
        for i in 0.. {
            tick.tick().await;
            ann.broadcast("drum_hit", drum_hit(36 + (i % 8) as u8, 100))
                .await;
        }
    });
    let mut arrivals: Vec<(u64, Instant)> = Vec::new();
    while arrivals.len() < 1_000 {
        let msg = ben.expect("event:broadcast").await;
        arrivals.push((msg["seq"].as_u64().unwrap(), Instant::now()));
    }
    // SIGKILL: no chance to flush anything.
    child.start_kill().unwrap();
    let killed_at = Instant::now();
    child.wait().await.unwrap();
    player.abort();

    let store = TakeStore::open(&path).unwrap();
    assert_eq!(
        store.integrity_check().unwrap(),
        "ok",
        "the database opens cleanly"
    );
    let take = store.latest().unwrap();
    let seqs: Vec<u64> = store.events(take).unwrap().iter().map(|e| e.seq).collect();
    let stored = seqs.len() as u64;
    assert_eq!(
        seqs,
        (1..=stored).collect::<Vec<_>>(),
        "what is stored has no gaps"
    );
    let settled = arrivals
        .iter()
        .filter(|(_, at)| *at + Duration::from_secs(1) <= killed_at)
        .map(|(seq, _)| *seq)
        .max()
        .expect("events relayed more than a second before the kill");
    assert!(
        stored >= settled,
        "events relayed a second before the kill are stored: {stored} stored, {settled} expected"
    );
    eprintln!(
        "killed after {} events relayed; {stored} stored ({} lost)",
        arrivals.len(),
        arrivals.len() as u64 - stored.min(arrivals.len() as u64)
    );
    drop(store);

    // Opening it to record again closes the take the crash left open.
    let (recorder, writer) = Recorder::start(&path, 16).unwrap();
    drop(recorder);
    writer.finish();
    let store = TakeStore::open(&path).unwrap();
    let summary = store.session(take).unwrap();
    assert!(summary.duration_ms > 0.0 && summary.event_count == stored);
}

#[tokio::test]
async fn the_relay_serves_its_figures_as_prometheus_text() {
    let path = temp_db("metrics");
    let mut relay = jam_tests::RelayProcess::spawn([
        "--bind".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--metrics".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--log".as_ref(),
        path.as_os_str(),
    ]);
    let (ws, _) = relay.next_url().await;
    let (http, _) = relay.next_url().await;
    let metrics_addr = http
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned();

    let mut ann = Client::connect(&ws).await;
    let mut ben = Client::connect(&ws).await;
    let code = ann.create("Ann").await["roomCode"]
        .as_str()
        .unwrap()
        .to_owned();
    ben.join(&code, "Ben").await;
    for _ in 0..3 {
        ann.broadcast("drum_hit", drum_hit(38, 100)).await;
        ben.expect("event:broadcast").await;
    }

    let scrape = || async {
        let mut stream = tokio::net::TcpStream::connect(&metrics_addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    };
    let response = scrape().await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("content-type: text/plain; version=0.0.4"),
        "{response}"
    );
    let value = |name: &str| -> u64 {
        response
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from {response}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("jam_relay_connections"), 2);
    assert_eq!(value("jam_relay_rooms"), 1);
    assert_eq!(value("jam_relay_members"), 2);
    assert_eq!(value("jam_relay_events_in_total"), 3);
    assert_eq!(value("jam_relay_events_out_total"), 3);
    assert_eq!(value("jam_relay_slow_consumers_total"), 0);
    assert_eq!(value("jam_relay_rate_limited_total"), 0);
    assert_eq!(value("jam_relay_log_dropped_total"), 0);
    assert!(response.contains("# TYPE jam_relay_events_in_total counter"));
    relay.child.start_kill().unwrap();
}
