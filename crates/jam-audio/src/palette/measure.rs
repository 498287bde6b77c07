//! How the palette is tuned and levelled: the two measures `extract_palette` applies when it
//! builds the palette and the tests check the shipped palette with.

use std::sync::Arc;
use std::time::Instant;

use super::Kind;
use crate::{Action, Command, EngineConfig, Instrument, SampleBank, SourceId};

/// Sample rate the measures render at.
pub const RATE: u32 = 48_000;

/// The keyboard part for melodic instruments, the drum part for kits.
pub fn part(kind: Kind) -> Instrument {
    match kind {
        Kind::Melodic => Instrument::Piano,
        Kind::Kit => Instrument::Drums,
    }
}

/// Plays `notes` (velocity 100) on palette instrument `program` of `kind`, releases them after
/// `held` seconds, and returns `seconds` of the mono mix (mean of left and right), rendered
/// offline by the engine.
pub fn play(
    bank: &Arc<SampleBank>,
    kind: Kind,
    program: u16,
    notes: &[u8],
    held: f32,
    seconds: f32,
) -> Vec<f32> {
    let (mut engine, mut renderer) = crate::engine(bank.clone(), EngineConfig::default());
    let part = part(kind);
    let me = SourceId::LOCAL;
    let mut commands = vec![Command::now(Action::Program {
        source: me,
        instrument: part,
        program,
    })];
    for &note in notes {
        commands.push(Command::now(Action::NoteOn {
            source: me,
            instrument: part,
            note,
            velocity: 100,
        }));
        let off = Action::NoteOff {
            source: me,
            instrument: part,
            note,
        };
        commands.push(Command::at(frames(held), off));
    }
    for command in commands {
        // The ring holds 1,024 commands; a measure sends a handful.
        let _ = engine.send(command);
    }
    let mut out = vec![0.0; frames(seconds) as usize * 2];
    for block in out.chunks_mut(512) {
        renderer.render(block, 2, Instant::now());
    }
    out.chunks_exact(2).map(|f| 0.5 * (f[0] + f[1])).collect()
}

fn frames(seconds: f32) -> u64 {
    (seconds.max(0.0) * RATE as f32) as u64
}

/// Root-mean-square level.
pub fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// The level the palette is matched by: the RMS of one second of a C-major chord (C4 E4 G4)
/// on a melodic instrument, or of a kick, snare and closed hat together on a kit, released
/// after 0.9 s.
pub fn chord_level(bank: &Arc<SampleBank>, kind: Kind, program: u16) -> f32 {
    let notes = match kind {
        Kind::Melodic => [60, 64, 67],
        Kind::Kit => [36, 38, 42],
    };
    rms(&play(bank, kind, program, &notes, 0.9, 1.0))
}

/// How far, in cents, the note in `x` (at [`RATE`]) sits from `hz`: the offset within ±50
/// cents that maximises the Hann-windowed spectrum summed at the first four harmonics (so a
/// weak fundamental doesn't mislead it), found to 0.5 cent. `None` when the best is at the edge
/// of the range: no note near `hz`.
pub fn cents_off(x: &[f32], hz: f64) -> Option<f64> {
    let windowed = hann(x);
    let nyquist = f64::from(RATE) / 2.0;
    let at = |c: f64| {
        let f0 = hz * 2f64.powf(c / 1200.0);
        (1..=4)
            .map(|k| f0 * f64::from(k))
            .filter(|f| *f < nyquist * 0.9)
            .map(|f| magnitude(&windowed, f, RATE).sqrt())
            .sum::<f64>()
    };
    let best_of =
        |cents: &mut dyn Iterator<Item = f64>| cents.max_by(|a, b| at(*a).total_cmp(&at(*b)));
    let coarse = best_of(&mut (-10..=10).map(|k| f64::from(k) * 5.0))?;
    let fine = best_of(&mut (-10..=10).map(|k| coarse + f64::from(k) * 0.5))?;
    (fine.abs() < 50.0).then_some(fine)
}

/// `x` under a Hann window, in `f64` (for [`magnitude`]).
pub fn hann(x: &[f32]) -> Vec<f64> {
    let n = x.len() as f64;
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            f64::from(*v) * (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos())
        })
        .collect()
}

/// Magnitude² of the (windowed) `x`, sampled at `rate`, at `hz`: one bin of a DFT, with a
/// rotating phasor instead of a sine and cosine per sample.
pub fn magnitude(x: &[f64], hz: f64, rate: u32) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
    let (step_re, step_im) = (w.cos(), w.sin());
    let (mut p_re, mut p_im, mut re, mut im) = (1.0, 0.0, 0.0, 0.0);
    for v in x {
        re += v * p_re;
        im += v * p_im;
        (p_re, p_im) = (
            p_re * step_re - p_im * step_im,
            p_re * step_im + p_im * step_re,
        );
    }
    re * re + im * im
}

/// The pitch of zone `zone` of melodic instrument `program`, played at its own recorded key
/// (the nearest key it plays): `(key, cents off that key's equal-tempered pitch)`.
pub fn zone_pitch(bank: &Arc<SampleBank>, program: u16, zone: usize) -> Option<(u8, f64)> {
    let instrument = bank.palette().melodic().get(usize::from(program))?;
    let z = instrument.zones.get(zone)?;
    let key = z.root.clamp(z.keys[0], z.keys[1]);
    let hz = 440.0 * 2f64.powf((f64::from(key) - 69.0) / 12.0);
    // Long enough to resolve a low bass note; from after the attack.
    let seconds = if hz < 100.0 { 1.6 } else { 0.8 };
    let out = play(bank, Kind::Melodic, program, &[key], 5.0, seconds + 0.3);
    let from = frames(0.3) as usize;
    cents_off(&out[from..], hz).map(|c| (key, c))
}
