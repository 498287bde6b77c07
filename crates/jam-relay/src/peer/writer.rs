//! The writer task: drains a connection's outlet into its socket until the reader ends or the
//! connection is killed, then closes with the reason whoever ended it gave.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWrite;
use tokio::time::timeout;

use crate::outlet::{CLOSE_SLOW_CONSUMER, Outlet, PeerControl};
use crate::stats::RelayStats;
use crate::wire::Frame;

/// How long the writer tries to send a close frame before dropping the socket.
pub(super) const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Writes queued frames until the last sender is gone (the reader ended) or the connection is
/// killed, then closes. `probe`: follow each burst with a ping that long after
/// (`TAIL_PROBE_AFTER`). Frames the fan-out writes itself never pass through here.
pub(super) async fn write_loop<W>(
    outlet: Arc<Outlet<W>>,
    control: Arc<PeerControl>,
    stats: Arc<RelayStats>,
    probe: Option<Duration>,
) where
    W: AsyncWrite + Unpin + Send,
{
    // Biased: when the connection was ended from outside, its queue may close at the same
    // moment (the reader stopped because of the kill); the kill must win, so the close frame
    // says why (e.g. 1001 on shutdown) instead of being a plain close.
    let drained = tokio::select! {
        biased;
        () = control.kill.cancelled() => false,
        () = outlet.pump(&stats, probe) => true,
    };
    outlet.stop();
    // Ended from outside (the relay is shutting down, or the client broke a limit): what is
    // queued goes first, e.g. the "jam ended" a host's last message left for each guest, or the
    // error that explains the close. A member that could not keep up gets nothing more (but
    // the frame being written is finished, so the close frame is read as one).
    let slow = control
        .close
        .get()
        .is_some_and(|(code, _)| *code == CLOSE_SLOW_CONSUMER);
    // A reason set by whoever ended the connection wins, whichever branch finished first. No
    // second close goes where one went before (the room's "jam ended", tungstenite's reply).
    let close = match (control.close.get().copied(), drained) {
        (None, true) => Frame::close(None, ""),
        (reason, _) => {
            let (code, reason) = reason.unwrap_or((1001, "the relay is shutting down"));
            Frame::close(Some(code), reason)
        }
    };
    let _ = timeout(CLOSE_TIMEOUT, outlet.finish(&stats, slow, close)).await;
    outlet.gone();
    // If the socket failed while writing, make sure the reader stops too.
    control.kill.cancel();
}
