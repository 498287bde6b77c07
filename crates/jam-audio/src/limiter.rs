//! The master-bus limiter: the mix never exceeds the ceiling, and recovers smoothly.

/// A peak limiter with instant attack and exponential release.
///
/// Gain drops at once to whatever keeps the current frame at the ceiling (so the output can
/// never clip, without look-ahead), then recovers towards 1 with a 150 ms time constant. Dense
/// fortissimo chords get quieter instead of distorting.
#[derive(Debug)]
pub(crate) struct Limiter {
    /// Output ceiling, linear (−1 dBFS).
    ceiling: f32,
    /// Current gain, 0..=1.
    gain: f32,
    /// Per-frame factor pulling `gain` back towards 1.
    release: f32,
}

impl Limiter {
    pub(crate) const CEILING: f32 = 0.891; // −1 dBFS

    pub(crate) fn new(sample_rate: u32) -> Limiter {
        let release = (-1.0 / (0.150 * sample_rate as f32)).exp();
        Limiter {
            ceiling: Self::CEILING,
            gain: 1.0,
            release,
        }
    }

    /// Limits one stereo frame in place. Real-time safe.
    #[inline]
    pub(crate) fn process(&mut self, l: &mut f32, r: &mut f32) {
        let peak = l.abs().max(r.abs());
        let needed = if peak > self.ceiling {
            self.ceiling / peak
        } else {
            1.0
        };
        self.gain = if needed < self.gain {
            needed
        } else {
            needed - (needed - self.gain) * self.release
        };
        *l *= self.gain;
        *r *= self.gain;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_exceeds_the_ceiling_and_recovers() {
        let mut lim = Limiter::new(48_000);
        for i in 0..48_000 {
            let x = if i < 24_000 {
                8.0 * ((i as f32) * 0.05).sin()
            } else {
                0.1
            };
            let (mut l, mut r) = (x, -x);
            lim.process(&mut l, &mut r);
            assert!(l.abs() <= Limiter::CEILING + 1e-6 && r.abs() <= Limiter::CEILING + 1e-6);
        }
        assert!(
            lim.gain > 0.95,
            "recovered after 0.5 s of quiet: {}",
            lim.gain
        );
    }
}
