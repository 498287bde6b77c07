//! A take as a performance: its musical events in time, ready to export or replay.

use jam_protocol::MusicalEvent;
use serde_json::value::RawValue;

use crate::{Result, TakeStore};

/// How far a sender's own timestamp may be from relay time and still be believed, ms. Within
/// it the sender's timestamp is used (it keeps their rhythm free of network jitter); beyond it
/// (a wrong clock, a hostile client) the relay's time is.
pub const TIMESTAMP_TRUST_MS: f64 = 5_000.0;

/// Longest offset into a take that is believed, ms (a week); a log that says more is corrupt,
/// and such events are placed at that bound rather than overflow anything.
pub const MAX_OFFSET_MS: f64 = 7.0 * 86_400_000.0;

/// One musical event of a take.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedEvent {
    /// Time from the start of the take, ms.
    pub offset_ms: f64,
    /// The room's sequence number.
    pub seq: u64,
    /// Who played it.
    pub sender_id: String,
    /// Their name.
    pub sender_name: String,
    /// What they played.
    pub event: MusicalEvent,
}

/// The time an event happened: the sender's timestamp if it is believable, else relay time.
pub fn event_time_ms(event: &MusicalEvent, relay_ms: f64) -> f64 {
    let sender = event.timestamp();
    sender
        .filter(|t| t.is_finite() && (t - relay_ms).abs() <= TIMESTAMP_TRUST_MS)
        .unwrap_or(relay_ms)
}

impl TimedEvent {
    /// Time from the start of the take, within `0..=`[`MAX_OFFSET_MS`].
    pub fn offset(&self) -> std::time::Duration {
        let ms = if self.offset_ms.is_finite() {
            self.offset_ms.clamp(0.0, MAX_OFFSET_MS)
        } else {
            0.0
        };
        std::time::Duration::try_from_secs_f64(ms / 1_000.0).unwrap_or_default()
    }

    /// [`TimedEvent::offset`] in whole microseconds.
    pub fn offset_us(&self) -> u64 {
        u64::try_from(self.offset().as_micros()).unwrap_or(u64::MAX)
    }
}

impl TakeStore {
    /// The musical events of take `id` (notes, pedal, tempo, sounds chosen; not chat or cursors),
    /// in time order.
    pub fn timeline(&self, id: i64) -> Result<Vec<TimedEvent>> {
        let start = self.session(id)?.started_ms;
        let mut timeline: Vec<TimedEvent> = self
            .events(id)?
            .into_iter()
            .filter_map(|e| {
                let raw: Box<RawValue> = RawValue::from_string(e.payload).ok()?;
                let event = MusicalEvent::parse(&e.event, &raw).ok().flatten()?;
                if matches!(event, MusicalEvent::Chat(_) | MusicalEvent::Cursor(_)) {
                    return None;
                }
                Some(TimedEvent {
                    offset_ms: (event_time_ms(&event, e.at_ms) - start).max(0.0),
                    seq: e.seq,
                    sender_id: e.sender_id,
                    sender_name: e.sender_name,
                    event,
                })
            })
            .collect();
        // A sound chosen takes effect from the sender's next note: an `instrument` event has
        // no timestamp of its own (its time is its arrival), so it is placed no later than
        // that note's own time, or the note would be exported in the old sound.
        let mut next: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
        let mut moved: Vec<(usize, f64)> = Vec::new();
        for (i, e) in timeline.iter().enumerate().rev() {
            if matches!(e.event, MusicalEvent::Instrument(_)) {
                if let Some(&at) = next.get(e.sender_id.as_str()) {
                    moved.push((i, e.offset_ms.min(at)));
                }
            } else if e.event.timestamp().is_some() {
                next.insert(e.sender_id.as_str(), e.offset_ms);
            }
        }
        for (i, at) in moved {
            if let Some(e) = timeline.get_mut(i) {
                e.offset_ms = at;
            }
        }
        // Stable: events at the same time keep their relay order.
        timeline.sort_by(|a, b| a.offset_ms.total_cmp(&b.offset_ms));
        Ok(timeline)
    }
}
