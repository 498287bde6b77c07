//! The connection to a relay: join, stay joined, sync the clock, schedule what arrives.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use jam_protocol::event::names;
use jam_protocol::{
    Broadcast, ClientMsg, ClockPing, CreateRoom, EpochClock, ErrorCode, JoinRoom, LaneOpen,
    MAX_RELAY_FRAME_BYTES, MusicalEvent, PROTOCOL_VERSION, Participant, Role, RoomCode,
    RoomWelcome, SeqWindow, ServerMsg,
};
use serde_json::value::RawValue;

use crate::probe::TailProbes;
use crate::received::{sanitize_participant, sanitize_welcome};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::lane::{LaneMode, LanePlan};
use crate::{ClockSync, Playout, PlayoutMode, SenderFigures, SessionError};

use crate::connect::Ws;

/// How long closing a dropped connection may take.
const CLOSE_WITHIN: Duration = Duration::from_millis(500);

/// How long ending the jam waits for the relay to confirm.
const END_ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// After each event sent, a tiny frame (a WebSocket ping) follows this soon, then one every
/// four times as long, until the relay's pong proves the event arrived ([`crate::probe`]).
const TAIL_PROBE_AFTER: Duration = Duration::from_millis(5);
/// Longest output lead believed, ms: an output slower than this is broken, not late.
const MAX_OUTPUT_LEAD_MS: f64 = 500.0;
/// Clock pings exchanged one by one before joining (see `sync_clock`): as many as the clock
/// needs to finish learning, so that what follows only ever slews it.
const SYNC_PINGS: usize = crate::clock::LEARNING_SAMPLES;
/// Longest the clock exchange before joining may take (a slow link's eight round trips).
const SYNC_WITHIN: Duration = Duration::from_secs(2);
/// Clock pings sent quickly after every (re)connection, to learn the offset.
const LEARNING_PINGS: u32 = 10;
/// Their spacing.
const LEARNING_PING_INTERVAL: Duration = Duration::from_millis(100);

/// How to join and how to behave. Defaults are documented on each field.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The relay, `HOST:PORT`.
    pub address: String,
    /// Speak TLS (`wss://`): a relay server with a certificate.
    pub tls: bool,
    /// Certificate authorities to trust besides the public ones (PEM files), for a private
    /// relay; `JAMWIRE_CA_CERT` adds one more.
    pub ca_certs: Vec<std::path::PathBuf>,
    /// The room to join; `None` creates a new room (as its host).
    pub room: Option<RoomCode>,
    /// Display name.
    pub name: String,
    /// Player or listener.
    pub role: Role,
    /// The room's password, or the new room's.
    pub password: Option<String>,
    /// How remote events are placed in time (default: tight).
    pub playout: PlayoutMode,
    /// Clock-sync pings: ten, 100 ms apart, after every (re)connection, then one per interval (2 s).
    pub ping_interval: Duration,
    /// The relay pings every 5 s; silence this long (15 s) means the connection is dead.
    pub silence_timeout: Duration,
    /// First reconnection delay (250 ms); doubles per attempt up to `backoff_max` (5 s), each
    /// with random jitter of up to half its length.
    pub backoff_min: Duration,
    /// Longest reconnection delay.
    pub backoff_max: Duration,
    /// Received events waiting for the app (1,024); beyond that new ones are dropped and counted.
    pub event_capacity: usize,
    /// Outgoing events waiting for the network (1,024).
    pub outgoing_capacity: usize,
    /// Pretend this machine's clock is off by this many ms (for testing clock sync).
    pub clock_skew_ms: f64,
    /// The relay's creation key, when creating a room on a relay that has one (the relay
    /// embedded in the host's own app).
    pub create_key: Option<String>,
    /// The first tail probe's delay after each sent event ([`TAIL_PROBE_AFTER`], 5 ms; the
    /// next follow every 20 ms until the event's arrival is proven, see [`crate::probe`]);
    /// `None` sends none. `JAMWIRE_TAIL_PROBE_MS=0` turns it off in every session of the process, for
    /// measuring what it does (`benches/groove.rs`).
    pub tail_probe: Option<Duration>,
    /// When to open a spare lane, a second connection carrying a copy of every event
    /// ([`LaneMode`]; default auto: only where an end keeps TCP's 200 ms retransmission floor;
    /// `JAMWIRE_LANE` sets it for every session of the process).
    pub lane: LaneMode,
}

/// The tail probe a new session uses: [`TAIL_PROBE_AFTER`], or `JAMWIRE_TAIL_PROBE_MS` ms
/// (0 = none).
fn default_tail_probe() -> Option<Duration> {
    match std::env::var("JAMWIRE_TAIL_PROBE_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms.min(1_000))),
        None => Some(TAIL_PROBE_AFTER),
    }
}

impl SessionConfig {
    /// Joining the room of an invite as a player.
    pub fn join(invite: &crate::Invite, name: &str) -> SessionConfig {
        SessionConfig {
            room: Some(invite.room.clone()),
            tls: invite.tls,
            ..SessionConfig::host(&invite.address, name)
        }
    }

    /// Creating a new room on the relay at `address`.
    pub fn host(address: &str, name: &str) -> SessionConfig {
        SessionConfig {
            address: address.to_owned(),
            tls: false,
            ca_certs: Vec::new(),
            room: None,
            name: name.to_owned(),
            role: Role::Player,
            password: None,
            playout: PlayoutMode::Tight,
            ping_interval: Duration::from_secs(2),
            silence_timeout: Duration::from_secs(15),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            event_capacity: 1_024,
            outgoing_capacity: 1_024,
            clock_skew_ms: 0.0,
            create_key: None,
            tail_probe: default_tail_probe(),
            lane: LaneMode::from_env(),
        }
    }
}

/// Connection state, for the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Connecting for the first time.
    Connecting,
    /// In the room.
    Connected {
        /// The room.
        room: RoomCode,
        /// Our user id in it.
        user_id: String,
    },
    /// The connection dropped; the next attempt is in `retry_in`.
    Reconnecting {
        /// Attempts so far.
        attempt: u32,
        /// Wait before the next attempt.
        retry_in: Duration,
        /// Why the last attempt or the connection failed.
        reason: String,
    },
    /// Given up (the room refused us, or the session was left).
    Ended {
        /// Why; `None` when we left.
        reason: Option<SessionError>,
    },
}

/// An event from another participant, with the time to play it.
#[derive(Debug)]
pub struct RemoteEvent {
    /// Who sent it.
    pub sender_id: String,
    /// Its name.
    pub event_name: String,
    /// Its payload, as sent.
    pub payload: Box<RawValue>,
    /// The payload read as a musical event, if it is one.
    pub event: Option<MusicalEvent>,
    /// The room's sequence number.
    pub seq: u64,
    /// A release the relay made for someone who left.
    pub synthetic: bool,
    /// Relay time it arrived, ms.
    pub arrived_ms: f64,
    /// Relay time to play it, ms (see [`PlayoutMode`]).
    pub play_at_ms: f64,
}

/// What the session tells the app.
#[derive(Debug)]
pub enum SessionEvent {
    /// Joined (or re-joined after a drop): apply `state` and the participant list afresh.
    Joined(RoomWelcome),
    /// Someone arrived.
    UserJoined(Participant),
    /// Someone left.
    UserLeft(String),
    /// A remote event.
    Remote(RemoteEvent),
}

/// State the handle reads while the task runs.
#[derive(Debug)]
struct Shared {
    /// This machine's epoch clock (the process's, plus any configured skew).
    local: EpochClock,
    clock: Mutex<ClockSync>,
    playout: Mutex<Playout>,
    /// Received events dropped because the app did not keep up.
    dropped: std::sync::atomic::AtomicU64,
    /// Received events refused because a value was out of bounds (a hostile or broken peer).
    refused: std::sync::atomic::AtomicU64,
    /// How far ahead of now the local output must be given a sound to play it exactly, ms (an
    /// `f64` as bits): see [`SessionHandle::set_output_lead_ms`].
    output_lead_ms: std::sync::atomic::AtomicU64,
    /// Whether the spare lane is open ([`SessionHandle::spare_lane`]).
    lane_open: watch::Sender<bool>,
}

impl Shared {
    fn clock(&self) -> std::sync::MutexGuard<'_, ClockSync> {
        self.clock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn playout(&self) -> std::sync::MutexGuard<'_, Playout> {
        self.playout.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn relay_now_ms(&self) -> f64 {
        self.local.now_ms() + self.clock().offset_ms().unwrap_or(0.0)
    }

    fn output_lead_ms(&self) -> f64 {
        f64::from_bits(
            self.output_lead_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }
}

enum Outgoing {
    Event(String, Box<RawValue>),
    /// End the jam for everyone (host only), then leave; answered once the relay confirmed.
    EndJam(tokio::sync::oneshot::Sender<()>),
    /// While reconnecting: stop waiting and try now.
    RetryNow,
    Leave,
}

/// A joined session. Dropping it leaves the room.
///
/// It derefs to its [`SessionHandle`], which can be cloned to send and read the clock from other
/// tasks (an app's commands) while one task reads [`Session::next_event`].
pub struct Session {
    handle: SessionHandle,
    events: mpsc::Receiver<SessionEvent>,
    task: JoinHandle<()>,
}

/// The sending and clock side of a [`Session`]: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct SessionHandle {
    outgoing: mpsc::Sender<Outgoing>,
    status: watch::Receiver<Status>,
    shared: Arc<Shared>,
    room: RoomCode,
    user_id: String,
}

impl std::ops::Deref for Session {
    type Target = SessionHandle;

    fn deref(&self) -> &SessionHandle {
        &self.handle
    }
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("room", &self.room)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("room", &self.handle.room)
            .field("user_id", &self.handle.user_id)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects, creates or joins the room, and starts staying connected in the background.
    /// Errors here are final (unreachable relay, no such room, wrong password, …).
    pub async fn connect(config: SessionConfig) -> Result<Session, SessionError> {
        let shared = Arc::new(Shared {
            local: EpochClock::process().skewed(config.clock_skew_ms),
            clock: Mutex::new(ClockSync::new()),
            playout: Mutex::new(Playout::new(config.playout)),
            dropped: Default::default(),
            refused: Default::default(),
            output_lead_ms: Default::default(),
            lane_open: watch::Sender::new(false),
        });
        let room = config.room.clone();
        let mut link = Link {
            config,
            shared: shared.clone(),
            room,
            host: false,
            host_token: None,
            lane_plan: None,
            client_seq: 0,
        };
        let (ws, welcome) = link.establish().await?;
        let room = RoomCode::parse(&welcome.room_code).ok_or_else(|| SessionError::Protocol {
            address: link.config.address.clone(),
            detail: "the relay sent an invalid room code".into(),
        })?;
        let user_id = welcome.user_id.clone();
        let (outgoing_tx, outgoing_rx) = mpsc::channel(link.config.outgoing_capacity.max(1));
        let (events_tx, events) = mpsc::channel(link.config.event_capacity.max(1));
        let (status_tx, status) = watch::channel(Status::Connected {
            room: room.clone(),
            user_id: user_id.clone(),
        });
        let _ = events_tx.try_send(SessionEvent::Joined(welcome));
        let task = tokio::spawn(link.run(ws, outgoing_rx, events_tx, status_tx));
        Ok(Session {
            handle: SessionHandle {
                outgoing: outgoing_tx,
                status,
                shared,
                room,
                user_id,
            },
            events,
            task,
        })
    }

    /// A handle for sending and reading the clock from elsewhere.
    pub fn handle(&self) -> SessionHandle {
        self.handle.clone()
    }

    /// The next event from the room; `None` once the session has ended.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    /// Leaves the room and closes the connection.
    pub async fn leave(self) {
        let _ = self.handle.outgoing.send(Outgoing::Leave).await;
        let _ = self.task.await;
    }
}

impl SessionHandle {
    /// The room's code.
    pub fn room(&self) -> &RoomCode {
        &self.room
    }

    /// Our user id (from the first join; a rejoin gets a new one, see [`SessionEvent::Joined`]).
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// Sends a musical event to the others. Stamp its `timestamp` with [`SessionHandle::relay_now_ms`]
    /// taken when the sound was made locally.
    pub fn send(&self, event: &MusicalEvent) -> Result<(), SessionError> {
        self.send_raw(event.name(), event.to_payload())
    }

    /// Sends any event.
    pub fn send_raw(&self, event_name: &str, payload: Box<RawValue>) -> Result<(), SessionError> {
        self.outgoing
            .try_send(Outgoing::Event(event_name.to_owned(), payload))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SessionError::Backlogged,
                mpsc::error::TrySendError::Closed(_) => SessionError::Closed,
            })
    }

    /// The connection status, as a watch the UI can await.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Whether the spare lane ([`crate::LaneMode`]) is open now; changes as it opens and closes.
    pub fn spare_lane(&self) -> watch::Receiver<bool> {
        self.shared.lane_open.subscribe()
    }

    /// Relay time now, ms (our best estimate).
    pub fn relay_now_ms(&self) -> f64 {
        self.shared.relay_now_ms()
    }

    /// Tells the playout how far ahead of now the local output must be handed a sound to play
    /// it exactly (its latency plus a block: `jam_audio::AudioClock::lead`). Remote events are
    /// then placed from `arrival + lead`, so an event that arrives just in time for the network
    /// is still in time for the speakers. 0 (the default) for a session that plays nothing.
    pub fn set_output_lead_ms(&self, lead_ms: f64) {
        let lead = if lead_ms.is_finite() {
            lead_ms.clamp(0.0, MAX_OUTPUT_LEAD_MS)
        } else {
            0.0
        };
        self.shared
            .output_lead_ms
            .store(lead.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The local instant at which relay time `ms` happens (to hand to the audio clock).
    pub fn instant_at(&self, relay_ms: f64) -> Instant {
        let offset = self.shared.clock().offset_ms().unwrap_or(0.0);
        self.shared.local.instant_at(relay_ms - offset)
    }

    /// `relay time − local time` in ms, once synced.
    pub fn clock_offset_ms(&self) -> Option<f64> {
        self.shared.clock().offset_ms()
    }

    /// Smallest recent round trip to the relay, ms.
    pub fn rtt_ms(&self) -> Option<f64> {
        self.shared.clock().min_rtt_ms()
    }

    /// Timing figures of one remote participant.
    pub fn figures(&self, sender_id: &str) -> Option<SenderFigures> {
        self.shared.playout().figures(sender_id)
    }

    /// Changes how remote events are placed in time.
    pub fn set_playout(&self, mode: PlayoutMode) {
        self.shared.playout().set_mode(mode);
    }

    /// Received events refused because a value in them was out of bounds.
    pub fn refused_events(&self) -> u64 {
        self.shared
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// As the room's host: ends the jam for everyone (the relay checks that we are the host),
    /// then leaves. Returns once the relay has closed the room (or after 2 s without an answer).
    /// Guests see [`SessionError::JamEnded`].
    pub async fn end_jam(&self) {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        if self.outgoing.send(Outgoing::EndJam(done_tx)).await.is_ok() {
            let _ = done_rx.await;
        }
    }

    /// Received events dropped because they were not read in time.
    pub fn dropped_events(&self) -> u64 {
        self.shared
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// While reconnecting, skips the rest of the wait and tries at once ("Try now").
    pub fn retry_now(&self) {
        let _ = self.outgoing.try_send(Outgoing::RetryNow);
    }

    /// Asks the session to leave the room; the [`Session`]'s events then end.
    pub async fn leave(&self) {
        let _ = self.outgoing.send(Outgoing::Leave).await;
    }
}

/// The background side: owns the socket, reconnects.
struct Link {
    config: SessionConfig,
    shared: Arc<Shared>,
    /// The room once joined (rejoined after drops).
    room: Option<RoomCode>,
    /// We created the room: after a relay restart we re-create it under the same code.
    host: bool,
    /// The secret the relay gave us as host; sent when rejoining after a drop so that we are
    /// the host again.
    host_token: Option<String>,
    /// How to open the spare lane after the last join, when one is wanted ([`crate::lane`]).
    lane_plan: Option<LanePlan>,
    /// The count of our events (`clientSeq`), while we send on a lane too.
    client_seq: u64,
}

/// Why a connected period ended.
enum End {
    Left,
    Dropped(String),
    /// The host ended the jam (its name).
    JamEnded(String),
}

impl Link {
    /// Connects and joins (or creates), returning the socket and the welcome.
    async fn establish(&mut self) -> Result<(Ws, RoomWelcome), SessionError> {
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
        let welcome = match (&self.room, self.host) {
            (None, _) => {
                let create = CreateRoom {
                    name: self.config.name.clone(),
                    password: self.config.password.clone(),
                    room_code: None,
                    create_key: self.config.create_key.clone(),
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

    async fn ping(&self, ws: &mut Ws) -> Result<(), tokio_tungstenite::tungstenite::Error> {
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

    async fn run(
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

    /// Serves one connected period.
    async fn connected(
        &mut self,
        ws: &mut Ws,
        outgoing: &mut mpsc::Receiver<Outgoing>,
        events: &mpsc::Sender<SessionEvent>,
    ) -> End {
        // Clock pings: ten in the first second (spread out, so one slow moment on the network
        // does not spoil them all), then one per `ping_interval`.
        let mut pings =
            tokio::time::interval(LEARNING_PING_INTERVAL.min(self.config.ping_interval));
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pings_sent = 0u32;
        let mut last_heard = tokio::time::Instant::now();
        let room = self.room.clone().map(|r| r.to_string()).unwrap_or_default();
        // The tail probes owed after the last event sent (see [`crate::probe`]), on each
        // connection.
        let mut tail_probes = TailProbes::default();
        let mut lane_probes = TailProbes::default();
        // The spare lane ([`crate::lane`]), once open, and the room's `seq`s heard on either.
        let mut opening = self
            .lane_plan
            .clone()
            .map(crate::lane::start)
            .unwrap_or_default();
        let mut lane: Option<Ws> = None;
        let mut seen = SeqWindow::new();
        self.shared.lane_open.send_replace(false);
        let probe_due = |probes: &TailProbes| {
            let min_rtt = self
                .shared
                .clock()
                .min_rtt_ms()
                .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok());
            probes.due(self.config.tail_probe?, min_rtt)
        };
        loop {
            let silence_deadline = last_heard + self.config.silence_timeout;
            let probe_at = probe_due(&tail_probes);
            let lane_probe_at = probe_due(&lane_probes).filter(|_| lane.is_some());
            let open = lane.is_some();
            self.shared
                .lane_open
                .send_if_modified(|was| std::mem::replace(was, open) != open);
            tokio::select! {
                frame = ws.next() => {
                    last_heard = tokio::time::Instant::now();
                    match frame {
                        Some(Ok(Message::Text(text))) => {
                            if let Some(host) = self.on_message(text.as_str(), events, &mut seen) {
                                return End::JamEnded(host);
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            return End::Dropped(frame.map_or("the relay closed the connection".into(), |f| format!("the relay closed the connection: {}", f.reason)));
                        }
                        Some(Ok(Message::Pong(payload))) => tail_probes.pong(&payload),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return End::Dropped(e.to_string()),
                        None => return End::Dropped("the connection closed".into()),
                    }
                }
                cmd = outgoing.recv() => match cmd {
                    None | Some(Outgoing::Leave) => {
                        let _ = ws.send(Message::text(ClientMsg::Leave.to_json())).await;
                        return End::Left;
                    }
                    Some(Outgoing::Event(event_name, payload)) => {
                        // A cursor is latest-wins: its copy would add nothing.
                        let copy = lane.is_some() && event_name != names::CURSOR;
                        let client_seq = self.lane_plan.is_some().then(|| {
                            self.client_seq = self.client_seq.saturating_add(1);
                            self.client_seq
                        });
                        let msg = ClientMsg::Broadcast(Broadcast { room_code: room.clone(), event_name, payload, client_seq });
                        let text = msg.to_json();
                        if copy && crate::lane::send(&mut lane, Message::text(text.clone())).await {
                            lane_probes.event_sent(tokio::time::Instant::now());
                        }
                        if let Err(e) = ws.send(Message::text(text)).await {
                            return End::Dropped(e.to_string());
                        }
                        tail_probes.event_sent(tokio::time::Instant::now());
                    }
                    Some(Outgoing::RetryNow) => {} // connected already
                    Some(Outgoing::EndJam(done)) => {
                        let _ = ws.send(Message::text(ClientMsg::End.to_json())).await;
                        // Wait for the relay's answer, so that the room is closed (and every
                        // guest told) before whoever asked goes on, e.g. to stop the relay.
                        let _ = tokio::time::timeout(END_ANSWER_WITHIN, async {
                            while let Some(Ok(frame)) = ws.next().await {
                                let Message::Text(text) = frame else { continue };
                                match ServerMsg::parse(text.as_str()) {
                                    Ok(ServerMsg::Ended(_)) => return,
                                    Ok(ServerMsg::Error(e)) => {
                                        tracing::warn!(code = %e.code, message = %e.message, "the relay did not end the jam");
                                        return;
                                    }
                                    _ => {}
                                }
                            }
                        })
                        .await;
                        let _ = done.send(());
                        return End::Left;
                    }
                },
                () = tokio::time::sleep_until(probe_at.unwrap_or_else(tokio::time::Instant::now)), if probe_at.is_some() => {
                    let payload = tail_probes.probe();
                    if let Err(e) = ws.send(Message::Ping(payload.to_vec().into())).await {
                        return End::Dropped(e.to_string());
                    }
                }
                opened = opening.done() => match opened {
                    Ok(spare) => {
                        tracing::debug!("spare lane open");
                        lane = Some(spare);
                    }
                    Err(e) => tracing::info!(error = %e, "going on without a spare lane"),
                },
                frame = crate::lane::next_frame(&mut lane) => match frame {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(host) = self.on_message(text.as_str(), events, &mut seen) {
                            return End::JamEnded(host);
                        }
                    }
                    Some(Ok(Message::Pong(payload))) => lane_probes.pong(&payload),
                    Some(Ok(Message::Close(_)) | Err(_)) | None => {
                        tracing::debug!("the spare lane closed; going on without it");
                        lane = None;
                        lane_probes = TailProbes::default();
                    }
                    Some(Ok(_)) => {}
                },
                () = tokio::time::sleep_until(lane_probe_at.unwrap_or_else(tokio::time::Instant::now)), if lane_probe_at.is_some() => {
                    let payload = lane_probes.probe();
                    crate::lane::send(&mut lane, Message::Ping(payload.to_vec().into())).await;
                }
                _ = pings.tick() => {
                    if let Err(e) = self.ping(ws).await {
                        return End::Dropped(e.to_string());
                    }
                    pings_sent += 1;
                    if pings_sent == LEARNING_PINGS {
                        pings = tokio::time::interval_at(tokio::time::Instant::now() + self.config.ping_interval, self.config.ping_interval);
                        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    }
                }
                () = tokio::time::sleep_until(silence_deadline) => {
                    return End::Dropped(format!("nothing heard from the relay for {} s", self.config.silence_timeout.as_secs()));
                }
            }
        }
    }

    /// Handles one frame from the relay; returns the host's name when the host ended the jam.
    /// `seen` holds the room's `seq`s already heard, on either connection: a second copy is
    /// dropped, so nothing is played twice.
    fn on_message(
        &self,
        text: &str,
        events: &mpsc::Sender<SessionEvent>,
        seen: &mut SeqWindow,
    ) -> Option<String> {
        let arrived_local = self.shared.local.now_ms();
        let Ok(msg) = ServerMsg::parse(text) else {
            tracing::debug!("ignoring a message this version doesn't understand");
            return None;
        };
        let event = match msg {
            ServerMsg::ClockPong(pong) => {
                let taken = self.shared.clock().add_sample(
                    pong.client_time,
                    pong.server_time,
                    arrived_local,
                );
                if !taken {
                    tracing::debug!("ignoring a clock:pong that answers no ping of ours");
                }
                return None;
            }
            ServerMsg::Ended(ended) => {
                let host = jam_protocol::clean_name(&ended.name)
                    .unwrap_or("The host")
                    .to_owned();
                return Some(host);
            }
            ServerMsg::Event(e) => {
                if !seen.first_time(e.seq) {
                    return None;
                }
                let arrived_ms = arrived_local + self.shared.clock().offset_ms().unwrap_or(0.0);
                // Re-check what the relay let through: it may be old, broken or hostile.
                let musical = match MusicalEvent::parse_at(&e.event_name, &e.payload, arrived_ms) {
                    Ok(musical) => musical,
                    Err(error) => {
                        self.shared
                            .refused
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::debug!(sender = %e.sender_id, %error, "ignoring an event out of bounds");
                        return None;
                    }
                };
                // The playout places events from when they could be heard at the earliest.
                let audible_ms = arrived_ms + self.shared.output_lead_ms();
                let play_at_ms =
                    self.shared
                        .playout()
                        .schedule(&e.sender_id, musical.as_ref(), audible_ms);
                SessionEvent::Remote(RemoteEvent {
                    sender_id: e.sender_id,
                    event_name: e.event_name,
                    payload: e.payload,
                    event: musical,
                    seq: e.seq,
                    synthetic: e.synthetic,
                    arrived_ms,
                    play_at_ms,
                })
            }
            ServerMsg::UserJoined(u) => SessionEvent::UserJoined(sanitize_participant(u.user)),
            ServerMsg::UserLeft(u) => {
                self.shared.playout().remove(&u.user_id);
                SessionEvent::UserLeft(u.user_id)
            }
            ServerMsg::Error(e) => {
                tracing::warn!(code = %e.code, message = %e.message, "the relay refused something");
                return None;
            }
            ServerMsg::Connected(_)
            | ServerMsg::Created(_)
            | ServerMsg::Joined(_)
            | ServerMsg::LaneOpened => return None,
        };
        if events.try_send(event).is_err() {
            self.shared
                .dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        None
    }
}
