//! Relay time: the clock every `serverTime` is read from.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Milliseconds since the Unix epoch, read from a monotonic clock anchored to the wall clock
/// once when the relay starts, so relay time never jumps when the system clock is adjusted.
/// Uses tokio's clock, so tests that pause time see relay time pause too.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RelayClock {
    /// The monotonic instant that corresponds to `origin_ms`.
    origin: Instant,
    /// Wall-clock milliseconds since the Unix epoch at `origin`.
    origin_ms: f64,
}

impl RelayClock {
    pub(crate) fn new() -> RelayClock {
        let origin_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        RelayClock {
            origin: Instant::now(),
            origin_ms: origin_ms.floor(),
        }
    }

    /// Relay time at `at`, in ms, with microsecond resolution.
    pub(crate) fn at(&self, at: Instant) -> f64 {
        let elapsed_us = at.saturating_duration_since(self.origin).as_micros() as f64;
        self.origin_ms + elapsed_us / 1000.0
    }

    /// Relay time now, in ms.
    pub(crate) fn now_ms(&self) -> f64 {
        self.at(Instant::now())
    }
}
