//! The audio side: voices, scheduling, per-source mixing and the master bus.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use crate::bank::{HARD_VELOCITY, SOFT_VELOCITY};
use crate::limiter::Limiter;
use crate::own::OWN_PROGRAM;
use crate::palette::PaletteInstrument;
use crate::voice::{SampleRef, Voice, render_voice};
use crate::{Action, AudioClock, Command, EngineConfig, Instrument, SampleBank, SourceId};

/// The renderer's ends of the own-sound rings: new sounds in, replaced ones out.
pub(crate) type OwnRings = (
    rtrb::Consumer<Option<Arc<PaletteInstrument>>>,
    rtrb::Producer<Arc<PaletteInstrument>>,
);

/// Largest block rendered in one pass; longer requests are split.
pub(crate) const MAX_BLOCK: usize = 1_024;
/// Piano key release: the note falls to −80 dB in this many seconds after key-up.
const PIANO_RELEASE_S: f32 = 0.35;
/// A re-struck piano key damps the previous sound of the same key this fast.
const RESTRIKE_RELEASE_S: f32 = 0.08;
/// An open hi-hat choked by the closed or pedal hat falls silent this fast.
const CHOKE_RELEASE_S: f32 = 0.04;
/// The furthest the pitch wheel bends, semitones (a bend range of two octaves).
const MAX_BEND_SEMITONES: f32 = 24.0;
/// The modulation wheel's vibrato: its rate and, at full depth, its swing either way (cents).
const VIBRATO_HZ: f64 = 5.5;
const VIBRATO_CENTS: f64 = 50.0;
/// Source gain changes ramp over this long, so mute and volume never click.
const GAIN_RAMP_S: f32 = 0.005;
/// Piano velocity below which the soft layer is used.
const LAYER_SPLIT: u8 = 80;
/// Instrument levels, so piano and drums sit together in the mix.
const PIANO_LEVEL: f32 = 1.6;
const DRUM_LEVEL: f32 = 0.7;
/// GM drum notes.
const CLOSED_HAT: u8 = 42;
const PEDAL_HAT: u8 = 44;
const OPEN_HAT: u8 = 46;

/// Loudness for a velocity: a square-law curve over a −40 dB floor, so velocity 1 is quiet but
/// audible and every step up is louder.
fn velocity_gain(velocity: u8) -> f32 {
    let v = f32::from(velocity.clamp(1, 127)) / 127.0;
    0.01 + 0.99 * v * v
}

/// Live counters of the renderer, readable from any thread.
#[derive(Debug, Default)]
pub struct EngineStats {
    voices_active: AtomicU64,
    voices_stolen: AtomicU64,
    /// Scheduled commands that could not wait (schedule full) and were applied at once.
    schedule_overflows: AtomicU64,
    /// Output underruns/xruns reported by the device backend.
    pub(crate) xruns: AtomicU64,
    /// Callbacks that took longer than their buffer's duration.
    pub(crate) overruns: AtomicU64,
    /// Errors the device backend reported, other than underruns (most pass at once).
    pub(crate) stream_errors: AtomicU64,
    blocks: AtomicU64,
}

/// A copy of [`EngineStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Voices sounding at the end of the last block.
    pub voices_active: u64,
    /// Voices taken from a sounding note because the pool was full.
    pub voices_stolen: u64,
    /// Scheduled commands applied early because the schedule was full.
    pub schedule_overflows: u64,
    /// Device underruns/xruns.
    pub xruns: u64,
    /// Audio callbacks slower than real time.
    pub overruns: u64,
    /// Backend errors other than underruns, passing or not.
    pub stream_errors: u64,
    /// Blocks rendered.
    pub blocks: u64,
}

impl EngineStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            voices_active: self.voices_active.load(Relaxed),
            voices_stolen: self.voices_stolen.load(Relaxed),
            schedule_overflows: self.schedule_overflows.load(Relaxed),
            xruns: self.xruns.load(Relaxed),
            overruns: self.overruns.load(Relaxed),
            stream_errors: self.stream_errors.load(Relaxed),
            blocks: self.blocks.load(Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct SourceState {
    /// Gain the user set.
    gain: f32,
    muted: bool,
    /// Gain being applied now (ramps towards `gain`, or 0 when muted).
    current: f32,
    /// Sustain pedal down.
    pedal: bool,
    /// Palette index of the melodic instrument and of the kit this source plays.
    melodic: u16,
    kit: u16,
    /// Pitch wheel, semitones, and vibrato depth (0–1) of the keyboard part.
    bend: f32,
    vibrato: f32,
}

impl SourceState {
    const DEFAULT: SourceState = SourceState {
        gain: 1.0,
        muted: false,
        current: 1.0,
        pedal: false,
        melodic: 0,
        kit: 0,
        bend: 0.0,
        vibrato: 0.0,
    };

    fn target(&self) -> f32 {
        if self.muted { 0.0 } else { self.gain }
    }
}

/// A command waiting for its frame.
#[derive(Debug, Clone, Copy)]
struct Scheduled {
    at: u64,
    /// Arrival order, so commands for the same frame keep their order.
    order: u64,
    action: Action,
}

/// The audio-thread half of the engine. Hand it to the output callback (or render it offline).
///
/// **Voice stealing rule:** when all voices sound and a new note starts, the renderer takes,
/// in order of preference, the quietest voice that is already releasing, else the oldest voice
/// (the one started first). The stolen voice is cut (no fade) and counted in
/// [`StatsSnapshot::voices_stolen`].
pub struct Renderer {
    bank: Arc<SampleBank>,
    /// This engine's own sound ([`crate::own`]), played for program [`OWN_PROGRAM`].
    pub(crate) own: Option<Arc<PaletteInstrument>>,
    /// New own sounds from the control side, and the replaced ones going back to be dropped
    /// there (the audio thread never drops a reference that might be the last).
    own_rx: rtrb::Consumer<Option<Arc<PaletteInstrument>>>,
    trash_tx: rtrb::Producer<Arc<PaletteInstrument>>,
    sample_rate: f32,
    command_rx: rtrb::Consumer<Command>,
    /// Commands waiting for their frame; never grows past its initial capacity.
    schedule: Vec<Scheduled>,
    pub(crate) voices: Box<[Voice]>,
    sources: [SourceState; SourceId::MAX],
    master_gain: f32,
    /// Where the vibrato's cycle is, 0–1.
    vibrato_phase: f64,
    /// `None` when the engine was made without one ([`EngineConfig::limiter`]).
    limiter: Option<Limiter>,
    /// Interleaved stereo mix of one block.
    mix: Box<[f32]>,
    /// First frame of the next block.
    frame: u64,
    order: u64,
    clock: Arc<AudioClock>,
    /// Steadies the callbacks' "heard at" before it is published.
    smoother: crate::clock::HeardSmoother,
    stats: Arc<EngineStats>,
}

impl Renderer {
    pub(crate) fn new(
        bank: Arc<SampleBank>,
        config: EngineConfig,
        command_rx: rtrb::Consumer<Command>,
        own: OwnRings,
        clock: Arc<AudioClock>,
        stats: Arc<EngineStats>,
    ) -> Renderer {
        Renderer {
            bank,
            own: None,
            own_rx: own.0,
            trash_tx: own.1,
            sample_rate: config.sample_rate as f32,
            command_rx,
            schedule: Vec::with_capacity(config.schedule_capacity.max(1)),
            voices: vec![Voice::IDLE; config.max_voices.max(1)].into_boxed_slice(),
            sources: [SourceState::DEFAULT; SourceId::MAX],
            master_gain: 1.0,
            vibrato_phase: 0.0,
            limiter: config.limiter.then(|| Limiter::new(config.sample_rate)),
            mix: vec![0.0; MAX_BLOCK * 2].into_boxed_slice(),
            frame: 0,
            order: 0,
            clock,
            smoother: Default::default(),
            stats,
        }
    }

    /// The counters this renderer updates (the device backend adds xruns and overruns).
    pub(crate) fn stats_handle(&self) -> Arc<EngineStats> {
        self.stats.clone()
    }

    /// Frames rendered so far: the frame the next block starts at.
    pub fn frame(&self) -> u64 {
        self.frame
    }

    /// Renders interleaved `f32` frames into `out` with `channels` channels (1 = mono mix of
    /// left and right; 2 = stereo; more = stereo in the first two, silence in the rest).
    /// `heard_at` is when the first frame of `out` will reach the speakers (publishes the
    /// [`AudioClock`] mapping). Real-time safe: no allocation, locks, logging or I/O.
    pub fn render(&mut self, out: &mut [f32], channels: usize, heard_at: Instant) {
        #[cfg(feature = "assert-no-alloc")]
        assert_no_alloc::assert_no_alloc(|| self.render_inner(out, channels, heard_at));
        #[cfg(not(feature = "assert-no-alloc"))]
        self.render_inner(out, channels, heard_at);
    }

    fn render_inner(&mut self, out: &mut [f32], channels: usize, heard_at: Instant) {
        let channels = channels.max(1);
        let heard_at = self
            .smoother
            .smooth(self.frame, heard_at, self.clock.sample_rate());
        self.clock.publish(self.frame, heard_at);
        self.clock.publish_lead(heard_at, out.len() / channels);
        for chunk in out.chunks_mut(MAX_BLOCK * channels) {
            let frames = chunk.len() / channels;
            self.render_block(frames);
            for (frame, mixed) in chunk
                .chunks_exact_mut(channels)
                .zip(self.mix.chunks_exact(2))
            {
                match frame {
                    [mono] => *mono = 0.5 * (mixed[0] + mixed[1]),
                    [l, r, rest @ ..] => {
                        *l = mixed[0];
                        *r = mixed[1];
                        rest.fill(0.0);
                    }
                    [] => {}
                }
            }
        }
    }

    /// Renders `frames` (≤ MAX_BLOCK) into `self.mix`, applying due commands at their exact frames.
    fn render_block(&mut self, frames: usize) {
        let block_start = self.frame;
        let block_end = block_start + frames as u64;
        self.take_own_sound();
        self.take_commands();
        self.mix[..frames * 2].fill(0.0);
        let mut pos = 0usize;
        loop {
            // The earliest due command (ties: arrival order).
            let next = self
                .schedule
                .iter()
                .enumerate()
                .filter(|(_, s)| s.at < block_end)
                .min_by_key(|(_, s)| (s.at, s.order))
                .map(|(i, s)| (i, *s));
            let Some((i, scheduled)) = next else {
                self.render_voices(pos, frames);
                break;
            };
            let offset = (scheduled.at.saturating_sub(block_start) as usize).max(pos);
            self.render_voices(pos, offset);
            self.schedule.swap_remove(i);
            self.apply(scheduled.action);
            pos = offset;
        }
        for frame in self.mix[..frames * 2].chunks_exact_mut(2) {
            let (mut l, mut r) = (frame[0] * self.master_gain, frame[1] * self.master_gain);
            if let Some(limiter) = &mut self.limiter {
                limiter.process(&mut l, &mut r);
            }
            frame[0] = l;
            frame[1] = r;
        }
        self.frame = block_end;
        self.stats.blocks.fetch_add(1, Relaxed);
        self.stats.voices_active.store(
            self.voices.iter().filter(|v| v.active).count() as u64,
            Relaxed,
        );
    }

    /// Puts a new own sound in place. Its voices stop (they play the old recordings); the old
    /// sound goes back to the control side to be freed (if that ring were ever full it would be
    /// leaked, never freed here).
    fn take_own_sound(&mut self) {
        let Ok(new) = self.own_rx.pop() else {
            return;
        };
        for v in self.voices.iter_mut().filter(|v| {
            v.active
                && matches!(
                    v.sample,
                    SampleRef::Zone {
                        instrument: OWN_PROGRAM,
                        ..
                    }
                )
        }) {
            v.active = false;
        }
        if let Some(old) = std::mem::replace(&mut self.own, new)
            && let Err(rtrb::PushError::Full(old)) = self.trash_tx.push(old)
        {
            std::mem::forget(old);
        }
    }

    /// Moves commands from the ring into the schedule.
    fn take_commands(&mut self) {
        while let Ok(command) = self.command_rx.pop() {
            let at = command.at.unwrap_or(0);
            self.order += 1;
            let scheduled = Scheduled {
                at,
                order: self.order,
                action: command.action,
            };
            if self.schedule.len() < self.schedule.capacity() {
                self.schedule.push(scheduled);
            } else {
                // Never grow on the audio thread: play it now rather than lose it.
                self.stats.schedule_overflows.fetch_add(1, Relaxed);
                self.apply(scheduled.action);
            }
        }
    }

    /// Renders every voice over mix frames `from..to`.
    fn render_voices(&mut self, from: usize, to: usize) {
        if to <= from {
            return;
        }
        let frames = to - from;
        let max_step = frames as f32 / (GAIN_RAMP_S * self.sample_rate);
        let mut ramps = [(0.0f32, 0.0f32); SourceId::MAX];
        for (ramp, source) in ramps.iter_mut().zip(self.sources.iter_mut()) {
            let target = source.target();
            let start = source.current;
            let end = start + (target - start).clamp(-max_step, max_step);
            source.current = end;
            *ramp = (start, end);
        }
        // The pitch of each source's keyboard part for this segment: its wheel and its
        // vibrato, whose phase runs on with the frames (one value per segment: a segment is
        // at most a block, 2.7 ms at 128 frames, far finer than a 5.5 Hz vibrato).
        let phase = self.vibrato_phase;
        self.vibrato_phase =
            (phase + frames as f64 * VIBRATO_HZ / f64::from(self.sample_rate)).fract();
        let wobble = (phase * std::f64::consts::TAU).sin();
        let mut pitch = [1.0f64; SourceId::MAX];
        let mut any_bent = false;
        for (ratio, source) in pitch.iter_mut().zip(self.sources.iter()) {
            if source.bend != 0.0 || source.vibrato != 0.0 {
                let cents = f64::from(source.bend) * 100.0
                    + f64::from(source.vibrato) * VIBRATO_CENTS * wobble;
                *ratio = (cents / 1_200.0).exp2();
                any_bent = true;
            }
        }
        let mix = &mut self.mix[from * 2..to * 2];
        let bank = &*self.bank;
        for voice in self.voices.iter_mut().filter(|v| v.active) {
            let data: &[f32] = match voice.sample {
                SampleRef::Piano { zone, hard } => {
                    let zone = &bank.piano[usize::from(zone)];
                    if hard {
                        &zone.hard.data
                    } else {
                        &zone.soft.data
                    }
                }
                SampleRef::Drum(note) => bank.drum(note).map_or(&[], |s| &s.data),
                SampleRef::Zone {
                    kit,
                    instrument,
                    zone,
                } => {
                    let list = if kit {
                        &bank.palette.kits
                    } else {
                        &bank.palette.melodic
                    };
                    if instrument == OWN_PROGRAM {
                        self.own.as_deref()
                    } else {
                        list.get(usize::from(instrument))
                    }
                    .and_then(|i| i.zones.get(usize::from(zone)))
                    .map_or(&[], |z| &z.sample.data)
                }
            };
            if any_bent && voice.instrument == Instrument::Piano {
                voice.step = voice.base_step * pitch[voice.source.index()];
            } else {
                voice.step = voice.base_step;
            }
            let (g0, g1) = ramps[voice.source.index()];
            if !render_voice(voice, data, mix, frames, g0, g1) {
                voice.active = false;
            }
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::NoteOn {
                source,
                instrument,
                note,
                velocity: 0,
            } => self.note_off(source, instrument, note),
            Action::NoteOn {
                source,
                instrument,
                note,
                velocity,
            } => self.note_on(source, instrument, note, velocity),
            Action::NoteOff {
                source,
                instrument,
                note,
            } => self.note_off(source, instrument, note),
            Action::Sustain { source, on } => {
                self.sources[source.index()].pedal = on;
                if !on {
                    let rate = self.sample_rate;
                    for v in self
                        .voices
                        .iter_mut()
                        .filter(|v| v.active && v.source == source && v.sustained)
                    {
                        v.release(v.release_s, rate);
                    }
                }
            }
            Action::AllNotesOff { source } => {
                let state = &mut self.sources[source.index()];
                state.pedal = false;
                // Wheels back to rest too: nothing a player leaves behind bends the next one.
                state.bend = 0.0;
                state.vibrato = 0.0;
                let rate = self.sample_rate;
                for v in self
                    .voices
                    .iter_mut()
                    .filter(|v| v.active && v.source == source)
                {
                    // Every note ends: looping ones too, however long their own release.
                    v.release(v.release_s.min(PIANO_RELEASE_S), rate);
                }
            }
            Action::Program {
                source,
                instrument,
                program,
            } => {
                let state = &mut self.sources[source.index()];
                let (slot, len) = match instrument {
                    Instrument::Piano => (&mut state.melodic, self.bank.palette.melodic.len()),
                    Instrument::Drums => (&mut state.kit, self.bank.palette.kits.len()),
                };
                *slot = if usize::from(program) < len
                    || (program == OWN_PROGRAM && instrument == Instrument::Piano)
                {
                    program
                } else {
                    0
                };
            }
            Action::PitchBend { source, semitones } => {
                self.sources[source.index()].bend = if semitones.is_finite() {
                    semitones.clamp(-MAX_BEND_SEMITONES, MAX_BEND_SEMITONES)
                } else {
                    0.0
                };
            }
            Action::Modulation { source, depth } => {
                self.sources[source.index()].vibrato = if depth.is_finite() {
                    depth.clamp(0.0, 1.0)
                } else {
                    0.0
                };
            }
            Action::SourceGain { source, gain } => {
                self.sources[source.index()].gain =
                    if gain.is_finite() { gain.max(0.0) } else { 1.0 };
            }
            Action::SourceMute { source, muted } => self.sources[source.index()].muted = muted,
            Action::MasterGain(gain) => {
                self.master_gain = if gain.is_finite() { gain.max(0.0) } else { 1.0 }
            }
        }
    }

    fn note_on(&mut self, source: SourceId, instrument: Instrument, note: u8, velocity: u8) {
        let state = self.sources[source.index()];
        let program = match instrument {
            Instrument::Piano => state.melodic,
            Instrument::Drums => state.kit,
        };
        // The own sound, until one is loaded, is the grand piano.
        if program != 0 && (program != OWN_PROGRAM || self.own.is_some()) {
            self.zone_note_on(source, instrument, program, note, velocity);
            return;
        }
        let rate = self.sample_rate;
        let (sample, sample_rate, root, gain, pan) = match instrument {
            Instrument::Piano => {
                // Re-striking a key damps its previous sound.
                for v in self.voices.iter_mut().filter(|v| {
                    v.active
                        && v.source == source
                        && v.instrument == Instrument::Piano
                        && v.note == note
                }) {
                    v.release(RESTRIKE_RELEASE_S, rate);
                }
                let zone_index = self.bank.piano_zone(note);
                let zone = &self.bank.piano[zone_index];
                let hard = velocity >= LAYER_SPLIT;
                let layer_velocity = if hard { HARD_VELOCITY } else { SOFT_VELOCITY };
                let gain = PIANO_LEVEL * velocity_gain(velocity) / velocity_gain(layer_velocity);
                let pan = (f32::from(note.clamp(21, 108)) - 64.5) / 87.0 * 0.6; // low keys left
                let sample = if hard { &zone.hard } else { &zone.soft };
                (
                    SampleRef::Piano {
                        zone: u16::try_from(zone_index).unwrap_or(u16::MAX),
                        hard,
                    },
                    sample.rate,
                    zone.root,
                    gain,
                    pan,
                )
            }
            Instrument::Drums => {
                let Some(sample) = self.bank.drum(note) else {
                    return;
                };
                if note == CLOSED_HAT || note == PEDAL_HAT {
                    for v in self.voices.iter_mut().filter(|v| {
                        v.active
                            && v.source == source
                            && v.instrument == Instrument::Drums
                            && v.note == OPEN_HAT
                    }) {
                        v.release(CHOKE_RELEASE_S, rate);
                    }
                }
                (
                    SampleRef::Drum(note),
                    sample.rate,
                    note,
                    DRUM_LEVEL * velocity_gain(velocity),
                    0.0,
                )
            }
        };
        let slot = self.free_voice();
        self.order += 1;
        let angle = (pan + 1.0) * std::f32::consts::FRAC_PI_4; // equal-power pan
        let step = 2f64.powf((f64::from(note) - f64::from(root)) / 12.0) * f64::from(sample_rate)
            / f64::from(rate);
        self.voices[slot] = Voice {
            active: true,
            source,
            instrument,
            note,
            sample,
            pos: 0.0,
            step,
            base_step: step,
            gain_l: gain * angle.cos(),
            gain_r: gain * angle.sin(),
            env: 1.0,
            release_s: PIANO_RELEASE_S,
            key_down: true,
            started: self.order,
            ..Voice::IDLE
        };
    }

    /// A note on a palette instrument (`program` ≥ 1): its zone's recording, loop and envelope.
    fn zone_note_on(
        &mut self,
        source: SourceId,
        part: Instrument,
        program: u16,
        note: u8,
        velocity: u8,
    ) {
        let rate = self.sample_rate;
        let kit = part == Instrument::Drums;
        let palette = &self.bank.palette;
        let list = if kit { &palette.kits } else { &palette.melodic };
        let chosen = if program == OWN_PROGRAM {
            self.own.as_deref()
        } else {
            list.get(usize::from(program))
        };
        let Some(instrument) = chosen else {
            return;
        };
        let Some(zone_index) = instrument.zone(note) else {
            return;
        };
        let zone = &instrument.zones[zone_index];
        if kit && !(zone.keys[0]..=zone.keys[1]).contains(&note) {
            return; // a kit plays only the drums it has
        }
        let cut = |v: &Voice| {
            v.active
                && v.source == source
                && v.instrument == part
                && ((!kit && v.note == note)
                    || (zone.exclusive != 0 && v.exclusive == zone.exclusive))
        };
        let cut_s = if kit {
            CHOKE_RELEASE_S
        } else {
            RESTRIKE_RELEASE_S
        };
        for v in self.voices.iter_mut().filter(|v| cut(v)) {
            v.release(cut_s, rate);
        }
        let semitones = (f64::from(note) - f64::from(zone.root)) * f64::from(zone.tracking) / 100.0
            + f64::from(zone.tune) / 100.0;
        let step = 2f64.powf(semitones / 12.0) * f64::from(zone.sample.rate) / f64::from(rate);
        let gain = instrument.gain * zone.level * velocity_gain(velocity);
        let angle = (zone.pan.clamp(-1.0, 1.0) + 1.0) * std::f32::consts::FRAC_PI_4;
        let frames = |seconds: f32| (seconds * rate).max(0.0) as u32;
        let attack_left = frames(zone.attack);
        let decay_frames = (zone.decay * rate).max(1.0);
        let (loop_start, loop_end) = zone
            .r#loop
            .map_or((0.0, 0.0), |[a, b]| (f64::from(a), f64::from(b)));
        let (exclusive, sustain, hold_left) = (zone.exclusive, zone.sustain, frames(zone.hold));
        let release_s = zone.release.max(0.01);
        let slot = self.free_voice();
        self.order += 1;
        self.voices[slot] = Voice {
            active: true,
            source,
            instrument: part,
            note,
            sample: SampleRef::Zone {
                kit,
                instrument: program,
                zone: u16::try_from(zone_index).unwrap_or(u16::MAX),
            },
            pos: 0.0,
            step,
            base_step: step,
            gain_l: gain * angle.cos(),
            gain_r: gain * angle.sin(),
            loop_start,
            loop_end,
            env: if attack_left > 0 { 0.0 } else { 1.0 },
            attack_left,
            attack_step: 1.0 / attack_left.max(1) as f32,
            hold_left,
            // The SoundFont decay time is for a 100 dB fall.
            decay_factor: 1e-5f32.powf(1.0 / decay_frames),
            sustain,
            decay: 1.0,
            // The SoundFont release time is for 100 dB; `release` counts to −80 dB.
            release_s: release_s * 0.8,
            exclusive,
            key_down: true,
            sustained: false,
            started: self.order,
        };
    }

    fn note_off(&mut self, source: SourceId, instrument: Instrument, note: u8) {
        if instrument == Instrument::Drums {
            return; // drums ring out
        }
        let pedal = self.sources[source.index()].pedal;
        let rate = self.sample_rate;
        for v in self.voices.iter_mut().filter(|v| {
            v.active
                && v.key_down
                && v.source == source
                && v.instrument == instrument
                && v.note == note
        }) {
            if pedal {
                v.key_down = false;
                v.sustained = true;
            } else {
                v.release(v.release_s, rate);
            }
        }
    }

    /// A free voice slot, stealing one by the documented rule if none is free.
    fn free_voice(&mut self) -> usize {
        if let Some(i) = self.voices.iter().position(|v| !v.active) {
            return i;
        }
        self.stats.voices_stolen.fetch_add(1, Relaxed);
        let quietest_releasing = self
            .voices
            .iter()
            .enumerate()
            .filter(|(_, v)| v.releasing())
            .min_by(|(_, a), (_, b)| a.loudness().total_cmp(&b.loudness()))
            .map(|(i, _)| i);
        quietest_releasing.unwrap_or_else(|| {
            self.voices
                .iter()
                .enumerate()
                .min_by_key(|(_, v)| v.started)
                .map_or(0, |(i, _)| i)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sounding(renderer: &Renderer) -> Vec<u8> {
        let mut notes: Vec<u8> = renderer
            .voices
            .iter()
            .filter(|v| v.active)
            .map(|v| v.note)
            .collect();
        notes.sort();
        notes
    }

    #[test]
    fn stealing_takes_the_quietest_releasing_voice_then_the_oldest() {
        let bank = Arc::new(SampleBank::load(&SampleBank::default_dir()).expect("assets"));
        let config = EngineConfig {
            max_voices: 3,
            ..EngineConfig::default()
        };
        let (mut engine, mut renderer) = crate::engine(bank, config);
        let me = SourceId::LOCAL;
        let mut out = vec![0.0; 256];
        for note in [40, 50, 60] {
            engine.note_on(me, Instrument::Piano, note, 100).unwrap();
            renderer.render(&mut out, 2, Instant::now());
        }
        engine.note_off(me, Instrument::Piano, 50).unwrap(); // 50 starts releasing
        engine.note_on(me, Instrument::Piano, 70, 100).unwrap();
        renderer.render(&mut out, 2, Instant::now());
        assert_eq!(
            sounding(&renderer),
            [40, 60, 70],
            "the releasing voice went first"
        );
        engine.note_on(me, Instrument::Piano, 80, 100).unwrap();
        renderer.render(&mut out, 2, Instant::now());
        assert_eq!(sounding(&renderer), [60, 70, 80], "then the oldest (40)");
        assert_eq!(engine.stats().voices_stolen, 2);
    }

    #[test]
    fn velocity_curve_is_monotonic_with_forty_db_of_range() {
        assert!((1..127).all(|v| velocity_gain(v) < velocity_gain(v + 1)));
        let range_db = 20.0 * (velocity_gain(127) / velocity_gain(1)).log10();
        assert!((30.0..50.0).contains(&range_db), "{range_db}");
    }
}
