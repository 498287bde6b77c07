//! The desktop app's groove scheduler fed arbitrary tempos, patterns and windows: bounded
//! work per call, finite times, never a panic.
//!
//! The scheduler lives in the desktop app (`src-tauri/src/groove.rs`); it depends only on
//! `jam-protocol`, serde and serde_json, so it is compiled in here as a module instead of
//! building Tauri for fuzzing.
#![no_main]

#[allow(dead_code)]
#[path = "../../src-tauri/src/groove.rs"]
mod groove;

use arbitrary::Arbitrary;
use groove::{Groove, MAX_STEPS_PER_CALL, Pattern, Row, Tempo};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    bpm: f64,
    beats_per_bar: u8,
    anchor_ms: f64,
    rows: Vec<(u8, [bool; 16])>,
    running: bool,
    click: bool,
    calls: Vec<(f64, f64)>,
}

fuzz_target!(|input: Input| {
    let rows = input
        .rows
        .iter()
        .take(16)
        .map(|(note, on)| Row {
            note: *note,
            on: on.iter().map(|x| if *x { 'x' } else { '.' }).collect(),
        })
        .collect();
    let mut groove = Groove::new(
        Tempo {
            bpm: input.bpm,
            beats_per_bar: input.beats_per_bar,
            anchor_ms: input.anchor_ms,
        },
        Pattern {
            running: input.running,
            rows,
        },
        input.click,
    );
    let most = usize::try_from(MAX_STEPS_PER_CALL).unwrap_or(64) * 17;
    for (now, ahead) in input.calls.iter().take(64) {
        let hits = groove.due(*now, *ahead);
        assert!(hits.len() <= most, "{} hits", hits.len());
        assert!(hits.iter().all(|h| h.at_ms.is_finite()));
        assert!(groove.hits_between(*ahead, *now).len() <= most);
    }
});
