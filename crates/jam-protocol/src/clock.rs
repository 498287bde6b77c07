//! Epoch time: the one clock every Jamwire process reads "milliseconds since the Unix epoch"
//! from — the relay for `serverTime`, clients for their side of clock sync and for their own
//! time before a jam.
//!
//! [`EpochClock`] reads the wall clock once, when it is created, and from then on counts with
//! the monotonic clock: adjusting the system clock (NTP, a user) never makes it jump, and no hot
//! path reads `SystemTime`. [`EpochClock::process`] is the clock shared by a whole process.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Furthest from now that any time is mapped to an instant, a day (the protocol's timestamp
/// bound, [`crate::event::MAX_TIMESTAMP_SKEW_MS`]): nothing from the network lies beyond it.
pub const FURTHEST: Duration = Duration::from_secs(86_400);

/// Milliseconds since the Unix epoch, from a monotonic clock anchored to the wall clock once.
#[derive(Debug, Clone, Copy)]
pub struct EpochClock {
    /// The monotonic instant that corresponds to `origin_ms`.
    origin: Instant,
    /// Epoch milliseconds at `origin`.
    origin_ms: f64,
}

impl EpochClock {
    /// A clock anchored now: the wall clock read once, to the whole millisecond.
    pub fn new() -> EpochClock {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1_000.0);
        EpochClock::anchored(Instant::now(), wall_ms.floor())
    }

    /// A clock on which `origin` is epoch time `origin_ms`.
    pub fn anchored(origin: Instant, origin_ms: f64) -> EpochClock {
        EpochClock { origin, origin_ms }
    }

    /// The clock this whole process shares (anchored the first time it is asked for).
    pub fn process() -> EpochClock {
        static CLOCK: OnceLock<EpochClock> = OnceLock::new();
        *CLOCK.get_or_init(EpochClock::new)
    }

    /// The same clock, running `skew_ms` ahead (tests pretend a machine's clock is off).
    pub fn skewed(self, skew_ms: f64) -> EpochClock {
        EpochClock {
            origin_ms: self.origin_ms + skew_ms,
            ..self
        }
    }

    /// Epoch time at `at`, ms, to the microsecond (instants before the origin read as it).
    pub fn ms_at(&self, at: Instant) -> f64 {
        let elapsed_us = at.saturating_duration_since(self.origin).as_micros();
        // Microseconds since the origin are far below 2^53 for any run of the program.
        #[allow(clippy::cast_precision_loss)]
        let elapsed_ms = elapsed_us as f64 / 1_000.0;
        self.origin_ms + elapsed_ms
    }

    /// Epoch time now, ms.
    pub fn now_ms(&self) -> f64 {
        self.ms_at(Instant::now())
    }

    /// The instant of epoch time `ms`, never more than [`FURTHEST`] from now. Never panics:
    /// NaN is now, and a time that does not fit in an `Instant` is the nearest one that does.
    pub fn instant_at(&self, ms: f64) -> Instant {
        let now = Instant::now();
        let delta_ms = ms - self.ms_at(now);
        let magnitude = Duration::try_from_secs_f64(delta_ms.abs() / 1_000.0)
            .unwrap_or(Duration::ZERO)
            .min(FURTHEST);
        if delta_ms >= 0.0 {
            now.checked_add(magnitude).unwrap_or(now)
        } else {
            now.checked_sub(magnitude).unwrap_or(now)
        }
    }
}

impl Default for EpochClock {
    fn default() -> EpochClock {
        EpochClock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_times_map_both_ways_and_hostile_times_stay_within_a_day() {
        let origin = Instant::now();
        let clock = EpochClock::anchored(origin, 1_000_000.0);
        assert_eq!(clock.ms_at(origin), 1_000_000.0);
        assert_eq!(
            clock.ms_at(origin + Duration::from_micros(1_500)),
            1_000_001.5
        );
        let at = clock.instant_at(clock.now_ms() + 250.0);
        let ahead = at.saturating_duration_since(Instant::now());
        assert!(ahead <= Duration::from_millis(250) && ahead > Duration::from_millis(200));
        for hostile in [f64::NAN, f64::INFINITY, -f64::INFINITY, 1e300, -1e300] {
            let at = clock.instant_at(hostile);
            let now = Instant::now();
            let off = at.max(now) - at.min(now);
            assert!(
                off <= FURTHEST + Duration::from_secs(1),
                "{hostile}: {off:?}"
            );
        }
        assert_eq!(clock.skewed(5.0).ms_at(origin), 1_000_005.0);
    }
}
