//! Rooms: membership, the event sequence, the late-join state and the fan-out.
//!
//! Lock order: the registry (`Shared::rooms`) before a room, a room before a member's outlet.
//! Broadcasts take only their room's lock, which is never held across an `.await`: delivering
//! is a non-blocking write to the member's socket, or a push into its bounded queue when
//! anything waits before it (`crate::outlet`), so a slow member can never hold up the room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use jam_protocol::event::{PianoNote, PianoNoteOff, Sustain, names};
use jam_protocol::{
    ErrorCode, HeldNote, JamEnded, MusicalEvent, Participant, RelayedEventRef, Role, RoomCode,
    RoomState, RoomWelcome, SeqWindow, ServerMsg, UserJoined, UserLeft,
};
use serde_json::value::RawValue;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use jam_takes::Record;

use crate::limiter::TokenBucket;
use crate::outlet::{Offered, OutletTx};
use crate::server::Shared;
use crate::stats::RelayStats;
use crate::wire::Frame;

/// Close code sent to a member whose outbound queue overflowed.
pub(crate) const CLOSE_SLOW_CONSUMER: u16 = 4008;
/// Close code sent to the guests of a room whose host ended the jam.
pub(crate) const CLOSE_JAM_ENDED: u16 = 4000;
/// Longest `error` message, bytes: whatever a client sent that is echoed is cut to fit.
const MAX_REFUSAL_BYTES: usize = 200;

/// An event as a member sent it, read from its frame: what [`Room::broadcast`] relays.
pub(crate) struct Sent<'a> {
    /// The event's name.
    pub(crate) name: &'a str,
    /// Its payload, as sent.
    pub(crate) payload: &'a RawValue,
    /// The payload read, when the name belongs to the vocabulary.
    pub(crate) event: Option<&'a MusicalEvent>,
    /// The sender's number for it, when it sends on two connections.
    pub(crate) client_seq: Option<u64>,
}

/// A frame waiting in a member's outbound queue.
#[derive(Debug)]
pub(crate) struct Outbound {
    /// The encoded WebSocket frame: all receivers of an event share its bytes.
    pub(crate) frame: Frame,
    /// For note-ons: after this instant the frame is stale and is dropped instead of sent.
    pub(crate) stale_at: Option<Instant>,
}

impl Outbound {
    pub(crate) fn msg(msg: &ServerMsg) -> Outbound {
        Outbound {
            frame: Frame::message(msg),
            stale_at: None,
        }
    }
}

/// How the relay ends a connection from outside its own task.
#[derive(Debug, Default)]
pub(crate) struct PeerControl {
    /// Cancelled to end the connection; a child of the relay's shutdown token.
    pub(crate) kill: CancellationToken,
    /// Close code and reason to send, set once by whoever ends the connection first.
    pub(crate) close: OnceLock<(u16, &'static str)>,
}

impl PeerControl {
    pub(crate) fn new(kill: CancellationToken) -> PeerControl {
        PeerControl {
            kill,
            close: OnceLock::new(),
        }
    }

    /// Ends the connection with `code`. Returns false if it was already being ended.
    pub(crate) fn end(&self, code: u16, reason: &'static str) -> bool {
        let first = self.close.set((code, reason)).is_ok();
        self.kill.cancel();
        first
    }

    /// Whether [`PeerControl::end`] was called: one atomic load, where asking the token takes
    /// its lock. The relay's shutdown cancels the token without this; the writer stops the
    /// outlet a moment later, and what is written in between goes before the close frame, as
    /// it would from the queue.
    pub(crate) fn is_ending(&self) -> bool {
        self.close.get().is_some()
    }
}

/// What a room needs to reach a member's connection.
#[derive(Debug, Clone)]
pub(crate) struct PeerLink {
    /// The connection's client id (also its user id in rooms).
    pub(crate) id: String,
    /// The member's outlet: its socket, or its bounded outbound queue when it must wait.
    pub(crate) tx: OutletTx,
    /// Lets the room disconnect a member that cannot keep up.
    pub(crate) control: Arc<PeerControl>,
    /// The connection's message budget; a member's spare lane shares it.
    pub(crate) limiter: Arc<Mutex<TokenBucket>>,
}

/// Takes one token from a shared budget (a leaf lock, held for the arithmetic only).
pub(crate) fn take_token(limiter: &Mutex<TokenBucket>, now: Instant) -> bool {
    limiter
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .try_take(now)
}

impl PeerLink {
    /// Writes or queues `out` without waiting ([`crate::outlet`]). A full queue means the
    /// member cannot keep up: it is disconnected, never waited for. Returns true if the frame
    /// was written or queued.
    pub(crate) fn deliver(&self, out: Outbound, stats: &RelayStats) -> bool {
        match self.tx.offer(out) {
            Offered::Written | Offered::Queued => true,
            Offered::Full => {
                if self
                    .control
                    .end(CLOSE_SLOW_CONSUMER, "slow consumer: could not keep up")
                {
                    RelayStats::add(&stats.slow_consumers, 1);
                    tracing::warn!(peer = %self.id, "disconnecting a member that cannot keep up");
                }
                false
            }
            Offered::Closed => false,
        }
    }
}

/// A client-caused refusal: answered with an `error` message, the connection carries on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl Refusal {
    /// A refusal; the message is cut to [`MAX_REFUSAL_BYTES`] (whatever it echoes).
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        let mut message = message.into();
        if message.len() > MAX_REFUSAL_BYTES {
            let mut end = MAX_REFUSAL_BYTES - 3;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        Refusal { code, message }
    }
}

/// Which piano notes a member is sounding, so late joiners hear them and nobody hears a stuck
/// note when the member leaves. Fixed size: a member can hold at most 128 notes.
#[derive(Debug, Clone)]
struct NoteLedger {
    /// Note-on velocity of every sounding note (key down or held by the pedal); 0 = silent.
    velocity: [u8; 128],
    /// Bit n set while the key of note n is down.
    keys_down: u128,
    /// True while the sustain pedal is down.
    pedal: bool,
}

impl Default for NoteLedger {
    fn default() -> NoteLedger {
        NoteLedger {
            velocity: [0; 128],
            keys_down: 0,
            pedal: false,
        }
    }
}

impl NoteLedger {
    /// True for events that release something this member holds; those are never rate limited.
    fn releases_held(&self, event: Option<&MusicalEvent>) -> bool {
        match event {
            Some(MusicalEvent::PianoNoteOff(PianoNoteOff { note, .. })) => {
                self.velocity[usize::from(*note)] != 0
            }
            Some(MusicalEvent::Sustain(Sustain { on: false, .. })) => self.pedal,
            _ => false,
        }
    }

    fn apply(&mut self, event: &MusicalEvent) {
        match *event {
            // A note with a duration releases itself on every receiver: nothing to remember.
            MusicalEvent::PianoNote(PianoNote {
                duration: Some(_), ..
            }) => {}
            MusicalEvent::PianoNote(PianoNote { note, velocity, .. }) => {
                self.velocity[usize::from(note)] = velocity;
                self.keys_down |= 1 << note;
            }
            MusicalEvent::PianoNoteOff(PianoNoteOff { note, .. }) => {
                self.keys_down &= !(1u128 << note);
                if !self.pedal {
                    self.velocity[usize::from(note)] = 0;
                }
            }
            MusicalEvent::Sustain(Sustain { on, .. }) => {
                self.pedal = on;
                if !on {
                    for note in 0..128u8 {
                        if self.keys_down & (1 << note) == 0 {
                            self.velocity[usize::from(note)] = 0;
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn sounding(&self) -> impl Iterator<Item = (u8, u8)> + '_ {
        (0..128u8)
            .map(|n| (n, self.velocity[usize::from(n)]))
            .filter(|&(_, v)| v != 0)
    }
}

/// A room member.
#[derive(Debug)]
struct Member {
    link: PeerLink,
    participant: Participant,
    ledger: NoteLedger,
    /// The secret that opens this member's spare lane (given to the member only).
    lane_token: String,
    /// The member's spare lane, when open: every event relayed to the member goes there too.
    lane: Option<PeerLink>,
    /// The `clientSeq`s this member's events came with: the second copy of one is dropped.
    client_seqs: SeqWindow,
}

/// One jam room. Owned by the registry behind its own lock.
#[derive(Debug)]
pub(crate) struct Room {
    code: RoomCode,
    /// Joiners must give this password, if set.
    password: Option<String>,
    /// Members in order of arrival.
    members: Vec<Member>,
    /// `seq` of the last relayed event; the next one gets `seq + 1`.
    seq: u64,
    /// Payload of the last `tempo_change`.
    tempo: Option<Box<RawValue>>,
    /// Payload of the last `pattern_change`.
    pattern: Option<Box<RawValue>>,
    /// The secret that makes a joiner the host again (given to the host only).
    host_token: String,
    /// Wrong passwords this room may still take ([`crate::RelayConfig::join_failures_per_room`]).
    failures: TokenBucket,
    /// The host ended the jam: the room is out of the registry and its members are leaving.
    ended: bool,
}

pub(crate) type RoomRef = Arc<Mutex<Room>>;

pub(crate) fn lock(room: &RoomRef) -> MutexGuard<'_, Room> {
    // A panic while holding a room lock is a bug; the state it guards is still usable.
    room.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Compares two secrets without revealing a common prefix through timing.
pub(crate) fn secrets_match(expected: &str, given: &str) -> bool {
    passwords_match(expected, given)
}

/// A fresh random secret: 20 symbols of the room-code alphabet (100 bits).
pub(crate) fn new_secret() -> String {
    let values: [u8; 20] = rand::random();
    values
        .iter()
        .map(|v| char::from(RoomCode::ALPHABET[usize::from(v % 32)]))
        .collect()
}

fn passwords_match(expected: &str, given: &str) -> bool {
    // Compare in constant time for equal lengths, so timing does not reveal a prefix.
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

impl Room {
    pub(crate) fn code(&self) -> &RoomCode {
        &self.code
    }

    fn welcome(&self, user_id: &str, now_ms: f64, recording: bool) -> RoomWelcome {
        let mut held_notes = Vec::new();
        let mut sustain = Vec::new();
        for m in &self.members {
            held_notes.extend(m.ledger.sounding().map(|(note, velocity)| HeldNote {
                user_id: m.participant.id.clone(),
                note,
                velocity,
            }));
            if m.ledger.pedal {
                sustain.push(m.participant.id.clone());
            }
        }
        RoomWelcome {
            room_code: self.code.to_string(),
            user_id: user_id.to_owned(),
            participants: self.members.iter().map(|m| m.participant.clone()).collect(),
            state: RoomState {
                tempo: self.tempo.clone(),
                pattern: self.pattern.clone(),
                held_notes,
                sustain,
            },
            server_time: now_ms,
            recording,
            host_token: self
                .members
                .iter()
                .any(|m| m.participant.id == user_id && m.participant.is_host)
                .then(|| self.host_token.clone()),
            lane_token: self
                .members
                .iter()
                .find(|m| m.participant.id == user_id)
                .map(|m| m.lane_token.clone()),
        }
    }

    fn add(&mut self, shared: &Shared, link: PeerLink, participant: Participant, created: bool) {
        let joined = ServerMsg::UserJoined(UserJoined {
            user: participant.clone(),
        });
        let out = Frame::message(&joined);
        for m in &self.members {
            m.link.deliver(
                Outbound {
                    frame: out.clone(),
                    stale_at: None,
                },
                &shared.stats,
            );
        }
        let id = participant.id.clone();
        shared.log(|| Record::Joined {
            room: self.code.clone(),
            user_id: participant.id.clone(),
            name: participant.name.clone(),
            role: participant.role,
            at_ms: shared.clock.now_ms(),
        });
        self.members.push(Member {
            link,
            participant,
            ledger: NoteLedger::default(),
            lane_token: new_secret(),
            lane: None,
            client_seqs: SeqWindow::new(),
        });
        let welcome = self.welcome(&id, shared.clock.now_ms(), shared.recorder.is_some());
        let msg = if created {
            ServerMsg::Created(welcome)
        } else {
            ServerMsg::Joined(welcome)
        };
        // Queued under the room lock, so it precedes every event relayed to the newcomer.
        let me = &self.members[self.members.len() - 1];
        me.link.deliver(Outbound::msg(&msg), &shared.stats);
        RelayStats::add(&shared.stats.members, 1);
    }

    /// Relays an event from `sender_id` to every other member.
    ///
    /// `event` is the parsed payload when `event_name` belongs to the vocabulary. The sender's
    /// budget is charged here, where the ledger tells whether the event releases a held note.
    /// An event whose `client_seq` came before (the copy from the sender's other connection)
    /// is dropped unanswered, before it is charged.
    /// `now` is when the event arrived.
    pub(crate) fn broadcast(
        &mut self,
        shared: &Shared,
        sender_id: &str,
        sent: &Sent<'_>,
        now: Instant,
    ) -> Result<(), Refusal> {
        let &Sent {
            name: event_name,
            payload,
            event,
            client_seq,
        } = sent;
        if self.ended {
            return Err(Refusal::new(ErrorCode::NotInRoom, "the jam has ended"));
        }
        let not_in = || Refusal::new(ErrorCode::NotInRoom, "you are not in this room");
        let at = self
            .members
            .iter()
            .position(|m| m.link.id == sender_id)
            .ok_or_else(not_in)?;
        let sender = self.members.get_mut(at).ok_or_else(not_in)?;
        if sender.participant.role == Role::Listener {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "listeners can't play in this room; rejoin as a player to play",
            ));
        }
        if client_seq.is_some_and(|seq| !sender.client_seqs.first_time(seq)) {
            RelayStats::add(&shared.stats.lane_copies, 1);
            return Ok(());
        }
        if !sender.ledger.releases_held(event) && !take_token(&sender.link.limiter, now) {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                "too many events: some were dropped",
            ));
        }
        if let Some(event) = event {
            sender.ledger.apply(event);
            match event {
                MusicalEvent::TempoChange(_) => self.tempo = Some(payload.to_owned()),
                MusicalEvent::PatternChange(_) => self.pattern = Some(payload.to_owned()),
                _ => {}
            }
        }
        let stale_at = event
            .filter(|e| e.is_note_on())
            .map(|_| now + shared.config.stale_note());
        RelayStats::add(&shared.stats.events_in, 1);
        self.fan_out(
            shared,
            Some(at),
            sender_id,
            event_name,
            payload,
            false,
            stale_at,
            now,
        );
        Ok(())
    }

    /// Serialises one event once and queues it for every member but the sender, who is
    /// `members[skip]` when it is still a member.
    #[allow(clippy::too_many_arguments)]
    fn fan_out(
        &mut self,
        shared: &Shared,
        skip: Option<usize>,
        sender_id: &str,
        event_name: &str,
        payload: &RawValue,
        synthetic: bool,
        stale_at: Option<Instant>,
        now: Instant,
    ) {
        self.seq += 1;
        let server_time = shared.clock.at(now);
        shared.log(|| Record::Event {
            room: self.code.clone(),
            seq: self.seq,
            at_ms: server_time,
            sender_id: sender_id.to_owned(),
            event_name: event_name.to_owned(),
            payload: payload.to_owned(),
            synthetic,
        });
        let frame = Frame::event(&RelayedEventRef {
            event_name,
            payload,
            sender_id,
            seq: self.seq,
            server_time,
            synthetic,
        });
        let mut delivered = 0;
        let others = self
            .members
            .iter()
            .enumerate()
            .filter(|&(i, _)| Some(i) != skip);
        for (_, m) in others {
            let out = || Outbound {
                frame: frame.clone(),
                stale_at,
            };
            delivered += u64::from(m.link.deliver(out(), &shared.stats));
            if let Some(lane) = &m.lane {
                lane.deliver(out(), &shared.stats);
            }
        }
        RelayStats::add(&shared.stats.deliveries, delivered);
    }

    /// Makes `lane` the spare lane of member `user_id`, if `token` is that member's lane token;
    /// a lane it had before is closed. Returns the member's message budget, which the lane
    /// shares.
    fn open_lane(
        &mut self,
        shared: &Shared,
        user_id: &str,
        token: &str,
        lane: PeerLink,
    ) -> Result<Arc<Mutex<TokenBucket>>, Refusal> {
        let member = self
            .members
            .iter_mut()
            .find(|m| m.link.id == user_id && passwords_match(&m.lane_token, token))
            .filter(|_| !self.ended)
            .ok_or_else(|| {
                Refusal::new(
                    ErrorCode::Forbidden,
                    "no member of this room has that lane token",
                )
            })?;
        match member.lane.replace(lane) {
            Some(old) => {
                old.control.end(1000, "replaced by a newer lane");
            }
            None => RelayStats::add(&shared.stats.lanes, 1),
        }
        Ok(member.link.limiter.clone())
    }

    /// Forgets the spare lane `lane_id` of member `user_id` (it closed).
    pub(crate) fn close_lane(&mut self, shared: &Shared, user_id: &str, lane_id: &str) {
        let Some(member) = self.members.iter_mut().find(|m| m.link.id == user_id) else {
            return;
        };
        if member.lane.as_ref().is_some_and(|l| l.id == lane_id) {
            member.lane = None;
            RelayStats::sub(&shared.stats.lanes, 1);
        }
    }

    /// Removes a member, releases every note it still sounds (as synthetic events from it) and
    /// tells the others it left. Returns true if the room is now empty.
    fn remove(&mut self, shared: &Shared, id: &str) -> bool {
        let Some(index) = self.members.iter().position(|m| m.link.id == id) else {
            return self.members.is_empty();
        };
        let member = self.members.remove(index);
        RelayStats::sub(&shared.stats.members, 1);
        if let Some(lane) = &member.lane {
            lane.control.end(1000, "the member left the room");
            RelayStats::sub(&shared.stats.lanes, 1);
        }
        let now = Instant::now();
        let timestamp = shared.clock.at(now);
        for (note, _) in member.ledger.sounding() {
            let off = MusicalEvent::PianoNoteOff(PianoNoteOff { note, timestamp });
            self.fan_out(
                shared,
                None,
                id,
                names::PIANO_NOTE_OFF,
                &off.to_payload(),
                true,
                None,
                now,
            );
        }
        if member.ledger.pedal {
            let off = MusicalEvent::Sustain(Sustain {
                on: false,
                timestamp,
            });
            self.fan_out(
                shared,
                None,
                id,
                names::SUSTAIN,
                &off.to_payload(),
                true,
                None,
                now,
            );
        }
        shared.log(|| Record::Left {
            room: self.code.clone(),
            user_id: id.to_owned(),
            at_ms: shared.clock.at(now),
        });
        let left = Frame::message(&ServerMsg::UserLeft(UserLeft {
            user_id: id.to_owned(),
        }));
        for m in &self.members {
            m.link.deliver(
                Outbound {
                    frame: left.clone(),
                    stale_at: None,
                },
                &shared.stats,
            );
        }
        self.members.is_empty()
    }
}

/// The registry of rooms, keyed by code.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    map: Mutex<HashMap<RoomCode, RoomRef>>,
}

impl Rooms {
    fn map(&self) -> MutexGuard<'_, HashMap<RoomCode, RoomRef>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of rooms.
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }
}

impl Shared {
    /// Creates a room with `link` as its host and only member.
    pub(crate) fn create_room(
        &self,
        link: PeerLink,
        name: String,
        password: Option<String>,
        wanted: Option<RoomCode>,
    ) -> Result<RoomRef, Refusal> {
        let mut map = self.rooms.map();
        if map.len() >= self.config.max_rooms {
            return Err(Refusal::new(
                ErrorCode::TooManyRooms,
                format!(
                    "this relay already hosts its maximum of {} rooms; try again later",
                    self.config.max_rooms
                ),
            ));
        }
        let code = match wanted {
            Some(code) if !map.contains_key(&code) => code,
            _ => loop {
                let code = RoomCode::from_random(rand::random());
                if !map.contains_key(&code) {
                    break code;
                }
            },
        };
        let participant = Participant {
            id: link.id.clone(),
            name,
            role: Role::Player,
            is_host: true,
        };
        self.log(|| Record::RoomOpened {
            room: code.clone(),
            at_ms: self.clock.now_ms(),
        });
        let room = Arc::new(Mutex::new(Room {
            code: code.clone(),
            password: password.filter(|p| !p.is_empty()),
            members: Vec::new(),
            seq: 0,
            tempo: None,
            pattern: None,
            host_token: new_secret(),
            failures: TokenBucket::one_per(
                self.config.join_failure_refill(),
                self.config.join_failures_per_room,
                Instant::now(),
            ),
            ended: false,
        }));
        lock(&room).add(self, link, participant, true);
        map.insert(code, room.clone());
        RelayStats::add(&self.stats.rooms, 1);
        Ok(room)
    }

    /// Adds `link` to the room `code`.
    ///
    /// "No such room" and "wrong password" get the same answer, so nobody can learn which
    /// codes exist by trying them. A room whose failure budget is spent refuses joins that
    /// need its password for a while (RATE_LIMITED).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn join_room(
        &self,
        link: PeerLink,
        code: &str,
        name: String,
        role: Role,
        password: Option<&str>,
        host_token: Option<&str>,
    ) -> Result<RoomRef, Refusal> {
        let not_found = || {
            let typed: String = code.trim().chars().take(RoomCode::LEN + 4).collect();
            Refusal::new(
                ErrorCode::RoomNotFound,
                format!(
                    "there is no room \"{typed}\" with that password on this relay — check the invite and the password with the host"
                ),
            )
        };
        let code = RoomCode::parse(code).ok_or_else(not_found)?;
        let map = self.rooms.map();
        let room = map.get(&code).ok_or_else(not_found)?.clone();
        let mut guard = lock(&room);
        let now = Instant::now();
        if let Some(expected) = guard.password.clone() {
            if !guard.failures.has_one(now) {
                return Err(Refusal::new(
                    ErrorCode::RateLimited,
                    "this room is refusing joins for a few seconds after too many wrong passwords — try again soon",
                ));
            }
            if !password.is_some_and(|given| passwords_match(&expected, given)) {
                guard.failures.try_take(now);
                return Err(not_found());
            }
        }
        if guard.members.len() >= self.config.max_room_size {
            return Err(Refusal::new(
                ErrorCode::RoomFull,
                format!("room {code} is full ({} people)", self.config.max_room_size),
            ));
        }
        let is_host = host_token.is_some_and(|t| passwords_match(&guard.host_token, t));
        let participant = Participant {
            id: link.id.clone(),
            name,
            role: if is_host { Role::Player } else { role },
            is_host,
        };
        guard.add(self, link, participant, false);
        drop(guard);
        Ok(room)
    }

    /// Ends the jam: only the room's host may. Every other member is told `session:ended`
    /// and then closed (4000) once the frames before it are written; the host gets the same
    /// message and stays connected, out of the room. The room leaves the registry at once.
    pub(crate) fn end_room(&self, room: &RoomRef, id: &str) -> Result<(), Refusal> {
        let mut map = self.rooms.map();
        let mut guard = lock(room);
        let host = guard
            .members
            .iter()
            .find(|m| m.link.id == id)
            .ok_or_else(|| Refusal::new(ErrorCode::NotInRoom, "you are not in this room"))?;
        if !host.participant.is_host {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "only the host can end the jam; leave it instead",
            ));
        }
        let ended = Frame::message(&ServerMsg::Ended(JamEnded {
            user_id: id.to_owned(),
            name: host.participant.name.clone(),
        }));
        let close = Frame::close(Some(CLOSE_JAM_ENDED), "the host ended the jam");
        guard.ended = true;
        for m in &guard.members {
            let out = |frame: &Frame| Outbound {
                frame: frame.clone(),
                stale_at: None,
            };
            m.link.deliver(out(&ended), &self.stats);
            if m.link.id != id {
                m.link.deliver(out(&close), &self.stats);
            }
        }
        guard.remove(self, id);
        let code = guard.code.clone();
        drop(guard);
        if map.get(&code).is_some_and(|r| Arc::ptr_eq(r, room)) {
            map.remove(&code);
            RelayStats::sub(&self.stats.rooms, 1);
            RelayStats::add(&self.stats.rooms_ended, 1);
            self.log(|| Record::RoomClosed {
                room: code.clone(),
                at_ms: self.clock.now_ms(),
            });
            tracing::info!(room = %code, host = %id, "room closed: the host ended the jam");
        }
        Ok(())
    }

    /// Makes `lane` the spare lane of member `user_id` in room `code` (see [`Room::open_lane`]).
    /// A room that doesn't exist gets the same answer as a wrong token.
    pub(crate) fn open_lane(
        &self,
        code: &str,
        user_id: &str,
        token: &str,
        lane: PeerLink,
    ) -> Result<(RoomRef, RoomCode, Arc<Mutex<TokenBucket>>), Refusal> {
        let refused = || {
            Refusal::new(
                ErrorCode::Forbidden,
                "no member of this room has that lane token",
            )
        };
        let code = RoomCode::parse(code).ok_or_else(refused)?;
        let room = self.rooms.map().get(&code).cloned().ok_or_else(refused)?;
        let limiter = lock(&room).open_lane(self, user_id, token, lane)?;
        Ok((room, code, limiter))
    }

    /// Takes member `id` out of `room`; the room is removed when nobody is left.
    pub(crate) fn leave_room(&self, room: &RoomRef, id: &str) {
        let mut map = self.rooms.map();
        let mut guard = lock(room);
        if guard.remove(self, id) {
            let code = guard.code.clone();
            drop(guard);
            if map.get(&code).is_some_and(|r| Arc::ptr_eq(r, room)) {
                map.remove(&code);
                RelayStats::sub(&self.stats.rooms, 1);
                self.log(|| Record::RoomClosed {
                    room: code.clone(),
                    at_ms: self.clock.now_ms(),
                });
                tracing::info!(room = %code, "room closed: everyone left");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note_on(note: u8) -> MusicalEvent {
        MusicalEvent::PianoNote(PianoNote {
            note,
            velocity: 90,
            timestamp: 0.0,
            duration: None,
        })
    }
    fn note_off(note: u8) -> MusicalEvent {
        MusicalEvent::PianoNoteOff(PianoNoteOff {
            note,
            timestamp: 0.0,
        })
    }
    fn pedal(on: bool) -> MusicalEvent {
        MusicalEvent::Sustain(Sustain { on, timestamp: 0.0 })
    }

    #[test]
    fn ledger_follows_keys_and_pedal() {
        let mut l = NoteLedger::default();
        l.apply(&note_on(60));
        l.apply(&note_on(64));
        l.apply(&pedal(true));
        l.apply(&note_off(60));
        assert_eq!(
            l.sounding().map(|(n, _)| n).collect::<Vec<_>>(),
            [60, 64],
            "pedal holds 60"
        );
        assert!(l.releases_held(Some(&pedal(false))));
        l.apply(&pedal(false));
        assert_eq!(
            l.sounding().map(|(n, _)| n).collect::<Vec<_>>(),
            [64],
            "64 is still down"
        );
        assert!(l.releases_held(Some(&note_off(64))));
        assert!(!l.releases_held(Some(&note_off(65))), "65 is not held");
        l.apply(&note_off(64));
        assert_eq!(l.sounding().count(), 0);
        assert!(!l.releases_held(Some(&pedal(false))), "pedal is already up");
    }

    #[test]
    fn notes_with_a_duration_are_not_held() {
        let mut l = NoteLedger::default();
        l.apply(&MusicalEvent::PianoNote(PianoNote {
            note: 127,
            velocity: 1,
            timestamp: 0.0,
            duration: Some(200.0),
        }));
        assert_eq!(l.sounding().count(), 0);
        l.apply(&note_on(127));
        assert_eq!(l.sounding().collect::<Vec<_>>(), [(127, 90)]);
    }

    #[test]
    fn password_comparison() {
        assert!(passwords_match("secret", "secret"));
        assert!(!passwords_match("secret", "secreT"));
        assert!(!passwords_match("secret", "secre"));
    }
}
