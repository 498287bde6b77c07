//! How close to its playout instant each MIDI out message reaches the port, measured at the
//! port: the real `MidiOut` (thread `jam-midi-out`, virtual ports through midir's JACK
//! backend) is handed 2,000 notes the way the room task hands them (each ~50 ms before it is
//! due, with the instant the speakers play it), and a JACK MIDI client records the player's
//! port. Each arrival is stamped with JACK's time (µs, `CLOCK_MONOTONIC_RAW`) of the cycle it
//! arrived in. The bench starts its own JACK server (dummy driver, 48 kHz, 32-frame periods:
//! 0.67 ms, real-time where allowed) and prints the lateness p50, p99 and max.
//!
//!   cargo bench -p jam-play --features jack --bench midi_out     (JAM_MIDI_NOTES=N)

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use jam_play::midi_out::{MidiOut, MidiOutConfig};
use jam_protocol::event::{MusicalEvent, PianoNote, PianoNoteOff};
use midir::{Ignore, MidiInput};

/// Stops the JACK server when the bench ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Microseconds of `CLOCK_MONOTONIC_RAW`, the clock of JACK's time (jack2 on Linux); `Instant`s
/// are paired with it once, at the start (the two differ by the NTP slew of a minute: µs).
fn monotonic_us() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_RAW, &mut t) };
    t.tv_sec as f64 * 1e6 + t.tv_nsec as f64 / 1e3
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let notes: usize = std::env::var("JAM_MIDI_NOTES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let name = format!("jamwire-bench-{}", std::process::id());
    // SAFETY: no other thread runs yet.
    unsafe { std::env::set_var("JACK_DEFAULT_SERVER", &name) };
    let _server = Server(
        Command::new("jackd")
            .args(["-n", &name, "-d", "dummy", "-r", "48000", "-p", "32"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("jackd (apt install jackd2)"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut input = loop {
        if let Ok(input) = MidiInput::new("jamwire-bench-recorder") {
            break input;
        }
        assert!(Instant::now() < deadline, "the JACK server never came up");
        std::thread::sleep(Duration::from_millis(50));
    };
    input.ignore(Ignore::None);

    let out = MidiOut::start(MidiOutConfig {
        virtual_ports: true,
        port: None,
        offset_ms: 0.0,
        clock: false,
        client_name: "jamwire-bench".into(),
    })
    .expect("MIDI out on JACK");
    out.player("ann", "Ann");
    let port = loop {
        let found = input.ports().into_iter().find(|p| {
            input
                .port_name(p)
                .is_ok_and(|n| n.contains("Jamwire – Ann"))
        });
        if let Some(port) = found {
            break port;
        }
        assert!(Instant::now() < deadline, "Ann's port never appeared");
        std::thread::sleep(Duration::from_millis(10));
    };
    let (tx, arrivals) = channel();
    let _recorder = input
        .connect(
            &port,
            "in",
            move |at_us, message, _| {
                let _ = tx.send((at_us, message.to_vec()));
            },
            (),
        )
        .expect("the recorder connects");
    std::thread::sleep(Duration::from_millis(300));

    // Pairs an Instant with JACK's clock once.
    let origin = Instant::now();
    let origin_us = monotonic_us();
    let us_of = |at: Instant| origin_us + at.duration_since(origin).as_secs_f64() * 1e6;
    // Every 7 ms (not a multiple of JACK's period), on and off in turn; each handed over
    // 50 ms before it is due, as the playout does.
    let start = origin + Duration::from_millis(200);
    let mut due = Vec::with_capacity(notes);
    for i in 0..notes {
        let at = start + Duration::from_millis(7 * i as u64);
        let hand_over = at - Duration::from_millis(50);
        if let Some(wait) = hand_over.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let note = 36 + (i / 2 % 48) as u8;
        let event = if i % 2 == 0 {
            MusicalEvent::PianoNote(PianoNote {
                note,
                velocity: 100,
                timestamp: 0.0,
                duration: None,
            })
        } else {
            MusicalEvent::PianoNoteOff(PianoNoteOff {
                note,
                timestamp: 0.0,
            })
        };
        out.play_at("ann", at, &event);
        due.push(us_of(at));
    }
    let mut late = Vec::with_capacity(notes);
    for (i, due_us) in due.iter().enumerate() {
        let (at_us, message) = arrivals
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("message {i} never arrived"));
        assert_eq!(message[0] & 0xF0, if i % 2 == 0 { 0x90 } else { 0x80 });
        late.push((at_us as f64 - due_us) / 1_000.0);
    }
    out.stop();
    late.sort_by(f64::total_cmp);
    println!(
        "MIDI out, {notes} messages at the port (JACK, 32-frame periods = 0.667 ms): lateness p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms, min {:.3} ms",
        percentile(&late, 0.5),
        percentile(&late, 0.99),
        late.last().copied().unwrap_or(0.0),
        late.first().copied().unwrap_or(0.0),
    );
}
