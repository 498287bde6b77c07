//! `midi-bench`: parser throughput, and (built with `--features jack`, with a JACK server
//! running) note-on → typed event latency through a virtual port.
//!
//! Run: `cargo bench -p jam-midi --bench midi` and, with `jackd --no-realtime -d dummy -r 48000
//! -p 128` running, `cargo bench -p jam-midi --features jack --bench midi`.

use std::time::Instant;

use jam_midi::MidiParser;

fn parse_throughput() {
    // A dense, realistic stream: note-ons and -offs with running status, a pedal, clock bytes
    // between messages, and an occasional SysEx.
    let mut stream = Vec::new();
    let mut events = 0u64;
    for i in 0..2_000_000u32 {
        let note = 36 + (i % 60) as u8;
        match i % 8 {
            0 => stream.extend([0x90, note, 100]),
            1..=3 => stream.extend([note, 90]), // running status
            4 => stream.extend([0xF8, 0x80, note, 0]),
            5 => stream.extend([0xB0, 64, 127]),
            6 => stream.extend([0xE0, 0, 64]),
            _ => stream.extend([0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7, 0x99, 38, 120]),
        }
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let mut parser = MidiParser::new();
        events = 0;
        let t = Instant::now();
        parser.feed(std::hint::black_box(&stream), |e| {
            std::hint::black_box(e);
            events += 1;
        });
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "parse: {events} events from {:.1} MB in {:.1} ms (best of 5) = {:.0} M events/s, {:.1} ns per event",
        stream.len() as f64 / 1e6,
        best * 1e3,
        events as f64 / best / 1e6,
        best / events as f64 * 1e9
    );
}

#[cfg(feature = "jack")]
fn jack_latency() {
    use std::time::Duration;

    use jam_midi::input::MidiInputs;
    use midir::MidiOutput;
    use midir::os::unix::VirtualOutput;

    let Ok(mut inputs) = MidiInputs::new("jamwire-bench-in") else {
        println!(
            "jack latency: no JACK server running (start: jackd --no-realtime -d dummy -r 48000 -p 128)"
        );
        return;
    };
    let mut keys = MidiOutput::new("jamwire-bench-keys")
        .unwrap()
        .create_virtual("keys")
        .unwrap();
    let port = inputs
        .available()
        .unwrap()
        .into_iter()
        .find(|n| n.contains("jamwire-bench-keys"))
        .unwrap();
    inputs.connect(&port).unwrap();
    let mut latencies = Vec::new();
    let mut lost = 0;
    for i in 0..500u32 {
        let sent = Instant::now();
        keys.send(&[0x90, 36 + (i % 60) as u8, 100]).unwrap();
        let mut arrived = None;
        while arrived.is_none() && sent.elapsed() < Duration::from_millis(200) {
            inputs.drain(|_, _| arrived = Some(Instant::now()));
            // Poll every 50 µs rather than spin: a spinning thread starves JACK's client
            // threads on a 2-core machine, JACK then skips cycles (xruns) and drops MIDI.
            std::thread::sleep(Duration::from_micros(50));
        }
        match arrived {
            Some(at) => latencies.push(at - sent),
            None => lost += 1, // dropped by JACK in a skipped cycle
        }
        // Spread the sends over the JACK period so every phase is measured.
        std::thread::sleep(Duration::from_micros(1_000 + u64::from(i % 7) * 311));
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |p: f64| ms(latencies[((latencies.len() - 1) as f64 * p).round() as usize]);
    println!(
        "jack note-on → typed event (polled every 50 µs), 500 notes: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, lost {lost}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn main() {
    parse_throughput();
    #[cfg(feature = "jack")]
    jack_latency();
    #[cfg(not(feature = "jack"))]
    println!("jack latency: build with --features jack to measure");
}
