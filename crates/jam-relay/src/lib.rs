//! Jamwire's WebSocket room relay.
//!
//! The relay lets musicians play together: a client creates a room, others join it with the room
//! code, and every event a member broadcasts is forwarded to every *other* member, never back to
//! the sender. The same library runs embedded in the desktop app (the host's "Host" button) and
//! as the headless `jam-relay` binary. The wire format is `jam-protocol`; the prose is
//! `docs/PROTOCOL.md`.
//!
//! Module map, from the top down (each module uses only those below it):
//! - [`server`]: [`run`] (the accept loop, for binaries that own a listener) and [`start`] /
//!   [`RelayHandle`] (spawn in-process on a chosen or ephemeral port, read figures, stop).
//! - `peer`: one task per connection: `accept` (TLS, page or WebSocket, handshake),
//!   `connection` (the reader loop and its budgets), `handlers` (what each message does),
//!   `cursor` (the cursor gate), `writer` (drains the queue, probes, closes).
//! - [`metrics`]: [`Metrics`] and the Prometheus text.
//! - `shared`: what every connection task shares (limits, counters, clock, rooms, slots).
//! - `ips`: connections and failed joins per IP address.
//! - `room`: one room: membership, `seq`, the late-join state and the fan-out that serialises
//!   an event once and offers it to each other member; `room::registry`: creating, joining,
//!   ending and leaving rooms. A room sees the relay only through the narrow `RoomEnv`.
//! - `link`: what a room holds of a member's connection (`PeerLink`: id, outlet, budget).
//! - `stream`: the connection's stream split so tungstenite reads while the outlet writes
//!   (tungstenite's own pongs and close replies go through the outlet's queue).
//! - `outlet`: a connection's queue and socket writing half under one lock, so the fan-out
//!   writes a frame itself when nothing waits before it and queues it only when it must.
//! - `wire`: frames encoded once as the bytes every receiver gets.
//! - `ledger` (held notes), `refusal` (the `error` a client is told), `secret` (passwords and
//!   tokens), `limiter` (token buckets), `time` (the relay clock), `web` (the guest's page).
//! - [`config`]: [`RelayConfig`], every limit with its documented default.
//! - [`stats`]: [`RelayStats`] counters, readable while the relay runs.
//! - [`error`]: [`RelayError`], failures to start the relay.

pub mod config;
pub mod error;
mod ips;
mod ledger;
mod limiter;
mod link;
pub mod metrics;
mod outlet;
mod peer;
mod refusal;
mod room;
mod secret;
pub mod server;
mod shared;
pub mod stats;
mod stream;
mod time;
pub mod tls;
mod web;
mod wire;

pub use config::RelayConfig;
pub use error::{RelayError, Result};
pub use metrics::Metrics;
pub use server::{
    RelayHandle, from_listener, from_listener_recording, from_listener_with, run, start,
    start_recording,
};
pub use stats::{RelayStats, StatsSnapshot};
pub use tls::Tls;
