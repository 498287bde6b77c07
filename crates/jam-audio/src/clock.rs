//! The audio clock: how many frames have been rendered, and when the latest one will be heard.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Frame counter of an engine and its mapping to the monotonic clock ([`Instant`]).
///
/// The renderer publishes, once per block, "frame F will be heard at instant T". The control
/// side turns any instant into a frame with it — that is how a remote note stamped with relay
/// time is placed at the exact frame. Publishing is lock-free (a sequence lock on atomics) and
/// real-time safe.
#[derive(Debug)]
pub struct AudioClock {
    sample_rate: u32,
    /// Reference point of the nanosecond values below.
    epoch: Instant,
    /// Even when stable, odd while the renderer writes.
    sequence: AtomicU64,
    /// First frame of the latest block.
    frame: AtomicU64,
    /// When that frame is heard, in ns since `epoch` (an `i64` stored as bits; negative before it).
    heard_at_ns: AtomicU64,
    /// The longest time, ns, from a block's rendering to the end of its sound: how far ahead of
    /// now anything sent to the engine must be placed to be heard where it was placed.
    lead_ns: AtomicU64,
}

impl AudioClock {
    pub(crate) fn new(sample_rate: u32) -> AudioClock {
        AudioClock {
            sample_rate,
            epoch: Instant::now(),
            sequence: AtomicU64::new(0),
            frame: AtomicU64::new(0),
            heard_at_ns: AtomicU64::new(0),
            lead_ns: AtomicU64::new(0),
        }
    }

    /// Records that a block of `frames`, rendered now, is heard from `heard_at` on: the lead an
    /// event needs to be placed exactly. Real-time safe (one clock read, one atomic).
    pub(crate) fn publish_lead(&self, heard_at: Instant, frames: usize) {
        let ahead = heard_at.saturating_duration_since(Instant::now());
        let block = frames as u128 * 1_000_000_000 / u128::from(self.sample_rate.max(1));
        let lead = ahead.as_nanos().saturating_add(block);
        self.lead_ns
            .fetch_max(u64::try_from(lead).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// How far ahead of now an event must be scheduled to be heard exactly when scheduled: the
    /// output's latency plus one block, the longest seen since the engine started (zero before
    /// its first block). Anything placed sooner plays as soon as the next block allows.
    pub fn lead(&self) -> Duration {
        Duration::from_nanos(self.lead_ns.load(Ordering::Relaxed))
    }

    /// Records that `frame` will be heard at `heard_at`. Real-time safe.
    pub(crate) fn publish(&self, frame: u64, heard_at: Instant) {
        let ns = self.ns_since_epoch(heard_at) as i64;
        self.sequence.fetch_add(1, Ordering::AcqRel);
        self.frame.store(frame, Ordering::Release);
        self.heard_at_ns.store(ns as u64, Ordering::Release);
        self.sequence.fetch_add(1, Ordering::AcqRel);
    }

    fn anchor(&self) -> (u64, i128) {
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            let frame = self.frame.load(Ordering::Acquire);
            let ns = self.heard_at_ns.load(Ordering::Acquire);
            if before % 2 == 0 && self.sequence.load(Ordering::Acquire) == before {
                return (frame, i128::from(ns as i64));
            }
            std::hint::spin_loop();
        }
    }

    /// Nanoseconds from `epoch` to `instant`, negative for instants before it.
    fn ns_since_epoch(&self, instant: Instant) -> i128 {
        match instant.checked_duration_since(self.epoch) {
            Some(d) => d.as_nanos() as i128,
            None => -(self.epoch.duration_since(instant).as_nanos() as i128),
        }
    }

    /// Sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// First frame of the most recently rendered block.
    pub fn current_frame(&self) -> u64 {
        self.anchor().0
    }

    /// The frame that will be heard at `instant` (extrapolated from the latest block; instants
    /// before it give earlier frames, clamped at 0).
    pub fn frame_at(&self, instant: Instant) -> u64 {
        let (frame, ns) = self.anchor();
        let at = self.ns_since_epoch(instant);
        let delta_frames = (at - ns) * i128::from(self.sample_rate) / 1_000_000_000;
        (frame as i128 + delta_frames).max(0) as u64
    }

    /// When `frame` will be heard.
    pub fn instant_of(&self, frame: u64) -> Instant {
        let (anchor, ns) = self.anchor();
        let delta_ns =
            (frame as i128 - anchor as i128) * 1_000_000_000 / i128::from(self.sample_rate);
        let at = ns + delta_ns;
        if at >= 0 {
            self.epoch + Duration::from_nanos(at as u64)
        } else {
            self.epoch
                .checked_sub(Duration::from_nanos((-at) as u64))
                .unwrap_or(self.epoch)
        }
    }
}

/// Smooths the renderer's "frame F is heard at T" measurements, one per callback, into a steady
/// line, so that a callback that runs late or a backend's momentary latency figure does not move
/// the notes placed with it. A first-order loop at the nominal rate: each measurement pulls the
/// line by [`SMOOTHING_GAIN`] of its error (a one-callback glitch moves notes by a twentieth
/// of it); an error beyond [`SMOOTHING_RESET`] is a real change (a new device, an underrun) and
/// is taken as it is. Real-time safe: a few integer operations.
#[derive(Debug, Default)]
pub(crate) struct HeardSmoother {
    anchor: Option<(u64, Instant)>,
}

/// Share of a measurement's error the smoothed line takes.
const SMOOTHING_GAIN: f64 = 0.05;
/// A measurement this far from the line restarts it.
const SMOOTHING_RESET: Duration = Duration::from_millis(20);

impl HeardSmoother {
    /// The smoothed instant at which `frame` is heard, given the callback's `measured` one.
    pub(crate) fn smooth(&mut self, frame: u64, measured: Instant, sample_rate: u32) -> Instant {
        let Some((anchor_frame, anchor_at)) = self.anchor else {
            self.anchor = Some((frame, measured));
            return measured;
        };
        let frames = u128::from(frame.saturating_sub(anchor_frame));
        let ahead_ns = frames * 1_000_000_000 / u128::from(sample_rate.max(1));
        let predicted = anchor_at + Duration::from_nanos(u64::try_from(ahead_ns).unwrap_or(0));
        let (late, error) = match measured.checked_duration_since(predicted) {
            Some(e) => (true, e),
            None => (false, predicted.duration_since(measured)),
        };
        let smoothed = if error > SMOOTHING_RESET {
            measured
        } else {
            let pull = error.mul_f64(SMOOTHING_GAIN);
            if late {
                predicted + pull
            } else {
                predicted.checked_sub(pull).unwrap_or(predicted)
            }
        };
        self.anchor = Some((frame, smoothed));
        smoothed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_callback_barely_moves_the_line_and_a_real_change_is_taken_at_once() {
        let mut smoother = HeardSmoother::default();
        let t0 = Instant::now();
        let at = |ms: f64| t0 + Duration::from_secs_f64(ms / 1_000.0);
        // Blocks of 240 frames (5 ms at 48 kHz), heard 10 ms after each callback.
        assert_eq!(smoother.smooth(0, at(10.0), 48_000), at(10.0));
        assert_eq!(smoother.smooth(240, at(15.0), 48_000), at(15.0));
        // One callback 4 ms late reports its block 4 ms later: the line moves 0.2 ms.
        let glitch = smoother.smooth(480, at(24.0), 48_000);
        let moved = glitch.duration_since(at(20.0)).as_secs_f64() * 1_000.0;
        assert!((moved - 0.2).abs() < 0.01, "{moved}");
        // A new device 50 ms later is taken as it is.
        assert_eq!(smoother.smooth(720, at(75.2), 48_000), at(75.2));
    }

    #[test]
    fn maps_instants_to_frames_and_back() {
        let clock = AudioClock::new(48_000);
        let t0 = Instant::now();
        clock.publish(96_000, t0);
        assert_eq!(clock.frame_at(t0), 96_000);
        assert_eq!(clock.frame_at(t0 + Duration::from_millis(10)), 96_480);
        assert_eq!(clock.frame_at(t0 - Duration::from_millis(10)), 95_520);
        let back = clock.instant_of(96_480);
        assert!(back.duration_since(t0).as_nanos().abs_diff(10_000_000) < 1_000);
    }
}
