//! Rooms: membership, the event sequence, the late-join state and the fan-out.
//!
//! Lock order: the registry ([`Rooms`], in `registry`) before a room, a room before a member's
//! outlet.
//! Broadcasts take only their room's lock, which is never held across an `.await`: delivering
//! is a non-blocking write to the member's socket, or a push into its bounded queue when
//! anything waits before it (`crate::outlet`), so a slow member can never hold up the room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jam_protocol::event::{InstrumentChange, Modulation, PianoNoteOff, PitchBend, Sustain, names};
use jam_protocol::{
    ErrorCode, HeldNote, MemberInstrument, MusicalEvent, Participant, RelayedEventRef, Role,
    RoomCode, RoomState, RoomWelcome, SeqWindow, ServerMsg, UserJoined, UserLeft,
};
use serde_json::value::RawValue;
use tokio::time::Instant;

use jam_takes::Record;

use crate::config::RelayConfig;
use crate::ledger::NoteLedger;
use crate::limiter::TokenBucket;
use crate::link::{PeerLink, take_token};
use crate::outlet::Outbound;
use crate::refusal::Refusal;
use crate::secret::{new_secret, secrets_match};
use crate::stats::RelayStats;
use crate::time::RelayClock;
use crate::wire::Frame;

mod registry;

/// Close code sent to the guests of a room whose host ended the jam.
pub(crate) const CLOSE_JAM_ENDED: u16 = 4000;

/// What a room needs of the relay around it, and no more: its limits, counters, clock and
/// session log. The relay's shared state implements it; rooms depend on nothing above them.
pub(crate) trait RoomEnv {
    /// The relay's limits.
    fn config(&self) -> &RelayConfig;
    /// The relay's counters.
    fn stats(&self) -> &RelayStats;
    /// The source of every `serverTime`.
    fn clock(&self) -> &RelayClock;
    /// True when rooms are recorded into a session log.
    fn recording(&self) -> bool;
    /// Hands a record to the session log, if there is one (never waits).
    fn log(&self, record: impl FnOnce() -> Record);
}

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
    /// The member's last `instrument`, for late joiners.
    instrument: Option<InstrumentChange>,
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
            if m.ledger.pedal() {
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
                instruments: self
                    .members
                    .iter()
                    .filter_map(|m| {
                        let chosen = m.instrument.as_ref()?;
                        Some(MemberInstrument {
                            user_id: m.participant.id.clone(),
                            keys: chosen.keys.clone(),
                            drums: chosen.drums.clone(),
                        })
                    })
                    .collect(),
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

    fn add(&mut self, env: &impl RoomEnv, link: PeerLink, participant: Participant, created: bool) {
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
                env.stats(),
            );
        }
        let id = participant.id.clone();
        env.log(|| Record::Joined {
            room: self.code.clone(),
            user_id: participant.id.clone(),
            name: participant.name.clone(),
            role: participant.role,
            at_ms: env.clock().now_ms(),
        });
        self.members.push(Member {
            link,
            participant,
            ledger: NoteLedger::default(),
            lane_token: new_secret(),
            lane: None,
            client_seqs: SeqWindow::new(),
            instrument: None,
        });
        let welcome = self.welcome(&id, env.clock().now_ms(), env.recording());
        let msg = if created {
            ServerMsg::Created(welcome)
        } else {
            ServerMsg::Joined(welcome)
        };
        // Queued under the room lock, so it precedes every event relayed to the newcomer.
        let me = &self.members[self.members.len() - 1];
        me.link.deliver(Outbound::msg(&msg), env.stats());
        RelayStats::add(&env.stats().members, 1);
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
        env: &impl RoomEnv,
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
            RelayStats::add(&env.stats().lane_copies, 1);
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
            if let MusicalEvent::Instrument(chosen) = event {
                sender.instrument = Some(chosen.clone());
            }
            match event {
                MusicalEvent::TempoChange(_) => self.tempo = Some(payload.to_owned()),
                MusicalEvent::PatternChange(_) => self.pattern = Some(payload.to_owned()),
                _ => {}
            }
        }
        let stale_at = event
            .filter(|e| e.is_note_on())
            .map(|_| now + env.config().stale_note());
        RelayStats::add(&env.stats().events_in, 1);
        self.fan_out(
            env,
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
        env: &impl RoomEnv,
        skip: Option<usize>,
        sender_id: &str,
        event_name: &str,
        payload: &RawValue,
        synthetic: bool,
        stale_at: Option<Instant>,
        now: Instant,
    ) {
        self.seq += 1;
        let server_time = env.clock().at(now);
        env.log(|| Record::Event {
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
            delivered += u64::from(m.link.deliver(out(), env.stats()));
            if let Some(lane) = &m.lane {
                lane.deliver(out(), env.stats());
            }
        }
        RelayStats::add(&env.stats().deliveries, delivered);
    }

    /// Makes `lane` the spare lane of member `user_id`, if `token` is that member's lane token;
    /// a lane it had before is closed. Returns the member's message budget, which the lane
    /// shares.
    fn open_lane(
        &mut self,
        env: &impl RoomEnv,
        user_id: &str,
        token: &str,
        lane: PeerLink,
    ) -> Result<Arc<Mutex<TokenBucket>>, Refusal> {
        let member = self
            .members
            .iter_mut()
            .find(|m| m.link.id == user_id && secrets_match(&m.lane_token, token))
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
            None => RelayStats::add(&env.stats().lanes, 1),
        }
        Ok(member.link.limiter.clone())
    }

    /// Forgets the spare lane `lane_id` of member `user_id` (it closed).
    pub(crate) fn close_lane(&mut self, env: &impl RoomEnv, user_id: &str, lane_id: &str) {
        let Some(member) = self.members.iter_mut().find(|m| m.link.id == user_id) else {
            return;
        };
        if member.lane.as_ref().is_some_and(|l| l.id == lane_id) {
            member.lane = None;
            RelayStats::sub(&env.stats().lanes, 1);
        }
    }

    /// Removes a member, releases every note it still sounds (as synthetic events from it) and
    /// tells the others it left. Returns true if the room is now empty.
    fn remove(&mut self, env: &impl RoomEnv, id: &str) -> bool {
        let Some(index) = self.members.iter().position(|m| m.link.id == id) else {
            return self.members.is_empty();
        };
        let member = self.members.remove(index);
        RelayStats::sub(&env.stats().members, 1);
        if let Some(lane) = &member.lane {
            lane.control.end(1000, "the member left the room");
            RelayStats::sub(&env.stats().lanes, 1);
        }
        let now = Instant::now();
        let timestamp = env.clock().at(now);
        for (note, _) in member.ledger.sounding() {
            let off = MusicalEvent::PianoNoteOff(PianoNoteOff { note, timestamp });
            self.fan_out(
                env,
                None,
                id,
                names::PIANO_NOTE_OFF,
                &off.to_payload(),
                true,
                None,
                now,
            );
        }
        if member.ledger.pedal() {
            let off = MusicalEvent::Sustain(Sustain {
                on: false,
                timestamp,
            });
            self.fan_out(
                env,
                None,
                id,
                names::SUSTAIN,
                &off.to_payload(),
                true,
                None,
                now,
            );
        }
        // Wheels back to rest, so nobody is left bent or wobbling.
        let mut rests = Vec::new();
        if member.ledger.bent() {
            rests.push(MusicalEvent::PitchBend(PitchBend {
                value: 0,
                timestamp,
            }));
        }
        if member.ledger.modulated() {
            rests.push(MusicalEvent::Modulation(Modulation {
                value: 0,
                timestamp,
            }));
        }
        for rest in rests {
            self.fan_out(
                env,
                None,
                id,
                rest.name(),
                &rest.to_payload(),
                true,
                None,
                now,
            );
        }
        env.log(|| Record::Left {
            room: self.code.clone(),
            user_id: id.to_owned(),
            at_ms: env.clock().at(now),
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
                env.stats(),
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
