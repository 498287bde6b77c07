//! MIDI clock out end to end, without hardware: a listening core sends the room's clock to an
//! existing output (a JACK client's input, as a drum machine or a DAW has) and to its own
//! virtual clock port; the host changes the tempo; what arrives is judged — against a JACK
//! server with the dummy driver, as `scripts/test` starts one:
//! `cargo test -p jam-play --features jack --test midi_clock`.
#![cfg(feature = "jack")]

use jam_play::midi_out::{CLOCK_PORT, MidiOutConfig};
use jam_play::room::{RoomEvent, RoomSink};
use jam_play::views::{HostRequest, JoinRequest};
use jam_tests::PATIENCE;

mod jack;
use jack::{Recorder, core};

const CLOCK: u8 = 0xF8;

/// The next `n` pulses, with their JACK times (µs); nothing else may come between them.
fn pulses(recorder: &Recorder, n: usize) -> Vec<u64> {
    recorder
        .take_timed(n)
        .into_iter()
        .map(|(at, m)| {
            assert_eq!(m, [CLOCK], "only clock pulses while the clock runs");
            at
        })
        .collect()
}

/// The tempo `pulses` show, in BPM: from their first to their last (24 a beat). The times are
/// those of the JACK cycles the pulses arrived in (21 ms apart here), so over a bar they tell
/// 120 from 180 BPM by a wide margin, not a pulse's jitter.
fn bpm_of(pulses: &[u64]) -> f64 {
    let (Some(first), Some(last)) = (pulses.first(), pulses.last()) else {
        return 0.0;
    };
    let span_min = (last - first) as f64 / 60_000_000.0;
    (pulses.len() - 1) as f64 / 24.0 / span_min
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_starts_on_a_bar_line_follows_a_tempo_change_and_stops_when_the_jam_is_left() {
    let host = core();
    let jam = host
        .host(
            HostRequest {
                name: "Ann".into(),
                password: None,
                port: 0,
                record: false,
                port_mapping: false,
                relay: None,
                relay_key: None,
            },
            |_: RoomEvent| {},
        )
        .await
        .unwrap();
    host.set_tempo(120.0, 4).unwrap();

    // The drum machine is there before the jam starts: the clock's first message reaches it.
    let (machine, machine_port) = jack::synth("jamwire-test-drum-machine");
    let ear = core();
    ear.set_midi_out(Some(MidiOutConfig {
        virtual_ports: true,
        port: Some(machine_port),
        offset_ms: 0.0,
        clock: true,
        client_name: "jamwire-test-clock".into(),
    }))
    .unwrap();
    let (sink, mut events) = jam_play::room::channel(256);
    ear.join(
        JoinRequest {
            name: "Ear".into(),
            invite: jam.invite.clone(),
            listener: true,
            password: None,
        },
        move |e: RoomEvent| sink.send(e),
    )
    .await
    .unwrap();
    tokio::time::timeout(PATIENCE, async {
        while !matches!(events.recv().await, Some(RoomEvent::Joined { .. })) {}
    })
    .await
    .expect("the listener joins");
    // The clock has a port of its own too, for a DAW to follow.
    let _own = Recorder::of(CLOCK_PORT);

    // Song Position Pointer on a bar line (4/4: a multiple of 16 sixteenths), then Continue
    // (Start only at position 0) and the bar's first pulse.
    let start = machine.take(2);
    assert_eq!(
        start[0].len(),
        3,
        "a Song Position Pointer first: {start:?}"
    );
    assert_eq!(
        start[0][0], 0xF2,
        "a Song Position Pointer first: {start:?}"
    );
    let position = u16::from(start[0][1]) | (u16::from(start[0][2]) << 7);
    assert_eq!(
        position % 16,
        0,
        "the clock starts on a bar line: {position}"
    );
    assert_eq!(
        start[1],
        [if position == 0 { 0xFA } else { 0xFB }],
        "Start at the song's beginning, Continue elsewhere"
    );

    // A bar at 120: 96 pulses.
    let bar = pulses(&machine, 97);
    let bpm = bpm_of(&bar);
    assert!((110.0..130.0).contains(&bpm), "120 BPM, measured {bpm:.1}");

    // The tempo changes from the next beat: within a beat the pulses are at the new tempo.
    host.set_tempo(180.0, 4).unwrap();
    let _old_beat = pulses(&machine, 48);
    let after = pulses(&machine, 97);
    let bpm = bpm_of(&after);
    assert!(
        (165.0..195.0).contains(&bpm),
        "the new tempo, 180 BPM, measured {bpm:.1}"
    );

    // Leaving stops it: pulses until Stop, then nothing.
    ear.leave().await.unwrap();
    let stopped = loop {
        let Some(m) = machine.next_within(PATIENCE) else {
            panic!("the clock never stopped");
        };
        if m != [CLOCK] {
            break m;
        }
    };
    assert_eq!(stopped, [0xFC], "Stop when the jam is left");
    host.leave().await.unwrap();
}
