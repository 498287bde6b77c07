//! A member's way out: its bounded outbound queue and its socket's sending half under one lock,
//! so that a frame is written straight from the fan-out when nothing waits before it, and is
//! queued for the connection's writer task only when it must.
//!
//! Why: at 10 events a second per player, a member's queue is empty nearly always. Queueing
//! each delivery and waking the member's writer task to write it cost a third of the relay's
//! instructions (channel push and pop, a task wake-up and poll, the cancellation check). Now
//! the fan-out writes the frame itself when
//! - the queue is empty and nothing handed to the socket is still unflushed (so order holds),
//! - the connection is not being ended, and
//! - its writer owes no tail probes (sockets that keep TCP's 200 ms floor keep the writer
//!   task's timer, so they always queue).
//!
//! The write polls the sink with the *writer task's* waker: when the socket is full the frame
//! stays in the sink's buffer and the writer is woken when the socket can take it, exactly as
//! if the writer had written it. Everything else is as before: the queue's bounds (frames and
//! bytes) and the slow-consumer rule apply to what is queued; stale note-ons are dropped when
//! the writer takes them off the queue (a frame written inline is written at once, so it is
//! never stale); the writer alone batches, probes and closes.
//!
//! Lock order: a room's lock, then an outlet's. An outlet's lock is never held across an
//! `.await` and nothing is locked under it.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::Sink;
use tokio::time::{Instant, Sleep, sleep};
use tokio_tungstenite::tungstenite::Message;

use crate::room::{Outbound, PeerControl};
use crate::stats::RelayStats;

/// What became of a frame offered to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Handed to the socket from the fan-out.
    Written,
    /// Queued for the writer task.
    Queued,
    /// The queue is full (frames or bytes): the member cannot keep up.
    Full,
    /// The connection's writer is gone; nothing more is sent.
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

/// One connection's outlet over sink `Si` (the socket's sending half).
pub(crate) struct Outlet<Si> {
    state: Mutex<State<Si>>,
    control: Arc<PeerControl>,
    /// Most frames queued ([`crate::RelayConfig::outbound_queue`]).
    capacity: usize,
    /// Most bytes queued ([`crate::RelayConfig::outbound_queue_bytes`]).
    byte_budget: usize,
    /// Whether the fan-out may write itself (not where the writer owes tail probes).
    inline: bool,
    senders: AtomicUsize,
}

struct State<Si> {
    sink: Si,
    queue: VecDeque<Outbound>,
    /// Bytes in `queue`.
    queued_bytes: usize,
    /// Frames were handed to the sink and not yet flushed: whatever comes next must queue.
    unflushed: bool,
    /// The writer task's waker, once it has run.
    waker: Option<Waker>,
    /// The writer is parked with nothing to do: a queued frame must wake it.
    idle: bool,
    /// No sender is left: once the queue is written, the writer closes.
    closed: bool,
    /// The writer has stopped pumping (the connection is ending): nothing more goes inline.
    stopped: bool,
    /// The writer task is gone.
    gone: bool,
    /// The sink failed; the writer ends.
    failed: bool,
    /// A text frame went out since the last tail probe.
    owed: bool,
    /// Something was handed to the sink since the writer last went idle.
    progressed: bool,
}

impl<Si> Outlet<Si>
where
    Si: Sink<Message> + Unpin + Send,
{
    pub(crate) fn new(
        sink: Si,
        control: Arc<PeerControl>,
        capacity: usize,
        byte_budget: usize,
        inline: bool,
    ) -> Outlet<Si> {
        Outlet {
            state: Mutex::new(State {
                sink,
                queue: VecDeque::with_capacity(capacity.clamp(1, 64)),
                queued_bytes: 0,
                unflushed: false,
                waker: None,
                idle: false,
                closed: false,
                stopped: false,
                gone: false,
                failed: false,
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

    fn lock(&self) -> MutexGuard<'_, State<Si>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer's main phase: writes what is queued, batching flushes, until every sender is
    /// gone and the queue is written (or the sink fails). `probe`: follow each burst of text
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
                if let Some(after) = probe.filter(|_| st.owed) {
                    let due = timer.get_or_insert_with(|| Box::pin(sleep(after)));
                    if due.as_mut().poll(cx).is_ready() {
                        timer = None;
                        st.owed = false;
                        match st.hand(cx, Message::Ping(Default::default())) {
                            Poll::Ready(Ok(())) => continue,
                            Poll::Ready(Err(())) => return Poll::Ready(()),
                            // Not ready for it: try again on the next wake-up.
                            Poll::Pending => st.owed = true,
                        }
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

    /// After the pump: takes the next queued frame (when the connection was ended from outside,
    /// what was queued is still written before the close).
    pub(crate) fn pop(&self) -> Option<Message> {
        let mut st = self.lock();
        let out = st.queue.pop_front()?;
        st.queued_bytes = st.queued_bytes.saturating_sub(out.frame.len());
        Some(out.frame)
    }

    /// The writer task has ended: later offers are refused.
    pub(crate) fn gone(&self) {
        let mut st = self.lock();
        st.stopped = true;
        st.gone = true;
        st.queue.clear();
        st.queued_bytes = 0;
    }

    /// Runs `f` on the sink (tests look at what was written).
    #[cfg(test)]
    pub(crate) fn with_sink<R>(&self, f: impl FnOnce(&mut Si) -> R) -> R {
        f(&mut self.lock().sink)
    }

    /// The sink, for the writer's close: each call locks the outlet for one poll.
    pub(crate) fn sink(&self) -> LockedSink<'_, Si> {
        LockedSink(self)
    }
}

impl<Si> State<Si>
where
    Si: Sink<Message> + Unpin,
{
    /// Hands every queued frame to the sink, then flushes. Ready(Ok) once all is flushed.
    fn poll_write_out(&mut self, cx: &mut Context<'_>, stats: &RelayStats) -> Poll<Result<(), ()>> {
        if self.failed {
            return Poll::Ready(Err(()));
        }
        while !self.queue.is_empty() {
            match Pin::new(&mut self.sink).poll_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return self.fail(),
                Poll::Ready(Ok(())) => {}
            }
            let Some(out) = self.queue.pop_front() else {
                break;
            };
            self.queued_bytes = self.queued_bytes.saturating_sub(out.frame.len());
            if out.stale_at.is_some_and(|t| Instant::now() > t) {
                RelayStats::add(&stats.stale_dropped, 1);
                continue;
            }
            self.owed |= matches!(out.frame, Message::Text(_));
            if Pin::new(&mut self.sink).start_send(out.frame).is_err() {
                return self.fail();
            }
            self.unflushed = true;
            self.progressed = true;
        }
        if self.unflushed {
            match Pin::new(&mut self.sink).poll_flush(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return self.fail(),
                Poll::Ready(Ok(())) => self.unflushed = false,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Hands one frame to the sink and flushes it. Pending: the sink could not take it (it
    /// was not handed over) or it is not flushed yet (it was; `unflushed` says so).
    fn hand(&mut self, cx: &mut Context<'_>, frame: Message) -> Poll<Result<(), ()>> {
        match Pin::new(&mut self.sink).poll_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return self.fail(),
            Poll::Ready(Ok(())) => {}
        }
        if Pin::new(&mut self.sink).start_send(frame).is_err() {
            return self.fail();
        }
        self.unflushed = true;
        self.progressed = true;
        match Pin::new(&mut self.sink).poll_flush(cx) {
            Poll::Pending => Poll::Ready(Ok(())),
            Poll::Ready(Err(_)) => self.fail(),
            Poll::Ready(Ok(())) => {
                self.unflushed = false;
                Poll::Ready(Ok(()))
            }
        }
    }

    fn fail(&mut self) -> Poll<Result<(), ()>> {
        self.failed = true;
        Poll::Ready(Err(()))
    }

    fn wake_writer(&mut self) {
        if std::mem::take(&mut self.idle)
            && let Some(waker) = &self.waker
        {
            waker.wake_by_ref();
        }
    }
}

impl<Si> Offer for Outlet<Si>
where
    Si: Sink<Message> + Unpin + Send,
{
    fn offer(&self, out: Outbound) -> Offered {
        let mut st = self.lock();
        if st.gone {
            return Offered::Closed;
        }
        let st = &mut *st;
        if self.inline
            && st.queue.is_empty()
            && !st.unflushed
            && !st.stopped
            && !st.failed
            && !self.control.kill.is_cancelled()
            && let Some(waker) = st.waker.clone()
        {
            let mut cx = Context::from_waker(&waker);
            let text = matches!(out.frame, Message::Text(_));
            match Pin::new(&mut st.sink).poll_ready(&mut cx) {
                // The sink is busy (e.g. its other half is being read on another thread): queue,
                // and the writer is woken when it is free.
                Poll::Pending => {}
                Poll::Ready(Err(_)) => {
                    st.failed = true;
                    st.idle = true;
                    st.wake_writer();
                    return Offered::Written;
                }
                Poll::Ready(Ok(())) => {
                    st.owed |= text;
                    if Pin::new(&mut st.sink).start_send(out.frame).is_err() {
                        st.failed = true;
                        st.idle = true;
                        st.wake_writer();
                        return Offered::Written;
                    }
                    match Pin::new(&mut st.sink).poll_flush(&mut cx) {
                        Poll::Ready(Ok(())) => {}
                        // The socket is full: the writer is woken when it can take the rest.
                        Poll::Pending => st.unflushed = true,
                        Poll::Ready(Err(_)) => {
                            st.failed = true;
                            st.idle = true;
                            st.wake_writer();
                        }
                    }
                    return Offered::Written;
                }
            }
        }
        let bytes = out.frame.len();
        if st.queue.len() >= self.capacity
            || st.queued_bytes.saturating_add(bytes) > self.byte_budget
        {
            return Offered::Full;
        }
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
            st.idle = true;
            st.wake_writer();
        }
    }
}

/// [`Outlet`]'s sink as a `Sink`, locking the outlet for each call (the writer's close phase).
pub(crate) struct LockedSink<'a, Si>(&'a Outlet<Si>);

impl<Si> Sink<Message> for LockedSink<'_, Si>
where
    Si: Sink<Message> + Unpin + Send,
{
    type Error = Si::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Si::Error>> {
        Pin::new(&mut self.0.lock().sink).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Si::Error> {
        Pin::new(&mut self.0.lock().sink).start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Si::Error>> {
        Pin::new(&mut self.0.lock().sink).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Si::Error>> {
        Pin::new(&mut self.0.lock().sink).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    /// A sink whose flushes wait, like a full socket, until the test opens it; it records what
    /// was flushed in order and how often it was polled.
    #[derive(Default)]
    struct Gate {
        open: bool,
        buffered: Vec<Message>,
        flushed: Vec<Message>,
        waker: Option<Waker>,
    }

    impl Sink<Message> for Gate {
        type Error = std::convert::Infallible;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
            self.buffered.push(item);
            Ok(())
        }
        fn poll_flush(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Result<(), Self::Error>> {
            if !self.open {
                self.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let buffered = std::mem::take(&mut self.buffered);
            self.flushed.extend(buffered);
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.poll_flush(cx)
        }
    }

    fn text(s: &str) -> Outbound {
        Outbound {
            frame: Message::text(s.to_owned()),
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
        outlet.with_sink(|g| {
            g.open = open;
            if open && let Some(w) = g.waker.take() {
                w.wake();
            }
        });
    }

    fn flushed(outlet: &Outlet<Gate>) -> Vec<String> {
        outlet.with_sink(|g| g.flushed.iter().map(|m| m.to_string()).collect())
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
        let writer = tokio::spawn({
            let (outlet, stats) = (outlet.clone(), stats.clone());
            async move { outlet.pump(&stats, None).await }
        });
        settle().await;

        // The writer is parked: the offer writes and flushes before it returns.
        assert_eq!(tx.offer(text("a")), Offered::Written);
        assert_eq!(flushed(&outlet), ["a"]);

        // The socket fills: "b" is handed over but waits, so "c" and "d" must queue behind it.
        set_open(&outlet, false);
        assert_eq!(tx.offer(text("b")), Offered::Written);
        assert_eq!(tx.offer(text("c")), Offered::Queued);
        assert_eq!(tx.offer(text("d")), Offered::Queued);
        settle().await;
        assert_eq!(flushed(&outlet), ["a"], "nothing passes a full socket");

        // It drains: the writer, woken by the sink, writes the rest in order.
        set_open(&outlet, true);
        settle().await;
        assert_eq!(flushed(&outlet), ["a", "b", "c", "d"]);
        assert_eq!(tx.offer(text("e")), Offered::Written, "idle again: inline");
        assert_eq!(flushed(&outlet), ["a", "b", "c", "d", "e"]);

        drop(tx);
        writer.await.unwrap();
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

        // Bytes: 10 fit, the eleventh does not.
        let (outlet, tx) = gate(100, 10);
        assert_eq!(
            tx.offer(text("12345")),
            Offered::Queued,
            "writer not run yet"
        );
        assert_eq!(tx.offer(text("67890")), Offered::Queued);
        assert_eq!(tx.offer(text("x")), Offered::Full);

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
        outlet.control.kill.cancel();
        assert_eq!(tx.offer(text("late")), Offered::Queued);
        assert!(flushed(&outlet).is_empty());

        let (outlet, tx) = gate(8, usize::MAX);
        set_open(&outlet, true);
        outlet.stop();
        assert_eq!(tx.offer(text("late")), Offered::Queued);
        assert_eq!(outlet.pop().map(|m| m.to_string()).as_deref(), Some("late"));
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
        assert_eq!(flushed(&outlet), ["a", "b"]);
    }
}
