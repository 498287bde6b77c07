//! MIDI input end to end without hardware: midir's JACK backend against a JACK server running
//! the dummy driver (paced in real time), with a virtual output port standing
//! in for a keyboard. Built only with `--features jack`; `scripts/test` starts the server and
//! runs it: `cargo test -p jam-midi --features jack --test jack`.
#![cfg(feature = "jack")]

use std::time::{Duration, Instant};

use jam_midi::input::MidiInputs;
use jam_midi::{MidiEvent, MidiMessage};
use midir::MidiOutput;
use midir::os::unix::VirtualOutput;

/// Opens the MIDI system; the JACK server may still be starting, so wait for it (boundedly).
fn open_inputs(client_name: &str) -> MidiInputs {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match MidiInputs::new(client_name) {
            Ok(inputs) => return inputs,
            Err(_) if Instant::now() < deadline => {
                std::thread::park_timeout(Duration::from_millis(10))
            }
            Err(e) => panic!(
                "no JACK server (start one: jackd --no-realtime -t 30000 -d dummy -r 48000 -p 1024): {e}"
            ),
        }
    }
}

#[test]
fn note_ons_from_a_virtual_keyboard_arrive_as_typed_events_in_order() {
    let mut inputs = open_inputs("jamwire-test-in");
    let keyboard = MidiOutput::new("jamwire-test-keys").unwrap();
    let mut keys = keyboard.create_virtual("keys").unwrap();
    let port = inputs
        .available()
        .unwrap()
        .into_iter()
        .find(|name| name.contains("jamwire-test-keys"))
        .expect("the virtual keyboard is listed");
    inputs.connect(&port).unwrap();
    assert_eq!(inputs.connected(), [port.as_str()]);

    // JACK drops the MIDI of a cycle it skips (an xrun: on a busy machine without real-time
    // scheduling, a client thread that wasn't run in time). The test counts xruns so that a note
    // lost to one is sent again, like a player pressing the key again, while a note lost with
    // no xrun fails the test: that would be the code, not the machine.
    let xruns = jam_midi::jack::Xruns::new("jamwire-test-xruns").expect("the JACK server");
    const NOTES: usize = 500;
    // Long enough for many 21 ms JACK cycles; a note not there by then went in a skipped cycle.
    const CYCLES_PATIENCE: Duration = Duration::from_secs(2);
    let mut received = Vec::with_capacity(NOTES);
    let mut sent_again = Vec::new();
    let give_up = Instant::now() + Duration::from_secs(120);
    for i in 0..NOTES {
        let note = [0x90, 36 + (i % 60) as u8, 1 + (i % 127) as u8];
        let (mut sent_at, mut xruns_at_send) = (Instant::now(), xruns.count());
        keys.send(&note).unwrap();
        // Wait for this note before sending the next, so nothing is lost to ring overflow.
        while received.len() <= i {
            inputs.drain(|device, e| {
                assert_eq!(device, port);
                // A note sent again may arrive twice (if the first was late, not lost): once
                // counts. Any other repeat stays, and fails the comparison below.
                let repeat = received.last() == Some(&e.event)
                    && sent_again.last() == Some(&(received.len() - 1));
                if !repeat {
                    received.push(e.event);
                }
            });
            if received.len() <= i
                && sent_at.elapsed() > CYCLES_PATIENCE
                && xruns.count() > xruns_at_send
            {
                sent_again.push(i);
                (sent_at, xruns_at_send) = (Instant::now(), xruns.count());
                keys.send(&note).unwrap();
            }
            assert!(
                Instant::now() < give_up,
                "only {} of {NOTES} notes arrived (JACK xruns: {}, notes sent again after one: {sent_again:?})",
                received.len(),
                xruns.count()
            );
            // Poll gently: a spinning thread starves JACK's client threads on a small machine,
            // and JACK drops MIDI in the cycles it then skips.
            std::thread::park_timeout(Duration::from_micros(200));
        }
    }
    let expected: Vec<MidiEvent> = (0..NOTES)
        .map(|i| MidiEvent {
            channel: 0,
            message: MidiMessage::NoteOn {
                note: 36 + (i % 60) as u8,
                velocity: 1 + (i % 127) as u8,
            },
        })
        .collect();
    assert_eq!(received, expected);
    assert_eq!(inputs.dropped(), 0);
    if !sent_again.is_empty() {
        eprintln!(
            "JACK skipped cycles ({} xruns); notes sent again: {sent_again:?}",
            xruns.count()
        );
    }
}

#[test]
fn an_unplugged_keyboard_is_reported_and_reconnected_when_it_returns() {
    let mut inputs = open_inputs("jamwire-test-in2");
    let plug_in = || {
        MidiOutput::new("jamwire-test-drumkit")
            .unwrap()
            .create_virtual("pads")
            .unwrap()
    };
    let kit = plug_in();
    let port = inputs
        .available()
        .unwrap()
        .into_iter()
        .find(|n| n.contains("jamwire-test-drumkit"))
        .unwrap();
    inputs.connect(&port).unwrap();
    assert_eq!(inputs.rescan().unwrap(), []);

    drop(kit); // unplugged
    let changes = inputs.rescan().unwrap();
    assert_eq!(
        changes,
        [jam_midi::input::DeviceChange::Disconnected(port.clone())]
    );
    assert!(inputs.connected().is_empty());
    assert_eq!(
        inputs.remembered(),
        std::slice::from_ref(&port),
        "still remembered by name"
    );

    let mut kit = plug_in(); // plugged back in
    let changes = inputs.rescan().unwrap();
    assert_eq!(
        changes,
        [jam_midi::input::DeviceChange::Reconnected(port.clone())]
    );
    kit.send(&[0x99, 38, 120]).unwrap();
    let give_up = Instant::now() + Duration::from_secs(20);
    let mut got = None;
    while got.is_none() {
        inputs.drain(|_, e| got = Some(e.event));
        assert!(
            Instant::now() < give_up,
            "the snare arrives after reconnecting"
        );
        std::thread::park_timeout(Duration::from_micros(200));
    }
    assert_eq!(
        got,
        Some(MidiEvent {
            channel: 9,
            message: MidiMessage::NoteOn {
                note: 38,
                velocity: 120
            }
        })
    );
}
