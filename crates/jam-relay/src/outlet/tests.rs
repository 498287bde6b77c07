//! The outlet over a socket the tests open and close.

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
