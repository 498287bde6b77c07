//! Jamwire's session client: the client side of the relay protocol (`docs/PROTOCOL.md`).
//!
//! - [`Session`] joins (or creates) a room, stays connected — heartbeat, reconnection with
//!   exponential backoff and jitter, automatic rejoin with the same name, the room re-created
//!   under its old code when the host comes back to a restarted relay — and reports its
//!   [`Status`] for the UI.
//! - [`LaneMode`]: where TCP keeps its 200 ms retransmission floor, a session opens a *spare
//!   lane*, a second connection carrying a copy of every event each way (`jam_protocol::lane`).
//! - [`ClockSync`] estimates the offset to relay time from `clock:ping`/`clock:pong` (minimum
//!   round-trip filter, slewed so it never jumps).
//! - [`Playout`] places each remote event in time with a per-sender adaptive jitter buffer
//!   ([`PlayoutMode`]).
//! - [`Invite`] reads and writes `jam://HOST:PORT/ROOMCODE` and `jams://HOST[:PORT]/ROOMCODE`
//!   (a relay server over TLS); connecting tells a dead address, a refusal, an unknown name and
//!   a TLS failure apart.
//!
//! It is a network client only: playing what arrives is the app core's (`jam-play`), so this
//! crate builds without any audio system.

//!
//! Without its default feature `net` it is only the pure parts — [`ClockSync`], [`Playout`],
//! [`Invite`] and the checks of what arrives ([`received`]) — and builds for WebAssembly: the
//! browser guest (`jam-web`) places notes in time with this same code.

mod clock;
#[cfg(feature = "net")]
mod connect;
mod error;
mod invite;
#[cfg(feature = "net")]
mod lane;
mod playout;
#[cfg(feature = "net")]
mod probe;
pub mod received;
#[cfg(feature = "net")]
mod session;

pub use clock::ClockSync;
#[cfg(feature = "net")]
pub use connect::{CA_CERT_ENV, CONNECT_WITHIN, tls_config};
pub use error::SessionError;
pub use invite::{Invite, TLS_PORT, parse_relay};
#[cfg(feature = "net")]
pub use lane::LaneMode;
pub use playout::{MAX_DELAY_MS, MAX_SENDERS, Playout, PlayoutMode, SenderFigures};
#[cfg(feature = "net")]
pub use session::{RemoteEvent, Session, SessionConfig, SessionEvent, SessionHandle, Status};
