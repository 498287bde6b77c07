//! MIDI input end to end without hardware: midir's JACK backend against a JACK server running
//! the dummy driver (real-time paced, 128-frame periods), with a virtual output port standing
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
                "no JACK server (start one: jackd --no-realtime -d dummy -r 48000 -p 1024): {e}"
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

    const NOTES: usize = 500;
    let mut received = Vec::with_capacity(NOTES);
    let give_up = Instant::now() + Duration::from_secs(60);
    for i in 0..NOTES {
        let note = 36 + (i % 60) as u8;
        keys.send(&[0x90, note, 1 + (i % 127) as u8]).unwrap();
        // Wait for this note before sending the next, so nothing is lost to ring overflow.
        while received.len() <= i {
            inputs.drain(|device, e| {
                assert_eq!(device, port);
                received.push(e.event);
            });
            assert!(
                Instant::now() < give_up,
                "only {} of {NOTES} notes arrived",
                received.len()
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
