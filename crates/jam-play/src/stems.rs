//! A take as audio for a DAW: one stem per player, rendered with their sounds through the same
//! engine that plays live, and the mix of all of them — every file starting at the take's time
//! zero and of the same length, so that dropped at bar 1 they line up.
//!
//! Stems and mix are rendered without the master limiter and written as 32-bit floating point:
//! the stems then sum to the mix (to the rounding of the engine's own summing), and the DAW
//! levels them itself. Each render is the real engine (not a second synthesizer): the mix is
//! rendered on its own, with every player on their own source, which is what makes "the stems
//! sum to the mix" a check of the engine's per-player isolation rather than a definition.
//!
//! What a stem holds: the player's notes, drum hits, pedal, wheels and sound changes. The
//! step sequencer's pattern is not a player's performance and is not rendered (the MIDI file
//! carries the tempo map); nor is anyone's own imported sound (it lives on their computer).

use std::sync::Arc;
use std::time::Instant;

use jam_audio::{Action, Command, EngineConfig, Instrument, SampleBank, SourceId};
use jam_protocol::MusicalEvent;
use jam_takes::TimedEvent;

use crate::speaker::{actions_for, programs_of, wheel_action};

/// The stems' sample rate unless asked otherwise, Hz.
pub const SAMPLE_RATE: u32 = 48_000;
/// Longest tail rendered after a take's last event while notes still ring, seconds.
pub const MAX_TAIL_SECONDS: u64 = 10;
/// The longest take stems are made of, seconds (3 hours): a 32-bit float stereo WAV at 48 kHz
/// can hold 3.1 hours (its sizes are 32-bit), and a corrupt or hostile log whose last event
/// claims days must not start a render of days.
pub const MAX_SECONDS: u64 = 3 * 3_600;
/// The most players a take's stems are rendered for: the engine's sources, less ours.
pub const MAX_PLAYERS: usize = SourceId::MAX - 1;
/// Voices for an offline render: enough that no voice is ever stolen (a stolen voice would
/// make the mix differ from its stems; the live engine steals above 192).
const OFFLINE_VOICES: usize = 2_048;
/// Frames rendered per pass.
const BLOCK: usize = 512;

/// What can't be bounced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BounceError {
    /// Longer than a WAV file holds.
    #[error(
        "this take runs {minutes} minutes; stems can be made of takes up to {} minutes — export it as MIDI instead",
        MAX_SECONDS / 60
    )]
    TooLong {
        /// Its length.
        minutes: u64,
    },
    /// More players than the engine has sources.
    #[error(
        "this take has {players} players; stems can be made for up to {MAX_PLAYERS} — export it as MIDI instead"
    )]
    TooManyPlayers {
        /// How many played.
        players: usize,
    },
}

/// An engine command at a frame from the take's start.
type Scheduled = (u64, Action);

/// A take ready to render: each player's engine commands, and everyone's together. Renders
/// stream their audio a block at a time, so a take of any length needs little memory.
pub struct Bounce {
    players: Vec<Player>,
    all: Vec<Scheduled>,
    bank: Arc<SampleBank>,
    sample_rate: u32,
}

impl Bounce {
    /// Prepares `timeline` (a take's events in time order, from
    /// [`jam_takes::TakeStore::timeline`]) for rendering at `sample_rate` with `bank`.
    pub fn new(
        timeline: &[TimedEvent],
        bank: Arc<SampleBank>,
        sample_rate: u32,
    ) -> Result<Bounce, BounceError> {
        let players = schedule(timeline, &bank, sample_rate)?;
        let last = players
            .iter()
            .filter_map(|p| p.actions.last().map(|&(at, _)| at))
            .max()
            .unwrap_or(0);
        let seconds = last / u64::from(sample_rate.max(1));
        if seconds > MAX_SECONDS {
            return Err(BounceError::TooLong {
                minutes: seconds / 60,
            });
        }
        let mut all: Vec<(u64, usize, Action)> = players
            .iter()
            .flat_map(|p| p.actions.iter().map(|&(at, a)| (at, p.order, a)))
            .collect();
        // Same frame: in the take's order of players (each player's own order is kept by the
        // stable sort).
        all.sort_by_key(|&(at, order, _)| (at, order));
        Ok(Bounce {
            players,
            all: all.into_iter().map(|(at, _, a)| (at, a)).collect(),
            bank,
            sample_rate,
        })
    }

    /// The players who made a sound, in order of their first: (id, name).
    pub fn players(&self) -> Vec<(String, String)> {
        self.players
            .iter()
            .map(|p| (p.id.clone(), p.name.clone()))
            .collect()
    }

    /// Renders everyone together into `sink` (interleaved stereo blocks) until the last sound
    /// has faded (at most [`MAX_TAIL_SECONDS`] after the last event); returns the frames.
    pub fn mix<E>(&self, sink: impl FnMut(&[f32]) -> Result<(), E>) -> Result<u64, E> {
        render(&self.all, &self.bank, self.sample_rate, None, sink)
    }

    /// Renders player `index` (of [`Bounce::players`]) alone into `sink`: exactly `frames`
    /// frames (the mix's), so that every file lines up.
    pub fn stem<E>(
        &self,
        index: usize,
        frames: u64,
        sink: impl FnMut(&[f32]) -> Result<(), E>,
    ) -> Result<u64, E> {
        let actions = self.players.get(index).map_or(&[][..], |p| &p.actions);
        render(actions, &self.bank, self.sample_rate, Some(frames), sink)
    }
}

/// One player's engine commands.
struct Player {
    id: String,
    name: String,
    /// Their place in the take (order of first sound); also their engine source - 1.
    order: usize,
    actions: Vec<Scheduled>,
}

/// Each player's events as engine commands at frames, on their own source. Players who never
/// made a sound (listeners, someone who only chose an instrument) get no stem.
fn schedule(
    timeline: &[TimedEvent],
    bank: &SampleBank,
    sample_rate: u32,
) -> Result<Vec<Player>, BounceError> {
    struct Part {
        id: String,
        name: String,
        bend_range: f32,
        actions: Vec<Scheduled>,
        sounded: bool,
    }
    let mut parts: Vec<Part> = Vec::new();
    for e in timeline {
        let index = match parts.iter().position(|p| p.id == e.sender_id) {
            Some(i) => i,
            None => {
                parts.push(Part {
                    id: e.sender_id.clone(),
                    name: e.sender_name.clone(),
                    bend_range: 2.0,
                    actions: Vec::new(),
                    sounded: false,
                });
                parts.len() - 1
            }
        };
        let Some(part) = parts.get_mut(index) else {
            continue;
        };
        // Sources are given out in order of first sound, below; here a placeholder the
        // renders replace (every action of a part is on one source).
        let source = SourceId::LOCAL;
        let at = frame_of(e.offset_us(), sample_rate);
        match &e.event {
            MusicalEvent::Instrument(chosen) => {
                let (keys, drums) = programs_of(bank, chosen);
                part.bend_range = jam_protocol::instrument::bend_range(&chosen.keys);
                for (instrument, program) in [(Instrument::Piano, keys), (Instrument::Drums, drums)]
                {
                    let action = Action::Program {
                        source,
                        instrument,
                        program,
                    };
                    part.actions.push((at, action));
                }
            }
            musical => {
                if let Some(action) = wheel_action(source, part.bend_range, musical) {
                    part.actions.push((at, action));
                    continue;
                }
                for (delay, action) in actions_for(source, musical).into_iter().flatten() {
                    let delay_us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
                    let off = frame_of(e.offset_us().saturating_add(delay_us), sample_rate);
                    part.sounded |= matches!(action, Action::NoteOn { .. });
                    part.actions.push((off, action));
                }
            }
        }
    }
    let sounding: Vec<Part> = parts.into_iter().filter(|p| p.sounded).collect();
    if sounding.len() > MAX_PLAYERS {
        return Err(BounceError::TooManyPlayers {
            players: sounding.len(),
        });
    }
    Ok(sounding
        .into_iter()
        .enumerate()
        .map(|(order, mut p)| {
            let source = SourceId(u8::try_from(order + 1).unwrap_or(u8::MAX));
            for (_, action) in &mut p.actions {
                on_source(action, source);
            }
            // A note released by its duration may fall after later events: by frame, stable.
            p.actions.sort_by_key(|&(at, _)| at);
            Player {
                id: p.id,
                name: p.name,
                order,
                actions: p.actions,
            }
        })
        .collect())
}

/// `action`, for `source`.
fn on_source(action: &mut Action, to: SourceId) {
    match action {
        Action::NoteOn { source, .. }
        | Action::NoteOff { source, .. }
        | Action::Sustain { source, .. }
        | Action::PitchBend { source, .. }
        | Action::Modulation { source, .. }
        | Action::Program { source, .. }
        | Action::AllNotesOff { source }
        | Action::SourceGain { source, .. }
        | Action::SourceMute { source, .. } => *source = to,
        _ => {}
    }
}

/// The frame of `us` microseconds from the start, at `rate`.
fn frame_of(us: u64, rate: u32) -> u64 {
    let frame = u128::from(us) * u128::from(rate) / 1_000_000;
    u64::try_from(frame).unwrap_or(u64::MAX)
}

/// Renders `actions` (sorted by frame) through a fresh engine into `sink`, a block at a time:
/// exactly `frames` frames when given, else until the last sound has faded (at most
/// [`MAX_TAIL_SECONDS`] after the last command). Returns the frames rendered.
fn render<E>(
    actions: &[Scheduled],
    bank: &Arc<SampleBank>,
    sample_rate: u32,
    frames: Option<u64>,
    mut sink: impl FnMut(&[f32]) -> Result<(), E>,
) -> Result<u64, E> {
    let config = EngineConfig {
        sample_rate,
        max_voices: OFFLINE_VOICES,
        limiter: false,
        ..EngineConfig::default()
    };
    let (mut engine, mut renderer) = jam_audio::engine(bank.clone(), config);
    let rate = u64::from(sample_rate);
    let last = actions.last().map_or(0, |&(at, _)| at);
    let limit = frames.unwrap_or_else(|| last.saturating_add(rate * MAX_TAIL_SECONDS));
    let mut next = 0;
    let mut block = vec![0.0f32; BLOCK * 2];
    let now = Instant::now();
    while renderer.frame() < limit {
        // A second of commands ahead of the renderer: the engine's schedule never fills.
        let horizon = renderer.frame().saturating_add(rate);
        while let Some(&(at, action)) = actions.get(next) {
            if at >= horizon || engine.send(Command::at(at, action)).is_err() {
                break; // later, or the ring is full: after the next block
            }
            next += 1;
        }
        let left = usize::try_from(limit - renderer.frame()).unwrap_or(BLOCK);
        let Some(part) = block.get_mut(..left.min(BLOCK) * 2) else {
            break;
        };
        renderer.render(part, 2, now);
        sink(part)?;
        if frames.is_none()
            && next == actions.len()
            && renderer.frame() > last
            && engine.stats().voices_active == 0
        {
            break;
        }
    }
    Ok(renderer.frame())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_a_long_take_never_overflow() {
        assert_eq!(frame_of(1_000_000, 48_000), 48_000);
        assert_eq!(frame_of(500, 48_000), 24);
        assert_eq!(frame_of(u64::MAX, u32::MAX), u64::MAX);
    }
}
