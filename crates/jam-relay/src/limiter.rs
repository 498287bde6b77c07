//! A token bucket: `rate` tokens per second, at most `burst` saved up.

use std::time::Duration;

use tokio::time::Instant;

/// Rounding slack: a token earned in exactly its refill time counts, despite float error.
const EPSILON: f64 = 1e-9;

/// Per-connection event budget. Starts full, so a client may open with a burst.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    /// Tokens added per second.
    rate: f64,
    /// Most tokens the bucket holds.
    burst: f64,
    /// Tokens available at `updated`.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate_per_sec: u32, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket::with_rate(f64::from(rate_per_sec), burst, now)
    }

    /// A bucket that earns one token every `every`.
    pub(crate) fn one_per(every: Duration, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket::with_rate(1.0 / every.as_secs_f64().max(1e-3), burst, now)
    }

    fn with_rate(rate: f64, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated);
        self.updated = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
    }

    /// Takes one token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        self.try_take_amount(1.0, now)
    }

    /// Takes `amount` tokens (e.g. the bytes of a frame) if there are that many.
    pub(crate) fn try_take_amount(&mut self, amount: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens + EPSILON >= amount {
            self.tokens = (self.tokens - amount).max(0.0);
            true
        } else {
            false
        }
    }

    /// True if at least one token is there (without taking it).
    pub(crate) fn has_one(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens + EPSILON >= 1.0
    }

    /// True when the bucket is full again: nothing would be lost by forgetting it.
    pub(crate) fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens + EPSILON >= self.burst
    }
}

/// Lets one "you are rate limited" notice through per window, however many events are dropped.
#[derive(Debug)]
pub(crate) struct NoticeWindow {
    /// Length of a window.
    window: Duration,
    /// When the last notice went out.
    last: Option<Instant>,
}

impl NoticeWindow {
    pub(crate) fn new(window: Duration) -> NoticeWindow {
        NoticeWindow { window, last: None }
    }

    /// True if a notice may be sent now (and records that it was).
    pub(crate) fn should_notify(&mut self, now: Instant) -> bool {
        let due = self
            .last
            .is_none_or(|t| now.saturating_duration_since(t) >= self.window);
        if due {
            self.last = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, 10, t0);
        assert_eq!((0..20).filter(|_| b.try_take(t0)).count(), 10, "the burst");
        let t1 = t0 + Duration::from_millis(50);
        assert_eq!(
            (0..20).filter(|_| b.try_take(t1)).count(),
            5,
            "50 ms at 100/s"
        );
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!(
            (0..20).filter(|_| b.try_take(t2)).count(),
            10,
            "never more than the burst"
        );
    }

    #[test]
    fn byte_budget_and_slow_refill() {
        let t0 = Instant::now();
        let mut bytes = TokenBucket::new(1_000, 4_000, t0);
        assert!(bytes.try_take_amount(3_000.0, t0));
        assert!(!bytes.try_take_amount(1_500.0, t0), "only 1,000 left");
        assert!(bytes.try_take_amount(1_500.0, t0 + Duration::from_millis(500)));
        let mut fails = TokenBucket::one_per(Duration::from_secs(6), 2, t0);
        assert!(fails.try_take(t0) && fails.try_take(t0));
        assert!(!fails.has_one(t0 + Duration::from_secs(5)));
        assert!(fails.has_one(t0 + Duration::from_secs(6)));
        assert!(!fails.is_full(t0 + Duration::from_secs(6)));
        assert!(fails.is_full(t0 + Duration::from_secs(12)));
    }

    #[test]
    fn one_notice_per_window() {
        let t0 = Instant::now();
        let mut w = NoticeWindow::new(Duration::from_secs(1));
        assert!(w.should_notify(t0));
        assert!(!w.should_notify(t0 + Duration::from_millis(999)));
        assert!(w.should_notify(t0 + Duration::from_millis(1000)));
    }
}
