//! The session's spare lane ([`jam_protocol::lane`]): a second connection to the relay that
//! carries a copy of every event we send and of every event relayed to us, for links where a
//! lost retransmission would otherwise stall the stream for TCP's 200 ms floor.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jam_protocol::{ClientMsg, LaneOpen, PROTOCOL_VERSION, ServerMsg};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::SessionError;
use crate::connect::Ws;

/// How long opening the lane may take before the session goes on without it.
const OPEN_WITHIN: Duration = Duration::from_secs(5);
/// How long one write on the lane may wait (its socket full: the lane's path is gone) before
/// the session drops the lane rather than hold up the first connection.
const SEND_WITHIN: Duration = Duration::from_millis(20);

/// When the session opens a spare lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LaneMode {
    /// When either end keeps TCP's 200 ms retransmission floor: our system (Linux before
    /// 6.15, other systems) or the relay's (its `connected` lacks `quickRetransmit`).
    #[default]
    Auto,
    /// Always (costs the relay a second delivery of each event to us).
    Always,
    /// Never.
    Never,
}

impl LaneMode {
    /// The mode a new session uses: `JAMWIRE_LANE` (`auto`, `always`, `never`), else auto.
    pub fn from_env() -> LaneMode {
        match std::env::var("JAMWIRE_LANE").as_deref().map(str::trim) {
            Ok("always") => LaneMode::Always,
            Ok("never") => LaneMode::Never,
            _ => LaneMode::Auto,
        }
    }

    /// Whether to open the lane, given whether each end repairs lost retransmissions quickly.
    pub fn wanted(self, ours_quick: bool, relays_quick: bool) -> bool {
        match self {
            LaneMode::Auto => !(ours_quick && relays_quick),
            LaneMode::Always => true,
            LaneMode::Never => false,
        }
    }
}

/// What opening a lane needs, kept from the last join.
#[derive(Debug, Clone)]
pub(crate) struct LanePlan {
    pub(crate) address: String,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) ws_config: WebSocketConfig,
    pub(crate) open: LaneOpen,
}

/// Opens the lane in the background; the session keeps playing meanwhile.
pub(crate) fn start(plan: LanePlan) -> Opening {
    Opening(Some(tokio::spawn(async move {
        tokio::time::timeout(OPEN_WITHIN, open(plan))
            .await
            .unwrap_or_else(|_| {
                Err(SessionError::Protocol {
                    address: String::new(),
                    detail: "the spare lane took too long to open".into(),
                })
            })
    })))
}

/// A lane being opened; dropping it abandons the attempt.
#[derive(Debug, Default)]
pub(crate) struct Opening(Option<JoinHandle<Result<Ws, SessionError>>>);

impl Opening {
    /// The lane once open (or why not); pending forever when nothing is being opened.
    pub(crate) async fn done(&mut self) -> Result<Ws, SessionError> {
        let Some(task) = self.0.as_mut() else {
            return std::future::pending().await;
        };
        let result = task.await;
        self.0 = None;
        result.unwrap_or_else(|e| {
            Err(SessionError::Protocol {
                address: String::new(),
                detail: format!("opening the spare lane failed: {e}"),
            })
        })
    }
}

impl Drop for Opening {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

async fn open(plan: LanePlan) -> Result<Ws, SessionError> {
    let address = plan.address.clone();
    let protocol = |detail: String| SessionError::Protocol {
        address: address.clone(),
        detail,
    };
    let mut ws = crate::connect::open(&plan.address, plan.tls.as_ref(), plan.ws_config)
        .await?
        .0;
    let send = ClientMsg::LaneOpen(plan.open).to_json();
    let mut greeted = false;
    loop {
        let text = match ws.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(protocol(e.to_string())),
            None => return Err(protocol("the relay closed the spare lane".into())),
        };
        match ServerMsg::parse(text.as_str()) {
            Ok(ServerMsg::Connected(c)) if !greeted && c.protocol == PROTOCOL_VERSION => {
                greeted = true;
                ws.send(Message::text(send.clone()))
                    .await
                    .map_err(|e| protocol(e.to_string()))?;
            }
            Ok(ServerMsg::LaneOpened) if greeted => return Ok(ws),
            Ok(ServerMsg::Error(e)) => {
                return Err(protocol(format!(
                    "the relay refused a spare lane: {}",
                    e.message
                )));
            }
            _ => return Err(protocol("unexpected answer on the spare lane".into())),
        }
    }
}

/// Sends `frame` on the lane, if there is one; a lane that fails or can't take it within
/// [`SEND_WITHIN`] is dropped. Returns whether it was sent.
pub(crate) async fn send(lane: &mut Option<Ws>, frame: Message) -> bool {
    let Some(ws) = lane.as_mut() else {
        return false;
    };
    match tokio::time::timeout(SEND_WITHIN, ws.send(frame)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "the spare lane failed; going on without it");
            *lane = None;
            false
        }
        Err(_) => {
            tracing::debug!("the spare lane is stuck; going on without it");
            *lane = None;
            false
        }
    }
}

/// The next frame on the lane; pending forever when there is none.
pub(crate) async fn next_frame(lane: &mut Option<Ws>) -> Option<Result<Message, WsError>> {
    match lane {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_opens_a_lane_only_where_an_end_keeps_the_long_floor() {
        assert!(!LaneMode::Auto.wanted(true, true));
        assert!(LaneMode::Auto.wanted(false, true));
        assert!(LaneMode::Auto.wanted(true, false));
        assert!(LaneMode::Always.wanted(true, true));
        assert!(!LaneMode::Never.wanted(false, false));
    }
}
