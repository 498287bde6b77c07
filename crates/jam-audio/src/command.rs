//! Commands from the control side to the renderer: small and `Copy`, so the ring never
//! allocates or drops anything on the audio thread.

use crate::Instrument;

/// Who is playing: the local player or a remote participant. The renderer keeps gain, mute and
/// sustain per source. Ids are assigned by the control side (0 is, by convention, the local
/// player); at most [`SourceId::MAX`] sources exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u8);

impl SourceId {
    /// Number of sources the renderer keeps state for; larger ids are folded into this range.
    pub const MAX: usize = 64;
    /// The local player.
    pub const LOCAL: SourceId = SourceId(0);

    pub(crate) fn index(self) -> usize {
        usize::from(self.0) % Self::MAX
    }
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Start a note. `velocity` 1–127 (0 is treated as a note-off, as in MIDI).
    NoteOn {
        /// Who plays it.
        source: SourceId,
        /// Which instrument.
        instrument: Instrument,
        /// MIDI note number (drums: General MIDI drum number).
        note: u8,
        /// 1–127.
        velocity: u8,
    },
    /// Release a note (ignored by drums).
    NoteOff {
        /// Who plays it.
        source: SourceId,
        /// Which instrument.
        instrument: Instrument,
        /// MIDI note number.
        note: u8,
    },
    /// Sustain pedal (MIDI CC64 semantics: notes released while it is down keep sounding).
    Sustain {
        /// Whose pedal.
        source: SourceId,
        /// Down (true) or up.
        on: bool,
    },
    /// Release every note of a source, pedal or not (a participant left).
    AllNotesOff {
        /// Whose notes.
        source: SourceId,
    },
    /// Choose what a source's part plays: `instrument` is the part (the keyboard part,
    /// [`Instrument::Piano`], or the drum part), `program` an index into the palette's melodic
    /// instruments or kits ([`crate::palette::Palette`]; 0 is the built-in grand piano or
    /// standard kit, and an index past the end means 0). Notes already sounding keep their
    /// sound; the next note plays the new one.
    Program {
        /// Whose part.
        source: SourceId,
        /// Which part.
        instrument: Instrument,
        /// Palette index.
        program: u16,
    },
    /// Bend a source's keyboard part by `semitones` (the pitch wheel; −24–24, 0 = none). Notes
    /// sounding follow it, as on a synth; drums are never bent.
    PitchBend {
        /// Whose part.
        source: SourceId,
        /// Semitones, signed.
        semitones: f32,
    },
    /// A source's keyboard part's vibrato depth (the modulation wheel): 0 none to 1, the
    /// deepest (±50 cents at 5.5 Hz, SoundFont's default for the wheel).
    Modulation {
        /// Whose part.
        source: SourceId,
        /// 0–1.
        depth: f32,
    },
    /// Set a source's gain (linear, ≥ 0; 1 = unchanged). Ramped over 5 ms.
    SourceGain {
        /// Which source.
        source: SourceId,
        /// Linear gain.
        gain: f32,
    },
    /// Mute or unmute a source. Ramped over 5 ms.
    SourceMute {
        /// Which source.
        source: SourceId,
        /// Muted or not.
        muted: bool,
    },
    /// Set the master gain (linear, ≥ 0), applied before the limiter.
    MasterGain(f32),
}

/// An action and when to do it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Command {
    /// Frame (on the engine's [`crate::AudioClock`]) at which to act; `None` or a frame in the
    /// past means "as soon as possible", i.e. at the start of the next rendered block.
    pub at: Option<u64>,
    /// What to do.
    pub action: Action,
}

impl Command {
    /// An action to perform at once.
    pub fn now(action: Action) -> Command {
        Command { at: None, action }
    }

    /// An action to perform at `frame`.
    pub fn at(frame: u64, action: Action) -> Command {
        Command {
            at: Some(frame),
            action,
        }
    }
}
