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

/// A WAV that `jam export --stems` wrote (32-bit float, stereo) as (left, right) samples.
fn float_wav(path: &std::path::Path) -> (Vec<f32>, Vec<f32>, u32) {
    let mut reader = hound::WavReader::open(path).expect("a readable WAV file");
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_format, spec.bits_per_sample),
        (2, hound::SampleFormat::Float, 32),
        "{} is stereo 32-bit float",
        path.display()
    );
    let all: Vec<f32> = reader
        .samples::<f32>()
        .map(|s| s.expect("a whole sample"))
        .collect();
    let left = all.iter().step_by(2).copied().collect();
    let right = all.iter().skip(1).step_by(2).copied().collect();
    (left, right, spec.sample_rate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takes_stems_hold_each_players_notes_alone_line_up_and_sum_to_the_mix() {
    let path = temp_db("stems");
    let dir = path.parent().unwrap().join("stems");
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
    let mut cat = Client::connect(&url).await;
    let mut ben = Client::connect(&url).await;
    let code = ann.create("Ann").await["roomCode"]
        .as_str()
        .unwrap()
        .to_owned();
    cat.join(&code, "Cat").await;
    ben.join_as(&code, "Ben", "listener").await;

    // Ann plays eight notes on the vibraphone, 400 ms apart; Cat a drum hit halfway between
    // each. Their own timestamps place them (the take trusts them within 5 s).
    let start = at(300.0);
    ann.broadcast(
        "instrument",
        json!({"keys": "vibraphone", "drums": "standard-kit"}),
    )
    .await;
    let mut sent = 1;
    for i in 0..8u8 {
        let on = start + f64::from(i) * 400.0;
        let note = 60 + 2 * i;
        ann.broadcast(
            "piano_note",
            json!({"note": note, "velocity": 100, "timestamp": on}),
        )
        .await;
        ann.broadcast(
            "piano_note_off",
            json!({"note": note, "timestamp": on + 150.0}),
        )
        .await;
        cat.broadcast(
            "drum_hit",
            json!({"note": if i % 2 == 0 { 36 } else { 38 }, "velocity": 110, "timestamp": on + 200.0}),
        )
        .await;
        sent += 3;
    }
    for _ in 0..sent {
        ben.expect("event:broadcast").await;
    }
    ann.close().await;
    cat.close().await;
    ben.close().await;
    relay.stop().await.unwrap();
    writer.finish();

    let store = TakeStore::open(&path).unwrap();
    let id = store.latest().unwrap();
    let timeline = store.timeline(id).unwrap();
    let played = |who: &str| -> Vec<f64> {
        timeline
            .iter()
            .filter(|e| {
                e.sender_name == who
                    && matches!(
                        e.event,
                        jam_protocol::MusicalEvent::PianoNote(_)
                            | jam_protocol::MusicalEvent::DrumHit(_)
                    )
            })
            .map(|e| e.offset_ms)
            .collect()
    };

    let out = std::process::Command::new(jam_tests::workspace_binary("jam", "jam"))
        .arg("export")
        .arg(&path)
        .arg("--stems")
        .arg(&dir)
        .output()
        .expect("jam runs");
    assert!(
        out.status.success(),
        "jam export --stems succeeds: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["01 Ann.wav", "02 Cat.wav", "mix.wav", "take.mid"]);

    let (ann_l, ann_r, rate) = float_wav(&dir.join("01 Ann.wav"));
    let (cat_l, cat_r, _) = float_wav(&dir.join("02 Cat.wav"));
    let (mix_l, mix_r, _) = float_wav(&dir.join("mix.wav"));
    assert_eq!(rate, 48_000);
    assert!(
        ann_l.len() == mix_l.len() && cat_l.len() == mix_l.len(),
        "every file as long as the mix: {} {} {}",
        ann_l.len(),
        cat_l.len(),
        mix_l.len()
    );

    // The stems sum to the mix (rendered on its own) within −60 dB of its peak.
    let peak = mix_l
        .iter()
        .chain(&mix_r)
        .fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = (0..mix_l.len())
        .map(|i| {
            (ann_l[i] + cat_l[i] - mix_l[i])
                .abs()
                .max((ann_r[i] + cat_r[i] - mix_r[i]).abs())
        })
        .fold(0.0f32, f32::max);
    assert!(peak > 0.05, "the mix is heard: peak {peak}");
    let below = 20.0 * f64::from(worst / peak).log10();
    assert!(
        below <= -60.0,
        "stems sum to the mix: worst difference {below:.1} dB below its peak"
    );

    // Each stem has its player's notes — all of them, where the take has them — and nobody
    // else's.
    for (who, left, right) in [("Ann", &ann_l, &ann_r), ("Cat", &cat_l, &cat_r)] {
        let mono: Vec<f32> = left.iter().zip(right).map(|(l, r)| (l + r) / 2.0).collect();
        let heard: Vec<f64> = jam_tests::heard::onsets(&mono)
            .iter()
            .map(|o| o.at_ms)
            .collect();
        let expected = played(who);
        assert_eq!(
            heard.len(),
            expected.len(),
            "{who}'s stem has their {} notes only: heard at {heard:?}, played at {expected:?}",
            expected.len()
        );
        // Where a sound is found is where it reaches a quarter of its peak: 3–5 ms into these
        // samples' attacks. Never before its note, never a beat off.
        for (h, e) in heard.iter().zip(&expected) {
            assert!(
                (0.0..=6.0).contains(&(h - e)),
                "{who}'s note played {e:.1} ms into the take sounds at {h:.1} ms"
            );
        }
    }
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
