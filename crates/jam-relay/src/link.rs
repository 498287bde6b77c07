//! What a room holds of a member's connection: its id, its way out, its control and its budget.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

use crate::limiter::TokenBucket;
use crate::outlet::{CLOSE_SLOW_CONSUMER, Offered, Outbound, OutletTx, PeerControl};
use crate::stats::RelayStats;

/// What a room needs to reach a member's connection.
#[derive(Debug, Clone)]
pub(crate) struct PeerLink {
    /// The connection's client id (also its user id in rooms).
    pub(crate) id: String,
    /// The member's outlet: its socket, or its bounded outbound queue when it must wait.
    pub(crate) tx: OutletTx,
    /// Lets the room disconnect a member that cannot keep up.
    pub(crate) control: Arc<PeerControl>,
    /// The connection's message budget; a member's spare lane shares it.
    pub(crate) limiter: Arc<Mutex<TokenBucket>>,
}

/// Takes one token from a shared budget (a leaf lock, held for the arithmetic only).
pub(crate) fn take_token(limiter: &Mutex<TokenBucket>, now: Instant) -> bool {
    limiter
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .try_take(now)
}

impl PeerLink {
    /// Writes or queues `out` without waiting ([`crate::outlet`]). A full queue means the
    /// member cannot keep up: it is disconnected, never waited for. Returns true if the frame
    /// was written or queued.
    pub(crate) fn deliver(&self, out: Outbound, stats: &RelayStats) -> bool {
        match self.tx.offer(out) {
            Offered::Written | Offered::Queued => true,
            Offered::Full => {
                if self
                    .control
                    .end(CLOSE_SLOW_CONSUMER, "slow consumer: could not keep up")
                {
                    RelayStats::add(&stats.slow_consumers, 1);
                    tracing::warn!(peer = %self.id, "disconnecting a member that cannot keep up");
                }
                false
            }
            Offered::Closed => false,
        }
    }
}
