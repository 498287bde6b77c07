//! `jam render` as a user runs it: a MIDI file in, a WAV file out, through the audio engine.

use std::process::Command;

use jam_midi::{MidiEvent, MidiMessage, Recording};
use jam_tests::signal::{mono, pitch, rms};

#[test]
fn rendering_a_single_a4_gives_440_hz_for_the_file_plus_its_release() {
    let dir = std::env::temp_dir().join(format!("jam-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mid = dir.join("a4.mid");
    let wav = dir.join("a4.wav");
    let mut rec = Recording::new();
    let track = rec.track("Keys");
    rec.record(
        track,
        0,
        MidiEvent {
            channel: 0,
            message: MidiMessage::NoteOn {
                note: 69,
                velocity: 100,
            },
        },
    );
    rec.record(
        track,
        1_000_000,
        MidiEvent {
            channel: 0,
            message: MidiMessage::NoteOff {
                note: 69,
                velocity: 0,
            },
        },
    );
    rec.save(&mid).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_jam"))
        .args([
            "render",
            mid.to_str().unwrap(),
            wav.to_str().unwrap(),
            "--sample-rate",
            "44100",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut reader = hound::WavReader::open(&wav).unwrap();
    assert_eq!(
        (reader.spec().channels, reader.spec().sample_rate),
        (2, 44_100)
    );
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect();
    let audio = mono(&samples);
    let seconds = audio.len() as f64 / 44_100.0;
    // The file lasts 1 s; the piano's release falls to −80 dB in 0.35 s.
    assert!((seconds - 1.35).abs() < 0.02, "length {seconds:.3} s");
    let f = pitch(&audio[4_410..22_050], 44_100);
    assert!((f / 440.0 - 1.0).abs() < 0.005, "fundamental {f:.2} Hz");
    assert!(
        rms(&audio[44_100 + 4_410..]) < rms(&audio[4_410..44_100]) / 4.0,
        "it fades after the note-off"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_jam"))
        .args(["render", "/nonexistent/song.mid", "/tmp/never.wav"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("couldn't read /nonexistent/song.mid"),
        "{stderr}"
    );
}
