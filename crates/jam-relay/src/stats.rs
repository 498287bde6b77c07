//! Figures the relay keeps while it runs, for tests, benchmarks and the host's status view.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters. Gauges go up and down; counters only up.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Open WebSocket connections (gauge).
    pub(crate) connections: AtomicU64,
    /// Rooms that exist (gauge).
    pub(crate) rooms: AtomicU64,
    /// Room memberships (gauge).
    pub(crate) members: AtomicU64,
    /// `event:broadcast` messages accepted from clients.
    pub(crate) events_in: AtomicU64,
    /// Event frames queued for delivery to members (one per receiver).
    pub(crate) deliveries: AtomicU64,
    /// Members disconnected because their outbound queue was full.
    pub(crate) slow_consumers: AtomicU64,
    /// Client messages dropped by the rate limiter.
    pub(crate) rate_limited: AtomicU64,
    /// Note-ons dropped at dequeue because they waited longer than the stale bound.
    pub(crate) stale_dropped: AtomicU64,
    /// Frames answered with `BAD_MESSAGE` or `PAYLOAD_TOO_LARGE`.
    pub(crate) bad_messages: AtomicU64,
    /// Sockets refused before their handshake: the relay or that IP address was full.
    pub(crate) refused_connections: AtomicU64,
    /// WebSocket handshakes refused because their `Origin` is not allowed.
    pub(crate) refused_origins: AtomicU64,
    /// Connections that asked for the web page (or its files) rather than the relay.
    pub(crate) web_requests: AtomicU64,
    /// Client requests answered with an `error` (every code).
    pub(crate) refusals: AtomicU64,
    /// Failed joins: no such room, wrong password, or too many failures.
    pub(crate) join_failures: AtomicU64,
    /// Connections closed for not joining a room in time.
    pub(crate) join_timeouts: AtomicU64,
    /// Rooms their host ended with `session:end`.
    pub(crate) rooms_ended: AtomicU64,
    /// Spare lanes open (see `jam_protocol::lane`).
    pub(crate) lanes: AtomicU64,
    /// Second copies of events (from a sender's two connections) dropped, not relayed.
    pub(crate) lane_copies: AtomicU64,
}

/// A copy of [`RelayStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Open WebSocket connections.
    pub connections: u64,
    /// Rooms that exist.
    pub rooms: u64,
    /// Room memberships.
    pub members: u64,
    /// `event:broadcast` messages accepted from clients.
    pub events_in: u64,
    /// Event frames queued for delivery (one per receiver).
    pub deliveries: u64,
    /// Members disconnected because they could not keep up.
    pub slow_consumers: u64,
    /// Client messages dropped by the rate limiter.
    pub rate_limited: u64,
    /// Stale note-ons dropped at dequeue.
    pub stale_dropped: u64,
    /// Frames refused as malformed or too large.
    pub bad_messages: u64,
    /// Sockets refused before their handshake: the relay or that IP address was full.
    pub refused_connections: u64,
    /// WebSocket handshakes refused because their `Origin` is not allowed.
    pub refused_origins: u64,
    /// Connections that asked for the web page (or its files) rather than the relay.
    pub web_requests: u64,
    /// Client requests answered with an `error` (every code).
    pub refusals: u64,
    /// Failed joins: no such room, wrong password, or too many failures.
    pub join_failures: u64,
    /// Connections closed for not joining a room in time.
    pub join_timeouts: u64,
    /// Rooms their host ended with `session:end`.
    pub rooms_ended: u64,
    /// Spare lanes open.
    pub lanes: u64,
    /// Second copies of events dropped, not relayed.
    pub lane_copies: u64,
}

impl RelayStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections: self.connections.load(Relaxed),
            rooms: self.rooms.load(Relaxed),
            members: self.members.load(Relaxed),
            events_in: self.events_in.load(Relaxed),
            deliveries: self.deliveries.load(Relaxed),
            slow_consumers: self.slow_consumers.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
            stale_dropped: self.stale_dropped.load(Relaxed),
            bad_messages: self.bad_messages.load(Relaxed),
            refused_connections: self.refused_connections.load(Relaxed),
            refused_origins: self.refused_origins.load(Relaxed),
            web_requests: self.web_requests.load(Relaxed),
            refusals: self.refusals.load(Relaxed),
            join_failures: self.join_failures.load(Relaxed),
            join_timeouts: self.join_timeouts.load(Relaxed),
            rooms_ended: self.rooms_ended.load(Relaxed),
            lanes: self.lanes.load(Relaxed),
            lane_copies: self.lane_copies.load(Relaxed),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Relaxed);
    }
}
