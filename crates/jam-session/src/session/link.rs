//! The background task's connection to the relay: establish it (connect, sync the clock,
//! join or create), run it, and reconnect with backoff when it drops.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jam_protocol::{
    ClientMsg, ClockPing, CreateRoom, ErrorCode, JoinRoom, LaneOpen, MAX_RELAY_FRAME_BYTES,
    PROTOCOL_VERSION, RoomCode, RoomWelcome, ServerMsg,
};

use crate::received::sanitize_welcome;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::SessionError;
use crate::lane::LanePlan;

use crate::connect::Ws;

use super::config::SessionConfig;
use super::events::{SessionEvent, Status};
use super::shared::{Outgoing, Shared};

/// How long closing a dropped connection may take.
const CLOSE_WITHIN: Duration = Duration::from_millis(500);
/// Clock pings exchanged one by one before joining (see `sync_clock`): as many as the clock
/// needs to finish learning, so that what follows only ever slews it.
const SYNC_PINGS: usize = crate::clock::LEARNING_SAMPLES;
/// Longest the clock exchange before joining may take (a slow link's eight round trips).
const SYNC_WITHIN: Duration = Duration::from_secs(2);
/// Their spacing.
pub(super) const LEARNING_PING_INTERVAL: Duration = Duration::from_millis(100);

/// The background side: owns the socket, reconnects.
pub(super) struct Link {
    pub(super) config: SessionConfig,
    pub(super) shared: Arc<Shared>,
    /// The room once joined (rejoined after drops).
    pub(super) room: Option<RoomCode>,
    /// We created the room: after a relay restart we re-create it under the same code.
    pub(super) host: bool,
    /// The secret the relay gave us as host; sent when rejoining after a drop so that we are
    /// the host again.
    pub(super) host_token: Option<String>,
    /// How to open the spare lane after the last join, when one is wanted ([`crate::lane`]).
    pub(super) lane_plan: Option<LanePlan>,
    /// The count of our events (`clientSeq`), while we send on a lane too.
    pub(super) client_seq: u64,
}

/// Why a connected period ended.
pub(super) enum End {
    Left,
    Dropped(String),
    /// The host ended the jam (its name).
    JamEnded(String),
}

impl Link {
    /// Connects and joins (or creates), returning the socket and the welcome.
    pub(super) async fn establish(&mut self) -> Result<(Ws, RoomWelcome), SessionError> {
        let address = self.config.address.clone();
        // A relay's frames are small; anything near this limit is a broken or hostile relay.
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(MAX_RELAY_FRAME_BYTES))
            .max_frame_size(Some(MAX_RELAY_FRAME_BYTES));
        let tls = if self.config.tls {
            let config = crate::connect::tls_config(&self.config.ca_certs).map_err(|detail| {
                SessionError::Tls {
                    address: address.clone(),
                    detail,
                }
            })?;
            Some(config)
        } else {
            None
        };
        let (mut ws, ours_quick) = crate::connect::open(&address, tls.as_ref(), ws_config).await?;
        let relays_quick = match self.next_msg(&mut ws).await? {
            ServerMsg::Connected(c) if c.protocol == PROTOCOL_VERSION => c.quick_retransmit,
            other => {
                return Err(SessionError::Protocol {
                    address,
                    detail: format!("unexpected greeting {other:?}"),
                });
            }
        };
        self.shared.clock().reset();
        self.sync_clock(&mut ws).await?;
        // Told to the room, so that others place our first notes from what the link is; and
        // our own half of every path from them.
        let link = self.shared.clock().link_figures();
        self.shared.playout().set_own_link(link);
        let welcome = match (&self.room, self.host) {
            (None, _) => {
                let create = CreateRoom {
                    name: self.config.name.clone(),
                    password: self.config.password.clone(),
                    room_code: None,
                    create_key: self.config.create_key.clone(),
                    link,
                };
                let welcome = self.request(&mut ws, ClientMsg::Create(create)).await?;
                self.host = true;
                welcome
            }
            (Some(code), host) => {
                let join = JoinRoom {
                    room_code: code.to_string(),
                    name: self.config.name.clone(),
                    role: self.config.role,
                    password: self.config.password.clone(),
                    host_token: self.host_token.clone().filter(|_| host),
                    link,
                };
                match self.request(&mut ws, ClientMsg::Join(join)).await {
                    Err(SessionError::Relay {
                        code: ErrorCode::RoomNotFound,
                        ..
                    }) if host => {
                        // The relay restarted: bring the room back under its old code.
                        let create = CreateRoom {
                            name: self.config.name.clone(),
                            password: self.config.password.clone(),
                            room_code: Some(code.to_string()),
                            create_key: self.config.create_key.clone(),
                            link,
                        };
                        self.request(&mut ws, ClientMsg::Create(create)).await?
                    }
                    other => other?,
                }
            }
        };
        let Some(room) = RoomCode::parse(&welcome.room_code) else {
            return Err(SessionError::Protocol {
                address,
                detail: "the relay sent an invalid room code".into(),
            });
        };
        self.room = Some(room);
        if welcome.host_token.is_some() {
            self.host_token.clone_from(&welcome.host_token);
        }
        self.lane_plan = welcome
            .lane_token
            .clone()
            .filter(|_| self.config.lane.wanted(ours_quick, relays_quick))
            .map(|lane_token| LanePlan {
                address: address.clone(),
                tls,
                ws_config,
                open: LaneOpen {
                    room_code: welcome.room_code.clone(),
                    user_id: welcome.user_id.clone(),
                    lane_token,
                },
            });
        // Before the clock is synced this is our own clock: an honest relay is within a day of it.
        let welcome = sanitize_welcome(welcome, self.shared.relay_now_ms());
        {
            let mut playout = self.shared.playout();
            for member in welcome
                .participants
                .iter()
                .filter(|m| m.id != welcome.user_id)
            {
                playout.set_link(&member.id, member.link);
            }
        }
        tracing::info!(room = ?self.room, user = %welcome.user_id, "joined");
        Ok((ws, welcome))
    }

    /// Learns the clock before joining: [`SYNC_PINGS`] pings, one after the other (each answered
    /// before the next, so that they sample the link at different moments), so that the first
    /// note sent or heard is already placed in relay time as well as the hundredth.
    /// A relay that doesn't answer within [`SYNC_WITHIN`] is joined anyway: the clock then
    /// learns from the pings that follow.
    async fn sync_clock(&self, ws: &mut Ws) -> Result<(), SessionError> {
        match tokio::time::timeout(SYNC_WITHIN, self.sync_clock_steps(ws)).await {
            Ok(done) => done,
            Err(_) => {
                tracing::warn!("the relay answered too few clock pings before joining; going on");
                Ok(())
            }
        }
    }

    async fn sync_clock_steps(&self, ws: &mut Ws) -> Result<(), SessionError> {
        for _ in 0..SYNC_PINGS {
            self.ping(ws).await.map_err(|e| SessionError::Unreachable {
                address: self.config.address.clone(),
                detail: e.to_string(),
            })?;
            loop {
                if let ServerMsg::ClockPong(pong) = self.next_msg(ws).await? {
                    let arrived = self.shared.local.now_ms();
                    if self
                        .shared
                        .clock()
                        .add_sample(pong.client_time, pong.server_time, arrived)
                    {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) async fn ping(
        &self,
        ws: &mut Ws,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let ping = ClientMsg::ClockPing(ClockPing {
            client_time: self.shared.local.now_ms(),
        });
        ws.send(Message::text(ping.to_json())).await
    }

    async fn next_msg(&self, ws: &mut Ws) -> Result<ServerMsg, SessionError> {
        let address = self.config.address.clone();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .map_err(|_| SessionError::Unreachable {
                    address: address.clone(),
                    detail: "the relay stopped answering".into(),
                })?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return ServerMsg::parse(text.as_str()).map_err(|e| SessionError::Protocol {
                        address: address.clone(),
                        detail: e.to_string(),
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    return Err(SessionError::Unreachable {
                        address,
                        detail: e.to_string(),
                    });
                }
                None => {
                    return Err(SessionError::Unreachable {
                        address,
                        detail: "the relay closed the connection".into(),
                    });
                }
            }
        }
    }

    /// Sends a create/join and waits for its answer.
    async fn request(&self, ws: &mut Ws, msg: ClientMsg) -> Result<RoomWelcome, SessionError> {
        ws.send(Message::text(msg.to_json()))
            .await
            .map_err(|e| SessionError::Unreachable {
                address: self.config.address.clone(),
                detail: e.to_string(),
            })?;
        loop {
            match self.next_msg(ws).await? {
                ServerMsg::Created(w) | ServerMsg::Joined(w) => return Ok(w),
                ServerMsg::Error(e) => {
                    return Err(SessionError::Relay {
                        code: e.code,
                        message: e.message,
                    });
                }
                _ => continue,
            }
        }
    }

    pub(super) async fn run(
        mut self,
        mut ws: Ws,
        mut outgoing: mpsc::Receiver<Outgoing>,
        events: mpsc::Sender<SessionEvent>,
        status: watch::Sender<Status>,
    ) {
        let mut attempt = 0u32;
        loop {
            match self.connected(&mut ws, &mut outgoing, &events).await {
                End::Left => {
                    let _ = ws.close(None).await;
                    let _ = status.send(Status::Ended { reason: None });
                    return;
                }
                End::JamEnded(host) => {
                    let _ = ws.close(None).await;
                    let reason = SessionError::JamEnded { host };
                    let _ = status.send(Status::Ended {
                        reason: Some(reason),
                    });
                    return;
                }
                End::Dropped(reason) => {
                    tracing::warn!(%reason, "connection lost; reconnecting");
                    // Hang up this connection for good (the relay sees us go at once); a socket
                    // that no longer answers is given a moment, no more.
                    let _ = tokio::time::timeout(CLOSE_WITHIN, ws.close(None)).await;
                    let mut reason = reason;
                    loop {
                        attempt += 1;
                        let retry_in = self.backoff(attempt);
                        let _ = status.send(Status::Reconnecting {
                            attempt,
                            retry_in,
                            reason: reason.clone(),
                        });
                        // Wait, but leave at once if the app does.
                        let sleep = tokio::time::sleep(retry_in);
                        tokio::pin!(sleep);
                        loop {
                            tokio::select! {
                                () = &mut sleep => break,
                                cmd = outgoing.recv() => match cmd {
                                    None | Some(Outgoing::Leave) => {
                                        let _ = status.send(Status::Ended { reason: None });
                                        return;
                                    }
                                    Some(Outgoing::RetryNow) => break,
                                    // Not connected: the local sound already played. A host
                                    // that ends the jam now just leaves; the guests' rejoins
                                    // find no room once the relay stops.
                                    Some(Outgoing::EndJam(_)) => {
                                        let _ = status.send(Status::Ended { reason: None });
                                        return;
                                    }
                                    Some(Outgoing::Event(..)) => {}
                                },
                            }
                        }
                        match self.establish().await {
                            Ok((new_ws, welcome)) => {
                                ws = new_ws;
                                attempt = 0;
                                if let Some(room) = self.room.clone() {
                                    let _ = status.send(Status::Connected {
                                        room,
                                        user_id: welcome.user_id.clone(),
                                    });
                                }
                                let _ = events.send(SessionEvent::Joined(welcome)).await;
                                break;
                            }
                            Err(e @ SessionError::Relay { code, .. })
                                if !matches!(
                                    code,
                                    ErrorCode::RoomNotFound
                                        | ErrorCode::ServerFull
                                        | ErrorCode::RateLimited
                                ) =>
                            {
                                let _ = status.send(Status::Ended { reason: Some(e) });
                                return;
                            }
                            Err(e) => reason = e.to_string(),
                        }
                    }
                }
            }
        }
    }

    /// Exponential backoff with jitter: min × 2^(attempt−1), capped, times 0.5–1.0.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .config
            .backoff_min
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let capped = base.min(self.config.backoff_max);
        capped.mul_f64(0.5 + rand::random::<f64>() * 0.5)
    }
}
