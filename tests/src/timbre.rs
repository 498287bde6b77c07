//! Which instrument a recorded note is: its timbre compared with the engine's own offline
//! render of every palette instrument playing the same note.
//!
//! A note's *print* is its spectrum in sixth-octave bands (50 Hz – 12 kHz, log power) in three
//! windows of 4096 samples — the attack (from the onset), the body (100 ms in) and the
//! sustain (250 ms in) — with the mean level removed, so that volume, the listener's mix gain
//! and the limiter don't count; what is left is the shape of the spectrum and how it moves.
//! The distance between two prints is the RMS difference in dB. A recorded note *is* the
//! instrument whose render is nearest; [`Verdict::margin_db`] says how clearly.

use std::sync::Arc;

use jam_audio::SampleBank;
use jam_audio::palette::{Kind, measure};
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

use crate::heard::RATE;

/// Samples per analysis window (85 ms at 48 kHz).
const WINDOW: usize = 4096;
/// Where each window starts, ms after the onset.
const WINDOWS_MS: [f64; 3] = [0.0, 100.0, 250.0];
/// How long a note must last from its onset for a print, ms.
pub const PRINT_MS: f64 = 250.0 + WINDOW as f64 * 1_000.0 / RATE as f64;

/// A note's timbre: band levels in dB, mean removed.
#[derive(Debug, Clone)]
pub struct Print(Vec<f64>);

impl Print {
    /// The print of the note whose onset is `onset` (a sample index) in `x` (mono, 48 kHz);
    /// `None` if `x` ends before [`PRINT_MS`] after it.
    pub fn of(x: &[f32], onset: usize) -> Option<Print> {
        let mut planner = FftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(WINDOW);
        let edges = band_edges();
        let mut levels = Vec::new();
        for start_ms in WINDOWS_MS {
            let start = onset + (start_ms * f64::from(RATE) / 1_000.0) as usize;
            let chunk = x.get(start..start + WINDOW)?;
            let mut buf: Vec<Complex<f64>> = chunk
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let w =
                        0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / WINDOW as f64).cos();
                    Complex::new(f64::from(v) * w, 0.0)
                })
                .collect();
            fft.process(&mut buf);
            let hz_per_bin = f64::from(RATE) / WINDOW as f64;
            for pair in edges.windows(2) {
                let lo = (pair[0] / hz_per_bin).floor() as usize;
                let hi = ((pair[1] / hz_per_bin).ceil() as usize).max(lo + 1);
                let power: f64 = buf[lo..hi].iter().map(|c| c.norm_sqr()).sum();
                levels.push(10.0 * (power + 1e-9).log10());
            }
        }
        let mean = levels.iter().sum::<f64>() / levels.len() as f64;
        Some(Print(levels.into_iter().map(|l| l - mean).collect()))
    }

    /// RMS difference with `other`, dB.
    pub fn distance(&self, other: &Print) -> f64 {
        let n = self.0.len().min(other.0.len()).max(1);
        let sum: f64 = self
            .0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a - b).powi(2))
            .sum();
        (sum / n as f64).sqrt()
    }
}

/// Sixth-octave band edges from 50 Hz to 12 kHz.
fn band_edges() -> Vec<f64> {
    let mut edges = vec![50.0];
    while let Some(&last) = edges.last() {
        if last >= 12_000.0 {
            break;
        }
        edges.push(last * 2f64.powf(1.0 / 6.0));
    }
    edges
}

/// The engine's render of every melodic palette instrument playing `note` (velocity 100,
/// released after `held_s`), printed: (id, print).
pub fn references(bank: &Arc<SampleBank>, note: u8, held_s: f32) -> Vec<(String, Print)> {
    let palette = bank.palette();
    palette
        .melodic()
        .iter()
        .enumerate()
        .filter_map(|(i, instrument)| {
            let program = u16::try_from(i).ok()?;
            let x = measure::play(bank, Kind::Melodic, program, &[note], held_s, 1.0);
            // Rendered from frame 0: that is where the note starts.
            let print = Print::of(&x, 0)?;
            Some((instrument.id.clone(), print))
        })
        .collect()
}

/// Which reference a heard note is nearest.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The nearest instrument's id.
    pub nearest: String,
    /// Its distance, dB.
    pub distance_db: f64,
    /// How much nearer it is than the next nearest, dB.
    pub margin_db: f64,
}

/// Compares a heard note's print with `references`.
pub fn verdict(heard: &Print, references: &[(String, Print)]) -> Verdict {
    let mut ranked: Vec<(f64, &str)> = references
        .iter()
        .map(|(id, p)| (heard.distance(p), id.as_str()))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (distance_db, nearest) = ranked.first().copied().unwrap_or((f64::INFINITY, "?"));
    let next = ranked.get(1).map_or(f64::INFINITY, |r| r.0);
    Verdict {
        nearest: nearest.to_owned(),
        distance_db,
        margin_db: next - distance_db,
    }
}

/// Envelope hop of [`notes`]: 1 ms.
const HOP: usize = 48;

/// Where the notes of a recording start, as sample indices: a note starts where the envelope
/// (peak over the last 12 ms, per ms) rises above a twentieth of the recording's peak and three times its lowest of
/// the 100 ms before (the silence or the last note's tail), at least `spacing_ms` after the
/// last start; its start is the envelope's low point of the 60 ms before that rise. Slow
/// attacks (brass, strings) are found too, unlike [`crate::heard::onsets`]' sharp hits.
pub fn notes(x: &[f32], spacing_ms: f64) -> Vec<usize> {
    let raw: Vec<f32> = x
        .chunks(HOP)
        .map(|c| c.iter().fold(0.0f32, |m, v| m.max(v.abs())))
        .collect();
    // Over 12 ms, longer than a period of any note played (G3 is 5 ms): a low note's own
    // waveform is not taken for new notes.
    let env: Vec<f32> = (0..raw.len())
        .map(|i| {
            raw[i.saturating_sub(11)..=i]
                .iter()
                .fold(0.0f32, |m, &v| m.max(v))
        })
        .collect();
    let peak = env.iter().fold(0.0f32, |m, &v| m.max(v));
    let threshold = peak / 20.0;
    let spacing = (spacing_ms.max(0.0) as usize).max(1);
    let mut starts: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < env.len() {
        let before = &env[i.saturating_sub(100)..i];
        let low = before.iter().fold(f32::INFINITY, |m, &v| m.min(v));
        let low = if low.is_finite() { low } else { 0.0 };
        let free = starts.last().is_none_or(|&s| i >= s + spacing);
        if free && env[i] > threshold && env[i] > 3.0 * low {
            // Back to the valley the note rose from.
            let from = i.saturating_sub(60);
            let valley = env[from..=i].iter().fold(f32::INFINITY, |m, &v| m.min(v));
            let start = (from..=i)
                .rev()
                .find(|&k| env[k] <= valley * 1.2 + 1e-6)
                .unwrap_or(from);
            starts.push(start);
            i += spacing;
        } else {
            i += 1;
        }
    }
    starts.into_iter().map(|h| h * HOP).collect()
}

/// A player's own sound for the tests: a looped sine (nothing in the palette sounds like it)
/// as a SoundFont whose preset is General MIDI 80, the square lead — so the room hears the
/// square lead.
pub fn sine_font(path: &std::path::Path) {
    let rate = 32_000u32;
    // 440 Hz at 32 kHz: 11 periods are exactly 800 frames, so the loop is seamless.
    let recording: Vec<i16> = (0..16_000)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            ((std::f64::consts::TAU * 440.0 * t).sin() * 16_000.0) as i16
        })
        .collect();
    let font =
        jam_audio::soundfont::write_sf2("Sine", 0, 80, &recording, rate, 69, Some([8_000, 8_800]));
    std::fs::write(path, font).expect("write the font");
}

/// The engine's render of my own `sound` playing `note` (velocity 100, released after
/// `held_s`), printed as [`references`] prints the palette's.
pub fn own_reference(
    bank: &Arc<SampleBank>,
    sound: &jam_audio::own::OwnSound,
    note: u8,
    held_s: f32,
) -> Print {
    use jam_audio::{Action, Command, EngineConfig, Instrument, SourceId};
    let (mut engine, mut renderer) = jam_audio::engine(bank.clone(), EngineConfig::default());
    engine.set_own_sound(Some(sound)).expect("a fresh engine");
    let me = SourceId::LOCAL;
    for command in [
        Command::now(Action::Program {
            source: me,
            instrument: Instrument::Piano,
            program: jam_audio::own::OWN_PROGRAM,
        }),
        Command::now(Action::NoteOn {
            source: me,
            instrument: Instrument::Piano,
            note,
            velocity: 100,
        }),
        Command::at(
            (held_s * RATE as f32) as u64,
            Action::NoteOff {
                source: me,
                instrument: Instrument::Piano,
                note,
            },
        ),
    ] {
        engine.send(command).expect("room in the ring");
    }
    let mut out = vec![0.0; RATE as usize * 2];
    for block in out.chunks_mut(512) {
        renderer.render(block, 2, std::time::Instant::now());
    }
    let mono: Vec<f32> = out.chunks_exact(2).map(|f| 0.5 * (f[0] + f[1])).collect();
    Print::of(&mono, 0).expect("a second of render")
}
