//! One connection: a reader loop that answers and routes the client's frames, and a writer task
//! that owns the socket's sending half and drains the connection's bounded outbound queue.
//!
//! Both are generic over the byte stream so unit tests can run them over in-memory pipes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use jam_protocol::{
    Broadcast, ClientMsg, ClockPong, Connected, CreateRoom, ErrorCode, JoinRoom, MusicalEvent,
    PROTOCOL_VERSION, RoomCode, ServerMsg,
};
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::limiter::{NoticeWindow, TokenBucket};
use crate::room::{Outbound, PeerControl, PeerLink, Refusal, RoomRef, lock};
use crate::server::Shared;
use crate::stats::RelayStats;

/// How long a client has to complete the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the writer tries to send a close frame before dropping the socket.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Close code for a connection that stayed silent past the heartbeat timeout.
pub(crate) const CLOSE_HEARTBEAT_TIMEOUT: u16 = 4001;
/// Longest event name the relay accepts, in bytes.
const MAX_EVENT_NAME: usize = 64;
/// Longest display name, in characters.
const MAX_NAME_CHARS: usize = 32;
/// Longest room password, in bytes.
const MAX_PASSWORD: usize = 128;

/// Accepts the WebSocket handshake on a fresh TCP connection, then serves it.
pub(crate) async fn serve_tcp(stream: TcpStream, addr: SocketAddr, shared: Arc<Shared>) {
    let limit = shared.config.hard_frame_limit();
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let handshake = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config));
    match timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(ws)) => serve(ws, addr.to_string(), shared).await,
        Ok(Err(e)) => tracing::debug!(%addr, error = %e, "websocket handshake failed"),
        Err(_) => tracing::debug!(%addr, "websocket handshake timed out"),
    }
}

/// Counts a connection in [`RelayStats::connections`] for as long as it lives.
struct ConnectionSlot(Arc<RelayStats>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        RelayStats::sub(&self.0.connections, 1);
    }
}

/// Serves one WebSocket connection until it closes, drops, times out or the relay stops.
pub(crate) async fn serve<S>(mut ws: WebSocketStream<S>, addr: String, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stats = shared.stats.clone();
    let open = stats
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let _slot = ConnectionSlot(stats.clone());
    if open > shared.config.max_connections as u64 {
        tracing::warn!(%addr, open, "refusing a connection: the relay is full");
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
        return;
    }

    let id = new_client_id();
    let (sink, mut stream) = ws.split();
    let (tx, rx) = mpsc::channel(shared.config.outbound_queue.max(1));
    let control = Arc::new(PeerControl::new(shared.shutdown.child_token()));
    let writer = tokio::spawn(write_loop(sink, rx, control.clone(), stats.clone()));
    let link = PeerLink {
        id: id.clone(),
        tx,
        control,
    };
    tracing::debug!(peer = %id, %addr, "connected");

    let now = Instant::now();
    let mut conn = Connection {
        limiter: TokenBucket::new(shared.config.rate_per_sec, shared.config.rate_burst, now),
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
    }));
    let why = conn.read_loop(&mut stream).await;
    if let Some(member) = conn.room.take() {
        conn.shared.leave_room(&member.room, &id);
        tracing::info!(peer = %id, room = %member.code, why, "left room");
    }
    tracing::debug!(peer = %id, why, "disconnected");
    drop(conn); // drops the last sender: the writer drains what is queued and closes
    let _ = writer.await;
}

fn new_client_id() -> String {
    let values: [u8; 10] = rand::random();
    values
        .iter()
        .map(|v| RoomCode::ALPHABET[usize::from(v % 32)] as char)
        .collect()
}

/// Writes queued frames until the queue closes (the reader ended) or the connection is killed.
async fn write_loop<Si>(
    mut sink: Si,
    mut rx: mpsc::Receiver<Outbound>,
    control: Arc<PeerControl>,
    stats: Arc<RelayStats>,
) where
    Si: Sink<Message> + Unpin,
{
    let drained = tokio::select! {
        () = control.kill.cancelled() => false,
        () = pump(&mut sink, &mut rx, &stats) => true,
    };
    // A reason set by whoever ended the connection wins, whichever branch finished first.
    match (control.close.get().copied(), drained) {
        (None, true) => {
            let _ = timeout(CLOSE_TIMEOUT, sink.close()).await;
        }
        (reason, _) => {
            let (code, reason) = reason.unwrap_or((1001, "the relay is shutting down"));
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            };
            let _ = timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
        }
    }
    // If the socket failed while writing, make sure the reader stops too.
    control.kill.cancel();
}

async fn pump<Si>(sink: &mut Si, rx: &mut mpsc::Receiver<Outbound>, stats: &RelayStats)
where
    Si: Sink<Message> + Unpin,
{
    while let Some(out) = rx.recv().await {
        if out.stale_at.is_some_and(|t| Instant::now() > t) {
            RelayStats::add(&stats.stale_dropped, 1);
            continue;
        }
        if sink.feed(out.frame).await.is_err() {
            return;
        }
        // Batch: flush only once the queue is momentarily empty.
        if rx.is_empty() && sink.flush().await.is_err() {
            return;
        }
    }
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

    /// Offers a cursor event; returns it if it may go now, else keeps it as the pending one.
    fn offer(
        &mut self,
        name: String,
        payload: Box<RawValue>,
        now: Instant,
    ) -> Option<(String, Box<RawValue>)> {
        if self.last_sent.is_none_or(|t| now >= t + self.interval) {
            self.last_sent = Some(now);
            self.pending = None;
            Some((name, payload))
        } else {
            self.pending = Some((name, payload));
            None
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
    limiter: TokenBucket,
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
        let kill = self.link.control.kill.clone();
        loop {
            let cursor_due = self.cursor.due();
            tokio::select! {
                biased;
                () = kill.cancelled() => return "ended by the relay",
                frame = stream.next() => match frame {
                    None => return "connection closed",
                    Some(Err(WsError::Capacity(_))) => {
                        self.link.control.end(1009, "message too big");
                        return "frame over the hard size limit";
                    }
                    Some(Err(_)) => return "connection dropped",
                    Some(Ok(msg)) => {
                        self.last_seen = Instant::now();
                        match msg {
                            Message::Text(text) => self.on_text(text.as_str()),
                            Message::Binary(_) => self.refuse(Refusal::new(
                                ErrorCode::BadMessage,
                                "binary frames are not part of the protocol; send JSON text frames",
                            )),
                            Message::Close(_) => return "closed by the client",
                            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                        }
                    }
                },
                _ = heartbeat.tick() => {
                    if self.last_seen.elapsed() >= self.shared.config.heartbeat_timeout() {
                        self.link.control.end(CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout");
                        return "heartbeat timeout";
                    }
                    self.link.deliver(Outbound { frame: Message::Ping(Default::default()), stale_at: None }, &self.shared.stats);
                }
                () = sleep_until(cursor_due.unwrap_or_else(Instant::now)), if cursor_due.is_some() => {
                    if let Some((name, payload)) = self.cursor.take_due(Instant::now()) {
                        self.relay(name, payload, None);
                    }
                }
            }
        }
    }

    fn send(&self, msg: &ServerMsg) {
        self.link.deliver(Outbound::msg(msg), &self.shared.stats);
    }

    fn refuse(&mut self, refusal: Refusal) {
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
        tracing::info!(peer = %self.link.id, code = %refusal.code, message = %refusal.message, "refused");
        self.send(&ServerMsg::error(refusal.code, refusal.message));
    }

    fn on_text(&mut self, text: &str) {
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
        let msg = match ClientMsg::parse(text) {
            Ok(msg) => msg,
            Err(e) => return self.refuse(Refusal::new(ErrorCode::BadMessage, e.to_string())),
        };
        if let ClientMsg::Broadcast(b) = msg {
            // Charged inside the room, where the note ledger exempts releases of held notes.
            return self.on_broadcast(b);
        }
        if !self.limiter.try_take(Instant::now()) {
            return self.refuse(Refusal::new(
                ErrorCode::RateLimited,
                "too many messages: some were dropped",
            ));
        }
        let result = match msg {
            ClientMsg::Create(create) => self.on_create(create),
            ClientMsg::Join(join) => self.on_join(join),
            ClientMsg::Leave => self.on_leave(),
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
        let name = clean_name(&create.name)?;
        let password = clean_password(create.password)?;
        let wanted = create.room_code.as_deref().and_then(RoomCode::parse);
        let room = self
            .shared
            .create_room(self.link.clone(), name.clone(), password, wanted)?;
        let code = lock(&room).code().clone();
        tracing::info!(peer = %self.link.id, room = %code, %name, "created room");
        self.room = Some(Membership { code, room });
        Ok(())
    }

    fn on_join(&mut self, join: JoinRoom) -> Result<(), Refusal> {
        self.not_in_room_yet()?;
        let name = clean_name(&join.name)?;
        let room = self.shared.join_room(
            self.link.clone(),
            &join.room_code,
            name.clone(),
            join.role,
            join.password.as_deref(),
        )?;
        let code = lock(&room).code().clone();
        tracing::info!(peer = %self.link.id, room = %code, %name, role = ?join.role, "joined room");
        self.room = Some(Membership { code, room });
        Ok(())
    }

    fn on_leave(&mut self) -> Result<(), Refusal> {
        let member = self
            .room
            .take()
            .ok_or_else(|| Refusal::new(ErrorCode::NotInRoom, "you are not in a room"))?;
        self.cursor.pending = None;
        self.shared.leave_room(&member.room, &self.link.id);
        tracing::info!(peer = %self.link.id, room = %member.code, why = "asked to leave", "left room");
        Ok(())
    }

    fn on_broadcast(&mut self, b: Broadcast) {
        let in_that_room = match &self.room {
            None => Err("you are not in a room: create or join one first".to_owned()),
            Some(m) if RoomCode::parse(&b.room_code).as_ref() != Some(&m.code) => Err(format!(
                "you are not in room \"{}\"; you are in {}",
                b.room_code, m.code
            )),
            Some(_) => Ok(()),
        };
        if let Err(message) = in_that_room {
            return self.refuse(Refusal::new(ErrorCode::NotInRoom, message));
        }
        if b.event_name.is_empty() || b.event_name.len() > MAX_EVENT_NAME {
            return self.refuse(Refusal::new(
                ErrorCode::BadMessage,
                format!("event:broadcast: eventName must be 1–{MAX_EVENT_NAME} bytes"),
            ));
        }
        let event = match MusicalEvent::parse(&b.event_name, &b.payload) {
            Ok(event) => event,
            Err(e) => return self.refuse(Refusal::new(ErrorCode::BadMessage, e.to_string())),
        };
        if let Some(MusicalEvent::Cursor(_)) = event {
            if let Some((name, payload)) =
                self.cursor.offer(b.event_name, b.payload, Instant::now())
            {
                self.relay(name, payload, None);
            }
            return;
        }
        self.relay(b.event_name, b.payload, event.as_ref());
    }

    fn relay(&mut self, name: String, payload: Box<RawValue>, event: Option<&MusicalEvent>) {
        let Some(member) = &self.room else { return };
        let result = lock(&member.room).broadcast(
            &self.shared,
            &self.link.id,
            name,
            payload,
            event,
            &mut self.limiter,
        );
        if let Err(refusal) = result {
            self.refuse(refusal);
        }
    }
}

fn clean_name(name: &str) -> Result<String, Refusal> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Refusal::new(
            ErrorCode::BadMessage,
            format!("your name must be 1–{MAX_NAME_CHARS} characters, without control characters"),
        ));
    }
    Ok(name.to_owned())
}

fn clean_password(password: Option<String>) -> Result<Option<String>, Refusal> {
    match password {
        Some(p) if p.len() > MAX_PASSWORD => Err(Refusal::new(
            ErrorCode::BadMessage,
            format!("the password must be at most {MAX_PASSWORD} bytes"),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RelayConfig;
    use jam_protocol::ServerMsg;
    use tokio::io::DuplexStream;
    use tokio_tungstenite::tungstenite::protocol::Role;

    type TestWs = WebSocketStream<DuplexStream>;

    /// A connection to `shared` over an in-memory pipe: the relay serves one end, the test
    /// holds the other as a WebSocket client. No sockets, so paused time is exact.
    async fn connect(shared: &Arc<Shared>) -> TestWs {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        tokio::spawn(serve(server, "pipe".into(), shared.clone()));
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

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_dropped_after_the_heartbeat_timeout_and_an_active_one_stays() {
        let config = RelayConfig {
            heartbeat_interval_ms: 5_000,
            heartbeat_timeout_ms: 15_000,
            ..RelayConfig::default()
        };
        let shared = Shared::new(config, None);
        let started = Instant::now();

        let mut silent = connect(&shared).await;
        let ServerMsg::Connected(hello) = recv(&mut silent).await else {
            panic!("greeting")
        };
        send(
            &mut silent,
            &ClientMsg::Create(CreateRoom {
                name: "Quiet".into(),
                password: None,
                room_code: None,
            }),
        )
        .await;
        let ServerMsg::Created(room) = recv(&mut silent).await else {
            panic!("created")
        };

        let mut active = connect(&shared).await;
        recv(&mut active).await;
        let join = JoinRoom {
            room_code: room.room_code.clone(),
            name: "Awake".into(),
            role: Default::default(),
            password: None,
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

    #[tokio::test(start_paused = true)]
    async fn stale_note_ons_are_dropped_at_dequeue_but_releases_are_not() {
        let stats = RelayStats::default();
        let (tx, mut rx) = mpsc::channel(8);
        let now = Instant::now();
        let frame = |s: &str| Message::text(s.to_owned());
        let stale = Some(now + Duration::from_millis(500));
        tx.try_send(Outbound {
            frame: frame("old note-on"),
            stale_at: stale,
        })
        .unwrap();
        tx.try_send(Outbound {
            frame: frame("note-off"),
            stale_at: None,
        })
        .unwrap();
        tx.try_send(Outbound {
            frame: frame("fresh note-on"),
            stale_at: Some(now + Duration::from_secs(2)),
        })
        .unwrap();
        drop(tx);
        tokio::time::advance(Duration::from_millis(501)).await;
        let mut written: Vec<Message> = Vec::new();
        pump(&mut written, &mut rx, &stats).await;
        assert_eq!(written, [frame("note-off"), frame("fresh note-on")]);
        assert_eq!(stats.snapshot().stale_dropped, 1);
    }

    #[test]
    fn cursor_gate_lets_one_through_per_interval_latest_wins() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let mut gate = CursorGate::new(ms(100));
        assert!(
            gate.offer("cursor".into(), raw("1"), t0).is_some(),
            "first goes at once"
        );
        assert!(gate.offer("cursor".into(), raw("2"), t0 + ms(10)).is_none());
        assert!(gate.offer("cursor".into(), raw("3"), t0 + ms(20)).is_none());
        assert_eq!(gate.due(), Some(t0 + ms(100)));
        let (_, latest) = gate.take_due(t0 + ms(100)).unwrap();
        assert_eq!(latest.get(), "3", "latest wins");
        assert_eq!(gate.due(), None);
        assert!(
            gate.offer("cursor".into(), raw("4"), t0 + ms(150))
                .is_none(),
            "only 50 ms since the last"
        );
        assert!(
            gate.offer("cursor".into(), raw("5"), t0 + ms(200))
                .is_some()
        );
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
