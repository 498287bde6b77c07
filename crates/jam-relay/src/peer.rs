//! One connection: a reader loop that answers and routes the client's frames, and a writer task
//! that drains the connection's bounded outbound queue into the socket's writing half, batches,
//! probes and closes. Both halves of the way out live in the connection's [`Outlet`], which
//! also lets the fan-out write a frame itself when nothing waits before it. tungstenite reads
//! the socket and does the handshake; the relay writes its encoded frames itself
//! ([`crate::wire`]).
//!
//! Both are generic over the byte stream so unit tests can run them over in-memory pipes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, Stream, StreamExt};
use jam_protocol::event::{MAX_EVENT_NAME_BYTES, MAX_UNKNOWN_EVENT_BYTES};
use jam_protocol::{
    BroadcastRef, ClientFrame, ClientMsg, ClockPong, Connected, CreateRoom, ErrorCode, JoinRoom,
    LaneOpen, MAX_PASSWORD_BYTES, MAX_TOKEN_BYTES, MusicalEvent, PROTOCOL_VERSION, RoomCode,
    ServerMsg,
};
use serde_json::value::RawValue;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::limiter::{NoticeWindow, TokenBucket};
use crate::outlet::{Outlet, OutletTx};
use crate::room::{
    Outbound, PeerControl, PeerLink, Refusal, RoomRef, Sent, lock, secrets_match, take_token,
};
use crate::server::{IpSlot, Shared};
use crate::stats::RelayStats;
use crate::wire::{Frame, Split, Wired};

/// How long a client has to complete the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the writer tries to send a close frame before dropping the socket.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Close code for a connection that stayed silent past the heartbeat timeout.
pub(crate) const CLOSE_HEARTBEAT_TIMEOUT: u16 = 4001;
/// Close code for a connection that was in no room for the join timeout.
pub(crate) const CLOSE_JOIN_TIMEOUT: u16 = 4002;
/// Why a connection ended, when the client closed it.
const CLOSED_BY_CLIENT: &str = "closed by the client";
/// Largest frame that is still read when over the pre-parse budget, if it names a release.
const SMALL_RELEASE_FRAME: usize = 256;
/// Close code for a connection that failed to join too often.
pub(crate) const CLOSE_JOIN_FAILURES: u16 = 4003;
/// On a socket that keeps TCP's 200 ms retransmission floor, the writer follows each burst of
/// frames with one WebSocket ping this soon after, if nothing else followed: a lost delivery
/// then has a packet behind it, and TCP repairs it in a round trip instead of waiting for the
/// next event or its own ~200 ms probe (the relay's side of the clients' tail probes).
const TAIL_PROBE_AFTER: Duration = Duration::from_millis(5);

/// How much one read from a client's socket takes at most, bytes. tungstenite zero-fills this
/// much before every read, whatever arrives (its default, 128 KiB, cost 7 % of the relay's CPU;
/// 8 KiB still 15 % of its instructions). A musical event is a few hundred bytes, so 2 KiB
/// holds a chord's worth in one read; a frame up to the message limit simply takes more reads
/// (figures in docs/PERFORMANCE.md).
const READ_BUFFER_BYTES: usize = 2 * 1024;

/// The relay's limits for the WebSocket layer.
fn ws_config(shared: &Shared) -> WebSocketConfig {
    let limit = shared.config.hard_frame_limit();
    WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
        .read_buffer_size(READ_BUFFER_BYTES)
}

/// A fresh TCP connection: the TLS handshake first when the relay serves `wss://` (within the
/// handshake timeout), then [`serve_tcp`]. `quick` tells whether the socket got the short
/// retransmission floor (`jam_protocol::transport`).
pub(crate) async fn serve_accepted(
    stream: TcpStream,
    addr: SocketAddr,
    shared: Arc<Shared>,
    slots: (OwnedSemaphorePermit, IpSlot),
    quick: bool,
) {
    match shared.tls.clone() {
        None => serve_tcp(stream, addr, shared, slots, quick).await,
        Some(tls) => match timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => serve_tcp(stream, addr, shared, slots, quick).await,
            Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
        },
    }
}

/// [`refuse_full`] on a fresh TCP connection, through TLS when the relay serves `wss://`.
pub(crate) async fn refuse_full_tcp(
    stream: TcpStream,
    addr: SocketAddr,
    shared: Arc<Shared>,
    notice: OwnedSemaphorePermit,
) {
    match shared.tls.clone() {
        None => refuse_full(stream, addr, shared, notice).await,
        Some(tls) => {
            if let Ok(Ok(stream)) = timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream)).await {
                refuse_full(stream, addr, shared, notice).await;
            }
        }
    }
}

/// Accepts the WebSocket handshake on a fresh connection, then serves it. `slots` are the
/// connection's place in the relay and in its IP address's count, held until it ends.
pub(crate) async fn serve_tcp<S>(
    mut stream: S,
    addr: SocketAddr,
    shared: Arc<Shared>,
    slots: (OwnedSemaphorePermit, IpSlot),
    quick: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    crate::web::Rewind<S>: Split,
{
    // One port for both: a WebSocket upgrade goes on below, any other request is the page's.
    let mut head = Vec::new();
    match timeout(HANDSHAKE_TIMEOUT, crate::web::sniff(&mut stream, &mut head)).await {
        Ok(Ok(crate::web::Asked::WebSocket)) => {}
        Ok(Ok(crate::web::Asked::Http)) => {
            RelayStats::add(&shared.stats.web_requests, 1);
            let stream = crate::web::Rewind::new(head, stream);
            crate::web::serve_http(stream, shared.tls.is_some(), shared.shutdown.clone()).await;
            drop(slots);
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "connection ended before its request");
            return;
        }
        Err(_) => {
            tracing::debug!(%addr, "no request within the handshake timeout");
            return;
        }
    }
    let stream = Wired::new(crate::web::Rewind::new(head, stream));
    // The signature is tungstenite's `Callback`; its error type is an HTTP response.
    #[allow(clippy::result_large_err)]
    let origin_ok = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .map(|o| o.to_str().unwrap_or("(not text)"));
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        // The relay's own page (the browser guest), and the origins the operator listed.
        if shared.config.origin_allowed(origin)
            || origin.is_some_and(|o| crate::web::same_origin(o, host))
        {
            return Ok(response);
        }
        RelayStats::add(&shared.stats.refused_origins, 1);
        tracing::debug!(%addr, origin = ?origin, "refusing a handshake from a web page");
        let mut refusal = ErrorResponse::new(Some(
            "this relay does not accept connections from web pages of that origin\n".to_owned(),
        ));
        *refusal.status_mut() = StatusCode::FORBIDDEN;
        Err(refusal)
    };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        origin_ok,
        Some(ws_config(&shared)),
    );
    match timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(ws)) => {
            let ip = slots.1.ip();
            serve(ws, addr.to_string(), Some(ip), shared, quick).await;
        }
        Ok(Err(e)) => tracing::debug!(%addr, error = %e, "websocket handshake failed"),
        Err(_) => tracing::debug!(%addr, "websocket handshake timed out"),
    }
    drop(slots);
}

/// Tells a connection the relay is full, then closes it. `_notice` is one of the few slots for
/// doing so; past them, sockets are closed unanswered.
pub(crate) async fn refuse_full<S>(
    stream: S,
    addr: SocketAddr,
    shared: Arc<Shared>,
    _notice: OwnedSemaphorePermit,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tracing::warn!(%addr, "refusing a connection: the relay is full");
    let handshake = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config(&shared)));
    let Ok(Ok(mut ws)) = timeout(HANDSHAKE_TIMEOUT, handshake).await else {
        return;
    };
    let full = ServerMsg::error(
        ErrorCode::ServerFull,
        "this relay is full right now; try again in a minute",
    );
    let close = CloseFrame {
        code: CloseCode::Again,
        reason: "relay full".into(),
    };
    let _ = timeout(CLOSE_TIMEOUT, async {
        ws.send(Message::text(full.to_json())).await?;
        ws.send(Message::Close(Some(close))).await
    })
    .await;
}

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
            conn.shared.leave_room(&member.room, &id);
            tracing::info!(peer = %id, room = %member.code, why, "left room");
        }
        (Some(member), Some(owner)) => {
            lock(&member.room).close_lane(&conn.shared, &owner, &id);
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

/// Writes queued frames until the last sender is gone (the reader ended) or the connection is
/// killed, then closes. `probe`: follow each burst with a ping that long after
/// ([`TAIL_PROBE_AFTER`]). Frames the fan-out writes itself never pass through here.
async fn write_loop<W>(
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
        .is_some_and(|(code, _)| *code == crate::room::CLOSE_SLOW_CONSUMER);
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

/// The room a connection is in.
struct Membership {
    code: RoomCode,
    room: RoomRef,
}

/// Holds back `cursor` events so that at most one per interval is relayed; the latest wins.
struct CursorGate {
    interval: Duration,
    /// When the last cursor was relayed.
    last_sent: Option<Instant>,
    /// The newest cursor held back, with its event name.
    pending: Option<(String, Box<RawValue>)>,
}

impl CursorGate {
    fn new(interval: Duration) -> CursorGate {
        CursorGate {
            interval,
            last_sent: None,
            pending: None,
        }
    }

    /// Offers a cursor event: true if it may go now; else it is kept (copied) as the pending
    /// one.
    fn offer(&mut self, name: &str, payload: &RawValue, now: Instant) -> bool {
        if self.last_sent.is_none_or(|t| now >= t + self.interval) {
            self.last_sent = Some(now);
            self.pending = None;
            true
        } else {
            self.pending = Some((name.to_owned(), payload.to_owned()));
            false
        }
    }

    /// When the pending cursor may go.
    fn due(&self) -> Option<Instant> {
        let last = self.last_sent?;
        self.pending.as_ref().map(|_| last + self.interval)
    }

    fn take_due(&mut self, now: Instant) -> Option<(String, Box<RawValue>)> {
        let pending = self.pending.take()?;
        self.last_sent = Some(now);
        Some(pending)
    }
}

/// The reader side of one connection.
struct Connection {
    shared: Arc<Shared>,
    link: PeerLink,
    room: Option<Membership>,
    /// Every frame, before it is parsed: twice the message rate...
    frames: TokenBucket,
    /// ...and the byte rate.
    bytes: TokenBucket,
    /// Since when the connection has been in no room (for the join timeout).
    outside_since: Option<Instant>,
    /// Failed joins on this connection.
    join_failures: u32,
    /// The client's address, for the per-address failure budget.
    ip: Option<IpAddr>,
    /// This connection is the spare lane of that member (its user id): its events are that
    /// member's, and it charges that member's budget (`link.limiter`, shared).
    lane_of: Option<String>,
    notices: NoticeWindow,
    cursor: CursorGate,
    /// When the client last sent anything (a frame, a ping or a pong).
    last_seen: Instant,
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

    fn send(&self, msg: &ServerMsg) {
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

    fn refuse(&mut self, refusal: Refusal) {
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

    /// Reads one text frame, which arrived at `now`.
    fn on_text(&mut self, text: &str, now: Instant) {
        let max = self.shared.config.max_message_bytes;
        if text.len() > max {
            return self.refuse(Refusal::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "message of {} bytes is over this relay's limit of {max} bytes",
                    text.len()
                ),
            ));
        }
        // Broadcasts are charged inside the room, where the note ledger exempts releases of
        // held notes.
        let msg = match ClientMsg::parse_frame(text) {
            Ok(ClientFrame::Broadcast(b)) => return self.on_broadcast(&b, now),
            Ok(ClientFrame::Msg(ClientMsg::Broadcast(b))) => {
                return self.on_broadcast(&b.as_borrowed(), now);
            }
            Ok(ClientFrame::Msg(msg)) => msg,
            Err(e) => return self.refuse(Refusal::new(ErrorCode::BadMessage, e.to_string())),
        };
        if !take_token(&self.link.limiter, now) {
            return self.refuse(Refusal::new(
                ErrorCode::RateLimited,
                "too many messages: some were dropped",
            ));
        }
        let result = match msg {
            ClientMsg::Create(create) => self.on_create(create),
            ClientMsg::Join(join) => self.on_join(join),
            ClientMsg::LaneOpen(open) => self.on_lane_open(open),
            ClientMsg::Leave | ClientMsg::End if self.lane_of.is_some() => Err(Refusal::new(
                ErrorCode::BadMessage,
                "this connection is a spare lane: leave on the first connection",
            )),
            ClientMsg::Leave => self.on_leave(),
            ClientMsg::End => self.on_end(),
            ClientMsg::ClockPing(ping) => {
                let server_time = self.shared.clock.now_ms();
                self.send(&ServerMsg::ClockPong(ClockPong {
                    client_time: ping.client_time,
                    server_time,
                }));
                Ok(())
            }
            ClientMsg::Broadcast(_) => unreachable!("handled above"),
        };
        if let Err(refusal) = result {
            self.refuse(refusal);
        }
    }

    fn not_in_room_yet(&self) -> Result<(), Refusal> {
        match &self.room {
            Some(m) => Err(Refusal::new(
                ErrorCode::AlreadyInRoom,
                format!("you are already in room {}; leave it first", m.code),
            )),
            None => Ok(()),
        }
    }

    fn on_create(&mut self, create: CreateRoom) -> Result<(), Refusal> {
        self.not_in_room_yet()?;
        if let Some(key) = &self.shared.config.create_key {
            if !create
                .create_key
                .as_deref()
                .is_some_and(|given| secrets_match(key, given))
            {
                return Err(Refusal::new(
                    ErrorCode::Forbidden,
                    "this relay only serves its own jam: join it with an invite",
                ));
            }
        }
        let name = clean_name(&create.name)?;
        let password = clean_password(create.password)?;
        let wanted = create.room_code.as_deref().and_then(RoomCode::parse);
        let room = self
            .shared
            .create_room(self.link.clone(), name.clone(), password, wanted)?;
        let code = lock(&room).code().clone();
        tracing::info!(peer = %self.link.id, room = %code, %name, "created room");
        self.enter(Membership { code, room });
        Ok(())
    }

    /// Makes this connection the spare lane of a member ([`jam_protocol::lane`]). A wrong
    /// token counts as a failed join, so tokens can't be guessed faster than codes.
    fn on_lane_open(&mut self, open: LaneOpen) -> Result<(), Refusal> {
        self.not_in_room_yet()?;
        if open.user_id.len() > MAX_TOKEN_BYTES || open.lane_token.len() > MAX_TOKEN_BYTES {
            return Err(Refusal::new(
                ErrorCode::BadMessage,
                "lane:open: userId and laneToken are at most 64 bytes",
            ));
        }
        if self.ip.is_some_and(|ip| !self.shared.ips.may_try_join(ip)) {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                "too many failed joins from your address — wait a minute",
            ));
        }
        let opened = self.shared.open_lane(
            &open.room_code,
            &open.user_id,
            &open.lane_token,
            self.link.clone(),
        );
        let (room, code, limiter) = match opened {
            Ok(opened) => opened,
            Err(refusal) => {
                self.join_failed();
                return Err(refusal);
            }
        };
        tracing::debug!(peer = %self.link.id, member = %open.user_id, room = %code, "spare lane open");
        self.link.limiter = limiter;
        self.lane_of = Some(open.user_id);
        self.enter(Membership { code, room });
        self.send(&ServerMsg::LaneOpened);
        Ok(())
    }

    fn enter(&mut self, membership: Membership) {
        self.room = Some(membership);
        self.outside_since = None;
    }

    fn on_join(&mut self, join: JoinRoom) -> Result<(), Refusal> {
        self.not_in_room_yet()?;
        let name = clean_name(&join.name)?;
        if join
            .host_token
            .as_ref()
            .is_some_and(|t| t.len() > MAX_TOKEN_BYTES)
        {
            return Err(Refusal::new(ErrorCode::BadMessage, "hostToken is too long"));
        }
        if self.ip.is_some_and(|ip| !self.shared.ips.may_try_join(ip)) {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                "too many failed joins from your address — wait a minute, then check the invite",
            ));
        }
        let joined = self.shared.join_room(
            self.link.clone(),
            &join.room_code,
            name.clone(),
            join.role,
            join.password.as_deref(),
            join.host_token.as_deref(),
        );
        let room = match joined {
            Ok(room) => room,
            Err(refusal) => {
                if refusal.code == ErrorCode::RoomNotFound {
                    self.join_failed();
                }
                return Err(refusal);
            }
        };
        let code = lock(&room).code().clone();
        tracing::info!(peer = %self.link.id, room = %code, %name, role = ?join.role, "joined room");
        self.enter(Membership { code, room });
        Ok(())
    }

    /// Counts a failed join against this connection and its address; too many close it.
    fn join_failed(&mut self) {
        RelayStats::add(&self.shared.stats.join_failures, 1);
        if let Some(ip) = self.ip {
            self.shared.ips.join_failed(ip);
        }
        self.join_failures = self.join_failures.saturating_add(1);
        if self.join_failures >= self.shared.config.join_failures_per_connection {
            tracing::debug!(peer = %self.link.id, "closing a connection after too many failed joins");
            self.link
                .control
                .end(CLOSE_JOIN_FAILURES, "too many failed joins");
        }
    }

    fn on_end(&mut self) -> Result<(), Refusal> {
        let member = self
            .room
            .as_ref()
            .ok_or_else(|| Refusal::new(ErrorCode::NotInRoom, "you are not in a room"))?;
        self.shared.end_room(&member.room, &self.link.id)?;
        self.room = None;
        self.outside_since = Some(Instant::now());
        self.cursor.pending = None;
        Ok(())
    }

    fn on_leave(&mut self) -> Result<(), Refusal> {
        let member = self
            .room
            .take()
            .ok_or_else(|| Refusal::new(ErrorCode::NotInRoom, "you are not in a room"))?;
        self.cursor.pending = None;
        self.outside_since = Some(Instant::now());
        self.shared.leave_room(&member.room, &self.link.id);
        tracing::info!(peer = %self.link.id, room = %member.code, why = "asked to leave", "left room");
        Ok(())
    }

    fn on_broadcast(&mut self, b: &BroadcastRef<'_>, now: Instant) {
        let in_that_room = match &self.room {
            None => Err("you are not in a room: create or join one first".to_owned()),
            Some(m) if !m.code.is(&b.room_code) => Err(format!(
                "you are not in room \"{}\"; you are in {}",
                b.room_code, m.code
            )),
            Some(_) => Ok(()),
        };
        if let Err(message) = in_that_room {
            return self.refuse(Refusal::new(ErrorCode::NotInRoom, message));
        }
        if b.event_name.is_empty() || b.event_name.len() > MAX_EVENT_NAME_BYTES {
            return self.refuse(Refusal::new(
                ErrorCode::BadMessage,
                format!("event:broadcast: eventName must be 1–{MAX_EVENT_NAME_BYTES} bytes"),
            ));
        }
        let now_ms = self.shared.clock.at(now);
        let event = match MusicalEvent::parse_at(&b.event_name, b.payload, now_ms) {
            Ok(event) => event,
            Err(e) => return self.refuse(Refusal::new(ErrorCode::BadMessage, e.to_string())),
        };
        if event.is_none() && b.payload.get().len() > MAX_UNKNOWN_EVENT_BYTES {
            return self.refuse(Refusal::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "event:broadcast: events outside the vocabulary carry at most {MAX_UNKNOWN_EVENT_BYTES} bytes"
                ),
            ));
        }
        if let Some(MusicalEvent::Cursor(_)) = event {
            if self.lane_of.is_some() {
                // Latest wins anyway: a lane's copy of a cursor adds nothing.
                return;
            }
            if self.cursor.offer(&b.event_name, b.payload, now) {
                self.relay(&b.event_name, b.payload, None, None, now);
            }
            return;
        }
        self.relay(&b.event_name, b.payload, event.as_ref(), b.client_seq, now);
    }

    fn relay(
        &mut self,
        name: &str,
        payload: &RawValue,
        event: Option<&MusicalEvent>,
        client_seq: Option<u64>,
        now: Instant,
    ) {
        let Some(member) = &self.room else { return };
        let sender = self.lane_of.as_deref().unwrap_or(&self.link.id);
        let sent = Sent {
            name,
            payload,
            event,
            client_seq,
        };
        let result = lock(&member.room).broadcast(&self.shared, sender, &sent, now);
        if let Err(refusal) = result {
            self.refuse(refusal);
        }
    }
}

fn clean_name(name: &str) -> Result<String, Refusal> {
    jam_protocol::clean_name(name)
        .map(str::to_owned)
        .map_err(|e| Refusal::new(ErrorCode::BadMessage, e.to_string()))
}

fn clean_password(password: Option<String>) -> Result<Option<String>, Refusal> {
    match password {
        Some(p) if p.len() > MAX_PASSWORD_BYTES => Err(Refusal::new(
            ErrorCode::BadMessage,
            format!("the password must be at most {MAX_PASSWORD_BYTES} bytes"),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RelayConfig;
    use crate::outlet::Offered;
    use jam_protocol::ServerMsg;
    use tokio::io::DuplexStream;
    use tokio_tungstenite::tungstenite::protocol::Role;
    use tokio_util::sync::CancellationToken;

    type TestWs = WebSocketStream<DuplexStream>;

    /// A connection to `shared` over an in-memory pipe: the relay serves one end, the test
    /// holds the other as a WebSocket client. No sockets, so paused time is exact.
    async fn connect(shared: &Arc<Shared>) -> TestWs {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let server =
            WebSocketStream::from_raw_socket(Wired::new(server_io), Role::Server, None).await;
        tokio::spawn(serve(server, "pipe".into(), None, shared.clone(), false));
        WebSocketStream::from_raw_socket(client_io, Role::Client, None).await
    }

    async fn recv(ws: &mut TestWs) -> ServerMsg {
        loop {
            match ws.next().await.expect("open").expect("readable") {
                Message::Text(t) => return ServerMsg::parse(t.as_str()).expect("valid"),
                _ => continue,
            }
        }
    }

    async fn send(ws: &mut TestWs, msg: &ClientMsg) {
        ws.send(Message::text(msg.to_json()))
            .await
            .expect("writable");
    }

    /// Creates a room as `name` on a connection that has been greeted.
    async fn create(ws: &mut TestWs, name: &str) -> jam_protocol::RoomWelcome {
        let create = CreateRoom {
            name: name.into(),
            password: None,
            room_code: None,
            create_key: None,
        };
        send(ws, &ClientMsg::Create(create)).await;
        match recv(ws).await {
            ServerMsg::Created(room) => room,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_dropped_after_the_heartbeat_timeout_and_an_active_one_stays() {
        let config = RelayConfig {
            heartbeat_interval_ms: 5_000,
            heartbeat_timeout_ms: 15_000,
            ..RelayConfig::default()
        };
        let shared = Shared::new(config, None, None);
        let started = Instant::now();

        let mut silent = connect(&shared).await;
        let ServerMsg::Connected(hello) = recv(&mut silent).await else {
            panic!("greeting")
        };
        let room = create(&mut silent, "Quiet").await;

        let mut active = connect(&shared).await;
        recv(&mut active).await;
        let join = JoinRoom {
            room_code: room.room_code.clone(),
            name: "Awake".into(),
            role: Default::default(),
            password: None,
            host_token: None,
        };
        send(&mut active, &ClientMsg::Join(join)).await;
        assert!(matches!(recv(&mut active).await, ServerMsg::Joined(_)));
        // From here on the silent peer never reads (so never answers a ping) and never writes.
        // The active peer keeps reading, which answers the relay's pings with pongs.
        let ServerMsg::UserLeft(left) = recv(&mut active).await else {
            panic!("user-left")
        };
        assert_eq!(left.user_id, hello.client_id);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(15) && waited <= Duration::from_secs(20),
            "{waited:?}"
        );

        // Long after, the active peer is still connected and served.
        let until = Instant::now() + Duration::from_secs(120);
        while Instant::now() < until {
            send(
                &mut active,
                &ClientMsg::ClockPing(jam_protocol::ClockPing { client_time: 1.0 }),
            )
            .await;
            assert!(matches!(recv(&mut active).await, ServerMsg::ClockPong(_)));
            tokio::time::sleep(Duration::from_secs(3)).await; // paused clock: advances instantly
        }
        assert_eq!(shared.stats.snapshot().members, 1);
        assert_eq!(shared.rooms.len(), 1);
    }

    /// What tungstenite writes by itself still goes out through the relay's outlet: a ping is
    /// answered with its pong, and a client's close is answered with the same close, once.
    #[tokio::test]
    async fn pings_are_answered_and_a_clients_close_is_echoed_once() {
        let shared = Shared::new(RelayConfig::default(), None, None);
        let mut ws = connect(&shared).await;
        assert!(matches!(recv(&mut ws).await, ServerMsg::Connected(_)));
        ws.send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .unwrap();
        let pong = loop {
            match ws.next().await.expect("open").expect("readable") {
                Message::Pong(p) => break p,
                Message::Ping(_) => continue,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(&pong[..], b"are you there");
        let bye = CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        };
        ws.close(Some(bye)).await.unwrap();
        let mut closes = Vec::new();
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Close(frame) = msg {
                closes.push(frame);
            }
        }
        assert_eq!(closes.len(), 1, "{closes:?}");
        let echoed = closes[0].as_ref().expect("a status");
        assert_eq!(echoed.code, CloseCode::Away);
    }

    /// A client that pings without end and never reads gets one pong per ping only while its
    /// queue has room; then tungstenite's pong waits, and the first thing the relay has for it
    /// (here the rate limiter's notice) finds the queue full: it is cut off (4008), and its room
    /// plays on.
    #[tokio::test]
    async fn a_client_that_pings_and_never_reads_is_cut_off_and_the_room_plays_on() {
        let config = RelayConfig {
            outbound_queue: 16,
            ..RelayConfig::default()
        };
        let shared = Shared::new(config, None, None);
        let mut host = connect(&shared).await;
        recv(&mut host).await;
        let room = create(&mut host, "Host").await;
        // The flooder's pipe holds 2 KiB: it fills with pongs at once.
        let (client_io, server_io) = tokio::io::duplex(2 * 1024);
        let server =
            WebSocketStream::from_raw_socket(Wired::new(server_io), Role::Server, None).await;
        tokio::spawn(serve(server, "pipe".into(), None, shared.clone(), false));
        let mut flooder = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let join = JoinRoom {
            room_code: room.room_code.clone(),
            name: "Flood".into(),
            role: Default::default(),
            password: None,
            host_token: None,
        };
        send(&mut flooder, &ClientMsg::Join(join)).await;
        let ServerMsg::UserJoined(joined) = recv(&mut host).await else {
            panic!("user-joined")
        };
        let flood = tokio::spawn(async move {
            let mut sent = 0u32;
            while flooder
                .send(Message::Ping(vec![7; 125].into()))
                .await
                .is_ok()
            {
                sent += 1;
            }
            sent
        });
        let left = loop {
            if let ServerMsg::UserLeft(left) = recv(&mut host).await {
                break left;
            }
        };
        assert_eq!(left.user_id, joined.user.id);
        assert_eq!(shared.stats.snapshot().slow_consumers, 1);
        // The room still serves its host.
        send(
            &mut host,
            &ClientMsg::ClockPing(jam_protocol::ClockPing { client_time: 1.0 }),
        )
        .await;
        assert!(matches!(recv(&mut host).await, ServerMsg::ClockPong(_)));
        let sent = flood.await.unwrap();
        assert!(sent > 16, "{sent} pings");
    }

    /// An outlet over an in-memory socket (a `Vec` of the bytes written), with its first sender.
    fn outlet(inline: bool) -> (Arc<Outlet<Vec<u8>>>, OutletTx) {
        let control = Arc::new(PeerControl::new(CancellationToken::new()));
        let outlet = Arc::new(Outlet::new(Vec::new(), control, 8, usize::MAX, inline));
        let tx = OutletTx::new(outlet.clone());
        (outlet, tx)
    }

    fn written(outlet: &Outlet<Vec<u8>>) -> Vec<Message> {
        outlet.with_io(|bytes| crate::wire::decode(bytes))
    }

    #[tokio::test(start_paused = true)]
    async fn stale_note_ons_are_dropped_at_dequeue_but_releases_are_not() {
        let stats = RelayStats::default();
        let (outlet, tx) = outlet(true);
        let now = Instant::now();
        let frame = |s: &str| Frame::text(s.to_owned());
        let stale = Some(now + Duration::from_millis(500));
        let queued = |frame, stale_at| tx.offer(Outbound { frame, stale_at });
        // The writer has not run yet, so these queue.
        assert_eq!(queued(frame("old note-on"), stale), Offered::Queued);
        assert_eq!(queued(frame("note-off"), None), Offered::Queued);
        let fresh = Some(now + Duration::from_secs(2));
        assert_eq!(queued(frame("fresh note-on"), fresh), Offered::Queued);
        drop(tx);
        tokio::time::advance(Duration::from_millis(501)).await;
        outlet.pump(&stats, None).await;
        assert_eq!(
            written(&outlet),
            [Message::text("note-off"), Message::text("fresh note-on")]
        );
        assert_eq!(stats.snapshot().stale_dropped, 1);
    }

    /// Where the socket keeps the 200 ms floor, each burst of frames is followed by one ping
    /// once the queue has stayed empty for the probe's delay; other frames (the heartbeat's
    /// ping) owe none; without the floor nothing is added.
    #[tokio::test(start_paused = true)]
    async fn a_burst_is_followed_by_one_tail_probe_where_the_socket_keeps_the_long_floor() {
        for probe in [Some(TAIL_PROBE_AFTER), None] {
            let stats = RelayStats::default();
            let (outlet, tx) = outlet(probe.is_none());
            let out = |frame: Frame| Outbound {
                frame,
                stale_at: None,
            };
            let driver = async {
                tokio::task::yield_now().await;
                tx.offer(out(Frame::text("a".into())));
                tx.offer(out(Frame::text("b".into())));
                tokio::time::sleep(Duration::from_millis(20)).await;
                tx.offer(out(Frame::ping()));
                tokio::time::sleep(Duration::from_millis(20)).await;
                tx.offer(out(Frame::text("c".into())));
                drop(tx);
            };
            tokio::join!(outlet.pump(&stats, probe), driver);
            let ping = Message::Ping(Default::default());
            let mut expected = vec![Message::text("a"), Message::text("b")];
            if probe.is_some() {
                expected.push(ping.clone());
            }
            // The heartbeat's ping owes no probe; the last text frame is not followed by one
            // because the connection closes at once.
            expected.extend([ping, Message::text("c")]);
            assert_eq!(written(&outlet), expected, "{probe:?}");
        }
    }

    #[test]
    fn cursor_gate_lets_one_through_per_interval_latest_wins() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let mut gate = CursorGate::new(ms(100));
        assert!(gate.offer("cursor", &raw("1"), t0), "first goes at once");
        assert!(!gate.offer("cursor", &raw("2"), t0 + ms(10)));
        assert!(!gate.offer("cursor", &raw("3"), t0 + ms(20)));
        assert_eq!(gate.due(), Some(t0 + ms(100)));
        let (_, latest) = gate.take_due(t0 + ms(100)).unwrap();
        assert_eq!(latest.get(), "3", "latest wins");
        assert_eq!(gate.due(), None);
        assert!(
            !gate.offer("cursor", &raw("4"), t0 + ms(150)),
            "only 50 ms since the last"
        );
        assert!(gate.offer("cursor", &raw("5"), t0 + ms(200)));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Keys ").unwrap(), "Keys");
        assert!(clean_name("   ").is_err());
        assert!(clean_name(&"x".repeat(33)).is_err());
        assert!(clean_name("a\u{7}b").is_err());
        assert_eq!(clean_name(&"é".repeat(32)).unwrap().chars().count(), 32);
    }
}
