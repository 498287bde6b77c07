//! How steady the MIDI clock is: the real clock thread (`jam_play::midi_clock::run`) runs at
//! 120 BPM for a minute, then the tempo changes to 90; each message is stamped the instant it
//! is handed to the MIDI system (where the ALSA sequencer and CoreMIDI deliver it at once; a
//! JACK port adds up to one JACK period on top). Prints the pulse interval error (p50, p99,
//! max), each pulse's lateness against its grid instant, and whether the pulses after the
//! change lie on the new tempo's grid from the next pulse on.
//!
//!   cargo bench -p jam-play --bench midi_clock      (JAM_CLOCK_SECONDS=N for another length)

use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jam_play::midi_clock::{ClockSink, Shared, pulse_ms};
use jam_protocol::groove::Tempo;

/// Notes when each message left: the pulses' instants, preallocated.
struct Stamps(Mutex<Vec<(Instant, u8)>>);
struct Sink(Arc<Stamps>);

impl ClockSink for Sink {
    fn send(&self, message: &[u8]) {
        let now = Instant::now();
        if let (Ok(mut v), Some(first)) = (self.0.0.lock(), message.first()) {
            v.push((now, *first));
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let seconds: u64 = std::env::var("JAM_CLOCK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let stamps = Arc::new(Stamps(Mutex::new(Vec::with_capacity(
        (seconds as usize + 20) * 60,
    ))));
    // A room whose relay clock reads 1.8e12 ms (as real relay times do) at `origin`, and
    // whose beat 0 is a second before.
    let origin = Instant::now();
    let relay0 = 1_796_683_154_000.0;
    let old = Tempo {
        bpm: 120.0,
        beats_per_bar: 4,
        anchor_ms: relay0 - 1_000.0,
    };
    let shared = Arc::new(Mutex::new(Some(Shared {
        tempo: old,
        previous: None,
        relay_ms: relay0,
        instant: origin,
    })));
    let (stop, stopped) = sync_channel(1);
    let thread = {
        let shared = shared.clone();
        let sinks = vec![Sink(stamps.clone())];
        std::thread::Builder::new()
            .name("jam-midi-clock".into())
            .spawn(move || jam_play::midi_clock::run(&shared, &sinks, 0.0, &stopped))
            .expect("the clock thread")
    };
    std::thread::sleep(Duration::from_secs(seconds));
    // The tempo changes (on the old grid's next beat, as `Core::set_tempo` does).
    let change_at = relay0 + origin.elapsed().as_secs_f64() * 1_000.0;
    let new = old.changed_at(change_at, 90.0, 4);
    if let Ok(mut s) = shared.lock() {
        *s = Some(Shared {
            tempo: new,
            previous: Some(old),
            relay_ms: relay0,
            instant: origin,
        });
    }
    std::thread::sleep(Duration::from_secs(5));
    let _ = stop.send(());
    let _ = thread.join();

    let stamps = stamps.0.lock().expect("the stamps").clone();
    let relay_of = |at: Instant| relay0 + at.duration_since(origin).as_secs_f64() * 1_000.0;
    let pulses: Vec<f64> = stamps
        .iter()
        .filter(|(_, b)| *b == 0xF8)
        .map(|(at, _)| relay_of(*at))
        .collect();
    let (before, after): (Vec<f64>, Vec<f64>) =
        pulses.iter().partition(|&&at| at < new.anchor_ms - 1.0);
    let interval_errors = |pulses: &[f64], tempo: &Tempo| {
        let p = pulse_ms(tempo);
        let mut e: Vec<f64> = pulses.windows(2).map(|w| (w[1] - w[0] - p).abs()).collect();
        e.sort_by(f64::total_cmp);
        e
    };
    let lateness = |pulses: &[f64], tempo: &Tempo| {
        let p = pulse_ms(tempo);
        let mut e: Vec<f64> = pulses
            .iter()
            .map(|at| {
                let k = ((at - tempo.anchor_ms) / p).round();
                at - (tempo.anchor_ms + k * p)
            })
            .collect();
        e.sort_by(f64::total_cmp);
        e
    };
    let e = interval_errors(&before, &old);
    let l = lateness(&before, &old);
    println!(
        "MIDI clock, 120 BPM, {seconds} s, {} pulses from its first bar line: interval error p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; lateness p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        before.len(),
        percentile(&e, 0.5),
        percentile(&e, 0.99),
        e.last().copied().unwrap_or(0.0),
        percentile(&l, 0.5),
        percentile(&l, 0.99),
        l.last().copied().unwrap_or(0.0),
    );
    let e = interval_errors(&after, &new);
    let l = lateness(&after, &new);
    let first_gap = after.first().zip(before.last()).map_or(0.0, |(a, b)| a - b);
    println!(
        "after the change to 90 BPM: {} pulses, the first {:.3} ms after the last old one (a pulse at 90 is {:.3} ms, at 120 {:.3} ms); interval error p99 {:.3} ms, max {:.3} ms; lateness p99 {:.3} ms",
        after.len(),
        first_gap,
        pulse_ms(&new),
        pulse_ms(&old),
        percentile(&e, 0.99),
        e.last().copied().unwrap_or(0.0),
        percentile(&l, 0.99),
    );
}
