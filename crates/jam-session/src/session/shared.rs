//! What the session's handle and its background task share: the clocks, the playout, the
//! counters; and what the handle asks of the task.

use std::sync::{Mutex, PoisonError};

use jam_protocol::EpochClock;
use serde_json::value::RawValue;

use tokio::sync::watch;

use crate::{ClockSync, Playout};

/// State the handle reads while the task runs.
#[derive(Debug)]
pub(super) struct Shared {
    /// This machine's epoch clock (the process's, plus any configured skew).
    pub(super) local: EpochClock,
    pub(super) clock: Mutex<ClockSync>,
    pub(super) playout: Mutex<Playout>,
    /// Received events dropped because the app did not keep up.
    pub(super) dropped: std::sync::atomic::AtomicU64,
    /// Received events refused because a value was out of bounds (a hostile or broken peer).
    pub(super) refused: std::sync::atomic::AtomicU64,
    /// How far ahead of now the local output must be given a sound to play it exactly, ms (an
    /// `f64` as bits): see [`SessionHandle::set_output_lead_ms`].
    pub(super) output_lead_ms: std::sync::atomic::AtomicU64,
    /// Whether the spare lane is open ([`SessionHandle::spare_lane`]).
    pub(super) lane_open: watch::Sender<bool>,
}

impl Shared {
    pub(super) fn clock(&self) -> std::sync::MutexGuard<'_, ClockSync> {
        self.clock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn playout(&self) -> std::sync::MutexGuard<'_, Playout> {
        self.playout.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn relay_now_ms(&self) -> f64 {
        self.local.now_ms() + self.clock().offset_ms().unwrap_or(0.0)
    }

    pub(super) fn output_lead_ms(&self) -> f64 {
        f64::from_bits(
            self.output_lead_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }
}

pub(super) enum Outgoing {
    Event(String, Box<RawValue>),
    /// End the jam for everyone (host only), then leave; answered once the relay confirmed.
    EndJam(tokio::sync::oneshot::Sender<()>),
    /// While reconnecting: stop waiting and try now.
    RetryNow,
    Leave,
}
