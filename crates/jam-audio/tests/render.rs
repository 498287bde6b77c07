//! The engine rendered offline, with assertions on the signal itself: pitch, level, timing to
//! the frame, envelopes, pedal, chokes, mixing and the limiter. The whole render path runs
//! under `assert_no_alloc`: any allocation inside `Renderer::render` aborts this test binary.

use std::sync::{Arc, OnceLock};

use jam_audio::{
    Action, Command, Engine, EngineConfig, Instrument, Renderer, SampleBank, SourceId, offline,
};

#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

const RATE: u32 = 48_000;
const PIANO: Instrument = Instrument::Piano;
const DRUMS: Instrument = Instrument::Drums;
const ME: SourceId = SourceId::LOCAL;

fn bank() -> Arc<SampleBank> {
    static BANK: OnceLock<Arc<SampleBank>> = OnceLock::new();
    BANK.get_or_init(|| {
        Arc::new(SampleBank::load(&SampleBank::default_dir()).expect("assets load"))
    })
    .clone()
}

fn new_engine_with(config: EngineConfig) -> (Engine, Renderer) {
    jam_audio::engine(bank(), config)
}

fn new_engine() -> (Engine, Renderer) {
    new_engine_with(EngineConfig::default())
}

fn secs(s: f64) -> u64 {
    (s * f64::from(RATE)) as u64
}

fn at(frame: u64, action: Action) -> Command {
    Command::at(frame, action)
}

fn on(source: SourceId, instrument: Instrument, note: u8, velocity: u8) -> Action {
    Action::NoteOn {
        source,
        instrument,
        note,
        velocity,
    }
}

fn off(source: SourceId, instrument: Instrument, note: u8) -> Action {
    Action::NoteOff {
        source,
        instrument,
        note,
    }
}

use jam_tests::signal::{mono, rms};

fn range(x: &[f32], from_s: f64, to_s: f64) -> &[f32] {
    &x[secs(from_s) as usize..secs(to_s) as usize]
}

fn pitch(x: &[f32]) -> f64 {
    jam_tests::signal::pitch(x, RATE)
}

fn render_piano_note(note: u8, velocity: u8, seconds: f64) -> Vec<f32> {
    let (mut engine, mut renderer) = new_engine();
    engine.note_on(ME, PIANO, note, velocity).unwrap();
    mono(&offline::render(&mut renderer, secs(seconds) as usize))
}

#[test]
fn piano_notes_have_the_right_pitch_sampled_and_pitch_shifted() {
    for (note, hz) in [
        (60, 261.626),
        (69, 440.0),
        (61, 277.183),
        (70, 466.164),
        (45, 110.0),
        (84, 1046.502),
    ] {
        let out = render_piano_note(note, 100, 0.6);
        let f = pitch(range(&out, 0.1, 0.5));
        assert!(
            (f / hz - 1.0).abs() < 0.01,
            "note {note}: {f:.2} Hz, expected {hz} Hz"
        );
    }
}

#[test]
fn louder_velocity_gives_more_level_across_and_within_layers() {
    let level = |v| rms(range(&render_piano_note(60, v, 0.5), 0.0, 0.5));
    let levels: Vec<f32> = [20, 50, 79, 80, 100, 127]
        .iter()
        .map(|&v| level(v))
        .collect();
    assert!(levels.windows(2).all(|w| w[0] < w[1]), "{levels:?}");
    let (mut engine, mut renderer) = new_engine();
    engine.note_on(ME, DRUMS, 38, 40).unwrap();
    let soft = rms(&offline::render(&mut renderer, secs(0.3) as usize));
    let (mut engine, mut renderer) = new_engine();
    engine.note_on(ME, DRUMS, 38, 120).unwrap();
    let hard = rms(&offline::render(&mut renderer, secs(0.3) as usize));
    assert!(hard > 2.0 * soft, "snare {soft} → {hard}");
}

#[test]
fn note_off_decays_to_silence_within_the_release_time() {
    let (mut engine, mut renderer) = new_engine();
    engine.send(at(0, on(ME, PIANO, 48, 100))).unwrap();
    engine.send(at(secs(0.5), off(ME, PIANO, 48))).unwrap();
    let out = mono(&offline::render(&mut renderer, secs(1.2) as usize));
    assert!(rms(range(&out, 0.4, 0.5)) > 0.01, "sounding while held");
    let tail = range(&out, 0.5, 0.6);
    assert!(
        rms(tail) > 0.0 && rms(tail) < rms(range(&out, 0.4, 0.5)),
        "fading, no cut"
    );
    assert!(
        range(&out, 0.5 + 0.35 + 0.01, 1.2)
            .iter()
            .all(|&s| s == 0.0),
        "silent after 350 ms"
    );
    assert_eq!(engine.stats().voices_active, 0);
}

#[test]
fn sustain_holds_released_notes_until_the_pedal_goes_up() {
    let (mut engine, mut renderer) = new_engine();
    engine
        .send(at(
            0,
            Action::Sustain {
                source: ME,
                on: true,
            },
        ))
        .unwrap();
    engine.send(at(0, on(ME, PIANO, 60, 100))).unwrap();
    engine.send(at(secs(0.2), off(ME, PIANO, 60))).unwrap();
    engine
        .send(at(
            secs(1.5),
            Action::Sustain {
                source: ME,
                on: false,
            },
        ))
        .unwrap();
    let out = mono(&offline::render(&mut renderer, secs(2.2) as usize));
    assert!(
        rms(range(&out, 1.3, 1.5)) > 0.005,
        "still sounding at 1.3 s, key up at 0.2 s"
    );
    assert!(
        range(&out, 1.5 + 0.36, 2.2).iter().all(|&s| s == 0.0),
        "pedal up releases it"
    );

    // Another source's pedal does not hold my notes.
    let (mut engine, mut renderer) = new_engine();
    engine
        .send(at(
            0,
            Action::Sustain {
                source: SourceId(3),
                on: true,
            },
        ))
        .unwrap();
    engine.send(at(0, on(ME, PIANO, 60, 100))).unwrap();
    engine.send(at(secs(0.2), off(ME, PIANO, 60))).unwrap();
    let out = mono(&offline::render(&mut renderer, secs(1.0) as usize));
    assert!(range(&out, 0.2 + 0.36, 1.0).iter().all(|&s| s == 0.0));
}

#[test]
fn a_scheduled_note_starts_exactly_at_its_frame() {
    let (mut engine, mut renderer) = new_engine();
    engine.note_on(ME, DRUMS, 38, 100).unwrap();
    let reference = offline::render(&mut renderer, 4_000);
    for start in [0u64, 1, 255, 256, 12_345, 48_000] {
        let (mut engine, mut renderer) = new_engine();
        engine.send(at(start, on(ME, DRUMS, 38, 100))).unwrap();
        let out = offline::render(&mut renderer, start as usize + 4_000);
        let s = start as usize * 2;
        assert!(
            out[..s].iter().all(|&v| v == 0.0),
            "silent before frame {start}"
        );
        assert_eq!(
            &out[s..s + 8_000],
            &reference[..],
            "identical from frame {start} on"
        );
    }
}

#[test]
fn notes_scheduled_in_the_past_play_at_once() {
    let (mut engine, mut renderer) = new_engine();
    let _ = offline::render(&mut renderer, 10_000);
    engine.send(at(5, on(ME, DRUMS, 36, 100))).unwrap();
    let out = mono(&offline::render(&mut renderer, 2_000));
    assert!(
        rms(&out[..512]) > 0.01,
        "the kick is heard in the first block"
    );
}

#[test]
fn the_voice_pool_is_fixed_and_steals_by_the_rule() {
    let config = EngineConfig {
        max_voices: 4,
        ..EngineConfig::default()
    };
    let (mut engine, mut renderer) = new_engine_with(config);
    for (i, note) in [60, 64, 67, 72, 76, 79].iter().enumerate() {
        engine
            .send(at(i as u64 * 1_000, on(ME, PIANO, *note, 90)))
            .unwrap();
    }
    let _ = offline::render(&mut renderer, 8_000);
    let stats = engine.stats();
    assert_eq!((stats.voices_active, stats.voices_stolen), (4, 2));
}

#[test]
fn a_closed_hat_chokes_an_open_hat_of_the_same_player() {
    let render = |events: &[(u64, SourceId, u8)]| {
        let (mut engine, mut renderer) = new_engine();
        for &(frame, source, note) in events {
            engine
                .send(at(frame, on(source, DRUMS, note, 110)))
                .unwrap();
        }
        mono(&offline::render(&mut renderer, secs(1.5) as usize))
    };
    let t = secs(0.3);
    let open_alone = render(&[(0, ME, 46)]);
    let closed_alone = render(&[(t, ME, 42)]);
    let choked = render(&[(0, ME, 46), (t, ME, 42)]);
    let other_player = render(&[(0, SourceId(1), 46), (t, ME, 42)]);
    let after = |x: &Vec<f32>| rms(range(x, 0.3 + 0.06, 0.7));
    assert!(
        after(&open_alone) > 0.001,
        "the open hat rings on: {}",
        after(&open_alone)
    );
    let diff: Vec<f32> = choked
        .iter()
        .zip(&closed_alone)
        .map(|(a, b)| a - b)
        .collect();
    let residue = rms(range(&diff, 0.3 + 0.06, 0.7));
    assert!(
        residue < after(&open_alone) / 100.0,
        "after the choke only the closed hat is left: {residue}"
    );
    assert!(
        after(&other_player) > 0.5 * after(&open_alone),
        "another player's open hat is not choked"
    );
}

#[test]
fn sources_have_their_own_gain_and_mute() {
    let render = |setup: &[Action]| {
        let (mut engine, mut renderer) = new_engine();
        for a in setup {
            engine.send(Command::now(*a)).unwrap();
        }
        engine.note_on(SourceId(1), PIANO, 60, 70).unwrap();
        engine.note_on(SourceId(2), PIANO, 67, 70).unwrap();
        mono(&offline::render(&mut renderer, secs(0.5) as usize))
    };
    let only = |source: u8, note: u8| {
        let (mut engine, mut renderer) = new_engine();
        engine.note_on(SourceId(source), PIANO, note, 70).unwrap();
        mono(&offline::render(&mut renderer, secs(0.5) as usize))
    };
    let muted = render(&[Action::SourceMute {
        source: SourceId(2),
        muted: true,
    }]);
    let diff: Vec<f32> = muted.iter().zip(&only(1, 60)).map(|(a, b)| a - b).collect();
    assert!(
        rms(range(&diff, 0.01, 0.5)) < 1e-6,
        "a muted source is silent (after a 5 ms ramp)"
    );
    let half = render(&[
        Action::SourceGain {
            source: SourceId(1),
            gain: 0.5,
        },
        Action::SourceMute {
            source: SourceId(2),
            muted: true,
        },
    ]);
    let ratio = rms(range(&half, 0.01, 0.5)) / rms(range(&only(1, 60), 0.01, 0.5));
    assert!(
        (ratio - 0.5).abs() < 0.01,
        "gain 0.5 halves the level: {ratio}"
    );
}

#[test]
fn the_limiter_keeps_a_fortissimo_chord_below_full_scale() {
    let (mut engine, mut renderer) = new_engine();
    for note in [36, 40, 43, 48, 52, 55, 60, 64, 67, 72] {
        engine.note_on(ME, PIANO, note, 127).unwrap();
    }
    for note in [36, 38, 49, 57] {
        engine.note_on(ME, DRUMS, note, 127).unwrap();
    }
    engine.send(Command::now(Action::MasterGain(4.0))).unwrap();
    let out = offline::render(&mut renderer, secs(1.0) as usize);
    let peak = out.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak <= 0.8913, "peak {peak} is above −1 dBFS");
    assert!(peak > 0.8, "and it is loud: {peak}");
}

#[test]
fn the_clock_maps_rendered_frames() {
    let (engine, mut renderer) = new_engine();
    let _ = offline::render(&mut renderer, 10_000);
    assert_eq!(renderer.frame(), 10_000);
    assert!(
        engine.clock().current_frame() >= 9_744,
        "published at each render call"
    );
}

#[test]
fn a_wav_file_can_be_written() {
    let (mut engine, mut renderer) = new_engine();
    engine.note_on(ME, PIANO, 69, 100).unwrap();
    let out = offline::render(&mut renderer, 4_800);
    let path = std::env::temp_dir().join(format!("jam-audio-test-{}.wav", std::process::id()));
    offline::write_wav(&path, &out, RATE).unwrap();
    let reader = hound::WavReader::open(&path).unwrap();
    assert_eq!(
        (
            reader.spec().channels,
            reader.spec().sample_rate,
            reader.len()
        ),
        (2, RATE, 9_600)
    );
    std::fs::remove_file(path).unwrap();
}

/// Every palette instrument and kit, through attack, loop, decay, pedal and release, with the
/// pool full so voices are stolen: the render path never allocates (this binary aborts if it
/// does) and the mix stays finite.
#[test]
fn palette_instruments_render_without_allocating() {
    let bank = bank();
    let config = EngineConfig {
        max_voices: 48,
        ..EngineConfig::default()
    };
    let (mut engine, mut renderer) = new_engine_with(config);
    let palette = bank.palette();
    let mut frame = 0;
    for (part, count) in [
        (PIANO, palette.melodic().len()),
        (DRUMS, palette.kits().len()),
    ] {
        for program in 0..count {
            let program = u16::try_from(program).unwrap();
            let commands = [
                Action::Program {
                    source: ME,
                    instrument: part,
                    program,
                },
                Action::Sustain {
                    source: ME,
                    on: program % 2 == 0,
                },
            ];
            for action in commands {
                engine.send(at(frame, action)).unwrap();
            }
            for note in (24..100).step_by(3) {
                engine.send(at(frame, on(ME, part, note, 100))).unwrap();
            }
            for note in (24..100).step_by(6) {
                engine
                    .send(at(frame + secs(0.05), off(ME, part, note)))
                    .unwrap();
            }
            let action = Action::Sustain {
                source: ME,
                on: false,
            };
            engine.send(at(frame + secs(0.1), action)).unwrap();
            let out = offline::render(&mut renderer, secs(0.15) as usize);
            assert!(out.iter().all(|s| s.is_finite()), "program {program}");
            frame += secs(0.15);
        }
    }
    assert!(engine.stats().voices_stolen > 0, "the pool was full");
}
