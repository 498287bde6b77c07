//! A token bucket: `rate` tokens per second, at most `burst` saved up.

use std::time::Duration;

use tokio::time::Instant;

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
        TokenBucket {
            rate: f64::from(rate_per_sec),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            updated: now,
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated);
        self.updated = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
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
    fn one_notice_per_window() {
        let t0 = Instant::now();
        let mut w = NoticeWindow::new(Duration::from_secs(1));
        assert!(w.should_notify(t0));
        assert!(!w.should_notify(t0 + Duration::from_millis(999)));
        assert!(w.should_notify(t0 + Duration::from_millis(1000)));
    }
}
