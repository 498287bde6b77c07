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
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::AsyncWrite;
use tokio::time::{Instant, Sleep, sleep};
use tokio_tungstenite::tungstenite::Bytes;

use crate::room::{Outbound, PeerControl};
use crate::stats::RelayStats;
use crate::wire::{Frame, Kind};

/// Most frames the writer hands the socket in one vectored write.
pub(crate) const MAX_BATCH: usize = 32;

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
mod tests {
    use super::*;
    use crate::wire::decode;
    use tokio_util::sync::CancellationToken;

    /// A socket whose writes wait, like a full one, until the test opens it; it records what
    /// was written in order. `limit`: it takes at most that many bytes per write when open.
    #[derive(Default)]
    struct Gate {
        open: bool,
        limit: Option<usize>,
        written: Vec<u8>,
        waker: Option<Waker>,
    }

    impl AsyncWrite for Gate {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            if !self.open {
                self.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let n = self.limit.unwrap_or(usize::MAX).min(buf.len());
            self.written.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Like a TCP socket's half: a write outside a task takes what fits, or would block.
    impl TryWrite for Gate {
        fn try_write_now(&mut self, buf: &[u8]) -> Option<std::io::Result<usize>> {
            if !self.open {
                return Some(Err(std::io::ErrorKind::WouldBlock.into()));
            }
            let n = self.limit.unwrap_or(usize::MAX).min(buf.len());
            self.written.extend_from_slice(&buf[..n]);
            Some(Ok(n))
        }
    }

    fn text(s: &str) -> Outbound {
        Outbound {
            frame: Frame::text(s.to_owned()),
            stale_at: None,
        }
    }

    fn gate(capacity: usize, bytes: usize) -> (Arc<Outlet<Gate>>, OutletTx) {
        let control = Arc::new(PeerControl::new(CancellationToken::new()));
        let outlet = Arc::new(Outlet::new(Gate::default(), control, capacity, bytes, true));
        let tx = OutletTx::new(outlet.clone());
        (outlet, tx)
    }

    fn set_open(outlet: &Outlet<Gate>, open: bool) {
        outlet.with_io(|g| {
            g.open = open;
            if open && let Some(w) = g.waker.take() {
                w.wake();
            }
        });
    }

    /// What the socket received, as tungstenite reads it.
    fn written(outlet: &Outlet<Gate>) -> Vec<String> {
        outlet.with_io(|g| decode(&g.written).iter().map(describe).collect())
    }

    pub(crate) fn describe(message: &tokio_tungstenite::tungstenite::Message) -> String {
        use tokio_tungstenite::tungstenite::Message;
        match message {
            Message::Text(text) => text.to_string(),
            Message::Ping(_) => "ping".into(),
            Message::Pong(_) => "pong".into(),
            Message::Close(None) => "close".into(),
            Message::Close(Some(c)) => format!("close {} {}", u16::from(c.code), c.reason),
            other => format!("{other:?}"),
        }
    }

    /// Runs the outlet's writer as a task of its own.
    fn spawn_writer(
        outlet: &Arc<Outlet<Gate>>,
        stats: &Arc<RelayStats>,
    ) -> tokio::task::JoinHandle<()> {
        let (outlet, stats) = (outlet.clone(), stats.clone());
        tokio::spawn(async move { outlet.pump(&stats, None).await })
    }

    /// Lets the writer task run until it parks.
    async fn settle() {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn an_idle_writer_is_bypassed_and_what_waits_keeps_its_order() {
        let stats = Arc::new(RelayStats::default());
        let (outlet, tx) = gate(8, usize::MAX);
        set_open(&outlet, true);
        let writer = spawn_writer(&outlet, &stats);
        settle().await;

        // The writer is parked: the offer writes before it returns.
        assert_eq!(tx.offer(text("a")), Offered::Written);
        assert_eq!(written(&outlet), ["a"]);

        // The socket fills: "b" is handed over but waits, so "c" and "d" must queue behind it.
        set_open(&outlet, false);
        assert_eq!(tx.offer(text("b")), Offered::Written);
        assert_eq!(tx.offer(text("c")), Offered::Queued);
        assert_eq!(tx.offer(text("d")), Offered::Queued);
        settle().await;
        assert_eq!(written(&outlet), ["a"], "nothing passes a full socket");

        // It drains: the writer, woken by the socket, writes the rest in order.
        set_open(&outlet, true);
        settle().await;
        assert_eq!(written(&outlet), ["a", "b", "c", "d"]);
        assert_eq!(tx.offer(text("e")), Offered::Written, "idle again: inline");
        assert_eq!(written(&outlet), ["a", "b", "c", "d", "e"]);

        drop(tx);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn a_frame_a_full_socket_refused_outside_the_writer_goes_when_it_drains() {
        let stats = Arc::new(RelayStats::default());
        let (outlet, tx) = gate(8, usize::MAX);
        set_open(&outlet, true);
        let writer = spawn_writer(&outlet, &stats);
        settle().await;

        // Refused outright, with no waker registered by the attempt: the writer must be woken
        // to wait for the socket itself, or "b" waits for the next frame.
        set_open(&outlet, false);
        assert_eq!(tx.offer(text("b")), Offered::Written);
        settle().await;
        set_open(&outlet, true);
        settle().await;
        assert_eq!(written(&outlet), ["b"]);

        drop(tx);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn frames_cut_by_short_writes_arrive_whole_and_in_order() {
        let stats = Arc::new(RelayStats::default());
        let (outlet, tx) = gate(64, usize::MAX);
        outlet.with_io(|g| {
            g.open = true;
            g.limit = Some(7);
        });
        let writer = spawn_writer(&outlet, &stats);
        settle().await;
        let sent: Vec<String> = (0..40)
            .map(|i| format!("frame {i} {}", "x".repeat(i)))
            .collect();
        for s in &sent {
            let offered = tx.offer(text(s));
            assert!(
                matches!(offered, Offered::Written | Offered::Queued),
                "{offered:?}"
            );
        }
        drop(tx);
        writer.await.unwrap();
        assert_eq!(written(&outlet), sent);
    }

    #[tokio::test]
    async fn the_queue_bounds_frames_and_bytes_and_a_gone_writer_takes_nothing() {
        // Frames: with the socket full, one frame waits in it and two fit in the queue.
        let (outlet, tx) = gate(2, usize::MAX);
        let stats = RelayStats::default();
        let writer = outlet.pump(&stats, None);
        tokio::pin!(writer);
        assert!(futures_util::poll!(writer.as_mut()).is_pending());
        assert_eq!(tx.offer(text("a")), Offered::Written);
        assert_eq!(tx.offer(text("b")), Offered::Queued);
        assert_eq!(tx.offer(text("c")), Offered::Queued);
        assert_eq!(tx.offer(text("d")), Offered::Full);

        // Bytes: 14 fit (each frame is 2 header bytes and 5 of text), the fifteenth does not.
        let (outlet, tx) = gate(100, 14);
        assert_eq!(
            tx.offer(text("12345")),
            Offered::Queued,
            "writer not run yet"
        );
        assert_eq!(tx.offer(text("67890")), Offered::Queued);
        assert_eq!(tx.offer(text("")), Offered::Full);

        outlet.gone();
        assert_eq!(tx.offer(text("y")), Offered::Closed);
    }

    #[tokio::test]
    async fn nothing_goes_inline_once_the_connection_is_ending() {
        let (outlet, tx) = gate(8, usize::MAX);
        set_open(&outlet, true);
        let stats = RelayStats::default();
        let writer = outlet.pump(&stats, None);
        tokio::pin!(writer);
        assert!(futures_util::poll!(writer.as_mut()).is_pending());
        outlet.control.end(1008, "ended");
        assert_eq!(tx.offer(text("late")), Offered::Queued);
        assert!(written(&outlet).is_empty());

        let (outlet, tx) = gate(8, usize::MAX);
        set_open(&outlet, true);
        outlet.stop();
        assert_eq!(tx.offer(text("late")), Offered::Queued);
        outlet
            .finish(&stats, false, Frame::close(Some(1001), "bye"))
            .await;
        assert_eq!(written(&outlet), ["late", "close 1001 bye"]);
    }

    #[tokio::test]
    async fn the_last_sender_gone_ends_the_pump_after_the_queue() {
        let (outlet, tx) = gate(8, usize::MAX);
        let second = tx.clone();
        assert_eq!(tx.offer(text("a")), Offered::Queued);
        drop(tx);
        assert_eq!(second.offer(text("b")), Offered::Queued);
        drop(second);
        set_open(&outlet, true);
        outlet.pump(&RelayStats::default(), None).await;
        assert_eq!(written(&outlet), ["a", "b"]);
    }

    /// tungstenite's own frames queue behind the relay's, wait while the queue is full, and
    /// nothing from anyone follows a close.
    #[tokio::test]
    async fn tungstenites_frames_keep_their_place_and_a_close_is_the_last() {
        use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
        let own = |frame: WsFrame| {
            let mut bytes = Vec::new();
            frame.format(&mut bytes).unwrap();
            move || Frame::from_tungstenite(&bytes)
        };
        let pong = || own(WsFrame::pong(Bytes::from_static(b"p")));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let stats = RelayStats::default();
        let (outlet, tx) = gate(2, usize::MAX);
        assert_eq!(
            tx.offer(text("a")),
            Offered::Queued,
            "the writer has not run"
        );
        assert!(outlet.take_from_tungstenite(&mut cx, pong()).is_ready());
        assert!(
            outlet.take_from_tungstenite(&mut cx, pong()).is_pending(),
            "the queue is full: tungstenite waits"
        );
        set_open(&outlet, true);
        let writer = outlet.pump(&stats, None);
        tokio::pin!(writer);
        assert!(futures_util::poll!(writer.as_mut()).is_pending());
        assert_eq!(written(&outlet), ["a", "pong"]);
        assert!(outlet.take_from_tungstenite(&mut cx, pong()).is_ready());
        let close = own(WsFrame::close(None));
        assert!(outlet.take_from_tungstenite(&mut cx, close).is_ready());
        assert_eq!(
            tx.offer(text("b")),
            Offered::Closed,
            "nothing after a close"
        );
        assert!(
            outlet.take_from_tungstenite(&mut cx, pong()).is_ready(),
            "dropped"
        );
        drop(tx);
        writer.await;
        outlet
            .finish(&stats, false, Frame::close(Some(1000), "no second close"))
            .await;
        assert_eq!(written(&outlet), ["a", "pong", "pong", "close"]);
    }
}
