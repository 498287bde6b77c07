//! The session client against a real relay on loopback: reconnection, state on rejoin, clock
//! sync, and playout through a proxy that injects network jitter.

use std::time::Duration;

use jam_protocol::MusicalEvent;
use jam_protocol::event::{DrumHit, TempoChange};
use jam_relay::RelayConfig;
use jam_session::{Invite, PlayoutMode, Session, SessionConfig, SessionEvent, Status};
use jam_tests::PATIENCE;
use jam_tests::proxy::Proxy;

fn quick(mut config: SessionConfig) -> SessionConfig {
    config.backoff_min = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    config
}

/// The next event matching `pred`, skipping others, within the test's patience.
async fn next_matching(
    session: &mut Session,
    pred: impl Fn(&SessionEvent) -> bool,
) -> SessionEvent {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let event = session.next_event().await.expect("session running");
            if pred(&event) {
                return event;
            }
        }
    })
    .await
    .expect("the event arrives in time")
}

fn hit(session: &Session, note: u8) -> MusicalEvent {
    MusicalEvent::DrumHit(DrumHit {
        note,
        velocity: 100,
        timestamp: session.relay_now_ms(),
    })
}

#[tokio::test]
async fn after_the_relay_restarts_the_host_recreates_the_room_and_the_guest_rejoins_by_itself() {
    let relay = jam_tests::relay(RelayConfig::default()).await;
    let addr = relay.local_addr();
    let mut host = Session::connect(quick(SessionConfig::host(&addr.to_string(), "Keys")))
        .await
        .unwrap();
    let invite = Invite {
        address: addr.to_string(),
        room: host.room().clone(),
        tls: false,
    };
    let mut guest = Session::connect(quick(SessionConfig::join(&invite, "Mozart")))
        .await
        .unwrap();
    next_matching(&mut guest, |e| matches!(e, SessionEvent::Joined(_))).await; // the first join
    next_matching(&mut host, |e| matches!(e, SessionEvent::UserJoined(_))).await;

    relay.stop().await.unwrap();
    // The same address comes back (a restarted jam-relay).
    let relay = jam_relay::start(addr, RelayConfig::default())
        .await
        .expect("the port is free again");
    next_matching(&mut host, |e| matches!(e, SessionEvent::Joined(_))).await;
    let SessionEvent::Joined(welcome) =
        next_matching(&mut guest, |e| matches!(e, SessionEvent::Joined(_))).await
    else {
        unreachable!()
    };
    assert_eq!(
        welcome.room_code,
        invite.room.as_str(),
        "the same room, by the same code"
    );
    assert!(matches!(*guest.status().borrow(), Status::Connected { .. }));
    if !welcome.participants.iter().any(|p| p.name == "Keys") {
        next_matching(
            &mut guest,
            |e| matches!(e, SessionEvent::UserJoined(p) if p.name == "Keys"),
        )
        .await;
    }
    // And they hear each other again.
    host.send(&hit(&host, 38)).unwrap();
    let SessionEvent::Remote(e) =
        next_matching(&mut guest, |e| matches!(e, SessionEvent::Remote(_))).await
    else {
        unreachable!()
    };
    assert_eq!(e.event_name, "drum_hit");
    assert_eq!(relay.room_count(), 1);
}

#[tokio::test]
async fn a_dropped_connection_rejoins_and_gets_the_room_state_back() {
    let relay = jam_tests::relay(RelayConfig::default()).await;
    let mut host = Session::connect(SessionConfig::host(&relay.local_addr().to_string(), "Keys"))
        .await
        .unwrap();
    let proxy = Proxy::start(relay.local_addr(), Duration::ZERO).await;
    let invite = Invite {
        address: proxy.addr().to_string(),
        room: host.room().clone(),
        tls: false,
    };
    let mut guest = Session::connect(quick(SessionConfig::join(&invite, "Drums")))
        .await
        .unwrap();
    next_matching(&mut guest, |e| matches!(e, SessionEvent::Joined(_))).await;
    let tempo = MusicalEvent::TempoChange(TempoChange {
        bpm: 96.0,
        beats_per_bar: 3,
        timestamp: host.relay_now_ms(),
    });
    host.send(&tempo).unwrap();
    next_matching(
        &mut guest,
        |e| matches!(e, SessionEvent::Remote(r) if r.event_name == "tempo_change"),
    )
    .await;

    proxy.cut_all(); // the guest's Wi-Fi drops
    let SessionEvent::Joined(welcome) =
        next_matching(&mut guest, |e| matches!(e, SessionEvent::Joined(_))).await
    else {
        unreachable!()
    };
    let state_tempo: serde_json::Value =
        serde_json::from_str(welcome.state.tempo.as_ref().expect("tempo restored").get()).unwrap();
    assert_eq!(
        (
            state_tempo["bpm"].as_f64(),
            state_tempo["beatsPerBar"].as_u64()
        ),
        (Some(96.0), Some(3))
    );
    // The host saw the guest leave and come back.
    next_matching(&mut host, |e| matches!(e, SessionEvent::UserLeft(_))).await;
    next_matching(
        &mut host,
        |e| matches!(e, SessionEvent::UserJoined(p) if p.name == "Drums"),
    )
    .await;
}

#[tokio::test]
async fn the_clock_offset_converges_within_a_millisecond_of_a_skewed_clock() {
    let relay = jam_tests::relay(RelayConfig::default()).await;
    let mut config = SessionConfig::host(&relay.local_addr().to_string(), "Skewed");
    config.clock_skew_ms = 12_345.678;
    config.ping_interval = Duration::from_millis(20);
    let session = Session::connect(config).await.unwrap();
    // Wait (bounded) for the estimate to settle: it slews at most 0.5 ms per sample.
    let settled = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(offset) = session.clock_offset_ms() {
                if (offset + 12_345.678).abs() < 1.0 {
                    return offset;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let offset = settled.unwrap_or_else(|_| {
        panic!(
            "offset {:?} did not converge on −12345.678",
            session.clock_offset_ms()
        )
    });
    assert!((offset + 12_345.678).abs() < 1.0, "{offset}");
    assert!(session.rtt_ms().is_some_and(|rtt| rtt < 50.0));
}

#[tokio::test]
async fn through_network_jitter_tight_playout_keeps_the_rhythm_and_live_does_not() {
    let relay = jam_tests::relay(RelayConfig::default()).await;
    let addr = relay.local_addr().to_string();
    let mut drummer = Session::connect(SessionConfig::host(&addr, "Drummer"))
        .await
        .unwrap();
    let max_jitter = Duration::from_millis(30);
    let mut listeners = Vec::new();
    for mode in [PlayoutMode::Tight, PlayoutMode::Live] {
        let proxy = Proxy::start(relay.local_addr(), max_jitter).await;
        let mut config = SessionConfig::join(
            &Invite {
                address: proxy.addr().to_string(),
                room: drummer.room().clone(),
                tls: false,
            },
            "Ear",
        );
        config.playout = mode;
        let session = Session::connect(config).await.unwrap();
        next_matching(&mut drummer, |e| matches!(e, SessionEvent::UserJoined(_))).await;
        listeners.push((mode, proxy, session));
    }
    // 16th notes at 120 BPM for 24 s: the drummer's timestamps are the rhythm to keep. Long
    // enough that the 99th percentile is not simply the worst hiccup of a shared machine.
    const NOTES: usize = 192;
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(125));
    for i in 0..NOTES {
        tick.tick().await;
        let event = hit(&drummer, 36 + (i % 8) as u8);
        if let MusicalEvent::DrumHit(h) = &event {
            sent.push(h.timestamp);
        }
        drummer.send(&event).unwrap();
    }
    for (mode, _proxy, session) in &mut listeners {
        let mut played = Vec::new();
        while played.len() < NOTES {
            if let SessionEvent::Remote(e) =
                next_matching(session, |e| matches!(e, SessionEvent::Remote(_))).await
            {
                played.push((e.play_at_ms, e.arrived_ms));
            }
        }
        // Skip the first two bars: the buffer learns this sender's jitter there.
        let mut errors: Vec<f64> = (33..NOTES)
            .map(|i| ((played[i].0 - played[i - 1].0) - (sent[i] - sent[i - 1])).abs())
            .collect();
        errors.sort_by(f64::total_cmp);
        let p99 = errors[(errors.len() - 1) * 99 / 100];
        // The added delay once it has settled: it starts at the first note's lateness plus
        // 30 ms of headroom (up to 60 ms here) and glides down by 0.5 ms a note, so it may take
        // 40 notes and more to come down to the link's worst; 64 notes (8 s) covers that.
        let mut added: Vec<f64> = (64..NOTES).map(|i| played[i].0 - sent[i]).collect();
        added.sort_by(f64::total_cmp);
        let added = added[(added.len() - 1) * 99 / 100];
        // The worst lateness this listener actually saw: the injected 0–30 ms plus whatever the
        // shared machine added now and then, and the clock estimate's error.
        let worst = (0..NOTES)
            .map(|i| played[i].1 - sent[i])
            .fold(f64::MIN, f64::max);
        match mode {
            PlayoutMode::Tight => {
                assert!(p99 < 1.0, "tight: inter-onset error p99 {p99:.3} ms");
                assert!(
                    added < worst.max(30.0) + 10.0,
                    "tight: added delay p99 {added:.1} ms, worst lateness {worst:.1} ms"
                );
            }
            _ => assert!(
                p99 > 5.0,
                "live mode shows the injected jitter: p99 {p99:.3} ms"
            ),
        }
    }
}

#[tokio::test]
async fn try_now_skips_the_reconnection_wait() {
    let relay = jam_tests::relay(RelayConfig::default()).await;
    let addr = relay.local_addr();
    let mut config = SessionConfig::host(&addr.to_string(), "Keys");
    // A wait far longer than the test's patience: only "try now" can reconnect in time.
    config.backoff_min = Duration::from_secs(600);
    config.backoff_max = Duration::from_secs(600);
    let mut host = Session::connect(config).await.unwrap();
    next_matching(&mut host, |e| matches!(e, SessionEvent::Joined(_))).await;
    let mut status = host.status();

    relay.stop().await.unwrap();
    tokio::time::timeout(
        PATIENCE,
        status.wait_for(|s| matches!(s, Status::Reconnecting { .. })),
    )
    .await
    .unwrap()
    .unwrap();
    let _relay = jam_relay::start(addr, RelayConfig::default())
        .await
        .expect("the port is free again");
    host.retry_now();
    next_matching(&mut host, |e| matches!(e, SessionEvent::Joined(_))).await;
    assert!(matches!(*host.status().borrow(), Status::Connected { .. }));
}

#[tokio::test]
async fn with_spare_lanes_each_way_every_event_is_heard_once_and_in_order() {
    let relay = jam_tests::relay(RelayConfig::default()).await;
    let lanes = |mut config: SessionConfig| {
        config.lane = jam_session::LaneMode::Always;
        config
    };
    let mut host = Session::connect(lanes(SessionConfig::host(
        &relay.local_addr().to_string(),
        "Drums",
    )))
    .await
    .unwrap();
    let invite = Invite {
        address: relay.local_addr().to_string(),
        room: host.room().clone(),
        tls: false,
    };
    let mut guest = Session::connect(lanes(SessionConfig::join(&invite, "Keys")))
        .await
        .unwrap();
    for session in [&host, &guest] {
        let mut open = session.spare_lane();
        tokio::time::timeout(PATIENCE, open.wait_for(|open| *open))
            .await
            .expect("the lane opens in time")
            .expect("the session runs");
    }
    assert_eq!(relay.stats().lanes, 2);
    next_matching(&mut host, |e| matches!(e, SessionEvent::UserJoined(_))).await;
    for note in 35..=81 {
        host.send(&hit(&host, note)).unwrap();
    }
    let tempo = MusicalEvent::TempoChange(TempoChange {
        bpm: 97.0,
        beats_per_bar: 4,
        timestamp: host.relay_now_ms(),
    });
    host.send(&tempo).unwrap();
    let mut heard = Vec::new();
    let mut seqs = std::collections::BTreeSet::new();
    loop {
        let SessionEvent::Remote(e) =
            next_matching(&mut guest, |e| matches!(e, SessionEvent::Remote(_))).await
        else {
            unreachable!()
        };
        assert!(seqs.insert(e.seq), "seq {} twice", e.seq);
        match e.event {
            Some(MusicalEvent::DrumHit(h)) => heard.push(h.note),
            Some(MusicalEvent::TempoChange(_)) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(heard, (35..=81).collect::<Vec<u8>>(), "each once, in order");
    // Each of the host's events reached the relay twice and was relayed once.
    assert_eq!(relay.stats().events_in, 48);
}
