//! Jamwire's MIDI: keyboards and drum kits in, Standard MIDI Files in and out.
//!
//! - [`MidiParser`] turns a raw byte stream into typed [`MidiEvent`]s, one byte at a time,
//!   without allocating (it runs inside midir's callback).
//! - [`Router`] decides what an event plays: the drum kit (MIDI channel 10 by default, or a
//!   whole device) or the piano, with optional transposition.
//! - [`Song`] reads a `.mid` file into timed events with its tempo map applied;
//!   [`Recording`] writes a session as a multitrack `.mid` (one named track per participant).
//! - [`play_paced`] plays a song in real time, like a performer; [`render_song`] bounces it to
//!   audio through `jam-audio`'s engine.
//! - [`input`] connects MIDI input devices through midir, remembers them by name and reconnects
//!   them when they come back.
//! - [`jack::Xruns`] (with the `jack` feature) counts the cycles a JACK server skipped, in which
//!   JACK drops MIDI: how to tell a starved machine from a lost note.

mod error;
pub mod input;
#[cfg(feature = "jack")]
pub mod jack;
pub mod output;
mod parser;
mod player;
mod render;
mod router;
mod smf;

pub use error::{MidiError, Result};
pub use parser::{MidiEvent, MidiMessage, MidiParser};
pub use player::play_paced;
pub use render::{MAX_TAIL_SECONDS, render_song};
pub use router::{PlayEvent, Route, Router};
pub use smf::{DRUM_CHANNEL, PIANO_CHANNEL, RECORDING_PPQ, Recording, Song, SongEvent};
