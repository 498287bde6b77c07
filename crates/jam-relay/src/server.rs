//! The listener: accepts connections and hands each to its own task.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jam_takes::{Record, Recorder};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
}

impl Shared {
    pub(crate) fn new(config: RelayConfig, recorder: Option<Recorder>) -> Arc<Shared> {
        Arc::new(Shared {
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
    serve(listener, Shared::new(config, None), shutdown).await
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
                let _ = stream.set_nodelay(true);
                tracker.spawn(peer::serve_tcp(stream, peer_addr, shared.clone()));
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
    let local_addr = listener.local_addr().map_err(|source| RelayError::Bind {
        addr: "the given listener".into(),
        source,
    })?;
    let shared = Shared::new(config, recorder);
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

    /// `ws://ADDR:PORT/`, the URL clients connect to.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.local_addr)
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
