//! `delay-bench`: how long after the drummer's own speaker a listener's speaker plays each hit.
//!
//! Run: `sudo cargo bench -p jam-tests --bench delay` (about 8 minutes; without root the two
//! homes are skipped). A drummer `jam play`s 16th
//! notes at 120 BPM with its sound on, into the left channel of one stereo PulseAudio null
//! sink; a listening `jam join --listen` on this machine plays into the right channel; the sink
//! is recorded once, with one clock ([`groove::both_ends`]), and each hit's onset in the right
//! channel is compared with the same hit's in the left: what the network and the playout add,
//! at the speakers, from the first hit on. Both use the default audio buffer. Scenarios:
//!
//! - loopback: no jitter at all;
//! - the listener behind a proxy adding 0–30 ms of random delay per chunk (each run its own
//!   sequence of delays);
//! - the listener a browser guest (headless Chromium, WebAudio into the right channel), on
//!   loopback and through the 0–30 ms proxy ([`groove::browser_through_jitter`]);
//! - two homes behind NAT routers with a relay server between them (network namespaces, as
//!   the `groove` bench; needs root, skipped without it), the drummer's router dropping 0, 1
//!   or 3 % of the packets it forwards, both ways ([`groove::across_homes`] with both ends).
//!
//! Printed per run: hits heard at each end, the delay of the first hit, the worst of the first
//! bar, the worst from the 8th hit, the median after the first bar and over the last bar, and
//! the listener's inter-onset error p99 / max over all hits (the groove's targets: < 2 / < 5
//! ms); then the first 20 delays. `JAM_DELAY_NOTES` sets the hits per run (default 64),
//! `JAM_DELAY_RUNS` the runs per scenario (default 3), `JAM_DELAY_BUFFER` both ends' audio
//! buffer in frames, `JAM_DELAY_ONLY` runs only the scenarios whose name contains it (e.g.
//! `browser`); with `JAM_DELAY_KEEP` set the runs' folders (recordings, the listener's log)
//! stay.

use std::path::PathBuf;
use std::time::Duration;

use jam_tests::groove;
use jam_tests::heard::Heard;
use jam_tests::homes::Host;

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// One run's line: what both ends heard, and the delays. Gives (first hit, p50 after bar 1).
fn report(
    name: &str,
    run: usize,
    notes: usize,
    drummer: &Heard,
    listener: &Heard,
    d: &[f64],
    said: &str,
) -> (f64, f64) {
    let whole = |h: &Heard| h.onsets.len() == notes && h.accents_in_place && h.doubled == 0;
    let after_bar = if d.len() > 16 { &d[16..] } else { &[][..] };
    let last_bar = &d[d.len().saturating_sub(16)..];
    println!(
        "{name:<16} run {}  heard {}/{notes} + {}/{notes} {:<9} first {:>5.1}  first bar max {:>5.1}  from 8th max {:>5.1}  p50 after bar 1 {:>5.1}  last bar p50 {:>5.1} ms; IOI error p99 {:.2} max {:.2} ms",
        run + 1,
        drummer.onsets.len(),
        listener.onsets.len(),
        if whole(drummer) && whole(listener) {
            "once each"
        } else {
            "NOT WHOLE"
        },
        d.first().copied().unwrap_or(f64::NAN),
        quantile(&d[..d.len().min(16)], 1.0),
        quantile(&d[d.len().min(7)..], 1.0),
        quantile(after_bar, 0.5),
        quantile(last_bar, 0.5),
        Heard::quantile(&listener.errors, 0.99),
        Heard::quantile(&listener.errors, 1.0),
    );
    println!(
        "{:<16}        delays {:?}",
        "",
        d.iter()
            .take(20)
            .map(|x| (x * 10.0).round() / 10.0)
            .collect::<Vec<_>>()
    );
    if let Some(line) = said.lines().find(|l| l.contains("first note")) {
        let from = line.find("lateness_ms").unwrap_or(0);
        println!("{:<16}        {}", "", &line[from..]);
    }
    (
        d.first().copied().unwrap_or(f64::NAN),
        quantile(after_bar, 0.5),
    )
}

/// [`report`] of a run recorded at both ends on this machine.
fn report_both(name: &str, run: usize, notes: usize, both: &groove::BothEnds) -> (f64, f64) {
    report(
        name,
        run,
        notes,
        &both.drummer,
        &both.listener,
        &both.delays,
        &both.said,
    )
}

fn summary(name: &str, runs: &[(f64, f64)]) {
    let firsts: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let settled: Vec<f64> = runs.iter().map(|r| r.1).collect();
    println!(
        "{name:<16} median of {}: first hit {:.1} ms, p50 after the first bar {:.1} ms",
        runs.len(),
        quantile(&firsts, 0.5),
        quantile(&settled, 0.5)
    );
}

/// Whether `JAM_DELAY_ONLY` (when set) picks the scenario `name`.
fn chosen(name: &str) -> bool {
    std::env::var("JAM_DELAY_ONLY").map_or(true, |only| name.contains(only.as_str()))
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let notes = env_number("JAM_DELAY_NOTES", 64);
    let runs = env_number("JAM_DELAY_RUNS", 3);
    let buffer = std::env::var("JAM_DELAY_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok());
    let root: PathBuf =
        std::env::temp_dir().join(format!("jam-delay-bench-{}", std::process::id()));
    println!(
        "delay-bench: {notes} 16th notes at 120 BPM per run; ms from the drummer's speaker to the listener's, every hit from the first; audio buffer {}",
        buffer.map_or("default".to_owned(), |b: u32| format!("{b} frames"))
    );
    for (name, jitter) in [
        ("loopback", Duration::ZERO),
        ("0-30 ms jitter", Duration::from_millis(30)),
    ] {
        if !chosen(name) {
            continue;
        }
        let mut figures = Vec::new();
        for run in 0..runs {
            let dir = root.join(format!("{}-{run}", name.replace(' ', "-")));
            let both = groove::both_ends(&dir, notes, jitter, run as u64, buffer).await;
            figures.push(report_both(name, run, notes, &both));
        }
        summary(name, &figures);
    }
    for (name, jitter) in [
        ("browser, loopback", Duration::ZERO),
        ("browser, 0-30 ms", Duration::from_millis(30)),
    ] {
        if !chosen(name) {
            continue;
        }
        let mut figures = Vec::new();
        for run in 0..runs {
            let dir = root.join(format!("{}-{run}", name.replace([' ', ','], "-")));
            let both = groove::browser_through_jitter(
                &dir,
                notes,
                jitter,
                jam_tests::browser::Kind::Chromium,
                run as u64,
                buffer,
            )
            .await;
            figures.push(report_both(name, run, notes, &both));
        }
        summary(name, &figures);
    }
    if !is_root() {
        println!("two homes: skipped (needs root for network namespaces)");
    } else {
        for (name, permille) in [
            ("two homes, 0 %", 0),
            ("two homes, 1 %", 10),
            ("two homes, 3 %", 30),
        ] {
            if !chosen(name) {
                continue;
            }
            let mut figures = Vec::new();
            for run in 0..runs {
                let dir = root.join(format!("homes-{permille}-{run}"));
                let across =
                    groove::across_homes(&dir, notes, Host::RouterA, permille, &[], buffer, true)
                        .await;
                let drummer = across.drummer.as_ref().expect("both ends were recorded");
                figures.push(report(
                    name,
                    run,
                    notes,
                    drummer,
                    &across.heard,
                    &across.delays,
                    &across.said,
                ));
            }
            summary(name, &figures);
        }
    }
    if std::env::var_os("JAM_DELAY_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&root);
    } else {
        println!("kept: {}", root.display());
    }
}
