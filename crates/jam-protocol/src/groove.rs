//! The room's shared time: tempo, the metronome click and the 16-step drum sequencer.
//!
//! Everything is a pure function of relay time, so every machine plays the same step at the same
//! moment without any message saying "now": beat `n` of the room is at
//! `tempo.anchor_ms + n × 60 000 / bpm`, and step `k` (four per beat) plays pattern column
//! `k mod 16`. Starting the sequencer therefore joins the grid where it is — everyone hears the
//! same column. Before any `tempo_change` the room runs at 120 BPM, 4/4, anchored at relay time 0.
//!
//! [`Groove::due`] lists what to play in a window of time; the app core's groove task calls it
//! a little ahead of time and hands the hits to the audio engine at their exact frames, and the
//! browser guest (`jam-web`) does the same with WebAudio: one implementation for every face.
//! The pattern's layout is the protocol's ([`crate::pattern`]).

use crate::event::TempoChange;
use crate::pattern::{self, Pattern};
use serde::{Deserialize, Serialize};

/// Steps per beat (16th notes), as a step count.
const STEPS_PER_BEAT: i64 = pattern::STEPS_PER_BEAT as i64;
/// Most sequencer steps one call schedules (a 25 ms tick with 120 ms of lookahead needs 5 at
/// 400 BPM).
pub const MAX_STEPS_PER_CALL: i64 = 64;
/// [`pattern::STEPS`] as a step count.
const STEPS_I64: i64 = pattern::STEPS as i64;
/// Largest step index the scheduler works with: 2^52 steps, so every index is exact in f64
/// (relay time today is about 1.4 × 10^10 steps of 125 ms from the epoch).
const MAX_STEP_INDEX: f64 = 4_503_599_627_370_496.0;

/// `floor(steps)` as an index, if it is finite and within ±[`MAX_STEP_INDEX`].
fn step_index(steps: f64) -> Option<i64> {
    let floor = steps.floor();
    // The range check makes the conversion exact.
    #[allow(clippy::cast_possible_truncation)]
    (floor.is_finite() && floor.abs() <= MAX_STEP_INDEX).then_some(floor as i64)
}

/// The click's drum sound (GM side stick).
pub const CLICK_NOTE: u8 = 37;

/// The shared tempo.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Tempo {
    /// Beats per minute.
    pub bpm: f64,
    /// Beats in a bar.
    pub beats_per_bar: u8,
    /// Relay time of beat 0, ms.
    pub anchor_ms: f64,
}

impl Default for Tempo {
    fn default() -> Tempo {
        Tempo {
            bpm: 120.0,
            beats_per_bar: 4,
            anchor_ms: 0.0,
        }
    }
}

impl From<&TempoChange> for Tempo {
    fn from(t: &TempoChange) -> Tempo {
        Tempo {
            bpm: t.bpm,
            beats_per_bar: t.beats_per_bar,
            anchor_ms: t.timestamp,
        }
    }
}

impl Tempo {
    /// The `tempo_change` that shares this tempo.
    pub fn to_change(self) -> TempoChange {
        TempoChange {
            bpm: self.bpm,
            beats_per_bar: self.beats_per_bar,
            timestamp: self.anchor_ms,
        }
    }

    /// A new tempo taking over from this one at `now_ms` (relay time): its beat 0 is the next
    /// beat of this one, so the beat goes on without a jump.
    pub fn changed_at(self, now_ms: f64, bpm: f64, beats_per_bar: u8) -> Tempo {
        let old_bpm = if self.bpm.is_finite() && self.bpm > 0.0 {
            self.bpm
        } else {
            120.0
        };
        let beat_ms = 60_000.0 / old_bpm;
        let beats = ((now_ms - self.anchor_ms) / beat_ms).ceil();
        let next_beat = self.anchor_ms + beats * beat_ms;
        Tempo {
            bpm,
            beats_per_bar,
            anchor_ms: if next_beat.is_finite() {
                next_beat
            } else {
                now_ms
            },
        }
    }
}

/// Something to play at a relay time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Relay time, ms.
    pub at_ms: f64,
    /// GM drum number.
    pub note: u8,
    /// 1–127.
    pub velocity: u8,
    /// The metronome (rather than the sequencer).
    pub click: bool,
}

/// Sequencer velocity: a little accent on the beat.
const STEP_VELOCITY: u8 = 96;
const BEAT_VELOCITY: u8 = 112;

/// Tempo, pattern and click, plus how far ahead they have been scheduled.
#[derive(Debug, Clone, Default)]
pub struct Groove {
    /// The shared tempo.
    pub tempo: Tempo,
    /// The shared pattern.
    pub pattern: Pattern,
    /// The local click (not shared: each player chooses).
    pub click: bool,
    /// Hits up to this relay time have been handed to the engine.
    scheduled_until_ms: Option<f64>,
}

impl Groove {
    /// A groove with nothing scheduled yet.
    pub fn new(tempo: Tempo, pattern: Pattern, click: bool) -> Groove {
        Groove {
            tempo,
            pattern,
            click,
            scheduled_until_ms: None,
        }
    }

    /// Length of one step, ms. A tempo outside the protocol's range (it never passes
    /// validation) counts as the nearest bound.
    pub fn step_ms(&self) -> f64 {
        use crate::event::{MAX_BPM, MIN_BPM};
        let bpm = if self.tempo.bpm.is_finite() {
            self.tempo.bpm.clamp(MIN_BPM, MAX_BPM)
        } else {
            MIN_BPM
        };
        60_000.0 / bpm / 4.0
    }

    /// What plays in `(from_ms, to_ms]`, in time order: at most [`MAX_STEPS_PER_CALL`] steps,
    /// the last ones of the window (a wider window means a stall or a jump of the clock, and
    /// playing its past would only be a burst of late hits). Times that don't fit (a tempo
    /// anchor far from now, non-finite values) give nothing.
    pub fn hits_between(&self, from_ms: f64, to_ms: f64) -> Vec<Hit> {
        let step = self.step_ms();
        let step_index = |t: f64| step_index((t - self.tempo.anchor_ms) / step);
        let (Some(first), Some(last)) = (step_index(from_ms), step_index(to_ms)) else {
            return Vec::new();
        };
        let first = first
            .saturating_add(1)
            .max(last.saturating_sub(MAX_STEPS_PER_CALL - 1));
        // A bar of no beats never passes validation; if one came here, it is a bar of one.
        let bar_steps = i64::from(self.tempo.beats_per_bar.max(1)) * STEPS_PER_BEAT;
        let mut hits = Vec::new();
        for k in first..=last {
            let at_ms = self.tempo.anchor_ms + k as f64 * step;
            let on_beat = k.rem_euclid(STEPS_PER_BEAT) == 0;
            if self.click && on_beat {
                let downbeat = k.rem_euclid(bar_steps) == 0;
                hits.push(Hit {
                    at_ms,
                    note: CLICK_NOTE,
                    velocity: if downbeat { 127 } else { 72 },
                    click: true,
                });
            }
            if self.pattern.running {
                let column = usize::try_from(k.rem_euclid(STEPS_I64)).unwrap_or(0);
                let velocity = if on_beat {
                    BEAT_VELOCITY
                } else {
                    STEP_VELOCITY
                };
                hits.extend(self.pattern.hits_at(column).map(|note| Hit {
                    at_ms,
                    note,
                    velocity,
                    click: false,
                }));
            }
        }
        hits
    }

    /// The hits to hand to the engine now, `now_ms` being relay time: everything up to
    /// `now_ms + lookahead_ms` not handed over yet. After a stall (or at the start) it picks up
    /// at `now_ms` rather than playing a burst of the past.
    pub fn due(&mut self, now_ms: f64, lookahead_ms: f64) -> Vec<Hit> {
        let until = now_ms + lookahead_ms;
        // What lies before `now_ms` is past: late hits are worse than missing ones. A schedule
        // beyond `until` means the clock went back (a new timeline): start afresh.
        let from = match self.scheduled_until_ms {
            Some(t) if t <= until => t.max(now_ms),
            _ => now_ms,
        };
        self.scheduled_until_ms = Some(until);
        self.hits_between(from, until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::PatternChange;
    use crate::pattern::Row;

    fn four_on_the_floor() -> Pattern {
        Pattern {
            running: true,
            rows: vec![
                Row {
                    note: 36,
                    on: "x...x...x...x...".into(),
                },
                Row {
                    note: 38,
                    on: "....x.......x...".into(),
                },
            ],
        }
    }

    #[test]
    fn two_machines_that_ask_at_different_moments_play_the_same_steps_at_the_same_times() {
        let tempo = Tempo {
            bpm: 100.0,
            beats_per_bar: 4,
            anchor_ms: 1_000.0,
        };
        let mut a = Groove {
            tempo,
            pattern: four_on_the_floor(),
            ..Groove::default()
        };
        let mut b = a.clone();
        // A asks every 25 ms from t = 5 000; B every 40 ms from t = 5 013.
        let mut hits_a = Vec::new();
        let mut hits_b = Vec::new();
        for i in 0..200 {
            hits_a.extend(a.due(5_000.0 + 25.0 * f64::from(i), 100.0));
        }
        for i in 0..125 {
            hits_b.extend(b.due(5_013.0 + 40.0 * f64::from(i), 100.0));
        }
        let overlap = |h: &&Hit| h.at_ms > 5_200.0 && h.at_ms < 9_900.0;
        let a: Vec<_> = hits_a.iter().filter(overlap).collect();
        let b: Vec<_> = hits_b.iter().filter(overlap).collect();
        assert_eq!(a, b);
        // 150 ms steps: kicks every 600 ms, snares on beats 2 and 4 (column 4 and 12).
        let kicks: Vec<f64> = a.iter().filter(|h| h.note == 36).map(|h| h.at_ms).collect();
        assert!(kicks.windows(2).all(|w| (w[1] - w[0] - 600.0).abs() < 1e-6));
        for snare in a.iter().filter(|h| h.note == 38) {
            let column = ((snare.at_ms - 1_000.0) / 150.0).round() as i64 % 16;
            assert!(column == 4 || column == 12, "snare in column {column}");
        }
    }

    #[test]
    fn nothing_is_scheduled_twice_or_skipped_and_a_stall_does_not_burst() {
        let mut g = Groove {
            click: true,
            ..Groove::default()
        };
        let mut hits = Vec::new();
        for i in 0..100 {
            hits.extend(g.due(10_000.0 + 20.0 * f64::from(i), 120.0));
        }
        // 120 BPM: a click every 500 ms from 10 000 to 12 100.
        let times: Vec<f64> = hits.iter().map(|h| h.at_ms).collect();
        assert_eq!(times, vec![10_500.0, 11_000.0, 11_500.0, 12_000.0]);
        assert_eq!(
            hits[3].velocity, 127,
            "12 000 is a downbeat: 24 beats after 0"
        );
        assert_eq!(hits[2].velocity, 72, "11 500 is beat 4 of its bar");
        // Ten seconds without a call: picks up at now, not with 20 clicks at once.
        let later = g.due(22_100.0, 120.0);
        assert!(later.is_empty());
        assert_eq!(g.due(22_450.0, 120.0).len(), 1);
    }

    #[test]
    fn stopped_sequencer_and_silent_click_play_nothing_and_bad_patterns_are_refused() {
        let mut g = Groove {
            pattern: Pattern {
                running: false,
                ..four_on_the_floor()
            },
            ..Groove::default()
        };
        assert!(g.due(0.0, 10_000.0).is_empty());
        let change = PatternChange {
            pattern_id: "main".into(),
            bpm: None,
            steps: serde_json::json!({"running": true, "rows": [{"note": 36, "on": "x..."}]}),
            timestamp: 0.0,
        };
        assert_eq!(Pattern::from_change(&change), None);
        let change = PatternChange {
            steps: serde_json::to_value(four_on_the_floor()).unwrap(),
            ..change
        };
        assert_eq!(Pattern::from_change(&change), Some(four_on_the_floor()));
    }

    #[test]
    fn hostile_tempos_and_windows_give_bounded_work_and_never_panic() {
        let huge = [f64::MAX, -f64::MAX, 1e300, -1e300, f64::NAN, f64::INFINITY];
        for anchor in huge.iter().copied().chain([0.0, 1.8e12]) {
            for bpm in [20.0, 400.0, 0.0, -5.0, f64::NAN, 1e308] {
                let g = Groove::new(
                    Tempo {
                        bpm,
                        beats_per_bar: if bpm == 0.0 { 0 } else { 16 },
                        anchor_ms: anchor,
                    },
                    Pattern {
                        running: true,
                        rows: (0..16)
                            .map(|n| Row {
                                note: n,
                                on: "x".repeat(16),
                            })
                            .collect(),
                    },
                    true,
                );
                for (from, to) in [(0.0, 1.8e12), (-1e300, 1e300), (1.8e12, 1.8e12 + 120.0)] {
                    let hits = g.hits_between(from, to);
                    assert!(
                        hits.len() <= (MAX_STEPS_PER_CALL as usize) * 17,
                        "{anchor} {bpm}: {}",
                        hits.len()
                    );
                    assert!(hits.iter().all(|h| h.at_ms.is_finite()));
                }
            }
        }
    }

    #[test]
    fn a_new_tempo_starts_on_the_next_beat_of_the_old_one() {
        let old = Tempo {
            bpm: 120.0,
            beats_per_bar: 4,
            anchor_ms: 1_000.0,
        };
        // 120 BPM: beats at 1 000, 1 500, 2 000, …; at 1 700 the next is 2 000.
        let new = old.changed_at(1_700.0, 90.0, 3);
        assert_eq!(
            (new.bpm, new.beats_per_bar, new.anchor_ms),
            (90.0, 3, 2_000.0)
        );
        // On a beat, that beat.
        assert_eq!(old.changed_at(2_500.0, 100.0, 4).anchor_ms, 2_500.0);
        // An anchor at 0 (this machine's own grid) moves to a beat near now, on the same grid.
        let local = Tempo::default().changed_at(1.8e12 + 123.0, 120.0, 4);
        assert_eq!(local.anchor_ms, 1.8e12 + 500.0);
        // Nonsense never gives a non-finite anchor.
        let broken = Tempo {
            bpm: f64::NAN,
            ..old
        };
        assert!(broken.changed_at(5_000.0, 120.0, 4).anchor_ms.is_finite());
    }
}
