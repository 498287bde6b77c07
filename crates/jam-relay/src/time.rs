//! Relay time: the clock every `serverTime` is read from.

use jam_protocol::EpochClock;
use tokio::time::Instant;

/// Relay time: [`EpochClock`] (the wall clock read once, then monotonic, so relay time never
/// jumps when the system clock is adjusted), read through tokio's clock so that tests that
/// pause time see relay time pause too.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RelayClock {
    epoch: EpochClock,
}

impl RelayClock {
    pub(crate) fn new() -> RelayClock {
        let wall = EpochClock::new();
        let origin = Instant::now().into_std();
        RelayClock {
            epoch: EpochClock::anchored(origin, wall.ms_at(origin).floor()),
        }
    }

    /// Relay time at `at`, in ms, with microsecond resolution.
    pub(crate) fn at(&self, at: Instant) -> f64 {
        self.epoch.ms_at(at.into_std())
    }

    /// Relay time now, in ms.
    pub(crate) fn now_ms(&self) -> f64 {
        self.at(Instant::now())
    }
}
