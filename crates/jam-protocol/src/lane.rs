//! The spare lane: a second connection that carries a copy of every event, for systems where a
//! lost retransmission costs TCP's 200 ms floor.
//!
//! Where [`crate::transport::retransmit_quickly`] cannot lower that floor (Linux before 6.15,
//! other systems), a note whose packet and retransmission are both lost stalls the stream for
//! 200 ms. A second TCP connection loses its packets independently, so a copy of each event sent
//! on it as well arrives in milliseconds while the first connection waits. A client opens the
//! lane with `lane:open` on a second WebSocket (its member's `laneToken` proves it is theirs);
//! from then on it sends each event on both, with the same `clientSeq`, and the relay delivers
//! each event to it on both. Each end keeps the first copy and drops the other with a
//! [`SeqWindow`]: the relay by the sender's `clientSeq`, a receiver by the room's `seq`.

/// How far behind the newest sequence number a copy is still told apart (numbers further back
/// count as seen: a copy that late is of no use).
pub const SEQ_WINDOW: u64 = 128;

/// Remembers which of the last [`SEQ_WINDOW`] sequence numbers were seen, in fixed space:
/// [`SeqWindow::first_time`] is true once per number. Numbers may come in any order; any `u64`
/// is taken (from a hostile peer too) without overflow or panic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqWindow {
    /// The newest number seen, if any.
    newest: Option<u64>,
    /// Bit `k` set: `newest − k` was seen.
    seen: u128,
}

impl SeqWindow {
    /// An empty window.
    pub const fn new() -> SeqWindow {
        SeqWindow {
            newest: None,
            seen: 0,
        }
    }

    /// Records `seq`; true if it was not seen before (and is not too far behind to tell).
    pub fn first_time(&mut self, seq: u64) -> bool {
        let Some(newest) = self.newest else {
            self.newest = Some(seq);
            self.seen = 1;
            return true;
        };
        if seq > newest {
            let ahead = seq - newest;
            self.seen = u32::try_from(ahead)
                .ok()
                .and_then(|shift| self.seen.checked_shl(shift))
                .filter(|_| ahead < SEQ_WINDOW)
                .unwrap_or(0)
                | 1;
            self.newest = Some(seq);
            return true;
        }
        let behind = newest - seq;
        if behind >= SEQ_WINDOW {
            return false;
        }
        let bit = 1u128 << behind;
        let first = self.seen & bit == 0;
        self.seen |= bit;
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_number_is_taken_once_in_any_order() {
        let mut w = SeqWindow::new();
        let order = [1u64, 3, 2, 2, 3, 1, 4, 10, 6, 5, 10, 7];
        let firsts: Vec<bool> = order.iter().map(|&s| w.first_time(s)).collect();
        assert_eq!(
            firsts,
            [
                true, true, true, false, false, false, true, true, true, true, false, true
            ]
        );
    }

    #[test]
    fn too_far_behind_counts_as_seen_and_a_leap_forgets() {
        let mut w = SeqWindow::new();
        assert!(w.first_time(1000));
        assert!(w.first_time(1000 - (SEQ_WINDOW - 1)));
        assert!(!w.first_time(1000 - SEQ_WINDOW), "beyond the window");
        assert!(
            w.first_time(1000 + SEQ_WINDOW),
            "a leap of exactly the window"
        );
        assert!(w.first_time(1001), "forgotten by the leap: new again");
        assert!(!w.first_time(1001));
    }

    #[test]
    fn hostile_numbers_never_panic() {
        let mut w = SeqWindow::new();
        for seq in [u64::MAX, 0, u64::MAX, 1, u64::MAX - 1, 0, u64::MAX / 2] {
            let _ = w.first_time(seq);
        }
        assert!(!w.first_time(u64::MAX));
        assert!(w.first_time(u64::MAX - 2));
        let mut w = SeqWindow::new();
        assert!(w.first_time(0));
        assert!(w.first_time(u64::MAX), "a leap of the whole range");
        assert!(!w.first_time(0));
    }
}
