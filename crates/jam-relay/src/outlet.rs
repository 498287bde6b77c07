//! A member's way out: its bounded outbound queue and its socket's writing half under one
//! lock, so that a frame is written straight from the fan-out when nothing waits before it,
//! and is queued for the connection's writer task only when it must.
//!
//! Why: at 10 events a second per player, a member's queue is empty nearly always. Queueing
//! each delivery and waking the member's writer task to write it cost a third of the relay's
//! instructions (channel push and pop, a task wake-up and poll, the cancellation check). Now
//! the fan-out writes the frame itself when
//! - the queue is empty and nothing taken from it is still being written or unflushed (so
//!   order holds),
//! - the connection is not being ended ([`PeerControl::end`]), and
//! - its writer owes no tail probes (sockets that keep TCP's 200 ms floor keep the writer
//!   task's timer, so they always queue).
//!
//! Frames are bytes encoded once per event ([`crate::wire::Frame`]), shared by every receiver
//! and written to the socket as they are; tungstenite only reads. The write polls the socket
//! with the *writer task's* waker: when the socket takes part of a frame or none of it, the
//! rest waits here and the writer is woken to write it, exactly as if the writer had written
//! it. The writer writes what has queued with one vectored write (up to [`MAX_BATCH`] frames
//! per call). The queue's bounds (frames and bytes) and the slow-consumer rule apply to what is
//! queued; stale note-ons are dropped when the writer takes them off the queue (a frame written
//! inline is written at once, so it is never stale); the writer alone batches, probes and
//! closes. What tungstenite writes by itself (pongs, the reply to a client's close) is queued
//! behind the rest ([`Outlet::take_from_tungstenite`]). Once a close frame is queued nothing
//! more is taken.
//!
//! Lock order: a room's lock, then an outlet's. An outlet's lock is never held across an
//! `.await` and nothing is locked under it.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::AsyncWrite;
use tokio::time::{Instant, Sleep, sleep};
use tokio_tungstenite::tungstenite::Bytes;
use tokio_util::sync::CancellationToken;

use jam_protocol::ServerMsg;

use crate::stats::RelayStats;
use crate::wire::{Frame, Kind};

/// Close code sent to a member whose outbound queue overflowed.
pub(crate) const CLOSE_SLOW_CONSUMER: u16 = 4008;
/// Most frames the writer hands the socket in one vectored write.
pub(crate) const MAX_BATCH: usize = 32;

/// A frame waiting in a member's outbound queue.
#[derive(Debug)]
pub(crate) struct Outbound {
    /// The encoded WebSocket frame: all receivers of an event share its bytes.
    pub(crate) frame: Frame,
    /// For note-ons: after this instant the frame is stale and is dropped instead of sent.
    pub(crate) stale_at: Option<Instant>,
}

impl Outbound {
    pub(crate) fn msg(msg: &ServerMsg) -> Outbound {
        Outbound {
            frame: Frame::message(msg),
            stale_at: None,
        }
    }
}

/// How the relay ends a connection from outside its own task.
#[derive(Debug, Default)]
pub(crate) struct PeerControl {
    /// Cancelled to end the connection; a child of the relay's shutdown token.
    pub(crate) kill: CancellationToken,
    /// Close code and reason to send, set once by whoever ends the connection first.
    pub(crate) close: OnceLock<(u16, &'static str)>,
}

impl PeerControl {
    pub(crate) fn new(kill: CancellationToken) -> PeerControl {
        PeerControl {
            kill,
            close: OnceLock::new(),
        }
    }

    /// Ends the connection with `code`. Returns false if it was already being ended.
    pub(crate) fn end(&self, code: u16, reason: &'static str) -> bool {
        let first = self.close.set((code, reason)).is_ok();
        self.kill.cancel();
        first
    }

    /// Whether [`PeerControl::end`] was called: one atomic load, where asking the token takes
    /// its lock. The relay's shutdown cancels the token without this; the writer stops the
    /// outlet a moment later, and what is written in between goes before the close frame, as
    /// it would from the queue.
    pub(crate) fn is_ending(&self) -> bool {
        self.close.get().is_some()
    }
}

/// What became of a frame offered to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Handed to the socket from the fan-out.
    Written,
    /// Queued for the writer task.
    Queued,
    /// The queue is full (frames or bytes): the member cannot keep up.
    Full,
    /// The connection's writer is gone, or a close frame went before: nothing more is sent.
    Closed,
}

/// A member's outlet, as the rooms see it: whatever stream the connection runs over.
pub(crate) trait Offer: Send + Sync {
    /// Writes `out` now if nothing waits before it, else queues it, without waiting.
    fn offer(&self, out: Outbound) -> Offered;
    /// One more [`OutletTx`] exists.
    fn sender_added(&self);
    /// One [`OutletTx`] is gone; when the last is, the writer finishes the queue and closes.
    fn sender_dropped(&self);
}

/// A handle that offers frames to one member's outlet. Like a channel's sender: when the last
/// handle is dropped, the writer writes out what is queued and closes the connection.
pub(crate) struct OutletTx(Arc<dyn Offer>);

impl OutletTx {
    pub(crate) fn new(outlet: Arc<dyn Offer>) -> OutletTx {
        outlet.sender_added();
        OutletTx(outlet)
    }

    pub(crate) fn offer(&self, out: Outbound) -> Offered {
        self.0.offer(out)
    }
}

impl Clone for OutletTx {
    fn clone(&self) -> OutletTx {
        OutletTx::new(self.0.clone())
    }
}

impl Drop for OutletTx {
    fn drop(&mut self) {
        self.0.sender_dropped();
    }
}

impl fmt::Debug for OutletTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OutletTx")
    }
}

/// A writing half the fan-out may write to outside any task.
///
/// A plain TCP socket's half writes at once when tokio has seen it writable (`try_write`):
/// one readiness check and the system call, where `poll_write` also charges the task's
/// budget and registers its waker. Every other stream writes through `poll_write` with the
/// writer task's waker.
pub(crate) trait TryWrite {
    /// Hands the socket what it takes of `buf` now, if this stream can be written that way.
    /// `Some(Err(WouldBlock))`: it takes nothing now, and no waker is registered.
    fn try_write_now(&mut self, buf: &[u8]) -> Option<std::io::Result<usize>> {
        let _ = buf;
        None
    }
}

impl TryWrite for tokio::net::tcp::OwnedWriteHalf {
    fn try_write_now(&mut self, buf: &[u8]) -> Option<std::io::Result<usize>> {
        Some(self.try_write(buf))
    }
}

impl<T> TryWrite for tokio::io::WriteHalf<T> {}

impl TryWrite for Vec<u8> {}

/// One connection's outlet over `W` (the socket's writing half).
pub(crate) struct Outlet<W> {
    state: Mutex<State<W>>,
    control: Arc<PeerControl>,
    /// Most frames queued ([`crate::RelayConfig::outbound_queue`]).
    capacity: usize,
    /// Most bytes queued ([`crate::RelayConfig::outbound_queue_bytes`]).
    byte_budget: usize,
    /// Whether the fan-out may write itself (not where the writer owes tail probes).
    inline: bool,
    senders: AtomicUsize,
}

struct State<W> {
    io: W,
    queue: VecDeque<Outbound>,
    /// Bytes in `queue`.
    queued_bytes: usize,
    /// Frames taken off the queue (or left by an inline write) and not yet all written, in
    /// order; the first may be partly written already (what is left of it).
    batch: VecDeque<Bytes>,
    /// Bytes were written and not yet flushed (a TLS stream buffers): what comes next queues.
    unflushed: bool,
    /// The writer task's waker, once it has run.
    waker: Option<Waker>,
    /// tungstenite waits to hand over a frame because the queue was full.
    tungstenite: Option<Waker>,
    /// The writer is parked with nothing to do: a queued frame must wake it.
    idle: bool,
    /// No sender is left: once the queue is written, the writer closes.
    closed: bool,
    /// The writer has stopped pumping (the connection is ending): nothing more goes inline.
    stopped: bool,
    /// The writer task is gone.
    gone: bool,
    /// The socket failed; the writer ends.
    failed: bool,
    /// A close frame is queued or written: nothing more is taken.
    close_sent: bool,
    /// A text frame went out since the last tail probe.
    owed: bool,
    /// Something was taken off the queue since the writer last went idle.
    progressed: bool,
}

impl<W> Outlet<W>
where
    W: AsyncWrite + Unpin + Send,
{
    pub(crate) fn new(
        io: W,
        control: Arc<PeerControl>,
        capacity: usize,
        byte_budget: usize,
        inline: bool,
    ) -> Outlet<W> {
        Outlet {
            state: Mutex::new(State {
                io,
                queue: VecDeque::with_capacity(capacity.clamp(1, 64)),
                queued_bytes: 0,
                batch: VecDeque::with_capacity(MAX_BATCH),
                // Whatever the handshake wrote is flushed before anything else goes inline.
                unflushed: true,
                waker: None,
                tungstenite: None,
                idle: false,
                closed: false,
                stopped: false,
                gone: false,
                failed: false,
                close_sent: false,
                owed: false,
                progressed: false,
            }),
            control,
            capacity: capacity.max(1),
            byte_budget,
            inline,
            senders: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<W>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer's main phase: writes what is queued, batching, until every sender is gone
    /// and the queue is written (or the socket fails). `probe`: follow each burst of text
    /// frames with a ping that long after, if nothing else followed.
    pub(crate) async fn pump(&self, stats: &RelayStats, probe: Option<Duration>) {
        let mut timer: Option<Pin<Box<Sleep>>> = None;
        poll_fn(|cx| {
            let mut st = self.lock();
            st.idle = false;
            if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.waker = Some(cx.waker().clone());
            }
            loop {
                match st.poll_write_out(cx, stats) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(())) => return Poll::Ready(()),
                    Poll::Ready(Ok(())) => {}
                }
                if st.closed {
                    return Poll::Ready(());
                }
                if std::mem::take(&mut st.progressed) {
                    timer = None;
                }
                // Idle. Where probes are owed, the probe goes once this has lasted `after`.
                if let Some(after) = probe.filter(|_| st.owed && !st.close_sent) {
                    let due = timer.get_or_insert_with(|| Box::pin(sleep(after)));
                    if due.as_mut().poll(cx).is_ready() {
                        timer = None;
                        st.owed = false;
                        st.batch.push_back(Frame::ping().into_bytes());
                        continue;
                    }
                }
                st.idle = true;
                return Poll::Pending;
            }
        })
        .await;
    }

    /// The writer has left the pump (the connection is ending): nothing more goes inline.
    pub(crate) fn stop(&self) {
        self.lock().stopped = true;
    }

    /// The writer's last phase: writes what is queued (or, when `drop_queue`, only what is
    /// already being written), then `close` unless a close frame went before, and flushes.
    pub(crate) async fn finish(&self, stats: &RelayStats, drop_queue: bool, close: Frame) {
        {
            let mut st = self.lock();
            if drop_queue {
                st.queue.clear();
                st.queued_bytes = 0;
            }
            if !st.close_sent {
                st.close_sent = true;
                st.queued_bytes = st.queued_bytes.saturating_add(close.len());
                st.queue.push_back(Outbound {
                    frame: close,
                    stale_at: None,
                });
            }
        }
        poll_fn(|cx| self.lock().poll_write_out(cx, stats).map(|_| ())).await;
    }

    /// The writer task has ended: later offers are refused.
    pub(crate) fn gone(&self) {
        let mut st = self.lock();
        st.stopped = true;
        st.gone = true;
        st.queue.clear();
        st.batch.clear();
        st.queued_bytes = 0;
        if let Some(w) = st.tungstenite.take() {
            w.wake();
        }
    }

    /// tungstenite writes whole frames of its own (a pong, the reply to a close): they are
    /// queued behind what waits, all or nothing. When the queue is full this waits (and
    /// tungstenite keeps its pong to try again); once the connection is closing they are
    /// dropped.
    pub(crate) fn take_from_tungstenite(
        &self,
        cx: &mut Context<'_>,
        frame: impl FnOnce() -> Frame,
    ) -> Poll<()> {
        let mut st = self.lock();
        if st.gone || st.close_sent || st.stopped {
            return Poll::Ready(());
        }
        let frame = frame();
        if st.queue.len() >= self.capacity
            || st.queued_bytes.saturating_add(frame.len()) > self.byte_budget
        {
            st.tungstenite = Some(cx.waker().clone());
            return Poll::Pending;
        }
        st.close_sent |= frame.kind() == Kind::Close;
        st.queued_bytes = st.queued_bytes.saturating_add(frame.len());
        st.queue.push_back(Outbound {
            frame,
            stale_at: None,
        });
        st.wake_writer();
        Poll::Ready(())
    }

    /// Runs `f` on the writing half (tests look at what was written).
    #[cfg(test)]
    pub(crate) fn with_io<R>(&self, f: impl FnOnce(&mut W) -> R) -> R {
        f(&mut self.lock().io)
    }
}

impl<W> State<W>
where
    W: AsyncWrite + Unpin,
{
    /// Writes every queued frame, then flushes. Ready(Ok) once all is written and flushed.
    fn poll_write_out(&mut self, cx: &mut Context<'_>, stats: &RelayStats) -> Poll<Result<(), ()>> {
        if self.failed {
            return Poll::Ready(Err(()));
        }
        loop {
            if self.batch.is_empty() {
                self.refill(stats);
            }
            if self.batch.is_empty() {
                break;
            }
            match self.poll_write_batch(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(())) => return self.fail(),
                Poll::Ready(Ok(())) => {}
            }
        }
        if self.unflushed {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return self.fail(),
                Poll::Ready(Ok(())) => self.unflushed = false,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Takes up to [`MAX_BATCH`] frames off the queue into the batch, dropping stale ones.
    fn refill(&mut self, stats: &RelayStats) {
        while self.batch.len() < MAX_BATCH {
            let Some(out) = self.queue.pop_front() else {
                break;
            };
            self.queued_bytes = self.queued_bytes.saturating_sub(out.frame.len());
            if out.stale_at.is_some_and(|t| Instant::now() > t) {
                RelayStats::add(&stats.stale_dropped, 1);
                continue;
            }
            self.owed |= out.frame.kind() == Kind::Text;
            self.progressed = true;
            self.batch.push_back(out.frame.into_bytes());
        }
        if let Some(w) = self.tungstenite.take() {
            w.wake();
        }
    }

    /// One vectored write of the batch; what the socket took leaves it.
    fn poll_write_batch(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        let State { io, batch, .. } = self;
        let mut slices = [IoSlice::new(&[]); MAX_BATCH];
        let mut count = 0;
        for (slice, bytes) in slices.iter_mut().zip(batch.iter()) {
            *slice = IoSlice::new(bytes);
            count += 1;
        }
        let slices = slices.get(..count).unwrap_or_default();
        match Pin::new(io).poll_write_vectored(cx, slices) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) | Poll::Ready(Ok(0)) => Poll::Ready(Err(())),
            Poll::Ready(Ok(written)) => {
                self.unflushed = true;
                advance(&mut self.batch, written);
                Poll::Ready(Ok(()))
            }
        }
    }

    fn fail(&mut self) -> Poll<Result<(), ()>> {
        self.failed = true;
        Poll::Ready(Err(()))
    }

    /// Wakes the writer whether or not it went idle (it must look at the socket again).
    fn kick(&mut self) {
        self.idle = true;
        self.wake_writer();
    }

    fn wake_writer(&mut self) {
        if std::mem::take(&mut self.idle)
            && let Some(waker) = &self.waker
        {
            waker.wake_by_ref();
        }
    }
}

/// Drops the first `written` bytes of a batch of frames.
fn advance(batch: &mut VecDeque<Bytes>, mut written: usize) {
    while written > 0 {
        let Some(front) = batch.front_mut() else {
            return;
        };
        if front.len() > written {
            *front = front.slice(written..);
            return;
        }
        written -= front.len();
        batch.pop_front();
    }
}

impl<W> Offer for Outlet<W>
where
    W: AsyncWrite + TryWrite + Unpin + Send,
{
    fn offer(&self, out: Outbound) -> Offered {
        let mut st = self.lock();
        if st.gone || st.close_sent {
            return Offered::Closed;
        }
        let st = &mut *st;
        let kind = out.frame.kind();
        if self.inline
            && st.queue.is_empty()
            && st.batch.is_empty()
            && !st.unflushed
            && !st.stopped
            && !st.failed
            && !self.control.is_ending()
            && let Some(waker) = &st.waker
        {
            let mut cx = Context::from_waker(waker);
            st.owed |= kind == Kind::Text;
            st.close_sent |= kind == Kind::Close;
            // Whether the writer must be woken: it writes what the socket did not take.
            let mut kick = false;
            let bytes = out.frame.bytes();
            let (wrote, registered) = match st.io.try_write_now(bytes) {
                Some(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    (Poll::Pending, false)
                }
                Some(result) => (Poll::Ready(result), true),
                None => (Pin::new(&mut st.io).poll_write(&mut cx, bytes), true),
            };
            match wrote {
                // The socket is full: the writer is woken when it can take the frame (its
                // waker is registered, or it is kicked to register it).
                Poll::Pending => {
                    st.batch.push_back(out.frame.into_bytes());
                    kick = !registered;
                }
                Poll::Ready(Err(_)) => {
                    st.failed = true;
                    kick = true;
                }
                Poll::Ready(Ok(written)) => {
                    let bytes = out.frame.into_bytes();
                    if written < bytes.len() {
                        // Part of it: the writer writes the rest (and finds the socket full).
                        st.batch.push_back(bytes.slice(written..));
                        st.unflushed = true;
                        kick = true;
                    } else {
                        match Pin::new(&mut st.io).poll_flush(&mut cx) {
                            Poll::Ready(Ok(())) => {}
                            // The writer is woken when the rest can go.
                            Poll::Pending => st.unflushed = true,
                            Poll::Ready(Err(_)) => {
                                st.failed = true;
                                kick = true;
                            }
                        }
                    }
                }
            }
            if kick {
                st.kick();
            }
            return Offered::Written;
        }
        let bytes = out.frame.len();
        if st.queue.len() >= self.capacity
            || st.queued_bytes.saturating_add(bytes) > self.byte_budget
        {
            return Offered::Full;
        }
        st.close_sent |= kind == Kind::Close;
        st.queue.push_back(out);
        st.queued_bytes = st.queued_bytes.saturating_add(bytes);
        st.wake_writer();
        Offered::Queued
    }

    fn sender_added(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    fn sender_dropped(&self) {
        if self.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut st = self.lock();
            st.closed = true;
            st.kick();
        }
    }
}

#[cfg(test)]
mod tests;
