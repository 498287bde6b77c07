//! The commands the UI invokes: each adapts its arguments to one call of the app core
//! (`jam_play::Core`) and its result or error back. Errors cross as `{kind, message}`.
//!
//! - [`jam`]: host, join, leave, try again, the relay's figures.
//! - [`play`]: keys and pads, tempo, pattern, click, chat, volumes, the clock.
//! - [`settings`]: the start screen, audio output, MIDI inputs, timing, remembered fields.
//! - [`takes`]: list, details, export, delete, replay.

pub mod jam;
pub mod play;
pub mod settings;
pub mod takes;
