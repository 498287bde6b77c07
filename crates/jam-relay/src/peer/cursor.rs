//! Cursor events (where a player points) are relayed at most once per interval, the latest
//! winning: a jittery mouse can't flood a room.

use serde_json::value::RawValue;
use tokio::time::{Duration, Instant};

/// Holds back `cursor` events so that at most one per interval is relayed; the latest wins.
pub(super) struct CursorGate {
    interval: Duration,
    /// When the last cursor was relayed.
    last_sent: Option<Instant>,
    /// The newest cursor held back, with its event name.
    pending: Option<(String, Box<RawValue>)>,
}

impl CursorGate {
    /// Forgets a cursor held back (the connection left its room).
    pub(super) fn clear(&mut self) {
        self.pending = None;
    }

    pub(super) fn new(interval: Duration) -> CursorGate {
        CursorGate {
            interval,
            last_sent: None,
            pending: None,
        }
    }

    /// Offers a cursor event: true if it may go now; else it is kept (copied) as the pending
    /// one.
    pub(super) fn offer(&mut self, name: &str, payload: &RawValue, now: Instant) -> bool {
        if self.last_sent.is_none_or(|t| now >= t + self.interval) {
            self.last_sent = Some(now);
            self.pending = None;
            true
        } else {
            self.pending = Some((name.to_owned(), payload.to_owned()));
            false
        }
    }

    /// When the pending cursor may go.
    pub(super) fn due(&self) -> Option<Instant> {
        let last = self.last_sent?;
        self.pending.as_ref().map(|_| last + self.interval)
    }

    pub(super) fn take_due(&mut self, now: Instant) -> Option<(String, Box<RawValue>)> {
        let pending = self.pending.take()?;
        self.last_sent = Some(now);
        Some(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_gate_lets_one_through_per_interval_latest_wins() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let mut gate = CursorGate::new(ms(100));
        assert!(gate.offer("cursor", &raw("1"), t0), "first goes at once");
        assert!(!gate.offer("cursor", &raw("2"), t0 + ms(10)));
        assert!(!gate.offer("cursor", &raw("3"), t0 + ms(20)));
        assert_eq!(gate.due(), Some(t0 + ms(100)));
        let (_, latest) = gate.take_due(t0 + ms(100)).unwrap();
        assert_eq!(latest.get(), "3", "latest wins");
        assert_eq!(gate.due(), None);
        assert!(
            !gate.offer("cursor", &raw("4"), t0 + ms(150)),
            "only 50 ms since the last"
        );
        assert!(gate.offer("cursor", &raw("5"), t0 + ms(200)));
    }
}
