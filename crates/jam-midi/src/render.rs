//! Bouncing a song to audio through the engine: the same engine that plays live, not a
//! second synthesizer.

use std::sync::Arc;
use std::time::Instant;

use jam_audio::{Action, Command, EngineConfig, SampleBank, SourceId};

use crate::{PlayEvent, Router, Song};

/// Longest tail rendered after the song's end while notes still ring.
pub const MAX_TAIL_SECONDS: u32 = 10;
/// Frames rendered per pass.
const BLOCK: usize = 512;

/// Renders `song` offline to interleaved stereo at `sample_rate`: drums on the router's drum
/// channels (channel 10 by default), piano otherwise. The result lasts the song's duration plus
/// the time its last notes take to fall silent (at most [`MAX_TAIL_SECONDS`]).
pub fn render_song(
    song: &Song,
    bank: Arc<SampleBank>,
    sample_rate: u32,
    router: &Router,
) -> Vec<f32> {
    let config = EngineConfig {
        sample_rate,
        ..EngineConfig::default()
    };
    let (mut engine, mut renderer) = jam_audio::engine(bank, config);
    let rate = u64::from(sample_rate);
    let frame_of = |us: u64| us * rate / 1_000_000;
    let end = frame_of(song.duration_us);
    let limit = end + rate * u64::from(MAX_TAIL_SECONDS);
    let source = SourceId::LOCAL;
    let mut out: Vec<f32> = Vec::with_capacity((end as usize + sample_rate as usize) * 2);
    let mut next = 0;
    let mut block = vec![0.0f32; BLOCK * 2];
    loop {
        // Keep about a second of events scheduled ahead of the renderer.
        let horizon = renderer.frame() + rate;
        while let Some(e) = song.events.get(next) {
            let at = frame_of(e.time_us);
            if at >= horizon {
                break;
            }
            let action = match router.route(None, e.event) {
                Some(PlayEvent::NoteOn {
                    instrument,
                    note,
                    velocity,
                }) => Some(Action::NoteOn {
                    source,
                    instrument,
                    note,
                    velocity,
                }),
                Some(PlayEvent::NoteOff { instrument, note }) => Some(Action::NoteOff {
                    source,
                    instrument,
                    note,
                }),
                Some(PlayEvent::Sustain { on }) => Some(Action::Sustain { source, on }),
                // General MIDI's default bend range: 2 semitones.
                Some(PlayEvent::PitchBend { value }) => Some(Action::PitchBend {
                    source,
                    semitones: f32::from(value) / 8192.0 * 2.0,
                }),
                Some(PlayEvent::Modulation { value }) => Some(Action::Modulation {
                    source,
                    depth: f32::from(value) / 127.0,
                }),
                None => None,
            };
            if let Some(action) = action {
                if engine.send(Command::at(at, action)).is_err() {
                    break; // the ring is full: the rest goes after the next block
                }
            }
            next += 1;
        }
        renderer.render(&mut block, 2, Instant::now());
        out.extend_from_slice(&block);
        let done = next == song.events.len()
            && renderer.frame() >= end
            && engine.stats().voices_active == 0;
        if done || renderer.frame() >= limit {
            break;
        }
    }
    // Cut the block's trailing silence, but never before the song's end.
    let last_sound = out
        .chunks_exact(2)
        .rposition(|f| f[0] != 0.0 || f[1] != 0.0)
        .map_or(0, |i| i + 1);
    out.truncate(last_sound.max(end as usize).min(out.len() / 2) * 2);
    out
}
