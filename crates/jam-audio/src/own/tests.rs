//! A player's own sound: a SoundFont preset and a folder of recordings load, play at their
//! pitch and as loud as the piano; damaged, oversized and hostile files give a clear error and
//! never a crash; the engine swaps sounds without allocating on the audio thread.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::*;
use crate::palette::measure::{self, RATE};
use crate::soundfont::write_sf2;

const ME: SourceId = SourceId::LOCAL;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jam-own-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `seconds` of a sawtooth-ish tone (a fundamental and two harmonics) at `hz`, 16-bit.
fn tone(hz: f64, rate: u32, seconds: f64) -> Vec<i16> {
    let n = (f64::from(rate) * seconds) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let w = std::f64::consts::TAU * hz * t;
            let v = 0.5 * w.sin() + 0.25 * (2.0 * w).sin() + 0.12 * (3.0 * w).sin();
            (v * 20_000.0) as i16
        })
        .collect()
}

/// A font whose one preset is a looped tone recorded at A4 (440 Hz, 32 kHz: a whole number
/// of periods in the loop, 100 frames of 72.73 … not whole: 800 frames = 11 periods).
fn organ_font() -> Vec<u8> {
    let rate = 32_000;
    // 440 Hz at 32 kHz: 11 periods are exactly 800 frames, so the loop is seamless.
    let recording = tone(440.0, rate, 0.5);
    write_sf2(
        "Test organ",
        0,
        19,
        &recording,
        rate,
        69,
        Some([8_000, 8_800]),
    )
}

fn play_own(sound: OwnSound, note: u8, held: f32, seconds: f32) -> Vec<f32> {
    let (mut engine, mut renderer) = crate::engine(crate::test_bank(), EngineConfig::default());
    engine.set_own_sound(Some(&sound)).expect("ring has room");
    engine
        .send(Command::now(Action::Program {
            source: ME,
            instrument: Instrument::Piano,
            program: OWN_PROGRAM,
        }))
        .expect("send");
    engine
        .send(Command::now(Action::NoteOn {
            source: ME,
            instrument: Instrument::Piano,
            note,
            velocity: 100,
        }))
        .expect("send");
    engine
        .send(Command::at(
            (held * RATE as f32) as u64,
            Action::NoteOff {
                source: ME,
                instrument: Instrument::Piano,
                note,
            },
        ))
        .expect("send");
    let mut out = vec![0.0; (seconds * RATE as f32) as usize * 2];
    for block in out.chunks_mut(256) {
        renderer.render(block, 2, Instant::now());
    }
    out.chunks_exact(2).map(|f| 0.5 * (f[0] + f[1])).collect()
}

fn hz(note: u8) -> f64 {
    440.0 * 2f64.powf((f64::from(note) - 69.0) / 12.0)
}

#[test]
fn a_soundfont_preset_plays_at_its_pitch_sustains_on_its_loop_and_is_as_loud_as_the_piano() {
    let dir = scratch("font");
    let path = dir.join("My Organ.sf2");
    std::fs::write(&path, organ_font()).expect("write font");
    let presets = font_presets(&path).expect("presets");
    assert_eq!(
        presets,
        [PresetInfo {
            bank: 0,
            program: 19,
            name: "Test organ".into()
        }]
    );
    let bank = crate::test_bank();
    let sound = load(&path, None, &bank).expect("loads");
    assert_eq!(sound.name, "Test organ (My Organ.sf2)");
    assert_eq!(sound.program, 19);
    assert_eq!(sound.zone_count(), 1);
    // Level: a C-major chord within ±3 dB of the grand piano's.
    let piano = measure::chord_level(&bank, Kind::Melodic, 0);
    let own = chord_level_own(&bank, &sound.instrument);
    let db = 20.0 * (own / piano).log10();
    assert!(db.abs() < 3.0, "{db:.1} dB from the piano");
    // Pitch at two keys; 3 s held: it still sounds at the end (the loop sustains it).
    let out = play_own(sound, 64, 3.0, 3.0);
    let late = &out[out.len() - RATE as usize / 2..];
    assert!(
        measure::rms(late) > 0.01,
        "sustains: {}",
        measure::rms(late)
    );
    let cents = measure::cents_off(late, hz(64)).expect("a clear E4");
    assert!(cents.abs() < 5.0, "E4 is {cents:.1} cents off");
    let sound = load(&path, Some((0, 19)), &bank).expect("loads");
    let out = play_own(sound, 45, 1.0, 1.0);
    let cents = measure::cents_off(&out[RATE as usize / 4..], hz(45)).expect("a clear A2");
    assert!(cents.abs() < 5.0, "A2 is {cents:.1} cents off");
}

fn write_wav(path: &Path, hz: f64, rate: u32, seconds: f64, channels: u16) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for s in tone(hz, rate, seconds) {
        for _ in 0..channels {
            w.write_sample(s).expect("sample");
        }
    }
    w.finalize().expect("finalize");
}

#[test]
fn a_folder_of_recordings_named_by_note_plays_each_key_from_the_nearest_recording() {
    let dir = scratch("folder");
    write_wav(&dir.join("Bass_C3.wav"), hz(48), 44_100, 1.0, 1);
    write_wav(&dir.join("Bass_G3.wav"), hz(55), 48_000, 1.0, 2);
    write_wav(&dir.join("072.wav"), hz(72), 22_050, 1.0, 1);
    std::fs::write(dir.join("notes.txt"), "not a recording").expect("write");
    let sound = load(&dir, None, &crate::test_bank()).expect("loads");
    assert_eq!(
        sound.name,
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("")
    );
    let keys: Vec<([u8; 2], u8)> = sound
        .instrument
        .zones
        .iter()
        .map(|z| (z.keys, z.root))
        .collect();
    assert_eq!(keys, [([0, 51], 48), ([52, 63], 55), ([64, 127], 72)]);
    for (note, reason) in [(50, "D3 from C3"), (60, "C4 from G3"), (76, "E5 from C5")] {
        let sound = load(&dir, None, &crate::test_bank()).expect("loads");
        let out = play_own(sound, note, 0.8, 0.8);
        let cents = measure::cents_off(&out[RATE as usize / 10..], hz(note))
            .unwrap_or_else(|| panic!("{reason}: no clear pitch"));
        assert!(cents.abs() < 5.0, "{reason}: {cents:.1} cents off");
    }
}

#[test]
fn note_names_follow_c4_is_middle_c() {
    for (name, note) in [
        ("C4", Some(60)),
        ("piano_F#2_soft", Some(42)),
        ("Bb-1", Some(10)),
        ("A0", Some(21)),
        ("060", Some(60)),
        ("kick 36", Some(36)),
        ("G9", Some(127)),
        ("G#9", None),
        ("200", None),
        ("crash", None),
        ("", None),
    ] {
        assert_eq!(note_from_name(name), note, "{name}");
    }
    assert_eq!(note_name(61), "C#4");
}

#[test]
fn damaged_and_hostile_fonts_give_a_clear_error_and_never_a_crash() {
    let good = organ_font();
    // Cut short anywhere: refused by the structure check, before the parser.
    for len in (0..good.len()).step_by(7) {
        let e = from_font_bytes(&good[..len], "f.sf2", None).expect_err("refused");
        assert!(
            e.contains("cut short") || e.contains("not a SoundFont"),
            "{len}: {e}"
        );
    }
    // Every single byte flipped in the headers and the preset data (not the samples).
    let pdta = good.len() - 700;
    for at in (0..64).chain(pdta..good.len()) {
        for flip in [0xff_u8, 0x80, 0x01] {
            let mut bad = good.clone();
            bad[at] ^= flip;
            // A panic in the parser is caught by `load`; here the builder itself must not
            // panic outside the parser (the parser's own panics are checked through `load`).
            let _ = catch_unwind(|| from_font_bytes(&bad, "f.sf2", None));
        }
    }
    // A chunk claiming 4 GB is refused before anything allocates it.
    let mut huge = good.clone();
    let smpl = huge
        .windows(4)
        .position(|w| w == b"smpl")
        .expect("smpl chunk");
    huge[smpl + 4..smpl + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = from_font_bytes(&huge, "f.sf2", None).expect_err("refused");
    assert!(e.contains("longer than"), "{e}");
    // SF3.
    let mut sf3 = good.clone();
    let ifil = sf3
        .windows(4)
        .position(|w| w == b"ifil")
        .expect("ifil chunk");
    sf3[ifil + 8] = 3;
    let e = from_font_bytes(&sf3, "f.sf2", None).expect_err("refused");
    assert!(e.contains("SF3"), "{e}");
    // Not a font at all; a preset that isn't there.
    assert!(
        from_font_bytes(b"RIFF\x04\0\0\0WAVE", "f.sf2", None)
            .expect_err("refused")
            .contains("not a SoundFont")
    );
    assert!(
        from_font_bytes(&good, "f.sf2", Some((0, 5)))
            .expect_err("refused")
            .contains("no preset 0:5")
    );
}

#[test]
fn a_parser_panic_on_a_users_file_is_an_error_naming_the_file() {
    let dir = scratch("panic");
    // A preset zone whose generators run past the generator list makes the SoundFont parser
    // index out of bounds (rustysynth 1.3 panics); `load` turns that into an error.
    let mut font = organ_font();
    let pbag = font
        .windows(4)
        .position(|w| w == b"pbag")
        .expect("pbag chunk");
    font[pbag + 12] = 100; // the terminal bag's first generator
    assert!(
        catch_unwind(|| from_font_bytes(&font, "f.sf2", None)).is_err(),
        "the parser panics on it"
    );
    let path = dir.join("broken.sf2");
    std::fs::write(&path, &font).expect("write");
    let bank = crate::test_bank();
    match load(&path, None, &bank) {
        Err(AudioError::OwnSoundInvalid { path: p, detail }) => {
            assert_eq!(p, path);
            assert!(detail.contains("damaged"), "{detail}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a broken font loaded"),
    }
    // A recording that isn't one, in a folder.
    let folder = dir.join("folder");
    std::fs::create_dir_all(&folder).expect("dir");
    std::fs::write(folder.join("C4.wav"), b"RIFF\x10\0\0\0WAVEfmt garbage").expect("write");
    let e = load(&folder, None, &bank).expect_err("refused");
    assert!(e.to_string().contains("C4.wav"), "{e}");
    // A recording not named after a note.
    std::fs::remove_file(folder.join("C4.wav")).expect("rm");
    write_wav(&folder.join("snare.wav"), 200.0, 48_000, 0.1, 1);
    let e = load(&folder, None, &bank).expect_err("refused").to_string();
    assert!(e.contains("snare.wav") && e.contains("C4.wav"), "{e}");
    // Too many recordings.
    for n in 0..=MAX_FOLDER_FILES {
        std::fs::write(folder.join(format!("{n:03}.wav")), b"").expect("write");
    }
    let e = load(&folder, None, &bank).expect_err("refused").to_string();
    assert!(e.contains("at most 128"), "{e}");
    // Nothing there.
    let e = load(&dir.join("missing.sf2"), None, &bank).expect_err("refused");
    assert!(matches!(e, AudioError::OwnSoundUnreadable { .. }), "{e}");
}

#[test]
fn swapping_the_own_sound_never_allocates_on_the_audio_thread_and_stops_its_voices() {
    let bank = crate::test_bank();
    let (mut engine, mut renderer) = crate::engine(bank.clone(), EngineConfig::default());
    let first = from_font_bytes(&organ_font(), "a.sf2", None).expect("font");
    let second = from_font_bytes(&organ_font(), "b.sf2", None).expect("font");
    engine.set_own_sound(Some(&first)).expect("ring");
    let program = Action::Program {
        source: ME,
        instrument: Instrument::Piano,
        program: OWN_PROGRAM,
    };
    let on = Action::NoteOn {
        source: ME,
        instrument: Instrument::Piano,
        note: 60,
        velocity: 100,
    };
    engine.send(Command::now(program)).expect("send");
    engine.send(Command::now(on)).expect("send");
    let mut block = vec![0.0f32; 256];
    // `render` runs under assert_no_alloc in the tests: the swap and the note must not
    // allocate or free.
    renderer.render(&mut block, 2, Instant::now());
    assert!(block.iter().any(|s| s.abs() > 1e-3), "the own sound plays");
    assert_eq!(renderer.voices.iter().filter(|v| v.active).count(), 1);
    engine.set_own_sound(Some(&second)).expect("ring");
    // The renderer hasn't taken it yet: a third is refused, changing nothing.
    let third = from_font_bytes(&organ_font(), "c.sf2", None).expect("font");
    assert!(matches!(
        engine.set_own_sound(Some(&third)),
        Err(AudioError::CommandQueueFull)
    ));
    renderer.render(&mut block, 2, Instant::now());
    assert_eq!(
        renderer.voices.iter().filter(|v| v.active).count(),
        0,
        "the old sound's voice stopped"
    );
    assert!(renderer.own.as_ref().is_some());
    // Removing it: the keyboard part plays the grand piano again.
    engine.set_own_sound(None).expect("ring");
    renderer.render(&mut block, 2, Instant::now());
    engine.send(Command::now(on)).expect("send");
    renderer.render(&mut block, 2, Instant::now());
    assert!(matches!(
        renderer.voices.iter().find(|v| v.active).map(|v| v.sample),
        Some(crate::voice::SampleRef::Piano { .. })
    ));
}
