//! Clock sync: the offset from this machine's clock to relay time, from `clock:ping`/`pong`.

use std::collections::VecDeque;

use jam_protocol::LinkFigures;

/// Samples kept; the one with the smallest round trip wins (NTP's "minimum filter").
const WINDOW: usize = 16;
/// Largest step, in ms, the offset takes per new estimate once synced, so time never jumps.
const MAX_SLEW_MS: f64 = 0.5;
/// A disagreement this large (ms) means a different relay or a stepped clock: start over.
const RESYNC_MS: f64 = 250.0;
/// Until this many samples have arrived the estimate follows the best sample directly: it is
/// still learning, and slewing from a first poor sample would take half a minute.
pub(crate) const LEARNING_SAMPLES: usize = 8;

/// Longest round trip believed, ms: a pong for a ping older than this (or from the future) is
/// not an answer to one we sent.
const MAX_RTT_MS: f64 = 10_000.0;
/// Largest offset believed, ms (a day, the protocol's bound on timestamps): a relay that
/// claims more is broken or lying, and would make every event look out of bounds.
const MAX_OFFSET_MS: f64 = 86_400_000.0;

/// Estimates `relay time − local time` and the round-trip time, NTP-style.
#[derive(Debug, Clone, Default)]
pub struct ClockSync {
    /// (round trip ms, offset ms) of the latest samples.
    samples: VecDeque<(f64, f64)>,
    /// The smoothed offset, once there is one.
    offset_ms: Option<f64>,
    /// Round trip of the latest sample.
    last_rtt_ms: f64,
}

impl ClockSync {
    /// A sync with no samples yet.
    pub fn new() -> ClockSync {
        ClockSync::default()
    }

    /// Adds one ping/pong: sent at local `t0`, answered at relay time `server`, received at
    /// local `t3` (all ms). Returns false, changing nothing, for a sample that can't be an
    /// answer to our ping (a round trip outside 0–10 s, non-finite values) or that puts relay
    /// time more than a day from ours.
    pub fn add_sample(&mut self, t0: f64, server: f64, t3: f64) -> bool {
        let rtt = t3 - t0;
        let offset = server - (t0 + t3) / 2.0;
        if !((0.0..=MAX_RTT_MS).contains(&rtt)
            && (-MAX_OFFSET_MS..=MAX_OFFSET_MS).contains(&offset))
        {
            return false;
        }
        if self.samples.len() == WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back((rtt, offset));
        self.last_rtt_ms = rtt;
        let best = self
            .samples
            .iter()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map_or(offset, |s| s.1);
        let learning = self.samples.len() < LEARNING_SAMPLES;
        self.offset_ms = Some(match self.offset_ms {
            Some(current) if !learning && (best - current).abs() < RESYNC_MS => {
                current + (best - current).clamp(-MAX_SLEW_MS, MAX_SLEW_MS)
            }
            _ => best,
        });
        true
    }

    /// Forgets everything (a new connection, maybe to another relay).
    pub fn reset(&mut self) {
        *self = ClockSync::default();
    }

    /// `relay time − local time` in ms, once at least one sample has arrived.
    pub fn offset_ms(&self) -> Option<f64> {
        self.offset_ms
    }

    /// Smallest round trip in the window, ms.
    pub fn min_rtt_ms(&self) -> Option<f64> {
        self.samples.iter().map(|s| s.0).min_by(f64::total_cmp)
    }

    /// Round trip of the latest sample, ms.
    pub fn last_rtt_ms(&self) -> f64 {
        self.last_rtt_ms
    }

    /// What the window's round trips say about this machine's link to the relay — its fastest
    /// round trip and their spread — once there are at least two: the figures a client tells
    /// the room when it joins, and that its own playout uses for its half of every link.
    ///
    /// A slowest round trip that stands alone — Dixon's Q test at 90 % confidence: its gap to
    /// the next one is more than [`dixon_q90`] of the whole spread — is left out of the spread
    /// (and of the count): a ping lost and retransmitted says the link loses, not that it
    /// jitters, and would hold every sender's first bar back by a retransmission timeout (loss
    /// is the lanes' and the notes' own lateness's business). A link that jitters shows its
    /// slow trips spread out, and keeps them.
    pub fn link_figures(&self) -> Option<LinkFigures> {
        let mut trips: Vec<f64> = self.samples.iter().map(|s| s.0).collect();
        trips.sort_by(f64::total_cmp);
        if let ([fastest, .., second, slowest], Some(q)) =
            (trips.as_slice(), dixon_q90(trips.len()))
        {
            if slowest - second > q * (slowest - fastest) {
                trips.pop();
            }
        }
        let (fastest, slowest) = (*trips.first()?, *trips.last()?);
        LinkFigures {
            rtt_us: micros(fastest),
            spread_us: micros(slowest - fastest),
            samples: u8::try_from(trips.len()).unwrap_or(u8::MAX),
        }
        .checked()
    }
}

/// Dixon's Q at 90 % confidence for `n` samples (3–10 from the published table; beyond 10 the
/// value for 10, which only makes the test stricter); `None` under 3.
fn dixon_q90(n: usize) -> Option<f64> {
    const TABLE: [f64; 8] = [0.941, 0.765, 0.642, 0.560, 0.507, 0.468, 0.437, 0.412];
    TABLE.get(n.checked_sub(3)?.min(TABLE.len() - 1)).copied()
}

/// `ms` in whole µs, within [`LinkFigures::MAX_US`].
fn micros(ms: f64) -> u32 {
    let us = (ms * 1_000.0)
        .round()
        .clamp(0.0, f64::from(LinkFigures::MAX_US));
    // Within 0..=MAX_US (a u32) after the clamp, and NaN is 0: the cast is exact.
    us as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pongs_that_answer_no_ping_of_ours_are_ignored() {
        let mut sync = ClockSync::new();
        let t = 1.8e12;
        assert!(sync.add_sample(t, t + 100.0, t + 2.0));
        let before = sync.offset_ms();
        for (t0, server, t3) in [
            (1e300, -1e300, t),
            (t + 5.0, t, t),                // sent after it came back
            (t - 20_000.0, t, t),           // a 20 s round trip
            (t, t + 2.0 * 86_400_000.0, t), // two days off
            (f64::NAN, t, t),
            (t, f64::INFINITY, t),
        ] {
            assert!(!sync.add_sample(t0, server, t3), "{t0} {server} {t3}");
        }
        assert_eq!(sync.offset_ms(), before);
    }

    #[test]
    fn converges_on_the_true_offset_from_noisy_samples_and_moves_smoothly() {
        let true_offset = 12_345.678;
        let mut sync = ClockSync::new();
        let mut t = 1_000.0;
        // Round trips of up to 20 ms split unevenly between the two directions, with a quick
        // (0.4–0.5 ms) exchange now and then, as on a real network.
        for i in 0..40 {
            let quick = i % 4 == 0;
            let out = 0.2 + if quick { 0.0 } else { f64::from((i * 7) % 13) };
            let back = 0.2
                + if quick {
                    0.1
                } else {
                    f64::from((i * 5) % 11) * 0.7
                };
            let server = t + out + true_offset;
            assert!(sync.add_sample(t, server, t + out + back));
            t += 500.0;
        }
        let estimate = sync.offset_ms().unwrap();
        assert!((estimate - true_offset).abs() < 0.5, "{estimate}");
        // Once learnt, a noisy sample with a long round trip does not move it.
        assert!(sync.add_sample(t, t + 30.0 + true_offset, t + 31.0));
        assert!((sync.offset_ms().unwrap() - estimate).abs() <= MAX_SLEW_MS);
    }

    #[test]
    fn link_figures_are_the_fastest_round_trip_and_the_spread_once_there_are_two() {
        let mut sync = ClockSync::new();
        assert_eq!(sync.link_figures(), None);
        assert!(sync.add_sample(1_000.0, 5_000.0, 1_000.8));
        assert_eq!(
            sync.link_figures(),
            None,
            "one round trip says nothing of a spread"
        );
        assert!(sync.add_sample(2_000.0, 6_000.0, 2_003.05));
        assert!(sync.add_sample(3_000.0, 7_000.0, 3_001.2));
        assert_eq!(
            sync.link_figures(),
            Some(LinkFigures {
                rtt_us: 800,
                spread_us: 2_250,
                samples: 3,
            })
        );
    }

    #[test]
    fn a_round_trip_far_slower_than_the_rest_is_a_loss_not_the_links_spread() {
        let mut sync = ClockSync::new();
        for (i, rtt) in [0.8, 1.1, 0.9].into_iter().enumerate() {
            let t = 1_000.0 * (i as f64 + 1.0);
            assert!(sync.add_sample(t, t + 4_000.0, t + rtt));
        }
        // A ping lost and sent again 200 ms later.
        assert!(sync.add_sample(4_000.0, 8_000.0, 4_200.8));
        assert_eq!(
            sync.link_figures(),
            Some(LinkFigures {
                rtt_us: 800,
                spread_us: 300,
                samples: 3,
            })
        );
        // Only the slowest is left out: the next slow one counts.
        assert!(sync.add_sample(5_000.0, 9_000.0, 5_030.8));
        let figures = sync.link_figures().unwrap();
        assert_eq!((figures.spread_us, figures.samples), (30_000, 4));
    }

    #[test]
    fn a_link_that_jitters_keeps_its_slowest_round_trip() {
        let mut sync = ClockSync::new();
        // Eight trips spread over 1–30 ms, the slowest not far from the next.
        for (i, rtt) in [1.0, 9.0, 4.0, 30.0, 14.0, 22.0, 18.0, 26.0]
            .into_iter()
            .enumerate()
        {
            let t = 1_000.0 * (i as f64 + 1.0);
            assert!(sync.add_sample(t, t + 4_000.0, t + rtt));
        }
        let figures = sync.link_figures().unwrap();
        assert_eq!((figures.spread_us, figures.samples), (29_000, 8));
    }
}
