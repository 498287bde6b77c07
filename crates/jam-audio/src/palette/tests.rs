//! The palette as shipped, played by the engine and measured: pitch, loops, release tails and
//! level; and hostile manifests refused with a clear error.

use std::sync::Arc;
use std::time::Instant;

use super::measure::{self, RATE};
use super::*;
use crate::{Action, Command, EngineConfig, Instrument, SampleBank, SourceId};

const ME: SourceId = SourceId::LOCAL;

fn bank() -> Arc<SampleBank> {
    crate::test_bank()
}

fn play(kind: Kind, program: u16, notes: &[u8], held: f32, seconds: f32) -> Vec<f32> {
    measure::play(&bank(), kind, program, notes, held, seconds)
}

#[test]
fn the_palette_has_the_instruments_a_band_needs() {
    let bank = bank();
    let palette = bank.palette();
    assert!(palette.melodic().len() >= 24, "{}", palette.melodic().len());
    assert!(palette.kits().len() >= 4, "{}", palette.kits().len());
    for id in [
        "grand-piano",
        "bright-piano",
        "tine-piano",
        "drawbar-organ",
        "church-organ",
        "nylon-guitar",
        "steel-guitar",
        "clean-guitar",
        "overdriven-guitar",
        "finger-bass",
        "picked-bass",
        "fretless-bass",
        "synth-bass",
        "strings",
        "slow-strings",
        "brass",
        "trumpet",
        "alto-sax",
        "flute",
        "choir",
        "vibraphone",
        "saw-lead",
        "square-lead",
        "warm-pad",
    ] {
        assert!(palette.find(Kind::Melodic, id).is_some(), "{id}");
    }
    for id in ["standard-kit", "room-kit", "electronic-kit", "brush-kit"] {
        assert!(palette.find(Kind::Kit, id).is_some(), "{id}");
    }
}

/// The protocol's lists (what the relay accepts and pickers show) are the palette, in order,
/// with the same names, families and programs.
#[test]
fn the_protocol_lists_the_palette() {
    let bank = bank();
    let palette = bank.palette();
    for (ours, theirs) in [
        (palette.melodic(), jam_protocol::instrument::MELODIC),
        (palette.kits(), jam_protocol::instrument::KITS),
    ] {
        let ours: Vec<_> = ours
            .iter()
            .map(|i| (i.id.as_str(), i.name.as_str(), i.family.as_str(), i.program))
            .collect();
        let theirs: Vec<_> = theirs
            .iter()
            .map(|v| (v.id, v.name, v.family, v.program))
            .collect();
        assert_eq!(ours, theirs);
    }
}

/// Every zone of every melodic instrument, played at its own recorded key, is in tune.
#[test]
fn every_sampled_note_is_within_five_cents() {
    let bank = bank();
    let mut out_of_tune = Vec::new();
    for (program, instrument) in bank.palette().melodic().iter().enumerate().skip(1) {
        for zone in 0..instrument.zone_count() {
            match measure::zone_pitch(&bank, program as u16, zone) {
                Some((_, cents)) if cents.abs() <= 5.0 => {}
                other => out_of_tune.push(format!("{} zone {zone}: {other:?}", instrument.id)),
            }
        }
    }
    assert!(out_of_tune.is_empty(), "{out_of_tune:#?}");
}

/// Held for 10 s, a looping note never steps from one frame to the next by more than the
/// signal's own largest step around the seam (within 10 periods of the note, at least 600
/// frames): the loops don't click. Low, middle and high keys of every looping instrument.
#[test]
fn sustaining_instruments_loop_for_ten_seconds_without_a_click() {
    let bank = bank();
    let palette = bank.palette();
    let mut looping = 0;
    for (program, instrument) in palette.melodic().iter().enumerate().skip(1) {
        let mut zones: Vec<usize> = [36, 60, 84]
            .iter()
            .filter_map(|&note| instrument.zone(note))
            .filter(|&z| instrument.zones[z].r#loop.is_some())
            .collect();
        zones.dedup();
        looping += usize::from(!zones.is_empty());
        for zone in zones.into_iter().map(|z| &instrument.zones[z]) {
            let note = zone.root.clamp(zone.keys[0], zone.keys[1]);
            let out = play(Kind::Melodic, program as u16, &[note], 11.0, 10.0);
            // Where the voice crosses the seam: the frames its position wraps.
            let [start, end] = zone.r#loop.unwrap_or_default();
            let semitones = (f64::from(note) - f64::from(zone.root)) * f64::from(zone.tracking)
                / 100.0
                + f64::from(zone.tune) / 100.0;
            let step = 2f64.powf(semitones / 12.0) * f64::from(zone.sample.rate) / f64::from(RATE);
            let hz = 440.0 * 2f64.powf((f64::from(note) - 69.0) / 12.0);
            let radius = (10.0 * f64::from(RATE) / hz).max(600.0) as usize;
            let steps: Vec<f32> = out.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
            let mut at = f64::from(end) / step;
            while (at as usize) + radius < steps.len() {
                let f = at as usize;
                let seam = steps[f.saturating_sub(2)..f + 2]
                    .iter()
                    .copied()
                    .fold(0.0, f32::max);
                let around = steps[f.saturating_sub(radius)..f.saturating_sub(3)]
                    .iter()
                    .chain(&steps[f + 3..f + radius])
                    .copied()
                    .fold(0.0, f32::max);
                assert!(
                    seam <= around * 1.1 + 1e-4,
                    "{} note {note}: a step of {seam} at the seam (frame {f}) against {around} around it",
                    instrument.id
                );
                at += f64::from(end - start) / step;
            }
        }
    }
    assert!(looping >= 20, "only {looping} instruments loop");
}

/// After the key goes up every note fades to silence, and its last sound is far below a click.
#[test]
fn release_tails_end_in_silence() {
    let bank = bank();
    let palette = bank.palette();
    for (kind, list) in [
        (Kind::Melodic, palette.melodic()),
        (Kind::Kit, palette.kits()),
    ] {
        for (program, instrument) in list.iter().enumerate().skip(1) {
            let note = match kind {
                Kind::Melodic => 60,
                Kind::Kit => 49, // a crash cymbal: the longest ring
            };
            let release = instrument
                .zones
                .iter()
                .map(|z| z.release)
                .fold(0.0f32, f32::max)
                .min(6.0);
            let seconds = 1.0 + release + 4.2;
            let out = play(kind, program as u16, &[note], 1.0, seconds);
            let tail = &out[out.len() - (0.2 * RATE as f32) as usize..];
            assert!(
                tail.iter().all(|s| s.abs() < 1e-3),
                "{}: still sounding {:.4} at the end",
                instrument.id,
                tail.iter().fold(0.0f32, |m, s| m.max(s.abs()))
            );
            // No jump to silence: the largest step in the last 0.2 s before silence is tiny.
            let last = out.iter().rposition(|s| s.abs() > 1e-6).unwrap_or(0);
            let before = &out[last.saturating_sub(64)..=last];
            assert!(
                before.iter().all(|s| s.abs() < 1e-2),
                "{}: ends from {:.4}",
                instrument.id,
                before.iter().fold(0.0f32, |m, s| m.max(s.abs()))
            );
        }
    }
}

/// A C-major chord is as loud on every melodic instrument as on the piano, and a kick, snare
/// and hat as loud on every kit as on the standard kit: within ±3 dB.
#[test]
fn switching_instruments_never_jumps_in_level() {
    let bank = bank();
    let palette = bank.palette();
    for (kind, list) in [
        (Kind::Melodic, palette.melodic()),
        (Kind::Kit, palette.kits()),
    ] {
        let level = |program: usize| measure::chord_level(&bank, kind, program as u16);
        let reference = level(0);
        for (program, instrument) in list.iter().enumerate().skip(1) {
            let db = 20.0 * (level(program) / reference).log10();
            assert!(db.abs() <= 3.0, "{}: {db:+.1} dB", instrument.id);
        }
    }
}

#[test]
fn a_new_instrument_plays_from_the_next_note_and_unknown_programs_are_the_piano() {
    let strings = bank().palette().find(Kind::Melodic, "strings").unwrap();
    let (mut engine, mut renderer) = crate::engine(bank(), EngineConfig::default());
    let mut out = vec![0.0; 512];
    engine.note_on(ME, Instrument::Piano, 60, 100).unwrap();
    renderer.render(&mut out, 2, Instant::now());
    let program = |program| {
        Command::now(Action::Program {
            source: ME,
            instrument: Instrument::Piano,
            program,
        })
    };
    engine.send(program(strings)).unwrap();
    engine.note_on(ME, Instrument::Piano, 64, 100).unwrap();
    renderer.render(&mut out, 2, Instant::now());
    let playing: Vec<_> = renderer
        .voices
        .iter()
        .filter(|v| v.active)
        .map(|v| (v.note, v.sample))
        .collect();
    assert!(matches!(
        playing[0],
        (60, crate::voice::SampleRef::Piano { .. })
    ));
    assert!(matches!(
        playing[1],
        (64, crate::voice::SampleRef::Zone { kit: false, instrument, .. }) if instrument == strings
    ));
    engine.send(program(u16::MAX)).unwrap();
    engine.note_on(ME, Instrument::Piano, 67, 100).unwrap();
    renderer.render(&mut out, 2, Instant::now());
    let last = renderer.voices.iter().rfind(|v| v.active).unwrap();
    assert!(matches!(
        (last.note, last.sample),
        (67, crate::voice::SampleRef::Piano { .. })
    ));
}

fn manifest_with(zone: impl FnOnce(&mut ManifestZone)) -> Manifest {
    let mut z = ManifestZone {
        sample: "samples/0000.flac".into(),
        keys: [0, 127],
        root: 60,
        tune: 0.0,
        tracking: 100.0,
        r#loop: Some([10, 90]),
        attack: 0.0,
        hold: 0.0,
        decay: 1.0,
        sustain: 1.0,
        release: 0.3,
        level: 1.0,
        pan: 0.0,
        exclusive: 0,
    };
    zone(&mut z);
    Manifest {
        source: "test".into(),
        instruments: vec![ManifestInstrument {
            id: "test".into(),
            name: "Test".into(),
            family: "Test".into(),
            kind: Kind::Melodic,
            program: 0,
            gain: 1.0,
            zones: vec![z],
        }],
    }
}

fn load(manifest: &Manifest) -> Result<Palette> {
    Palette::from_manifest(manifest, |_| {
        Ok(Sample {
            data: vec![0.0; 100].into_boxed_slice(),
            rate: 44_100,
        })
    })
}

#[test]
fn a_sound_manifest_loads() {
    let palette = load(&manifest_with(|_| {})).unwrap();
    assert_eq!(palette.melodic().len(), 2);
    assert_eq!(palette.find(Kind::Melodic, "test"), Some(1));
}

#[test]
fn hostile_manifests_are_refused_with_the_instrument_named() {
    let cases: Vec<(&str, Manifest)> = vec![
        (
            "outside the folder",
            manifest_with(|z| z.sample = "../../etc/passwd.flac".into()),
        ),
        (
            "absolute",
            manifest_with(|z| z.sample = "/etc/x.flac".into()),
        ),
        (
            "not flac",
            manifest_with(|z| z.sample = "samples/0000.wav".into()),
        ),
        (
            "loop past the end",
            manifest_with(|z| z.r#loop = Some([10, 100])),
        ),
        ("empty loop", manifest_with(|z| z.r#loop = Some([50, 50]))),
        ("NaN tune", manifest_with(|z| z.tune = f32::NAN)),
        (
            "endless attack",
            manifest_with(|z| z.attack = f32::INFINITY),
        ),
        ("negative release", manifest_with(|z| z.release = -1.0)),
        ("keys upside down", manifest_with(|z| z.keys = [70, 60])),
        ("key 200", manifest_with(|z| z.keys = [0, 200])),
        ("sustain above 1", manifest_with(|z| z.sustain = 2.0)),
        ("pan 5", manifest_with(|z| z.pan = 5.0)),
        ("bad id", {
            let mut m = manifest_with(|_| {});
            m.instruments[0].id = "Evil Id!".into();
            m
        }),
        ("huge gain", {
            let mut m = manifest_with(|_| {});
            m.instruments[0].gain = 1e9;
            m
        }),
        ("too many zones", {
            let mut m = manifest_with(|_| {});
            let z = m.instruments[0].zones[0].clone();
            m.instruments[0].zones = vec![z; MAX_ZONES + 1];
            m
        }),
        ("listed twice", {
            let mut m = manifest_with(|_| {});
            m.instruments.push(m.instruments[0].clone());
            m
        }),
    ];
    for (what, manifest) in cases {
        let id = manifest.instruments[0].id.clone();
        match load(&manifest) {
            Err(AudioError::PaletteInvalid { detail, .. }) => {
                assert!(detail.contains(&id), "{what}: {detail}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn garbage_json_is_a_clear_error_and_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("jam-palette-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for garbage in [
        "",
        "{",
        "[]",
        "{\"source\":1}",
        "\u{0}\u{1}",
        "{\"source\":\"x\",\"instruments\":[{}]}",
    ] {
        std::fs::write(dir.join("palette.json"), garbage).unwrap();
        let err = Palette::load(&dir).unwrap_err();
        assert!(err.to_string().contains("palette"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Renders `seconds` of a held A4 on `program` with `setup` sent before the note (mono).
fn held_a4(program: u16, setup: &[Action], seconds: f32) -> Vec<f32> {
    let (mut engine, mut renderer) = crate::engine(bank(), EngineConfig::default());
    let mut commands = vec![Action::Program {
        source: ME,
        instrument: Instrument::Piano,
        program,
    }];
    commands.extend_from_slice(setup);
    commands.push(Action::NoteOn {
        source: ME,
        instrument: Instrument::Piano,
        note: 69,
        velocity: 100,
    });
    for action in commands {
        engine.send(Command::now(action)).unwrap();
    }
    let frames = (seconds * RATE as f32) as usize;
    let mut out = vec![0.0; frames * 2];
    for block in out.chunks_mut(256) {
        renderer.render(block, 2, Instant::now());
    }
    out.chunks_exact(2).map(|f| (f[0] + f[1]) / 2.0).collect()
}

/// The pitch wheel bends a sounding note by exactly its semitones, drums are never bent, and
/// the modulation wheel swings the pitch at 5.5 Hz by up to ±50 cents; a player's "all notes
/// off" (they left) puts both wheels back.
#[test]
fn the_pitch_wheel_bends_and_the_modulation_wheel_wobbles() {
    let strings = bank().palette().find(Kind::Melodic, "strings").unwrap();
    let window = |x: &[f32]| x[RATE as usize / 2..RATE as usize / 2 + 8_192].to_vec();
    let straight = held_a4(strings, &[], 1.0);
    let base = measure::cents_off(&window(&straight), 440.0).expect("an A4");
    let bent = held_a4(
        strings,
        &[Action::PitchBend {
            source: ME,
            semitones: 0.3,
        }],
        1.0,
    );
    let cents = measure::cents_off(&window(&bent), 440.0).expect("a bent A4");
    assert!(
        (cents - base - 30.0).abs() <= 2.0,
        "bent {cents:+.1}, straight {base:+.1}"
    );
    // Vibrato: short windows across a cycle swing about ±50 cents.
    let wobbling = held_a4(
        strings,
        &[Action::Modulation {
            source: ME,
            depth: 1.0,
        }],
        1.0,
    );
    let swings: Vec<f64> = (0..8)
        .filter_map(|k| {
            let at = RATE as usize / 2 + k * 1_100;
            measure::cents_off(&wobbling[at..at + 2_048], 440.0).map(|c| c - base)
        })
        .collect();
    let (lo, hi) = swings
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &c| (lo.min(c), hi.max(c)));
    assert!(hi - lo >= 40.0 && hi <= 55.0 && lo >= -55.0, "{swings:?}");
    // All notes off puts the wheel back: the next note is straight.
    let reset = held_a4(
        strings,
        &[
            Action::PitchBend {
                source: ME,
                semitones: 2.0,
            },
            Action::AllNotesOff { source: ME },
        ],
        1.0,
    );
    let cents = measure::cents_off(&window(&reset), 440.0).expect("an A4");
    assert!(
        (cents - base).abs() <= 2.0,
        "{cents:+.1} after all notes off"
    );
    // NaN and absurd bends are refused: clamped or ignored, never a crash.
    for semitones in [f32::NAN, f32::INFINITY, -1e30] {
        let x = held_a4(
            strings,
            &[Action::PitchBend {
                source: ME,
                semitones,
            }],
            0.2,
        );
        assert!(x.iter().all(|v| v.is_finite()));
    }
}
