//! The listener: accepts connections and hands each to its own task.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jam_takes::{Record, Recorder};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::limiter::TokenBucket;
use crate::room::Rooms;
use crate::stats::{RelayStats, StatsSnapshot};
use crate::time::RelayClock;
use crate::{RelayConfig, RelayError, Result, peer};

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
    pub(crate) ips: Ips,
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
            ips: Ips::default(),
            config,
            stats: Arc::default(),
            clock: RelayClock::new(),
            rooms: Rooms::default(),
            shutdown: CancellationToken::new(),
            recorder,
        })
    }

    /// Hands a record to the session log, if there is one (never waits).
    pub(crate) fn log(&self, record: impl FnOnce() -> Record) {
        if let Some(recorder) = &self.recorder {
            recorder.log(record());
        }
    }
}

/// Serves the relay on `listener` until `shutdown` completes, then closes every connection
/// (close code 1001) and returns once they are all gone.
pub async fn run(
    listener: TcpListener,
    config: RelayConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    serve(listener, Shared::new(config, None, None), shutdown).await
}

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let addr = listener.local_addr().map_err(|source| RelayError::Bind {
        addr: "the given listener".into(),
        source,
    })?;
    let tracker = TaskTracker::new();
    tokio::pin!(shutdown);
    let result = loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break Ok(()),
            () = shared.shutdown.cancelled() => break Ok(()),
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer_addr)) => {
                let Ok(slot) = shared.slots.clone().try_acquire_owned() else {
                    RelayStats::add(&shared.stats.refused_connections, 1);
                    if let Ok(notice) = shared.notice_slots.clone().try_acquire_owned() {
                        tracker.spawn(peer::refuse_full_tcp(
                            stream,
                            peer_addr,
                            shared.clone(),
                            notice,
                        ));
                    }
                    continue;
                };
                let Some(ip_slot) = IpSlot::take(&shared, peer_addr.ip()) else {
                    RelayStats::add(&shared.stats.refused_connections, 1);
                    tracing::debug!(%peer_addr, "refusing a connection: too many from this address");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                // Deliveries to a listener on a lossy link: 20 ms, not 200, when a
                // retransmission is lost too (jam_protocol::transport).
                let quick = jam_protocol::transport::retransmit_quickly(&stream).unwrap_or(false);
                tracker.spawn(peer::serve_accepted(
                    stream,
                    peer_addr,
                    shared.clone(),
                    (slot, ip_slot),
                    quick,
                ));
            }
            Err(e) if is_transient(&e) => {
                // Out of file descriptors or a connection reset before accept: keep serving.
                tracing::warn!(error = %e, "accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(source) => break Err(RelayError::Listener { addr, source }),
        }
    };
    shared.shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    tracing::info!(%addr, "relay stopped");
    result
}

/// Per-IP figures: how many connections are open and how many failed joins it may still make.
#[derive(Debug, Default)]
pub(crate) struct Ips {
    map: Mutex<HashMap<IpAddr, IpState>>,
}

#[derive(Debug)]
struct IpState {
    /// Open connections from this address.
    connections: usize,
    /// Failed joins it may still make ([`RelayConfig::join_failures_per_ip`]).
    failures: TokenBucket,
}

impl Ips {
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
    shared: Arc<Shared>,
}

impl IpSlot {
    fn take(shared: &Arc<Shared>, ip: IpAddr) -> Option<IpSlot> {
        let config = &shared.config;
        let now = Instant::now();
        let mut map = shared.ips.map();
        let state = map.entry(ip).or_insert_with(|| IpState {
            connections: 0,
            failures: TokenBucket::one_per(
                config.join_failure_refill(),
                config.join_failures_per_ip,
                now,
            ),
        });
        if state.connections >= config.max_connections_per_ip {
            return None;
        }
        state.connections += 1;
        Some(IpSlot {
            ip,
            shared: shared.clone(),
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
        let mut map = self.shared.ips.map();
        if let Some(state) = map.get_mut(&self.ip) {
            state.connections = state.connections.saturating_sub(1);
            // Forget the address once it has no connection and no failure to remember; an
            // address that failed keeps its entry until the budget refills, which bounds the
            // map by the connections plus the addresses that failed in the last minute or so.
            if state.connections == 0 && state.failures.is_full(now) {
                map.remove(&self.ip);
            }
        }
        if map.len() > self.shared.config.max_connections.saturating_mul(4) {
            map.retain(|_, state| state.connections > 0 || !state.failures.is_full(now));
        }
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24) // ENFILE, EMFILE
}

/// The relay's figures, readable from anywhere while it runs.
#[derive(Debug, Clone)]
pub struct Metrics {
    shared: Arc<Shared>,
}

impl Metrics {
    /// The relay's counters right now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Session-log records stored and dropped so far, when recording.
    pub fn recorded(&self) -> Option<(u64, u64)> {
        self.shared.recorder.as_ref().map(|r| {
            let stats = r.stats();
            (
                stats.written.load(std::sync::atomic::Ordering::Relaxed),
                stats.dropped.load(std::sync::atomic::Ordering::Relaxed),
            )
        })
    }

    /// Everything in the Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        crate::metrics::prometheus_text(&self.stats(), self.recorded())
    }
}

/// A relay running in-process, as the desktop app and tests use it.
#[derive(Debug)]
pub struct RelayHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<Result<()>>,
}

/// Binds `addr` (port 0 picks a free port) and starts serving on the current tokio runtime.
pub async fn start(addr: SocketAddr, config: RelayConfig) -> Result<RelayHandle> {
    start_recording(addr, config, None).await
}

/// [`start`], recording every room into a session log when `recorder` is given (see
/// `jam-takes`). Recording never delays forwarding: records go into the recorder's bounded
/// queue, and a full queue drops them (counted in its stats).
pub async fn start_recording(
    addr: SocketAddr,
    config: RelayConfig,
    recorder: Option<Recorder>,
) -> Result<RelayHandle> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| RelayError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    from_listener_recording(listener, config, recorder)
}

/// Starts serving on a listener the caller already bound.
pub fn from_listener(listener: TcpListener, config: RelayConfig) -> Result<RelayHandle> {
    from_listener_recording(listener, config, None)
}

/// [`from_listener`] with an optional session log.
pub fn from_listener_recording(
    listener: TcpListener,
    config: RelayConfig,
    recorder: Option<Recorder>,
) -> Result<RelayHandle> {
    from_listener_with(listener, config, recorder, None)
}

/// [`from_listener`] with an optional session log and, with `tls`, serving `wss://` itself.
pub fn from_listener_with(
    listener: TcpListener,
    config: RelayConfig,
    recorder: Option<Recorder>,
    tls: Option<crate::Tls>,
) -> Result<RelayHandle> {
    let local_addr = listener.local_addr().map_err(|source| RelayError::Bind {
        addr: "the given listener".into(),
        source,
    })?;
    let shared = Shared::new(config, recorder, tls);
    let task = tokio::spawn(serve(listener, shared.clone(), std::future::pending()));
    tracing::info!(addr = %local_addr, "relay listening");
    Ok(RelayHandle {
        local_addr,
        shared,
        task,
    })
}

impl RelayHandle {
    /// The address the relay listens on (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://ADDR:PORT/` (`wss://` with TLS), the URL clients connect to.
    pub fn url(&self) -> String {
        let scheme = if self.shared.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}/", self.local_addr)
    }

    /// The relay's counters right now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// A reader of the relay's figures that outlives borrows of the handle (for a metrics
    /// endpoint or a status view).
    pub fn metrics(&self) -> Metrics {
        Metrics {
            shared: self.shared.clone(),
        }
    }

    /// Number of rooms right now, read from the registry itself.
    pub fn room_count(&self) -> usize {
        self.shared.rooms.len()
    }

    /// The limits the relay runs with.
    pub fn config(&self) -> &RelayConfig {
        &self.shared.config
    }

    /// Closes every connection (code 1001), stops listening and waits until all are gone.
    pub async fn stop(self) -> Result<()> {
        self.shared.shutdown.cancel();
        match self.task.await {
            Ok(result) => result,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Ok(()),
        }
    }
}
