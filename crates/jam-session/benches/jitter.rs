//! `jitter-bench`: how well each playout mode keeps a groove through network jitter.
//!
//! Run: `cargo bench -p jam-session --bench jitter` (about 35 s). A drummer sends 16th notes
//! at 120 BPM for 30 s through a real relay on loopback; each listener receives through its
//! own proxy that delays every chunk by a random 0–30 ms (order kept, as TCP does). Printed per
//! mode: the error of each scheduled inter-onset interval against the drummer's (p50/p99/max
//! over every note from the first, and the first bar's worst) and the delay added after the
//! drummer's timestamp (over all notes, and over the last 10 s). What the speakers play is
//! `benches/groove.rs` in `tests/`.

use std::time::Duration;

use jam_protocol::MusicalEvent;
use jam_protocol::event::DrumHit;
use jam_relay::RelayConfig;
use jam_session::{Invite, PlayoutMode, Session, SessionConfig, SessionEvent};
use jam_tests::proxy::Proxy;

const NOTES: usize = 240;

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let relay = jam_tests::relay(RelayConfig::default()).await;
    let addr = relay.local_addr().to_string();
    let mut drummer = Session::connect(SessionConfig::host(&addr, "Drummer"))
        .await
        .unwrap();
    let mut listeners = Vec::new();
    for mode in [
        PlayoutMode::Tight,
        PlayoutMode::Fixed(40.0),
        PlayoutMode::Live,
    ] {
        let proxy = Proxy::start(relay.local_addr(), Duration::from_millis(30)).await;
        let invite = Invite {
            address: proxy.addr().to_string(),
            room: drummer.room().clone(),
            tls: false,
        };
        let mut config = SessionConfig::join(&invite, "Ear");
        config.playout = mode;
        listeners.push((mode, proxy, Session::connect(config).await.unwrap()));
    }
    // Let the joins settle before the groove starts.
    let mut joined = 0;
    while joined < listeners.len() {
        if let Some(SessionEvent::UserJoined(_)) = drummer.next_event().await {
            joined += 1;
        }
    }
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(125));
    for i in 0..NOTES {
        tick.tick().await;
        let timestamp = drummer.relay_now_ms();
        sent.push(timestamp);
        drummer
            .send(&MusicalEvent::DrumHit(DrumHit {
                note: 36 + (i % 8) as u8,
                velocity: 100,
                timestamp,
            }))
            .unwrap();
    }
    println!(
        "jitter-bench: 16th notes at 120 BPM for {} s, 0–30 ms random delay per message, every note from the first",
        NOTES / 8
    );
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>12} {:>12} {:>12} {:>14}",
        "mode",
        "IOI p50",
        "IOI p99",
        "IOI max",
        "bar 1 max",
        "added p50",
        "added max",
        "last 10 s p50"
    );
    for (mode, _proxy, session) in &mut listeners {
        let mut played = Vec::new();
        while played.len() < NOTES {
            if let Some(SessionEvent::Remote(e)) = session.next_event().await {
                played.push(e.play_at_ms);
            }
        }
        let mut ioi: Vec<f64> = (1..NOTES)
            .map(|i| ((played[i] - played[i - 1]) - (sent[i] - sent[i - 1])).abs())
            .collect();
        let mut first_bar = ioi[..16].to_vec();
        let mut added: Vec<f64> = (0..NOTES).map(|i| played[i] - sent[i]).collect();
        let mut late_added = added[NOTES - 80..].to_vec();
        for v in [&mut ioi, &mut first_bar, &mut added, &mut late_added] {
            v.sort_by(f64::total_cmp);
        }
        println!(
            "{:<12} {:>8.3}ms {:>8.3}ms {:>8.3}ms {:>10.3}ms {:>10.1}ms {:>10.1}ms {:>12.1}ms",
            format!("{mode:?}"),
            pct(&ioi, 0.5),
            pct(&ioi, 0.99),
            pct(&ioi, 1.0),
            pct(&first_bar, 1.0),
            pct(&added, 0.5),
            pct(&added, 1.0),
            pct(&late_added, 0.5)
        );
    }
}
