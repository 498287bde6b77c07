//! Jamwire's audio engine: a sampled General MIDI drum kit and acoustic piano, played with
//! sample-accurate timing, mixed per source (the local player and each remote participant),
//! limited on the master bus, and rendered either to a device or offline.
//!
//! The engine is split the way real-time audio code must be:
//! - [`Engine`] — the control side, used from any ordinary thread. Its methods turn into small
//!   `Copy` [`Command`]s pushed through a lock-free ring (`rtrb`).
//! - [`Renderer`] — the audio side, owned by the audio callback (or an offline loop). It owns
//!   the voices and all mixing state; [`Renderer::render`] never allocates, locks, logs or does
//!   I/O.
//! - [`SampleBank`] — decoded, immutable sample data, loaded off the audio thread and shared.
//! - [`AudioClock`] — the frame counter and its mapping to a monotonic clock, so the network
//!   layer can turn "play at relay time T" into "start at frame N".
//! - [`offline`] — render a renderer into a buffer or WAV file without a device.
//! - [`output`] — play a renderer through a device with cpal (every sample format, chosen
//!   buffer size, xrun and overrun counters, recoverable errors).
//!
//! Units: `note` is a MIDI note number 0–127; `velocity` 1–127; frames are counted at the
//! engine's sample rate from the start of the stream; gains are linear amplitude factors.

mod bank;
mod clock;
mod command;
mod error;
mod limiter;
pub mod offline;
pub mod output;
pub mod own;
pub mod palette;
mod renderer;
pub mod soundfont;
mod voice;

pub use bank::{Instrument, SampleBank};
pub use clock::AudioClock;
pub use command::{Action, Command, SourceId};
pub use error::{AudioError, Result};
pub use renderer::{EngineStats, Renderer, StatsSnapshot};

use std::sync::Arc;

/// The shipped samples, loaded once for the unit tests.
#[cfg(test)]
pub(crate) fn test_bank() -> Arc<SampleBank> {
    static BANK: std::sync::OnceLock<Arc<SampleBank>> = std::sync::OnceLock::new();
    BANK.get_or_init(|| {
        Arc::new(SampleBank::load(&SampleBank::default_dir()).expect("assets load"))
    })
    .clone()
}

/// Settings of an engine instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Output sample rate in Hz.
    pub sample_rate: u32,
    /// Commands that can wait between two audio callbacks (default 1,024).
    pub command_capacity: usize,
    /// Voices that can sound at once (default 192); see [`Renderer`] for the stealing rule.
    pub max_voices: usize,
    /// Scheduled commands that can wait for their frame (default 4,096).
    pub schedule_capacity: usize,
    /// The master bus's peak limiter (default on: what plays never clips). Off for stems,
    /// whose sum must equal the mix: the mix is then written as floating point, unlimited.
    pub limiter: bool,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            sample_rate: 48_000,
            command_capacity: 1_024,
            max_voices: 192,
            schedule_capacity: 4_096,
            limiter: true,
        }
    }
}

/// The control side of the engine.
pub struct Engine {
    command_tx: rtrb::Producer<Command>,
    own_tx: rtrb::Producer<Option<Arc<palette::PaletteInstrument>>>,
    trash_rx: rtrb::Consumer<Arc<palette::PaletteInstrument>>,
    clock: Arc<AudioClock>,
    stats: Arc<EngineStats>,
    sample_rate: u32,
}

/// Creates an engine: the control handle and the renderer to hand to the audio thread.
pub fn engine(bank: Arc<SampleBank>, config: EngineConfig) -> (Engine, Renderer) {
    let (command_tx, command_rx) = rtrb::RingBuffer::new(config.command_capacity.max(1));
    // One new own sound in flight; the old ones coming back never outnumber the new ones sent
    // while the control side empties the way back before each send.
    let (own_tx, own_rx) = rtrb::RingBuffer::new(1);
    let (trash_tx, trash_rx) = rtrb::RingBuffer::new(4);
    let clock = Arc::new(AudioClock::new(config.sample_rate));
    let stats = Arc::new(EngineStats::default());
    let renderer = Renderer::new(
        bank,
        config,
        command_rx,
        (own_rx, trash_tx),
        clock.clone(),
        stats.clone(),
    );
    (
        Engine {
            command_tx,
            own_tx,
            trash_rx,
            clock,
            stats,
            sample_rate: config.sample_rate,
        },
        renderer,
    )
}

impl Engine {
    /// Sends a command; fails only if the audio side has stopped taking commands and the ring is
    /// full (nothing is changed then).
    pub fn send(&mut self, command: Command) -> Result<()> {
        self.free_replaced_sounds();
        self.command_tx
            .push(command)
            .map_err(|_| AudioError::CommandQueueFull)
    }

    /// Plays a note now.
    pub fn note_on(
        &mut self,
        source: SourceId,
        instrument: Instrument,
        note: u8,
        velocity: u8,
    ) -> Result<()> {
        self.send(Command::now(Action::NoteOn {
            source,
            instrument,
            note,
            velocity,
        }))
    }

    /// Releases a note now (drums ignore note-offs: they ring out).
    pub fn note_off(&mut self, source: SourceId, instrument: Instrument, note: u8) -> Result<()> {
        self.send(Command::now(Action::NoteOff {
            source,
            instrument,
            note,
        }))
    }

    /// Hands the renderer this engine's own sound (`None` removes it), played by sources whose
    /// keyboard part has program [`own::OWN_PROGRAM`] (the grand piano while there is none).
    /// Voices of the previous own sound stop. Fails, changing nothing, when the renderer hasn't
    /// taken the previous one yet (the audio side isn't running).
    pub fn set_own_sound(&mut self, sound: Option<&own::OwnSound>) -> Result<()> {
        self.free_replaced_sounds();
        self.own_tx
            .push(sound.map(|s| s.instrument.clone()))
            .map_err(|_| AudioError::CommandQueueFull)
    }

    /// Frees the own sounds the renderer has replaced (it never frees memory itself).
    fn free_replaced_sounds(&mut self) {
        while self.trash_rx.pop().is_ok() {}
    }

    /// Sets a source's sustain pedal now.
    pub fn sustain(&mut self, source: SourceId, on: bool) -> Result<()> {
        self.send(Command::now(Action::Sustain { source, on }))
    }

    /// The engine's clock.
    pub fn clock(&self) -> &AudioClock {
        &self.clock
    }

    /// Counters the renderer keeps (voices, steals, late commands, xruns).
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Output sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }
}
