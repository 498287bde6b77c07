//! `groove-bench`: a friend's groove as the listener's speakers play it.
//!
//! Run: `cargo bench -p jam-tests --bench groove` (about 8 minutes; the lossy-link scenarios
//! need root and are skipped without it). A drummer `jam play`s 16th notes at 120 BPM for 30 s
//! (240 notes, accented every four); the listener's `jam` plays them through its real audio
//! engine into a PulseAudio null sink, which is recorded; onsets are found in the recording
//! ([`jam_tests::heard`]). Printed per run: notes heard / sent, whether all were heard once and
//! in order, and the error of every inter-onset interval against 125 ms — over **all** notes,
//! from the first — as p50 / p99 / max, plus the first bar's worst; then the median of the
//! runs. Scenarios:
//!
//! - one machine, the listener behind a proxy adding 0–30 ms of random delay per chunk
//!   (five runs, each with its own sequence of delays);
//! - two homes behind NAT routers with a relay server between them, the drummer's router
//!   dropping 0, 1 or 3 % of the packets it forwards, both ways (three runs each at 1 and 3 %);
//! - 3 % loss again with the drummer's tail probe turned off (`JAMWIRE_TAIL_PROBE_MS=0`), to
//!   show what the probes are for;
//! - 3 % loss on the listener's link instead (router B), where the relay server sends;
//! - 3 % loss as on a system that keeps TCP's 200 ms retransmission floor (Linux before 6.15:
//!   `JAMWIRE_KEEP_RTO_FLOOR` in every process), without and with the spare lane, on the
//!   drummer's link and on the listener's;
//! - the browser guest as the listener behind the same 0–30 ms proxy, in Chromium, Firefox and
//!   WebKitGTK (five runs each; needs the browsers `scripts/test` installs).
//!
//! `JAM_GROOVE_NOTES` changes the length of a run (notes), `JAM_GROOVE_RUNS` the runs, and
//! `JAM_GROOVE_ONLY=lossy` runs only the lossy links (`=3`: only 3 % with the probes;
//! `=listener`: only 3 % on the listener's link; `=floor`: only the four with the 200 ms
//! floor, `=floor-listener` the two of them on the listener's link; `=app`:
//! only the app through jitter),
//! `=browser` only the browser guests, `=jitter` the app and the browsers through jitter;
//! `JAM_GROOVE_LOSSY_RUNS` the runs per lossy link (default: `JAM_GROOVE_RUNS`, at most 3);
//! each lossy run also prints the drummer's TCP counters (retransmissions, timeouts, loss
//! probes), and `JAM_GROOVE_PCAP=1` captures what crosses the drummer, the relay server and
//! the listener (`tcpdump`; with `JAM_GROOVE_KEEP=1` the captures stay in the run's folder);
//! `JAM_GROOVE_FIRST_SEED=N` starts the jitter runs at the proxy's `N`th sequence of delays
//! (run k uses N + k), to replay one run.

use std::path::PathBuf;
use std::time::Duration;

use jam_tests::groove;
use jam_tests::heard::Heard;
use jam_tests::homes::Host;

struct Figures {
    heard: usize,
    whole: bool,
    p50: f64,
    p99: f64,
    max: f64,
    first_bar: f64,
}

fn figures(heard: &Heard, notes: usize) -> Figures {
    let whole = heard.onsets.len() == notes && heard.accents_in_place && heard.doubled == 0;
    Figures {
        heard: heard.onsets.len(),
        whole,
        p50: Heard::quantile(&heard.errors, 0.5),
        p99: Heard::quantile(&heard.errors, 0.99),
        max: Heard::quantile(&heard.errors, 1.0),
        first_bar: Heard::quantile(&heard.errors[..heard.errors.len().min(16)], 1.0),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn report(name: &str, notes: usize, runs: &[Figures]) {
    for (i, f) in runs.iter().enumerate() {
        println!(
            "{name:<28} run {}  heard {:>3}/{notes} {:<9} IOI error p50 {:>6.2} p99 {:>6.2} max {:>6.2} ms, first bar max {:>6.2} ms",
            i + 1,
            f.heard,
            if f.whole { "once each" } else { "NOT WHOLE" },
            f.p50,
            f.p99,
            f.max,
            f.first_bar
        );
    }
    println!(
        "{name:<28} median of {}: p50 {:.2}  p99 {:.2}  max {:.2} ms, first bar max {:.2} ms; {} of {} runs heard every note once",
        runs.len(),
        median(runs.iter().map(|f| f.p50).collect()),
        median(runs.iter().map(|f| f.p99).collect()),
        median(runs.iter().map(|f| f.max).collect()),
        median(runs.iter().map(|f| f.first_bar).collect()),
        runs.iter().filter(|f| f.whole).count(),
        runs.len()
    );
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let notes = env_number("JAM_GROOVE_NOTES", 240);
    let runs = env_number("JAM_GROOVE_RUNS", 5);
    let root: PathBuf =
        std::env::temp_dir().join(format!("jam-groove-bench-{}", std::process::id()));
    println!(
        "groove-bench: {notes} 16th notes at 120 BPM per run, heard at the listener's null sink, every interval from the first"
    );
    let only = std::env::var("JAM_GROOVE_ONLY").unwrap_or_default();
    let first_seed = env_number("JAM_GROOVE_FIRST_SEED", 0) as u64;
    let lossy_only = ["lossy", "3", "listener", "floor", "floor-listener"].contains(&only.as_str());
    let browser_only = only == "browser";
    let app_only = only == "app";
    let no_lossy = browser_only || app_only || only == "jitter";
    let mut jitter = Vec::new();
    for run in 0..if lossy_only || browser_only { 0 } else { runs } {
        let dir = root.join(format!("jitter-{run}"));
        let heard = groove::through_jitter(
            &dir,
            notes,
            Duration::from_millis(30),
            &[],
            first_seed + run as u64,
            None,
        )
        .await;
        jitter.push(figures(&heard, notes));
    }
    if !jitter.is_empty() {
        report("0–30 ms jitter", notes, &jitter);
    }
    if !lossy_only && !app_only {
        use jam_tests::browser::Kind;
        for (name, kind) in [
            ("browser guest, Chromium", Kind::Chromium),
            ("browser guest, Firefox", Kind::Firefox),
            ("browser guest, WebKitGTK", Kind::WebKit),
        ] {
            let mut figures_of_runs = Vec::new();
            for run in 0..runs {
                let dir = root.join(format!("browser-{kind:?}-{run}"));
                let both = groove::browser_through_jitter(
                    &dir,
                    notes,
                    Duration::from_millis(30),
                    kind,
                    first_seed + run as u64,
                    None,
                )
                .await;
                figures_of_runs.push(figures(&both.listener, notes));
            }
            report(&format!("{name}, 0–30 ms"), notes, &figures_of_runs);
        }
    }
    if no_lossy {
        if std::env::var_os("JAM_GROOVE_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&root);
        }
        return;
    }
    if !is_root() {
        println!("lossy links: skipped (network namespaces need root)");
        return;
    }
    let lossy_runs = env_number("JAM_GROOVE_LOSSY_RUNS", runs.min(3));
    let (drummer, listener) = (Host::RouterA, Host::RouterB);
    for (scenario, name, router, permille, runs, env) in [
        ("two homes, no loss", drummer, 0, 1, &[][..]),
        ("two homes, 1 % loss", drummer, 10, lossy_runs, &[][..]),
        ("two homes, 3 % loss", drummer, 30, lossy_runs, &[][..]),
        (
            "3 % loss, no tail probe",
            drummer,
            30,
            lossy_runs,
            &[("JAMWIRE_TAIL_PROBE_MS", "0")][..],
        ),
        (
            "3 % loss at the listener",
            listener,
            30,
            lossy_runs,
            &[][..],
        ),
        (
            "3 %, 200 ms floor, no lane",
            drummer,
            30,
            lossy_runs,
            &[("JAMWIRE_KEEP_RTO_FLOOR", "1"), ("JAMWIRE_LANE", "never")][..],
        ),
        (
            "3 %, 200 ms floor, spare lane",
            drummer,
            30,
            lossy_runs,
            &[("JAMWIRE_KEEP_RTO_FLOOR", "1")][..],
        ),
        (
            "3 % at listener, floor, no lane",
            listener,
            30,
            lossy_runs,
            &[("JAMWIRE_KEEP_RTO_FLOOR", "1"), ("JAMWIRE_LANE", "never")][..],
        ),
        (
            "3 % at listener, floor, lane",
            listener,
            30,
            lossy_runs,
            &[("JAMWIRE_KEEP_RTO_FLOOR", "1")][..],
        ),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (name, router, permille, runs, env))| (i, name, router, permille, runs, env))
    {
        let floor = env.iter().any(|(k, _)| *k == "JAMWIRE_KEEP_RTO_FLOOR");
        if only == "3" && !(permille == 30 && env.is_empty() && router == drummer)
            || only == "listener" && (router != listener || floor)
            || only == "floor" && !floor
            || only == "floor-listener" && !(floor && router == listener)
        {
            continue;
        }
        let mut figures_of_runs = Vec::new();
        for run in 0..runs {
            let dir = root.join(format!("homes-{scenario}-{permille}-{run}"));
            let across =
                groove::across_homes(&dir, notes, router, permille, env, None, false).await;
            println!("{name:<28} run {}  {}", run + 1, across.tcp);
            figures_of_runs.push(figures(&across.heard, notes));
        }
        report(name, notes, &figures_of_runs);
    }
    if std::env::var_os("JAM_GROOVE_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
}
