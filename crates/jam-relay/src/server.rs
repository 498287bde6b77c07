//! The listener: accepts connections and hands each to its own task.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jam_takes::Recorder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::ips::IpSlot;
use crate::metrics::Metrics;
use crate::shared::Shared;
use crate::stats::{RelayStats, StatsSnapshot};
use crate::{RelayConfig, RelayError, Result, peer};

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
                let Some(ip_slot) = IpSlot::take(&shared.ips, peer_addr.ip()) else {
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

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24) // ENFILE, EMFILE
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
        Metrics::new(self.shared.clone())
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
