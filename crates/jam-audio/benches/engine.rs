//! `audio-bench`: what rendering costs. Run: `cargo bench -p jam-audio --bench engine`.
//!
//! Prints, at 48 kHz in 128-frame blocks: the mean and worst block time for N sounding voices
//! against the block budget (2.667 ms), the cost per voice, the largest polyphony that stays
//! under 50 % of one core, and how many frames pass between a note command and its first sample.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jam_audio::{Action, Command, EngineConfig, Instrument, SampleBank, SourceId};

const RATE: u32 = 48_000;
const BLOCK: usize = 128;
/// Blocks measured per polyphony (about 1.3 s of audio).
const BLOCKS: usize = 500;

fn main() {
    let loading = std::time::Instant::now();
    let bank = Arc::new(SampleBank::load(&SampleBank::default_dir()).expect("assets"));
    println!(
        "audio-bench: decoding every sample (piano, kit, the palette's {} instruments and {} kits) took {:.0} ms",
        bank.palette().melodic().len(),
        bank.palette().kits().len(),
        loading.elapsed().as_secs_f64() * 1e3
    );
    let budget = Duration::from_secs_f64(BLOCK as f64 / f64::from(RATE));
    println!(
        "audio-bench: {RATE} Hz, {BLOCK}-frame blocks, budget {:.3} ms per block, release build",
        budget.as_secs_f64() * 1e3
    );
    println!(
        "{:>7} {:>12} {:>12} {:>10} {:>13}",
        "voices", "mean µs", "worst µs", "mean CPU", "worst/budget"
    );
    let mut per_voice_ns = Vec::new();
    let mut base_mean = 0.0;
    for voices in [0usize, 16, 32, 64, 128, 192, 256] {
        let config = EngineConfig {
            sample_rate: RATE,
            max_voices: 256,
            ..EngineConfig::default()
        };
        let (mut engine, mut renderer) = jam_audio::engine(bank.clone(), config);
        for i in 0..voices {
            // Low notes have the longest samples, so every voice sounds for the whole run;
            // one source per voice slot so no note damps another.
            let note = 24 + (i % 64) as u8 / 3 + (i / 64) as u8;
            let source = SourceId((i % 64) as u8);
            let action = Action::NoteOn {
                source,
                instrument: Instrument::Piano,
                note,
                velocity: 100,
            };
            engine.send(Command::now(action)).unwrap();
        }
        let mut out = vec![0.0f32; BLOCK * 2];
        let mut times = Vec::with_capacity(BLOCKS);
        for _ in 0..BLOCKS {
            let t = Instant::now();
            renderer.render(&mut out, 2, t);
            times.push(t.elapsed());
        }
        let active = engine.stats().voices_active as usize;
        let mean = times.iter().sum::<Duration>().as_secs_f64() / BLOCKS as f64;
        let worst = times.iter().max().expect("blocks").as_secs_f64();
        if voices == 0 {
            base_mean = mean;
        } else {
            per_voice_ns.push((mean - base_mean) / voices as f64 / BLOCK as f64 * 1e9);
        }
        println!(
            "{voices:>7} {:>12.1} {:>12.1} {:>9.1}% {:>13.2}   ({active} still sounding at the end)",
            mean * 1e6,
            worst * 1e6,
            mean / budget.as_secs_f64() * 100.0,
            worst / budget.as_secs_f64()
        );
    }
    let ns = per_voice_ns.iter().sum::<f64>() / per_voice_ns.len() as f64;
    let block_cost =
        |share: f64| (share * budget.as_secs_f64() - base_mean) / (ns * 1e-9 * BLOCK as f64);
    println!(
        "cost per voice: {ns:.1} ns per frame ({:.3} % of one core per voice at {RATE} Hz)",
        ns * 1e-9 * f64::from(RATE) * 100.0
    );
    println!(
        "polyphony within 50 % of one core: ≈ {:.0} voices; within 25 %: ≈ {:.0}",
        block_cost(0.5),
        block_cost(0.25)
    );

    // The palette: 256 voices of each instrument, held (looping ones sustain for the whole run).
    let mut heaviest = (0.0f64, String::new(), 0usize);
    for (program, instrument) in bank.palette().melodic().iter().enumerate().skip(1) {
        let config = EngineConfig {
            sample_rate: RATE,
            max_voices: 256,
            ..EngineConfig::default()
        };
        let (mut engine, mut renderer) = jam_audio::engine(bank.clone(), config);
        for source in 0..64u8 {
            let program = u16::try_from(program).expect("a small palette");
            let action = Action::Program {
                source: SourceId(source),
                instrument: Instrument::Piano,
                program,
            };
            engine.send(Command::now(action)).unwrap();
        }
        for i in 0..256usize {
            let action = Action::NoteOn {
                source: SourceId((i % 64) as u8),
                instrument: Instrument::Piano,
                // Four distinct keys per source, so no note re-strikes (and damps) another.
                note: 36 + 12 * (i / 64) as u8 + (i % 12) as u8,
                velocity: 100,
            };
            engine.send(Command::now(action)).unwrap();
        }
        let mut out = vec![0.0f32; BLOCK * 2];
        let mut total = Duration::ZERO;
        for _ in 0..BLOCKS {
            let t = Instant::now();
            renderer.render(&mut out, 2, t);
            total += t.elapsed();
        }
        let share = total.as_secs_f64() / BLOCKS as f64 / budget.as_secs_f64();
        let active = engine.stats().voices_active as usize;
        if share > heaviest.0 {
            heaviest = (share, instrument.id.clone(), active);
        }
    }
    println!(
        "palette: 256 voices of the heaviest instrument ({}, {} still sounding at the end): {:.1} % of one core",
        heaviest.1,
        heaviest.2,
        heaviest.0 * 100.0
    );

    // Trigger to first sample: a command sent between two callbacks sounds in the next block.
    let config = EngineConfig {
        sample_rate: RATE,
        ..EngineConfig::default()
    };
    let (mut engine, mut renderer) = jam_audio::engine(bank, config);
    let mut out = vec![0.0f32; BLOCK * 2];
    renderer.render(&mut out, 2, Instant::now());
    engine
        .note_on(SourceId::LOCAL, Instrument::Drums, 38, 110)
        .unwrap();
    renderer.render(&mut out, 2, Instant::now());
    let first = out.chunks_exact(2).position(|f| f[0] != 0.0 || f[1] != 0.0);
    println!(
        "trigger to first sample: first non-zero frame at offset {first:?} of the next block — at most one \
         buffer period ({BLOCK} frames = {:.2} ms) after the command, plus the device's own output latency",
        BLOCK as f64 / f64::from(RATE) * 1e3
    );
}
