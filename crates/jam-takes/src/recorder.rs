//! The recorder: a bounded queue the relay pushes into without waiting, and a writer thread
//! that stores what arrives in batched transactions.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Record, Result, TakeStore};

/// Records waiting for the writer (default): about 8 s of a busy 8-player room. Beyond it records
/// are dropped (and counted) rather than slowing the relay down.
pub const DEFAULT_QUEUE: usize = 32_768;
/// Longest a record waits before its batch is committed: the most a crash can lose.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Most records in one transaction.
const MAX_BATCH: usize = 4_096;

/// Figures of a recorder.
#[derive(Debug, Default)]
pub struct RecorderStats {
    /// Records stored.
    pub written: AtomicU64,
    /// Records dropped because the queue was full or the writer failed.
    pub dropped: AtomicU64,
    /// Transactions committed.
    pub batches: AtomicU64,
}

/// What travels to the writer.
#[derive(Debug)]
enum Msg {
    Record(Record),
    /// Store what came before, then stop.
    Stop,
}

/// The relay's end of the session log: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: SyncSender<Msg>,
    stats: Arc<RecorderStats>,
}

/// The writer thread; [`RecorderThread::finish`] waits for it to store everything queued.
#[derive(Debug)]
pub struct RecorderThread {
    tx: SyncSender<Msg>,
    thread: JoinHandle<()>,
}

impl Recorder {
    /// Opens the log at `path` (closing sessions a crash left open) and starts the writer.
    pub fn start(path: &Path, queue: usize) -> Result<(Recorder, RecorderThread)> {
        let mut store = TakeStore::open(path)?;
        let abandoned = store.close_abandoned()?;
        if abandoned > 0 {
            tracing::warn!(sessions = abandoned, path = %path.display(), "closed sessions left open by an earlier crash");
        }
        let (tx, rx) = mpsc::sync_channel::<Msg>(queue.max(1));
        let stats = Arc::new(RecorderStats::default());
        let writer_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("jam-takes-writer".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(MAX_BATCH);
                let mut stop = false;
                // Blocks for the first record of a batch; ends on `Stop`.
                while !stop {
                    match rx.recv() {
                        Ok(Msg::Record(first)) => batch.push(first),
                        Ok(Msg::Stop) | Err(_) => break,
                    }
                    let deadline = Instant::now() + FLUSH_EVERY;
                    while batch.len() < MAX_BATCH {
                        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                            Ok(Msg::Record(record)) => batch.push(record),
                            Ok(Msg::Stop) => {
                                stop = true;
                                break;
                            }
                            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                                break;
                            }
                        }
                    }
                    match store.write(&batch) {
                        Ok(()) => {
                            writer_stats.written.fetch_add(batch.len() as u64, Relaxed);
                            writer_stats.batches.fetch_add(1, Relaxed);
                        }
                        Err(e) => {
                            writer_stats.dropped.fetch_add(batch.len() as u64, Relaxed);
                            tracing::error!(error = %e, records = batch.len(), "couldn't store records in the session log");
                        }
                    }
                    batch.clear();
                }
            })?;
        Ok((
            Recorder {
                tx: tx.clone(),
                stats,
            },
            RecorderThread { tx, thread },
        ))
    }

    /// Queues a record. Never waits: a full queue drops it and counts it.
    pub fn log(&self, record: Record) {
        if let Err(e) = self.tx.try_send(Msg::Record(record)) {
            self.stats.dropped.fetch_add(1, Relaxed);
            if let TrySendError::Disconnected(_) = e {
                tracing::debug!("session log writer has stopped");
            }
        }
    }

    /// The recorder's figures.
    pub fn stats(&self) -> &RecorderStats {
        &self.stats
    }
}

impl RecorderThread {
    /// Stores everything queued so far, then stops the writer. Records logged afterwards are
    /// dropped (and counted).
    pub fn finish(self) {
        let _ = self.tx.send(Msg::Stop);
        if self.thread.join().is_err() {
            tracing::error!("the session log writer panicked");
        }
    }
}
