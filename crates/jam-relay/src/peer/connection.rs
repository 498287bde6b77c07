//! One connection's life: [`serve`] gives it an outlet and a writer task, greets it, runs the
//! reader loop until it ends, takes it out of its room and waits for the writer to close.
//! The reader loop reads frames (charged to the pre-parse budgets first), keeps the heartbeat,
//! the join deadline and the cursor timer; what each message does is in `handlers`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, Stream, StreamExt};
use jam_protocol::{Connected, ErrorCode, PROTOCOL_VERSION, RoomCode, ServerMsg};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::cursor::CursorGate;
use super::writer::{CLOSE_TIMEOUT, write_loop};
use crate::limiter::{NoticeWindow, TokenBucket};
use crate::link::PeerLink;
use crate::outlet::{Outbound, Outlet, OutletTx, PeerControl};
use crate::refusal::Refusal;
use crate::room::{RoomRef, lock};
use crate::shared::Shared;
use crate::stats::RelayStats;
use crate::stream::{Split, Wired};
use crate::wire::Frame;

/// Close code for a connection that stayed silent past the heartbeat timeout.
pub(crate) const CLOSE_HEARTBEAT_TIMEOUT: u16 = 4001;
/// Close code for a connection that was in no room for the join timeout.
pub(crate) const CLOSE_JOIN_TIMEOUT: u16 = 4002;
/// Why a connection ended, when the client closed it.
const CLOSED_BY_CLIENT: &str = "closed by the client";
/// Largest frame that is still read when over the pre-parse budget, if it names a release.
const SMALL_RELEASE_FRAME: usize = 256;
/// On a socket that keeps TCP's 200 ms retransmission floor, the writer follows each burst of
/// frames with one WebSocket ping this soon after, if nothing else followed: a lost delivery
/// then has a packet behind it, and TCP repairs it in a round trip instead of waiting for the
/// next event or its own ~200 ms probe (the relay's side of the clients' tail probes).
pub(super) const TAIL_PROBE_AFTER: Duration = Duration::from_millis(5);

/// Counts a connection in [`RelayStats::connections`] for as long as it lives.
struct ConnectionSlot(Arc<RelayStats>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        RelayStats::sub(&self.0.connections, 1);
    }
}

/// Serves one WebSocket connection until it closes, drops, times out or the relay stops.
/// `ip` is the client's address, when it came over TCP (for per-address join limits); `quick`
/// tells the client whether its socket repairs lost retransmissions quickly.
pub(crate) async fn serve<S>(
    mut ws: WebSocketStream<Wired<S>>,
    addr: String,
    ip: Option<IpAddr>,
    shared: Arc<Shared>,
    quick: bool,
) where
    S: Split,
{
    let stats = shared.stats.clone();
    RelayStats::add(&stats.connections, 1);
    let _slot = ConnectionSlot(stats.clone());

    let id = new_client_id();
    let Some(raw) = ws.get_mut().take_writer() else {
        return;
    };
    let control = Arc::new(PeerControl::new(shared.shutdown.child_token()));
    let probe = (!quick).then_some(TAIL_PROBE_AFTER);
    let outlet = Arc::new(Outlet::new(
        raw,
        control.clone(),
        shared.config.outbound_queue,
        shared.config.outbound_queue_bytes,
        probe.is_none(),
    ));
    ws.get_mut().attach(outlet.clone());
    let tx = OutletTx::new(outlet.clone());
    let writer = tokio::spawn(write_loop(outlet, control.clone(), stats.clone(), probe));
    let now = Instant::now();
    let config = &shared.config;
    let limiter = Arc::new(std::sync::Mutex::new(TokenBucket::new(
        config.rate_per_sec,
        config.rate_burst,
        now,
    )));
    let link = PeerLink {
        id: id.clone(),
        tx,
        control,
        limiter,
    };
    tracing::debug!(peer = %id, %addr, "connected");

    let mut conn = Connection {
        frames: TokenBucket::new(
            config.rate_per_sec.saturating_mul(2),
            config.rate_burst.saturating_mul(2),
            now,
        ),
        bytes: TokenBucket::new(config.byte_rate_per_sec, config.byte_burst, now),
        outside_since: Some(now),
        join_failures: 0,
        ip,
        lane_of: None,
        notices: NoticeWindow::new(Duration::from_secs(1)),
        cursor: CursorGate::new(shared.config.cursor_interval()),
        last_seen: now,
        room: None,
        link,
        shared,
    };
    conn.send(&ServerMsg::Connected(Connected {
        client_id: id.clone(),
        server_time: conn.shared.clock.now_ms(),
        protocol: PROTOCOL_VERSION,
        quick_retransmit: quick,
    }));
    let why = conn.read_loop(&mut ws).await;
    if why == CLOSED_BY_CLIENT {
        // tungstenite's reply to the close goes out behind what is queued for the client.
        let _ = timeout(CLOSE_TIMEOUT, ws.flush()).await;
    }
    match (conn.room.take(), conn.lane_of.take()) {
        (Some(member), None) => {
            conn.shared.rooms.leave(&*conn.shared, &member.room, &id);
            tracing::info!(peer = %id, room = %member.code, why, "left room");
        }
        (Some(member), Some(owner)) => {
            lock(&member.room).close_lane(&*conn.shared, &owner, &id);
            tracing::debug!(peer = %id, member = %owner, why, "spare lane closed");
        }
        (None, _) => {}
    }
    tracing::debug!(peer = %id, why, "disconnected");
    drop(conn); // drops the last sender: the writer drains what is queued and closes
    let _ = writer.await;
}

fn new_client_id() -> String {
    let values: [u8; 10] = rand::random();
    values
        .iter()
        .map(|v| char::from(RoomCode::ALPHABET[usize::from(v % 32)]))
        .collect()
}

/// The room a connection is in.
pub(super) struct Membership {
    pub(super) code: RoomCode,
    pub(super) room: RoomRef,
}

/// The reader side of one connection.
pub(super) struct Connection {
    pub(super) shared: Arc<Shared>,
    pub(super) link: PeerLink,
    pub(super) room: Option<Membership>,
    /// Every frame, before it is parsed: twice the message rate...
    pub(super) frames: TokenBucket,
    /// ...and the byte rate.
    pub(super) bytes: TokenBucket,
    /// Since when the connection has been in no room (for the join timeout).
    pub(super) outside_since: Option<Instant>,
    /// Failed joins on this connection.
    pub(super) join_failures: u32,
    /// The client's address, for the per-address failure budget.
    pub(super) ip: Option<IpAddr>,
    /// This connection is the spare lane of that member (its user id): its events are that
    /// member's, and it charges that member's budget (`link.limiter`, shared).
    pub(super) lane_of: Option<String>,
    pub(super) notices: NoticeWindow,
    pub(super) cursor: CursorGate,
    /// When the client last sent anything (a frame, a ping or a pong).
    pub(super) last_seen: Instant,
}

impl Connection {
    /// Reads frames until the connection ends; returns why, for the log.
    async fn read_loop<St>(&mut self, stream: &mut St) -> &'static str
    where
        St: Stream<Item = Result<Message, WsError>> + Unpin,
    {
        let interval = self.shared.config.heartbeat_interval();
        let mut heartbeat = tokio::time::interval_at(Instant::now() + interval, interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // One waiter for the whole loop: registering a fresh one per frame costs a lock.
        let kill = self.link.control.kill.clone();
        let killed = kill.cancelled();
        tokio::pin!(killed);
        loop {
            let cursor_due = self.cursor.due();
            let join_deadline = self
                .outside_since
                .map(|t| t + self.shared.config.join_timeout());
            tokio::select! {
                biased;
                () = &mut killed => return "ended by the relay",
                () = sleep_until(join_deadline.unwrap_or_else(Instant::now)), if join_deadline.is_some() => {
                    RelayStats::add(&self.shared.stats.join_timeouts, 1);
                    self.link.control.end(CLOSE_JOIN_TIMEOUT, "join a room within 30 s");
                    return "joined no room in time";
                }
                frame = stream.next() => match frame {
                    None => return "connection closed",
                    Some(Err(WsError::Capacity(_))) => {
                        self.link.control.end(1009, "message too big");
                        return "frame over the hard size limit";
                    }
                    Some(Err(_)) => return "connection dropped",
                    Some(Ok(msg)) => {
                        self.last_seen = Instant::now();
                        if !self.charge(&msg, self.last_seen) {
                            continue;
                        }
                        match msg {
                            Message::Text(text) => self.on_text(text.as_str(), self.last_seen),
                            Message::Binary(_) => self.refuse(Refusal::new(
                                ErrorCode::BadMessage,
                                "binary frames are not part of the protocol; send JSON text frames",
                            )),
                            Message::Close(_) => return CLOSED_BY_CLIENT,
                            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                        }
                    }
                },
                _ = heartbeat.tick() => {
                    if self.last_seen.elapsed() >= self.shared.config.heartbeat_timeout() {
                        self.link.control.end(CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout");
                        return "heartbeat timeout";
                    }
                    self.link.deliver(Outbound { frame: Frame::ping(), stale_at: None }, &self.shared.stats);
                }
                () = sleep_until(cursor_due.unwrap_or_else(Instant::now)), if cursor_due.is_some() => {
                    let now = Instant::now();
                    if let Some((name, payload)) = self.cursor.take_due(now) {
                        self.relay(&name, &payload, None, None, now);
                    }
                }
            }
        }
    }

    pub(super) fn send(&self, msg: &ServerMsg) {
        self.link.deliver(Outbound::msg(msg), &self.shared.stats);
    }

    /// Charges a frame to the pre-parse budgets; false if it is to be dropped unread.
    ///
    /// One exception keeps "a release is never rate limited" true for any sender: a small text
    /// frame (≤ [`SMALL_RELEASE_FRAME`] bytes) that names a release event is read anyway, and
    /// the room decides (it is free only if it releases a note the sender holds). Reading such a
    /// frame costs about a microsecond, and the room's limiter still applies to the rest.
    fn charge(&mut self, msg: &Message, now: Instant) -> bool {
        let bytes = f64::from(u32::try_from(msg.len()).unwrap_or(u32::MAX));
        let within_bytes = self.bytes.try_take_amount(bytes, now);
        let within_frames = self.frames.try_take(now);
        if within_bytes && within_frames {
            return true;
        }
        if let Message::Text(text) = msg {
            let text = text.as_str();
            if text.len() <= SMALL_RELEASE_FRAME
                && (text.contains("piano_note_off") || text.contains("\"sustain\""))
            {
                return true;
            }
        }
        self.refuse(Refusal::new(
            ErrorCode::RateLimited,
            "too much data too fast: some messages were dropped unread",
        ));
        false
    }

    pub(super) fn refuse(&mut self, refusal: Refusal) {
        RelayStats::add(&self.shared.stats.refusals, 1);
        if refusal.code == ErrorCode::RateLimited {
            RelayStats::add(&self.shared.stats.rate_limited, 1);
            if !self.notices.should_notify(Instant::now()) {
                return;
            }
        }
        if matches!(
            refusal.code,
            ErrorCode::BadMessage | ErrorCode::PayloadTooLarge
        ) {
            RelayStats::add(&self.shared.stats.bad_messages, 1);
        }
        tracing::debug!(peer = %self.link.id, code = %refusal.code, message = %refusal.message, "refused");
        self.send(&ServerMsg::error(refusal.code, refusal.message));
    }
}
