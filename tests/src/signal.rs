//! Measuring rendered audio: level and pitch. Shared by the audio, MIDI and app tests.

/// Root-mean-square level.
pub fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// Interleaved stereo to mono (mean of left and right).
pub fn mono(stereo: &[f32]) -> Vec<f32> {
    stereo
        .chunks_exact(2)
        .map(|f| 0.5 * (f[0] + f[1]))
        .collect()
}

/// Fundamental frequency in Hz of `x` sampled at `rate`: autocorrelation finds it roughly
/// (over 50–2,000 Hz), then the peak of the Hann-windowed spectrum within ±4 % of that is
/// located to 0.01 %. (Autocorrelation alone reads a piano about 1 % sharp: its upper partials
/// are stretched.)
pub fn pitch(x: &[f32], rate: u32) -> f64 {
    let rough = rough_pitch(x, rate);
    let windowed = jam_audio::palette::measure::hann(x);
    let magnitude = |hz: f64| jam_audio::palette::measure::magnitude(&windowed, hz, rate);
    let best_near = |centre: f64, half_width: f64, step: f64| {
        let steps = (2.0 * half_width / step).round() as usize;
        (0..=steps)
            .map(|k| centre * (1.0 - half_width + k as f64 * step))
            .max_by(|a, b| magnitude(*a).total_cmp(&magnitude(*b)))
            .expect("a peak")
    };
    let coarse = best_near(rough, 0.04, 0.002);
    best_near(coarse, 0.002, 0.0001)
}

/// Normalised autocorrelation over 50–2,000 Hz, refined with a parabola through the peak.
fn rough_pitch(x: &[f32], rate: u32) -> f64 {
    let min_lag = (rate / 2_000) as usize;
    let max_lag = (rate / 50) as usize;
    assert!(
        x.len() > 2 * max_lag,
        "need at least {} samples",
        2 * max_lag
    );
    let n = x.len() - max_lag;
    let energy: f64 = x[..n].iter().map(|v| f64::from(*v) * f64::from(*v)).sum();
    let corr = |lag: usize| -> f64 {
        let num: f64 = (0..n)
            .map(|i| f64::from(x[i]) * f64::from(x[i + lag]))
            .sum();
        let e2: f64 = x[lag..lag + n]
            .iter()
            .map(|v| f64::from(*v) * f64::from(*v))
            .sum();
        num / (energy * e2).sqrt()
    };
    let values: Vec<f64> = (min_lag..=max_lag).map(corr).collect();
    // The first peak within 90 % of the highest is the fundamental (not a multiple of it).
    let best = values.iter().cloned().fold(f64::MIN, f64::max);
    let i = (1..values.len() - 1)
        .find(|&i| {
            values[i] >= 0.9 * best && values[i] >= values[i - 1] && values[i] >= values[i + 1]
        })
        .expect("a peak");
    let (a, b, c) = (values[i - 1], values[i], values[i + 1]);
    let shift = 0.5 * (a - c) / (a - 2.0 * b + c);
    f64::from(rate) / ((min_lag + i) as f64 + shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_pitch_of_a_tone_with_harmonics() {
        let rate = 48_000;
        let tone: Vec<f32> = (0..24_000)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                let w = 2.0 * std::f64::consts::PI * 261.63 * t;
                (w.sin() + 0.6 * (2.0 * w).sin() + 0.3 * (3.0 * w).sin()) as f32
            })
            .collect();
        let f = pitch(&tone, rate);
        assert!((f - 261.63).abs() < 0.1, "{f}");
        assert!(
            (rms(&tone) - 0.851).abs() < 0.005,
            "sqrt((1 + 0.36 + 0.09) / 2)"
        );
    }
}
