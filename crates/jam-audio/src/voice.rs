//! One sounding sample: position, pitch, level, envelope.

use crate::{Instrument, SourceId};

/// Which sample a voice plays, resolved through the bank at render time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SampleRef {
    /// Piano zone index and layer.
    Piano { zone: u16, hard: bool },
    /// Drum sample by GM note.
    Drum(u8),
    /// A palette instrument's zone: `kit` chooses the kits list over the melodic one.
    Zone {
        kit: bool,
        instrument: u16,
        zone: u16,
    },
}

/// A voice of the fixed pool. Inactive voices are reused; nothing is allocated per note.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Voice {
    pub(crate) active: bool,
    pub(crate) source: SourceId,
    pub(crate) instrument: Instrument,
    pub(crate) note: u8,
    pub(crate) sample: SampleRef,
    /// Read position in the sample, in sample frames.
    pub(crate) pos: f64,
    /// Sample frames advanced per output frame (pitch × rate conversion), as bent now.
    pub(crate) step: f64,
    /// `step` unbent: what the pitch wheel and the vibrato multiply.
    pub(crate) base_step: f64,
    /// Left and right gains: velocity, instrument level and pan.
    pub(crate) gain_l: f32,
    pub(crate) gain_r: f32,
    /// Loop start and end in sample frames; `end` is 0 for a voice that doesn't loop.
    pub(crate) loop_start: f64,
    pub(crate) loop_end: f64,
    /// Envelope level: rises during the attack, holds, decays towards `sustain` while held and
    /// falls towards 0 once released.
    pub(crate) env: f32,
    /// Frames of attack left, and the level added each of them.
    pub(crate) attack_left: u32,
    pub(crate) attack_step: f32,
    /// Frames of hold left after the attack.
    pub(crate) hold_left: u32,
    /// Per-frame factor of the decay stage, and the level it stops at.
    pub(crate) decay_factor: f32,
    pub(crate) sustain: f32,
    /// Per-frame envelope factor once released; 1 while held.
    pub(crate) decay: f32,
    /// Seconds this voice takes to fall silent when released.
    pub(crate) release_s: f32,
    /// Exclusive class (0: none): a new note of the same class cuts this one off.
    pub(crate) exclusive: u8,
    /// The key (or pad) is still down.
    pub(crate) key_down: bool,
    /// Released while the pedal was down: sounds until the pedal goes up.
    pub(crate) sustained: bool,
    /// Order of note-on, for "oldest" in the stealing rule.
    pub(crate) started: u64,
}

/// Envelope level below which a releasing voice is silent and freed (−80 dB).
pub(crate) const SILENT: f32 = 1e-4;

impl Voice {
    pub(crate) const IDLE: Voice = Voice {
        active: false,
        source: SourceId(0),
        instrument: Instrument::Piano,
        note: 0,
        sample: SampleRef::Drum(0),
        pos: 0.0,
        step: 1.0,
        base_step: 1.0,
        gain_l: 0.0,
        gain_r: 0.0,
        loop_start: 0.0,
        loop_end: 0.0,
        env: 0.0,
        attack_left: 0,
        attack_step: 0.0,
        hold_left: 0,
        decay_factor: 1.0,
        sustain: 1.0,
        decay: 1.0,
        release_s: 0.0,
        exclusive: 0,
        key_down: false,
        sustained: false,
        started: 0,
    };

    pub(crate) fn releasing(&self) -> bool {
        self.decay < 1.0
    }

    /// Starts the release: the envelope falls to −80 dB in `seconds`. An attack still rising
    /// stops where it is.
    pub(crate) fn release(&mut self, seconds: f32, sample_rate: f32) {
        self.attack_left = 0;
        self.hold_left = 0;
        let frames = (seconds * sample_rate).max(1.0);
        let decay = SILENT.powf(1.0 / frames);
        // A faster release (a choke, a steal) may replace a slower one, never the reverse.
        self.decay = self.decay.min(decay);
        self.key_down = false;
        self.sustained = false;
    }

    /// Loudness used to pick a voice to steal: what it would contribute now.
    pub(crate) fn loudness(&self) -> f32 {
        self.env * self.gain_l.max(self.gain_r)
    }
}

/// Renders `voice` into `mix` (interleaved stereo) for `frames` frames, with a source gain
/// ramping linearly from `g0` to `g1`. Returns false when the voice has finished. Real-time safe.
///
/// A looping voice jumps back by the loop's length whenever it passes the loop's end, for as
/// long as it sounds (the SoundFont "loop continuously" mode); interpolation across the seam
/// reads the frame after the loop's end, which the palette keeps equal to the loop's start.
///
/// The frames of an attack or hold go frame by frame through the general step; the rest through
/// one of four loops specialised by whether the voice loops and whether it is still decaying,
/// so the common case (a piano or drum voice: no loop, no decay stage) costs what it did
/// before the palette.
#[inline]
pub(crate) fn render_voice(
    voice: &mut Voice,
    data: &[f32],
    mix: &mut [f32],
    frames: usize,
    g0: f32,
    g1: f32,
) -> bool {
    if data.len() < 2 {
        return false;
    }
    let dg = if frames > 0 {
        (g1 - g0) / frames as f32
    } else {
        0.0
    };
    let last = (data.len() - 1) as f64;
    let looping = voice.loop_end > voice.loop_start && voice.loop_end <= last;
    let end = (frames * 2).min(mix.len());
    let mix = &mut mix[..end];
    let mut g = g0;
    let mut at = 0;
    // Attack and hold, frame by frame.
    while voice.attack_left > 0 || voice.hold_left > 0 {
        let Some(out) = mix.get_mut(at..at + 2) else {
            return true;
        };
        let sounding = if looping {
            emit::<true>(voice, data, out, g, last)
        } else {
            emit::<false>(voice, data, out, g, last)
        };
        if !sounding {
            return false;
        }
        if voice.attack_left > 0 {
            voice.attack_left -= 1;
            voice.env = if voice.attack_left == 0 {
                1.0
            } else {
                voice.env + voice.attack_step
            };
        } else {
            voice.hold_left -= 1;
        }
        voice.env *= voice.decay;
        g += dg;
        at += 2;
    }
    let rest = &mut mix[at..];
    match (looping, voice.env > voice.sustain) {
        (false, false) => settled::<false, false>(voice, data, rest, g, dg, last),
        (false, true) => settled::<false, true>(voice, data, rest, g, dg, last),
        (true, false) => settled::<true, false>(voice, data, rest, g, dg, last),
        (true, true) => settled::<true, true>(voice, data, rest, g, dg, last),
    }
}

/// One frame of `voice` into `out` (left, right), moving its position on. False when it has
/// run off its recording's end.
#[inline(always)]
fn emit<const LOOP: bool>(
    voice: &mut Voice,
    data: &[f32],
    out: &mut [f32],
    g: f32,
    last: f64,
) -> bool {
    if LOOP {
        if voice.pos >= voice.loop_end {
            let len = voice.loop_end - voice.loop_start;
            voice.pos = voice.loop_start + (voice.pos - voice.loop_start) % len;
        }
    } else if voice.pos >= last {
        return false;
    }
    let i = voice.pos as usize;
    let (Some(&a), Some(&b)) = (data.get(i), data.get(i + 1)) else {
        return false;
    };
    let frac = (voice.pos - i as f64) as f32;
    let level = (a + (b - a) * frac) * voice.env * g;
    out[0] += level * voice.gain_l;
    out[1] += level * voice.gain_r;
    voice.pos += voice.step;
    true
}

/// The frames after the attack and hold: the decay stage (while `DECAY` and above the
/// sustain level) and the release.
#[inline(always)]
fn settled<const LOOP: bool, const DECAY: bool>(
    voice: &mut Voice,
    data: &[f32],
    mix: &mut [f32],
    mut g: f32,
    dg: f32,
    last: f64,
) -> bool {
    for out in mix.chunks_exact_mut(2) {
        if voice.env < SILENT || !emit::<LOOP>(voice, data, out, g, last) {
            return false;
        }
        if DECAY && voice.env > voice.sustain {
            voice.env = (voice.env * voice.decay_factor).max(voice.sustain);
        }
        voice.env *= voice.decay;
        g += dg;
    }
    true
}
