//! Rendering without a device: into a buffer, or a WAV file (tests, export, golden files).

use std::path::Path;
use std::time::Instant;

use crate::{AudioError, Renderer, Result};

/// Renders `frames` stereo frames and returns them interleaved (L, R, L, R, …).
pub fn render(renderer: &mut Renderer, frames: usize) -> Vec<f32> {
    let mut out = vec![0.0; frames * 2];
    // Render in device-sized blocks, as a real callback would.
    for block in out.chunks_mut(256 * 2) {
        renderer.render(block, 2, Instant::now());
    }
    out
}

/// Writes interleaved stereo `samples` as a 16-bit WAV file.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let fail = |e: hound::Error| AudioError::WavWrite {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(fail)?;
    for &s in samples {
        writer
            .write_sample((s.clamp(-1.0, 1.0) * 32_767.0) as i16)
            .map_err(fail)?;
    }
    writer.finalize().map_err(fail)
}
