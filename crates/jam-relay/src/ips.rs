//! Connections and failed joins per IP address: one address can't take every slot, nor guess
//! room codes and lane tokens faster than its budget allows.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::RelayConfig;
use crate::limiter::TokenBucket;

/// Per-IP figures: how many connections are open and how many failed joins it may still make.
#[derive(Debug)]
pub(crate) struct Ips {
    map: Mutex<HashMap<IpAddr, IpState>>,
    /// Most open connections from one address ([`RelayConfig::max_connections_per_ip`]).
    max_connections_per_ip: usize,
    /// Failed joins one address may make in a row ([`RelayConfig::join_failures_per_ip`]).
    join_failures_per_ip: u32,
    /// How fast an address earns a failed join back.
    join_failure_refill: Duration,
    /// Past this many entries the map is swept ([`RelayConfig::max_connections`] × 4).
    sweep_above: usize,
}

#[derive(Debug)]
struct IpState {
    /// Open connections from this address.
    connections: usize,
    /// Failed joins it may still make ([`RelayConfig::join_failures_per_ip`]).
    failures: TokenBucket,
}

impl Ips {
    pub(crate) fn new(config: &RelayConfig) -> Ips {
        Ips {
            map: Mutex::default(),
            max_connections_per_ip: config.max_connections_per_ip,
            join_failures_per_ip: config.join_failures_per_ip,
            join_failure_refill: config.join_failure_refill(),
            sweep_above: config.max_connections.saturating_mul(4),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, IpState>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True if `ip` has failed joins left.
    pub(crate) fn may_try_join(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        self.map()
            .get_mut(&ip)
            .is_none_or(|state| state.failures.has_one(now))
    }

    /// Charges a failed join to `ip`.
    pub(crate) fn join_failed(&self, ip: IpAddr) {
        let now = Instant::now();
        if let Some(state) = self.map().get_mut(&ip) {
            state.failures.try_take(now);
        }
    }
}

/// One connection counted against its IP address; uncounted when dropped.
#[derive(Debug)]
pub(crate) struct IpSlot {
    ip: IpAddr,
    ips: Arc<Ips>,
}

impl IpSlot {
    pub(crate) fn take(ips: &Arc<Ips>, ip: IpAddr) -> Option<IpSlot> {
        let now = Instant::now();
        let mut map = ips.map();
        let state = map.entry(ip).or_insert_with(|| IpState {
            connections: 0,
            failures: TokenBucket::one_per(ips.join_failure_refill, ips.join_failures_per_ip, now),
        });
        if state.connections >= ips.max_connections_per_ip {
            return None;
        }
        state.connections += 1;
        Some(IpSlot {
            ip,
            ips: ips.clone(),
        })
    }

    /// The address.
    pub(crate) fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut map = self.ips.map();
        if let Some(state) = map.get_mut(&self.ip) {
            state.connections = state.connections.saturating_sub(1);
            // Forget the address once it has no connection and no failure to remember; an
            // address that failed keeps its entry until the budget refills, which bounds the
            // map by the connections plus the addresses that failed in the last minute or so.
            if state.connections == 0 && state.failures.is_full(now) {
                map.remove(&self.ip);
            }
        }
        if map.len() > self.ips.sweep_above {
            map.retain(|_, state| state.connections > 0 || !state.failures.is_full(now));
        }
    }
}
