//! Jamwire's WebSocket room relay.
//!
//! The relay lets musicians play together: a client creates a room, others join it with the room
//! code, and every event a member broadcasts is forwarded to every *other* member, never back to
//! the sender. The same library runs embedded in the desktop app (the host's "Host" button) and
//! as the headless `jam-relay` binary. The wire format is `jam-protocol`; the prose is
//! `docs/PROTOCOL.md`.
//!
//! Module map:
//! - [`server`]: [`run`] (the accept loop, for binaries that own a listener) and [`start`] /
//!   [`RelayHandle`] (spawn in-process on a chosen or ephemeral port, read figures, stop).
//! - `peer`: one task per connection reads and answers frames; a writer task per connection
//!   drains its bounded outbound queue, batches, probes and closes.
//! - `outlet`: a connection's queue and socket writing half under one lock, so the fan-out
//!   writes a frame itself when nothing waits before it and queues it only when it must.
//! - `wire`: frames encoded once as the bytes every receiver gets, and the stream split so
//!   tungstenite reads while the outlet writes (tungstenite's own pongs and close replies go
//!   through the outlet's queue).
//! - `room`: the room registry, membership, `seq`, the late-join state (tempo, pattern, held-note
//!   ledger) and the fan-out that serialises an event once and offers it to each other member.
//! - `limiter`: the per-connection token bucket.
//! - [`config`]: [`RelayConfig`], every limit with its documented default.
//! - [`stats`]: [`RelayStats`] counters, readable while the relay runs.
//! - [`error`]: [`RelayError`], failures to start the relay.

pub mod config;
pub mod error;
mod limiter;
pub mod metrics;
mod outlet;
mod peer;
mod room;
pub mod server;
pub mod stats;
mod time;
pub mod tls;
mod web;
mod wire;

pub use config::RelayConfig;
pub use error::{RelayError, Result};
pub use server::{
    Metrics, RelayHandle, from_listener, from_listener_recording, from_listener_with, run, start,
    start_recording,
};
pub use stats::{RelayStats, StatsSnapshot};
pub use tls::Tls;
