//! Live MIDI out end to end, without hardware: a host core plays, a listening core with MIDI
//! out sends what it hears to its virtual ports, and a JACK MIDI client records those ports —
//! against a JACK server with the dummy driver, as `scripts/test` starts one:
//! `cargo test -p jam-play --features jack --test midi_out`.
#![cfg(feature = "jack")]

use std::time::{Duration, Instant};

use jam_play::midi_out::{MERGED_PORT, MidiOutConfig};
use jam_play::room::{RoomEvent, RoomSink};
use jam_play::views::{HostRequest, JoinRequest};
use jam_play::{InstrumentName, PlayInput};
use jam_tests::PATIENCE;

mod jack;
use jack::{Recorder, core};

fn note(instrument: InstrumentName, note: u8, on: bool) -> PlayInput {
    if on {
        PlayInput::NoteOn {
            instrument,
            note,
            velocity: 100,
        }
    } else {
        PlayInput::NoteOff { instrument, note }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_players_notes_reach_their_own_port_and_the_merged_one_and_a_leaver_sticks_nothing() {
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
    let bob = core();
    bob.join(
        JoinRequest {
            name: "Bob".into(),
            invite: jam.invite.clone(),
            listener: false,
            password: None,
        },
        |_: RoomEvent| {},
    )
    .await
    .unwrap();

    let ear = core();
    ear.set_midi_out(Some(MidiOutConfig {
        virtual_ports: true,
        port: None,
        offset_ms: 0.0,
        clock: false,
        client_name: "jamwire-test".into(),
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
    let ann_id = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(RoomEvent::Joined { participants, .. }) = events.recv().await {
                break participants
                    .into_iter()
                    .find(|p| p.name == "Ann")
                    .expect("Ann is in the room")
                    .id;
            }
        }
    })
    .await
    .expect("the listener joins");

    // The players' ports are there as soon as they are in the room; the listener has none.
    let ann = Recorder::of("Jamwire – Ann");
    let bob_port = Recorder::of("Jamwire – Bob");
    let merged = Recorder::of(MERGED_PORT);

    // Ann: a scale on the keys and a kick; Bob: a chord held with the pedal down, then he
    // leaves without letting go.
    for n in [60, 62, 64, 65] {
        host.perform(note(InstrumentName::Piano, n, true)).unwrap();
        host.perform(note(InstrumentName::Piano, n, false)).unwrap();
    }
    host.perform(note(InstrumentName::Drums, 36, true)).unwrap();
    let ann_heard = ann.take(10);
    let mut expected: Vec<Vec<u8>> = Vec::new();
    for n in [60, 62, 64, 65] {
        expected.push(vec![0x90, n, 100]);
        expected.push(vec![0x80, n, 0]);
    }
    expected.push(vec![0x99, 36, 100]);
    expected.push(vec![0x89, 36, 0]);
    assert_eq!(
        ann_heard, expected,
        "Ann's port: her notes on channel 1, her kick on 10, in order, once each"
    );

    // Ann through my synth: an existing output (here a JACK client's input) gets her part
    // too, on channel 1, until I choose otherwise.
    let (synth, synth_name) = jack::synth("jamwire-test-synth");
    ear.play_through(&ann_id, "Ann", Some(&synth_name)).unwrap();
    host.perform(note(InstrumentName::Piano, 67, true)).unwrap();
    host.perform(note(InstrumentName::Piano, 67, false))
        .unwrap();
    let through = synth.take(2);
    assert_eq!(through, [vec![0x90, 67, 100], vec![0x80, 67, 0]]);
    assert_eq!(
        ann.take(2),
        [vec![0x90, 67, 100], vec![0x80, 67, 0]],
        "and her port"
    );
    ear.play_through(&ann_id, "Ann", None).unwrap();
    host.perform(note(InstrumentName::Piano, 69, true)).unwrap();
    host.perform(note(InstrumentName::Piano, 69, false))
        .unwrap();
    assert_eq!(ann.take(2), [vec![0x90, 69, 100], vec![0x80, 69, 0]]);
    assert!(
        synth.rest().is_empty(),
        "no longer through my synth once unchosen"
    );

    // My own part through my synth: Ann picks a synth for her own playing; it gets her
    // notes as she plays them (and the room still hears them), until she unpicks it.
    let (my_synth, my_synth_name) = jack::synth("jamwire-test-my-synth");
    host.play_through(&ann_id, "Ann", Some(&my_synth_name))
        .unwrap();
    host.perform(note(InstrumentName::Piano, 72, true)).unwrap();
    host.perform(note(InstrumentName::Piano, 72, false))
        .unwrap();
    host.perform(note(InstrumentName::Drums, 38, true)).unwrap();
    assert_eq!(
        my_synth.take(4),
        [
            vec![0x90, 72, 100],
            vec![0x80, 72, 0],
            vec![0x99, 38, 100],
            vec![0x89, 38, 0]
        ],
        "my part on my synth: keys on 1, drums on 10"
    );
    assert_eq!(
        ann.take(4),
        [
            vec![0x90, 72, 100],
            vec![0x80, 72, 0],
            vec![0x99, 38, 100],
            vec![0x89, 38, 0]
        ],
        "and the room still gets it"
    );
    host.play_through(&ann_id, "Ann", None).unwrap();
    host.perform(note(InstrumentName::Piano, 74, true)).unwrap();
    host.perform(note(InstrumentName::Piano, 74, false))
        .unwrap();
    assert_eq!(ann.take(2), [vec![0x90, 74, 100], vec![0x80, 74, 0]]);
    let rest = my_synth.rest();
    assert!(
        rest.is_empty(),
        "my synth gets nothing more once unpicked: {rest:?}"
    );

    bob.perform(PlayInput::Sustain { on: true }).unwrap();
    for n in [48, 52, 55] {
        bob.perform(note(InstrumentName::Piano, n, true)).unwrap();
    }
    let held = bob_port.take(4);
    assert_eq!(
        held,
        [
            vec![0xB0, 64, 127],
            vec![0x90, 48, 100],
            vec![0x90, 52, 100],
            vec![0x90, 55, 100]
        ],
        "Bob's port: pedal and chord on channel 1"
    );
    bob.leave().await.unwrap();
    // Whoever releases them (the relay's note-offs for a leaver, or MIDI out's own ledger),
    // every note Bob held ends and his pedal comes up, on his port.
    let deadline = Instant::now() + PATIENCE;
    let mut after: Vec<Vec<u8>> = Vec::new();
    let ended = |after: &[Vec<u8>]| {
        [48u8, 52, 55]
            .iter()
            .all(|n| after.iter().any(|m| m[0] == 0x80 && m[1] == *n))
            && after.iter().any(|m| m[..] == [0xB0, 64, 0])
    };
    while !ended(&after) {
        assert!(
            Instant::now() < deadline,
            "Bob left: his notes end and his pedal comes up on his port; got {after:?}"
        );
        if let Some(m) = bob_port.next_within(Duration::from_millis(50)) {
            after.push(m);
        }
    }

    // The merged port: Ann on channel 1, Bob (second to arrive) on channel 2, drums on 10.
    let all = merged.take(10 + 4 + 4 + 6);
    let mut channels: Vec<(u8, u8)> = all
        .iter()
        .filter(|m| m[0] & 0xF0 == 0x90)
        .map(|m| (m[0] & 0x0F, m[1]))
        .collect();
    channels.sort_unstable();
    assert_eq!(
        channels,
        [
            (0, 60),
            (0, 62),
            (0, 64),
            (0, 65),
            (0, 67),
            (0, 69),
            (0, 72),
            (0, 74),
            (1, 48),
            (1, 52),
            (1, 55),
            (9, 36),
            (9, 38)
        ],
        "each player on their own channel, drums on 10: {all:?}"
    );
    let mut rest = merged.rest();
    rest.extend(ann.rest());
    assert!(
        rest.iter().all(|m| m[0] & 0xF0 != 0x90),
        "no note played twice: {rest:?}"
    );

    ear.leave().await.unwrap();
    host.leave().await.unwrap();
}
