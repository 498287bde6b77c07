//! MIDI files in and out, real-time playback, and the MIDI system on a machine without one.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use jam_midi::{MidiError, MidiEvent, MidiMessage, MidiParser, Recording, Song};
use proptest::prelude::*;

fn note_on(channel: u8, note: u8, velocity: u8) -> MidiEvent {
    MidiEvent {
        channel,
        message: MidiMessage::NoteOn { note, velocity },
    }
}

fn note_off(channel: u8, note: u8) -> MidiEvent {
    MidiEvent {
        channel,
        message: MidiMessage::NoteOff { note, velocity: 0 },
    }
}

#[test]
fn a_real_published_midi_file_reads_with_the_right_notes_and_length() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/maple-leaf-rag.mid");
    let song = Song::load(&path).unwrap();
    // Reference figures from an independent reader (Python mido), see tests/data/README.md.
    assert_eq!(song.note_count(), 2_566);
    assert_eq!(song.duration_us, 144_000_000);
    assert_eq!(song.track_names.len(), 3);
    let last_on = song
        .events
        .iter()
        .filter(|e| matches!(e.event.message, MidiMessage::NoteOn { .. }))
        .map(|e| e.time_us)
        .max();
    assert_eq!(last_on, Some(143_750_000));
    assert!(
        song.events.windows(2).all(|w| w[0].time_us <= w[1].time_us),
        "in time order"
    );
}

#[test]
fn a_recording_round_trips_through_a_midi_file_within_a_millisecond() {
    let mut rec = Recording::new();
    let keys = rec.track("Keys");
    let drums = rec.track("Drums");
    assert_eq!(rec.track("Keys"), keys, "one track per participant");
    rec.set_tempo(0, 96.0);
    rec.set_tempo(2_500_000, 132.0);
    let mut expected = Vec::new();
    // Irregular times, so rounding to ticks is exercised on both sides of a tempo change.
    for i in 0..200u64 {
        let t = i * 37_123 + (i % 7) * 1_001;
        let (track, event) = if i % 3 == 0 {
            (drums, note_on(9, 36 + (i % 10) as u8, 30 + (i % 90) as u8))
        } else if i % 3 == 1 {
            (keys, note_on(0, 48 + (i % 30) as u8, 1 + (i % 127) as u8))
        } else {
            (keys, note_off(0, 48 + ((i - 1) % 30) as u8))
        };
        rec.record(track, t, event);
        expected.push((t, track, event));
    }
    rec.record(
        keys,
        3_000_000,
        MidiEvent {
            channel: 0,
            message: MidiMessage::Sustain { on: true },
        },
    );
    expected.push((
        3_000_000,
        keys,
        MidiEvent {
            channel: 0,
            message: MidiMessage::Sustain { on: true },
        },
    ));
    let path = std::env::temp_dir().join(format!("jam-midi-roundtrip-{}.mid", std::process::id()));
    rec.save(&path).unwrap();
    let song = Song::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();

    assert_eq!(song.track_names, ["Jamwire session", "Keys", "Drums"]);
    assert_eq!(
        song.tempo_changes
            .iter()
            .map(|t| (t.0, (t.1 * 1000.0).round() / 1000.0))
            .collect::<Vec<_>>(),
        [(0, 96.0), (2_500_000, 132.0)]
    );
    assert_eq!(song.events.len(), expected.len());
    for (t, track, event) in expected {
        let found = song.events.iter().find(|e| {
            e.event == event && usize::from(e.track) == track + 1 && e.time_us.abs_diff(t) <= 1_000
        });
        assert!(
            found.is_some(),
            "{event:?} of track {track} at {t} µs is in the file within 1 ms"
        );
    }
}

#[test]
fn playback_is_paced_and_never_early() {
    let mut rec = Recording::new();
    let t = rec.track("Bot");
    for i in 0..5u64 {
        rec.record(t, i * 20_000, note_on(0, 60 + i as u8, 100));
    }
    let song = Song::parse(&rec.to_smf_bytes()).unwrap();
    let start = Instant::now();
    let mut seen = Vec::new();
    let stop = AtomicBool::new(false);
    let n = jam_midi::play_paced(&song, start, &stop, |e| {
        seen.push((Instant::now(), e.time_us))
    });
    assert_eq!(n, 5);
    for (at, time_us) in seen {
        assert!(
            at >= start + Duration::from_micros(time_us),
            "an event came early"
        );
    }
    let stop = AtomicBool::new(true);
    assert_eq!(
        jam_midi::play_paced(&song, Instant::now(), &stop, |_| {}),
        0,
        "stops when asked"
    );
}

#[test]
fn without_a_midi_system_the_error_says_so() {
    match jam_midi::input::MidiInputs::new("jamwire-test") {
        Err(MidiError::NoMidiSystem { .. }) => {
            assert!(
                !std::path::Path::new("/dev/snd/seq").exists(),
                "the sequencer exists but was not usable"
            );
            let err = jam_midi::input::MidiInputs::new("jamwire-test").unwrap_err();
            assert!(
                err.to_string()
                    .contains("you can still play with the mouse and the computer keyboard"),
                "{err}"
            );
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(mut inputs) => {
            // A machine with MIDI: listing works, and an absent device is named in the error.
            inputs.available().unwrap();
            let err = inputs.connect("No Such Keyboard 9000").unwrap_err();
            assert!(matches!(err, MidiError::DeviceNotFound { .. }), "{err}");
        }
    }
}

proptest! {
    #[test]
    fn no_byte_sequence_makes_the_parser_panic_or_emit_nonsense(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut parser = MidiParser::new();
        parser.feed(&bytes, |e| {
            assert!(e.channel < 16);
            match e.message {
                MidiMessage::NoteOn { note, velocity } => assert!(note < 128 && (1..128).contains(&velocity)),
                MidiMessage::NoteOff { note, velocity } => assert!(note < 128 && velocity < 128),
                MidiMessage::PitchBend { value } => assert!((-8192..=8191).contains(&value)),
                _ => {}
            }
        });
    }

    #[test]
    fn any_event_survives_bytes_with_real_time_noise(channel in 0u8..16, status in prop_oneof![Just(0x80u8), Just(0x90), Just(0xA0), Just(0xB0), Just(0xC0), Just(0xD0), Just(0xE0)], d1 in 0u8..128, d2 in 0u8..128, noise in proptest::collection::vec(0xF8u8..=0xFF, 0..4)) {
        let expected = MidiEvent::from_bytes(status | channel, d1, d2).unwrap();
        let (bytes, len) = expected.to_bytes();
        let mut noisy = Vec::new();
        for b in &bytes[..len] {
            noisy.push(*b);
            noisy.extend(&noise);
        }
        let mut got = Vec::new();
        MidiParser::new().feed(&noisy, |e| got.push(e));
        prop_assert_eq!(got, vec![expected]);
    }
}
