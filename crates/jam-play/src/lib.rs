//! Jamwire's app core: everything the desktop app and the `jam` tool do, written once, with no
//! Tauri in it. Both faces are thin adapters over [`Core`].
//!
//! - [`Core`] ([`core`]): a running Jamwire, composed of parts that own their state, with
//!   its lock order: the stage (`stage`: speaker, groove task, where our playing goes), the
//!   jam (`jam`: join, enter, leave; `host`: hosting here or on a relay server), the audio
//!   output (`audio`), the MIDI inputs (`midi`), the settings and the takes. No part reaches
//!   back into `Core`.
//! - [`room`]: the room task, which plays what the room plays and reports typed
//!   [`RoomEvent`]s to a [`RoomSink`] (the app's IPC channel, the tool's console).
//! - [`Speaker`] ([`speaker`]): the local engine; one source per participant, samples decoded
//!   once, the output swappable.
//! - [`groove`]: tempo, metronome and the 16-step sequencer as a pure function of relay time.
//! - [`perform`]: [`PlayInput`], one key, pad or pedal, and the protocol event it becomes.
//! - [`takes`]: [`Takes`], the session log read back, exported, replayed.
//! - [`record`]: [`MidiTake`], what a listener heard as a MIDI file.
//! - [`settings`], [`views`]: what is remembered and what a UI shows; the views' TypeScript
//!   types are generated from here (`tests/bindings.rs`).

mod address;
mod audio;
pub mod core;
mod error;
pub mod groove;
mod host;
mod jam;
pub mod lan;
pub mod link;
mod midi;
pub mod midi_clock;
pub mod midi_out;
pub mod perform;
pub mod portmap;
pub mod record;
pub mod room;
pub mod settings;
pub mod speaker;
mod stage;
pub mod stems;
mod sync;
pub mod takes;
pub mod views;

pub use crate::address::reachable_addresses;
pub use crate::core::{Core, CoreConfig};
pub use crate::error::{PlayError, Result};
pub use crate::groove::{Groove, Tempo};
pub use crate::host::relay_server;
pub use crate::perform::{InstrumentName, PlayInput};
pub use crate::record::MidiTake;
pub use crate::room::{RoomEvent, RoomSink};
pub use crate::settings::{Settings, Timing};
pub use crate::speaker::Speaker;
pub use crate::takes::Takes;
