//! Takes: every jam recorded as it happens.
//!
//! - [`Record`] is what a relay reports: rooms opening and closing, people joining and leaving,
//!   every relayed event with its `seq` and relay time.
//! - [`Recorder`] takes records on the relay's hot path without ever blocking it (a bounded
//!   queue; a full queue drops and counts) and a writer thread stores them in SQLite in batched
//!   transactions — at most [`FLUSH_EVERY`] after an event, it is on disk.
//! - [`TakeStore`] reads the log back: sessions ([`SessionSummary`]), their events, deletion.
//! - [`TakeStore::timeline`]: a take's musical events in time (for replay and export).
//! - `export` (feature `export`): a session as a Standard MIDI File, one named track per player.
//!
//! The database is SQLite in WAL mode with `synchronous = NORMAL`: a committed batch survives the
//! process being killed, and the file opens cleanly afterwards. A session the process did not
//! get to close is closed at its last event the next time the log is opened for recording.

mod error;
#[cfg(feature = "export")]
pub mod export;
mod record;
mod recorder;
mod store;
mod timeline;

pub use error::{Result, TakesError};
pub use record::Record;
pub use recorder::{DEFAULT_QUEUE, FLUSH_EVERY, Recorder, RecorderStats, RecorderThread};
pub use store::{LoggedEvent, Participant, SessionSummary, TakeStore};
pub use timeline::{TIMESTAMP_TRUST_MS, TimedEvent, event_time_ms};
