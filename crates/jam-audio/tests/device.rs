//! A real output stream through ALSA, on a machine without a sound card: the ALSA `file`
//! plugin becomes the default device (via a private `~/.asoundrc`) and writes every sample the
//! stream plays to a file, which the test then reads back. The `null` slave is not paced, so
//! this checks that sound comes out, never timing (see `shared/TESTING.md`). Its own test
//! binary: it points `HOME` at a temporary folder before ALSA first reads its configuration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jam_audio::output::{self, OutputConfig};
use jam_audio::{AudioError, EngineConfig, Instrument, SampleBank, SourceId};

/// The whole device callback (rendering and sample conversion) runs under `assert_no_alloc`.
#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

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
    let bank = Arc::new(SampleBank::load(&SampleBank::default_dir()).unwrap());
    let (mut engine, renderer) = jam_audio::engine(
        bank,
        EngineConfig {
            sample_rate: plan.sample_rate,
            ..EngineConfig::default()
        },
    );
    // The notes wait in the engine's queue before the stream starts, so they sound in its
    // first block however late this thread runs on a busy machine (a test started them after
    // the start once, and a loaded CI machine rendered most of the first second before them).
    engine
        .note_on(SourceId::LOCAL, Instrument::Piano, 69, 110)
        .unwrap();
    engine
        .note_on(SourceId::LOCAL, Instrument::Drums, 38, 110)
        .unwrap();
    let out = output::start(plan.clone(), renderer)
        .map_err(|failed| failed.error)
        .expect("stream starts");
    // Wait (bounded) for one second of audio to have been rendered by the device callback.
    let deadline = Instant::now() + Duration::from_secs(30);
    while engine.clock().current_frame() < u64::from(plan.sample_rate) {
        assert!(Instant::now() < deadline, "the device callback runs");
        std::thread::yield_now();
    }
    assert!(!out.failed());
    // Restarting (what the app does when a device comes back) keeps the engine's state.
    let before = engine.clock().current_frame();
    let out = out
        .restart()
        .map_err(|failed| failed.error)
        .expect("restarts on the default device");
    let deadline = Instant::now() + Duration::from_secs(30);
    while engine.clock().current_frame() < before + u64::from(plan.sample_rate) {
        assert!(Instant::now() < deadline, "the restarted callback runs");
        std::thread::yield_now();
    }
    let renderer = out.stop();
    assert!(renderer.frame() >= u64::from(plan.sample_rate));

    let bytes = std::fs::read(&raw).unwrap();
    let samples: Vec<f32> = match plan.sample_format {
        cpal::SampleFormat::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        cpal::SampleFormat::I16 => bytes
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes(b.try_into().unwrap())) / 32768.0)
            .collect(),
        other => panic!("unexpected format {other:?} from the file plugin"),
    };
    let frames = samples.len() / usize::from(plan.channels);
    assert!(
        frames >= plan.sample_rate as usize,
        "at least a second was written: {frames} frames"
    );
    let first_second = &samples[..plan.sample_rate as usize * usize::from(plan.channels)];
    let rms = (first_second.iter().map(|s| s * s).sum::<f32>() / first_second.len() as f32).sqrt();
    let peak = first_second.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(rms > 0.01, "sound came out: rms {rms}");
    assert!(peak <= 0.8913, "and never above −1 dBFS: {peak}");

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
