//! One connection: a reader loop that answers and routes the client's frames, and a writer task
//! that drains the connection's bounded outbound queue into the socket's writing half, batches,
//! probes and closes. Both halves of the way out live in the connection's [`Outlet`], which
//! also lets the fan-out write a frame itself when nothing waits before it. tungstenite reads
//! the socket and does the handshake; the relay writes its encoded frames itself
//! ([`crate::wire`]).
//!
//! Both are generic over the byte stream so unit tests can run them over in-memory pipes.
//!
//! - `accept`: the TLS handshake, the page-or-WebSocket sniff, the `Origin` check and the
//!   WebSocket handshake; a full relay's refusal.
//! - `connection`: [`serve`]: the connection's outlet, writer and reader; the reader loop
//!   (frames, heartbeat, join deadline, cursor timer) and the budgets charged before parsing.
//! - `handlers`: what each client message does: create, join, lane, leave, end, broadcast.
//! - `cursor`: the gate that relays at most one cursor per interval.
//! - `writer`: the writer task that drains the queue, probes and closes.

mod accept;
mod connection;
mod cursor;
mod handlers;
mod writer;

#[cfg(test)]
mod tests;

pub(crate) use accept::{refuse_full_tcp, serve_accepted};
