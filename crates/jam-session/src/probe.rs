//! Tail probes: tiny frames (WebSocket pings) after the last event sent, until the relay's
//! answer shows it has received everything.
//!
//! Over TCP a lost packet is found only when a later one arrives: its acknowledgement tells
//! our TCP what is missing, and the loss is repaired within a round trip (RACK). A player's
//! events are sparse (one every 125 ms in a steady groove of 16ths), so a lost *last* event
//! has nothing after it and waits for TCP's timers: its tail-loss probe, about 200 ms when it
//! is the only packet in flight, and then its retransmission timeout, 200 ms doubling with
//! every further loss. A listener hears each of those as a stall.
//!
//! So after each event a ping follows 5 ms later, then one every 20 ms (or half the shortest
//! round trip seen, if that is longer), **until the pong of a ping sent after the event comes
//! back**: TCP delivers in order, so that pong proves the event arrived. A lost event, or a lost
//! probe, then has a later packet behind it within 20 ms. (A lost *retransmission* is another
//! matter: TCP is then in recovery with its window full and holds the probes back, so only its
//! retransmission timeout helps, which `jam_protocol::transport` shortens.) This replaced a
//! fixed pair of probes, 5 and 25 ms after each event: on a round trip over 20 ms the second
//! went before the first's answer could show a loss, and a lost pair left it to TCP's timers.
//!
//! Cost: on a link that loses nothing, one ping per event when the round trip is under 20 ms
//! (its pong arrives before the second is due), about one more per 20 ms of round trip above
//! that; never more than [`MAX_PROBES`] per event (a second's worth), and nothing in a dense
//! stream, where each event is the probe of the one before.

use std::time::Duration;

use tokio::time::Instant;

/// Most probes sent after one event: 50 at 20 ms is a second, by when TCP's own timers have
/// long been beaten or the link is gone (the session's silence timeout decides that).
pub const MAX_PROBES: u32 = 50;
/// Probes after the first are this many times its delay apart (5 ms → every 20 ms).
const INTERVAL_FACTOR: u32 = 4;

/// The probes still owed for the last event sent.
#[derive(Debug, Default)]
pub struct TailProbes {
    /// The last event sent whose arrival is not yet proven, if any.
    pending: Option<Pending>,
    /// The id the next probe carries (its ping's payload).
    next_id: u64,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    /// When the event was sent.
    sent_at: Instant,
    /// Probes sent for it so far.
    probes: u32,
    /// The first probe id sent after it: its pong, or a later one's, proves it arrived.
    first_id: u64,
}

impl TailProbes {
    /// An event was just sent, at `now`: probes are owed until its arrival is proven.
    pub fn event_sent(&mut self, now: Instant) {
        self.pending = Some(Pending {
            sent_at: now,
            probes: 0,
            first_id: self.next_id,
        });
    }

    /// When the next probe is due: `first` after the event, then every `INTERVAL_FACTOR ×
    /// first` or `min_rtt / 2` (whichever is longer); `None` when none is owed.
    pub fn due(&self, first: Duration, min_rtt: Option<Duration>) -> Option<Instant> {
        let pending = self.pending?;
        if pending.probes >= MAX_PROBES {
            return None;
        }
        let every = (first * INTERVAL_FACTOR).max(min_rtt.unwrap_or_default() / 2);
        Some(pending.sent_at + first + every * pending.probes)
    }

    /// Takes the next probe: the payload its ping carries.
    pub fn probe(&mut self) -> [u8; 8] {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        if let Some(pending) = self.pending.as_mut() {
            pending.probes = pending.probes.saturating_add(1);
        }
        id.to_be_bytes()
    }

    /// A pong arrived with `payload`. If it answers a probe sent after the last event, that
    /// event has arrived and no more probes are owed. Anything else (another payload, the
    /// relay's own) changes nothing.
    pub fn pong(&mut self, payload: &[u8]) {
        let Ok(bytes) = <[u8; 8]>::try_from(payload) else {
            return;
        };
        let id = u64::from_be_bytes(bytes);
        if self
            .pending
            .is_some_and(|p| id >= p.first_id && id < self.next_id)
        {
            self.pending = None;
        }
    }

    /// Whether probes are owed.
    #[cfg(test)]
    fn owed(&self) -> bool {
        self.pending.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_millis(5);

    #[test]
    fn probes_follow_an_event_until_a_later_pong_proves_it_arrived() {
        let t0 = Instant::now();
        let mut probes = TailProbes::default();
        assert_eq!(probes.due(FIRST, None), None, "nothing sent, nothing owed");
        probes.event_sent(t0);
        let mut dues = Vec::new();
        let mut payloads = Vec::new();
        for _ in 0..4 {
            dues.push(probes.due(FIRST, None).unwrap() - t0);
            payloads.push(probes.probe());
        }
        let ms = |m| Duration::from_millis(m);
        assert_eq!(dues, [ms(5), ms(25), ms(45), ms(65)]);
        // A pong for a ping from before the event, or a stranger's payload, proves nothing.
        probes.pong(&u64::MAX.to_be_bytes());
        probes.pong(b"hello");
        probes.pong(&[]);
        assert!(probes.owed());
        // The second probe's pong (the first's was lost) proves it.
        probes.pong(&payloads[1]);
        assert!(!probes.owed());
        assert_eq!(probes.due(FIRST, None), None);
    }

    #[test]
    fn an_old_pong_does_not_confirm_a_newer_event() {
        let t0 = Instant::now();
        let mut probes = TailProbes::default();
        probes.event_sent(t0);
        let old = probes.probe();
        probes.event_sent(t0 + Duration::from_millis(10));
        probes.pong(&old);
        assert!(probes.owed(), "the old probe went before the new event");
        let new = probes.probe();
        probes.pong(&new);
        assert!(!probes.owed());
    }

    #[test]
    fn a_long_round_trip_spaces_the_probes_and_they_stop_after_a_second() {
        let t0 = Instant::now();
        let mut probes = TailProbes::default();
        probes.event_sent(t0);
        let rtt = Some(Duration::from_millis(100));
        probes.probe();
        assert_eq!(
            probes.due(FIRST, rtt).unwrap() - t0,
            Duration::from_millis(55)
        );
        for _ in 1..MAX_PROBES {
            assert!(probes.due(FIRST, None).is_some());
            probes.probe();
        }
        assert_eq!(probes.due(FIRST, None), None, "at most {MAX_PROBES}");
    }
}
