//! The step-sequencer pattern as Jamwire lays it out inside `pattern_change`'s `steps`.
//!
//! The relay stores `steps` without reading them; every Jamwire client reads and writes them
//! through [`Pattern`], so the layout is defined here once: up to [`MAX_ROWS`] rows, each a
//! General MIDI drum and [`STEPS`] characters, `x` for a hit and `.` for a rest, plus whether the
//! sequencer runs. Step `k` of the room (four per beat) plays column `k mod 16`.

use serde::{Deserialize, Serialize};

use crate::event::{MAX_NOTE, PatternChange};

/// Steps in a pattern (one bar of 16th notes in 4/4).
pub const STEPS: usize = 16;
/// Steps per beat (16th notes).
pub const STEPS_PER_BEAT: u32 = 4;
/// Most rows (drum sounds) in a pattern.
pub const MAX_ROWS: usize = 16;
/// The `patternId` of the room's one shared pattern.
pub const MAIN_PATTERN_ID: &str = "main";
/// The character of a step that plays.
pub const HIT: char = 'x';
/// The character of a step that rests.
pub const REST: char = '.';

/// One row of the sequencer: a drum sound and its [`STEPS`] steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Row {
    /// General MIDI drum number, 0–127.
    pub note: u8,
    /// [`STEPS`] characters, `x` = play, `.` = rest.
    pub on: String,
}

/// The `steps` of a `pattern_change`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Pattern {
    /// The sequencer is playing (start and stop are shared too).
    pub running: bool,
    /// Up to [`MAX_ROWS`] rows.
    pub rows: Vec<Row>,
}

impl Pattern {
    /// Reads a `pattern_change`; `None` if its steps are not this layout.
    pub fn from_change(change: &PatternChange) -> Option<Pattern> {
        let pattern = Pattern::deserialize(&change.steps).ok()?;
        pattern.is_valid().then_some(pattern)
    }

    /// The `pattern_change` that shares this pattern, stamped `timestamp` (relay ms).
    pub fn to_change(&self, timestamp: f64) -> PatternChange {
        PatternChange {
            pattern_id: MAIN_PATTERN_ID.to_owned(),
            bpm: None,
            steps: serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
            timestamp,
        }
    }

    /// At most [`MAX_ROWS`] rows, notes in range, [`STEPS`] steps of `x` or `.` each.
    pub fn is_valid(&self) -> bool {
        self.rows.len() <= MAX_ROWS
            && self.rows.iter().all(|r| {
                r.note <= MAX_NOTE
                    && r.on.chars().count() == STEPS
                    && r.on.chars().all(|c| c == HIT || c == REST)
            })
    }

    /// The drums that play in `column` (0–15).
    pub fn hits_at(&self, column: usize) -> impl Iterator<Item = u8> + '_ {
        self.rows
            .iter()
            .filter(move |r| r.on.as_bytes().get(column) == Some(&b'x'))
            .map(|r| r.note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_survives_its_change_and_other_layouts_are_refused() {
        let pattern = Pattern {
            running: true,
            rows: vec![Row {
                note: 36,
                on: "x...x...x...x...".into(),
            }],
        };
        let change = pattern.to_change(12.0);
        assert_eq!(change.pattern_id, MAIN_PATTERN_ID);
        assert_eq!(Pattern::from_change(&change), Some(pattern.clone()));
        assert_eq!(pattern.hits_at(4).collect::<Vec<_>>(), vec![36]);
        assert_eq!(pattern.hits_at(5).count(), 0);
        for steps in [
            serde_json::json!({"running": true, "rows": [{"note": 36, "on": "x..."}]}),
            serde_json::json!({"running": true, "rows": [{"note": 200, "on": "x...............".to_string()}]}),
            serde_json::json!({"running": true, "rows": [{"note": 36, "on": "y..............."}]}),
            serde_json::json!([1, 2, 3]),
        ] {
            let change = PatternChange {
                steps,
                ..change.clone()
            };
            assert_eq!(Pattern::from_change(&change), None);
        }
    }
}
