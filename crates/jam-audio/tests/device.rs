//! A real output stream through ALSA, on a machine without a sound card: the ALSA `file`
//! plugin becomes the default device (via a private `~/.asoundrc`) and writes every sample the
//! stream plays to a file, which the test then reads back. The `null` slave is not paced, so
//! this checks what comes out, never timing (see `shared/TESTING.md`). Its own test binary: it
//! points `HOME` at a temporary folder before ALSA first reads its configuration.
//!
//! How far the stream has got when this thread looks depends on how busy the machine is, so
//! nothing here depends on it: the file is judged from its first sample, against the engine's
//! own offline render of the same notes. (A stream opened again starts the file again: the ALSA
//! file plugin truncates it. This test once judged the restarted stream's first second, the
//! decaying tail of notes at whatever point the restart happened to come, and failed on busy
//! machines.)

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jam_audio::output::{self, OutputConfig, OutputPlan};
use jam_audio::{AudioError, Engine, EngineConfig, Instrument, SampleBank, SourceId, offline};

/// The whole device callback (rendering and sample conversion) runs under `assert_no_alloc`.
#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

/// How long a stream may take to write a second of audio on a very busy machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// The stream's file as samples in -1..1, interleaved as the device has its channels.
fn samples(raw: &Path, plan: &OutputPlan) -> Vec<f32> {
    decode(&std::fs::read(raw).unwrap_or_default(), plan)
}

/// Raw samples in the device's format as samples in -1..1.
fn decode(bytes: &[u8], plan: &OutputPlan) -> Vec<f32> {
    match plan.sample_format {
        cpal::SampleFormat::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        cpal::SampleFormat::I16 => bytes
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect(),
        other => panic!("unexpected format {other:?} from the file plugin"),
    }
}

/// Waits (bounded, however busy the machine) until the stream's file holds `frames` frames.
fn written(raw: &Path, plan: &OutputPlan, frames: usize) -> Vec<f32> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let samples = samples(raw, plan);
        if samples.len() >= frames * usize::from(plan.channels) {
            return samples;
        }
        assert!(
            Instant::now() < deadline,
            "the device callback writes: {} of {frames} frames after {PATIENCE:?}",
            samples.len() / usize::from(plan.channels)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (bounded) until a sample of the stream's file is louder than `level`; returns its peak.
/// The file is read as it grows, from where the last look stopped.
fn heard_louder_than(raw: &Path, plan: &OutputPlan, level: f32) -> f32 {
    let deadline = Instant::now() + PATIENCE;
    let width = match plan.sample_format {
        cpal::SampleFormat::I16 => 2,
        _ => 4,
    };
    let mut read = 0usize;
    let mut peak = 0.0f32;
    loop {
        let bytes = std::fs::read(raw).unwrap_or_default();
        let whole = bytes.len() - bytes.len() % width;
        if whole > read {
            let new = decode(&bytes[read..whole], plan);
            peak = new.iter().fold(peak, |m, s| m.max(s.abs()));
            read = whole;
        }
        if peak > level {
            return peak;
        }
        assert!(
            Instant::now() < deadline,
            "nothing louder than {level} within {PATIENCE:?}: peak {peak}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The device's first two channels, as stereo frames.
fn stereo(samples: &[f32], channels: u16) -> Vec<(f32, f32)> {
    samples
        .chunks_exact(usize::from(channels))
        .map(|f| (f[0], f.get(1).copied().unwrap_or(f[0])))
        .collect()
}

fn rms(frames: &[(f32, f32)]) -> f32 {
    let sum: f32 = frames.iter().map(|(l, r)| l * l + r * r).sum();
    (sum / (2.0 * frames.len().max(1) as f32)).sqrt()
}

/// The notes both renders play from their first frame.
fn play_notes(engine: &mut Engine) {
    engine
        .note_on(SourceId::LOCAL, Instrument::Piano, 69, 110)
        .unwrap();
    engine
        .note_on(SourceId::LOCAL, Instrument::Drums, 38, 110)
        .unwrap();
}

#[test]
fn a_real_alsa_stream_plays_the_engine_and_errors_are_clear() {
    let dir = std::env::temp_dir().join(format!("jam-audio-alsa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("out.raw");
    std::fs::write(
        dir.join(".asoundrc"),
        format!(
            "pcm.!default {{ type file; slave.pcm \"null\"; file \"{}\"; format \"raw\" }}\n",
            raw.display()
        ),
    )
    .unwrap();
    // SAFETY: this binary has a single test and nothing else runs yet; ALSA reads ~/.asoundrc
    // when the first device is opened, below.
    unsafe { std::env::set_var("HOME", &dir) };

    let plan = output::plan(&OutputConfig::default()).expect("the file plugin is a default device");
    assert!(plan.channels >= 1);
    let rate = usize::try_from(plan.sample_rate).unwrap();
    let bank = Arc::new(SampleBank::load(&SampleBank::default_dir()).unwrap());
    let config = EngineConfig {
        sample_rate: plan.sample_rate,
        ..EngineConfig::default()
    };

    // What the engine renders for the notes, offline: what the device must have played.
    let (mut reference, mut reference_renderer) = jam_audio::engine(bank.clone(), config);
    play_notes(&mut reference);
    let expected: Vec<(f32, f32)> = offline::render(&mut reference_renderer, rate)
        .chunks_exact(2)
        .map(|f| (f[0], f[1]))
        .collect();
    assert!(rms(&expected) > 0.01, "the notes are loud enough to judge");

    // The notes wait in the engine's queue before the stream starts, so they sound in its
    // first block however late this thread runs on a busy machine.
    let (mut engine, renderer) = jam_audio::engine(bank, config);
    play_notes(&mut engine);
    let out = output::start(plan.clone(), renderer)
        .map_err(|failed| failed.error)
        .expect("stream starts");
    let first = stereo(&written(&raw, &plan, rate), plan.channels);
    assert!(!out.failed());
    let first_second = &first[..rate];
    // The device's sample conversion (and an i16 device's rounding) is the only difference.
    let worst = first_second
        .iter()
        .zip(&expected)
        .map(|((l, r), (el, er))| (l - el).abs().max((r - er).abs()))
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-3,
        "the device played the engine's first second, sample for sample: worst difference {worst}"
    );
    let peak = first_second
        .iter()
        .fold(0.0f32, |m, (l, r)| m.max(l.abs()).max(r.abs()));
    assert!(peak <= 0.8913, "and never above −1 dBFS: {peak}");

    // Restarting (what the app does when a device comes back) keeps the engine's state: its
    // clock goes on, and a note played after it sounds in the new stream (whose file starts
    // again, with the old notes' tail wherever the restart came).
    let before = engine.clock().current_frame();
    let out = out
        .restart()
        .map_err(|failed| failed.error)
        .expect("restarts on the default device");
    engine
        .note_on(SourceId::LOCAL, Instrument::Drums, 38, 127)
        .unwrap();
    let snare = expected
        .iter()
        .fold(0.0f32, |m, (l, r)| m.max(l.abs()).max(r.abs()));
    let tail = rms(&expected[rate / 2..]);
    let heard = heard_louder_than(&raw, &plan, (4.0 * tail).max(0.1 * snare));
    written(&raw, &plan, rate);
    assert!(!out.failed());
    let renderer = out.stop();
    assert!(
        renderer.frame() >= before + u64::try_from(rate).unwrap(),
        "the clock went on through the restart: {} after {before}",
        renderer.frame()
    );
    assert!(
        heard <= 0.8913,
        "the snare played after the restart sounds, never above −1 dBFS: {heard}"
    );

    // Asking for a device that is not there says so and names the ones that are.
    let err = output::plan(&OutputConfig {
        device: Some("Keystation Speakers".into()),
        ..OutputConfig::default()
    })
    .unwrap_err();
    assert!(matches!(err, AudioError::DeviceNotFound { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("\"Keystation Speakers\" isn't connected"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
