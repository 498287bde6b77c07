//! The app core's groove scheduler (`jam_play::groove`) fed arbitrary tempos, patterns and
//! windows: bounded work per call, finite times, never a panic; and tempo changes taking over
//! from any tempo at any time.
#![no_main]

use arbitrary::Arbitrary;
use jam_play::groove::{Groove, MAX_STEPS_PER_CALL, Tempo};
use jam_protocol::pattern::{Pattern, Row};
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
        // A new tempo taking over at any moment: its anchor is finite whenever `now` is.
        let next = groove.tempo.changed_at(*now, input.bpm, input.beats_per_bar);
        assert!(!now.is_finite() || next.anchor_ms.is_finite(), "{next:?}");
    }
});
