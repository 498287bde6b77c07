//! What every connection task shares: the limits, the counters, the clock, the rooms, the
//! connection slots, the session log and the shutdown token.

use std::sync::Arc;

use jam_takes::{Record, Recorder};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::RelayConfig;
use crate::ips::Ips;
use crate::room::{RoomEnv, Rooms};
use crate::stats::RelayStats;
use crate::time::RelayClock;

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Limits, fixed for the relay's lifetime.
    pub(crate) config: RelayConfig,
    /// Live counters.
    pub(crate) stats: Arc<RelayStats>,
    /// Source of every `serverTime`.
    pub(crate) clock: RelayClock,
    /// All rooms.
    pub(crate) rooms: Rooms,
    /// Cancelled when the relay shuts down; each connection's kill token is a child of it.
    pub(crate) shutdown: CancellationToken,
    /// The session log, when recording.
    pub(crate) recorder: Option<Recorder>,
    /// One permit per open connection, taken when the socket is accepted, before its
    /// handshake ([`RelayConfig::max_connections`]).
    pub(crate) slots: Arc<Semaphore>,
    /// A few more, used only to tell a connection SERVER_FULL before closing it; past these,
    /// sockets are closed unanswered.
    pub(crate) notice_slots: Arc<Semaphore>,
    /// Connections and join failures per IP address.
    pub(crate) ips: Arc<Ips>,
    /// The relay's TLS identity, when it serves `wss://` itself.
    pub(crate) tls: Option<crate::Tls>,
}

/// Sockets beyond `max_connections` that are still told SERVER_FULL.
const FULL_NOTICE_SLOTS: usize = 8;

impl Shared {
    pub(crate) fn new(
        config: RelayConfig,
        recorder: Option<Recorder>,
        tls: Option<crate::Tls>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            tls,
            slots: Arc::new(Semaphore::new(config.max_connections)),
            notice_slots: Arc::new(Semaphore::new(FULL_NOTICE_SLOTS)),
            ips: Arc::new(Ips::new(&config)),
            config,
            stats: Arc::default(),
            clock: RelayClock::new(),
            rooms: Rooms::default(),
            shutdown: CancellationToken::new(),
            recorder,
        })
    }
}

impl RoomEnv for Shared {
    fn config(&self) -> &RelayConfig {
        &self.config
    }

    fn stats(&self) -> &RelayStats {
        &self.stats
    }

    fn clock(&self) -> &RelayClock {
        &self.clock
    }

    fn recording(&self) -> bool {
        self.recorder.is_some()
    }

    fn log(&self, record: impl FnOnce() -> Record) {
        if let Some(recorder) = &self.recorder {
            recorder.log(record());
        }
    }
}
