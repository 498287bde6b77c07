//! The registry of rooms: creating, joining, ending and leaving them, and opening a member's
//! spare lane. Lock order: the registry before a room.

use std::sync::{Arc, Mutex};

use jam_protocol::{ErrorCode, JamEnded, LinkFigures, Participant, Role, RoomCode, ServerMsg};
use jam_takes::Record;
use tokio::time::Instant;

use super::{CLOSE_JAM_ENDED, Room, RoomEnv, RoomRef, Rooms, lock};
use crate::limiter::TokenBucket;
use crate::link::PeerLink;
use crate::outlet::Outbound;
use crate::refusal::Refusal;
use crate::secret::{new_secret, secrets_match};
use crate::stats::RelayStats;
use crate::wire::Frame;

impl Rooms {
    /// Creates a room with `link` as its host and only member.
    pub(crate) fn create(
        &self,
        env: &impl RoomEnv,
        link: PeerLink,
        name: String,
        password: Option<String>,
        wanted: Option<RoomCode>,
        figures: Option<LinkFigures>,
    ) -> Result<RoomRef, Refusal> {
        let mut map = self.map();
        if map.len() >= env.config().max_rooms {
            return Err(Refusal::new(
                ErrorCode::TooManyRooms,
                format!(
                    "this relay already hosts its maximum of {} rooms; try again later",
                    env.config().max_rooms
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
            link: figures.and_then(LinkFigures::checked),
        };
        env.log(|| Record::RoomOpened {
            room: code.clone(),
            at_ms: env.clock().now_ms(),
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
                env.config().join_failure_refill(),
                env.config().join_failures_per_room,
                Instant::now(),
            ),
            ended: false,
        }));
        lock(&room).add(env, link, participant, true);
        map.insert(code, room.clone());
        RelayStats::add(&env.stats().rooms, 1);
        Ok(room)
    }

    /// Adds `link` to the room `code`.
    ///
    /// "No such room" and "wrong password" get the same answer, so nobody can learn which
    /// codes exist by trying them. A room whose failure budget is spent refuses joins that
    /// need its password for a while (RATE_LIMITED).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn join(
        &self,
        env: &impl RoomEnv,
        link: PeerLink,
        code: &str,
        name: String,
        role: Role,
        password: Option<&str>,
        host_token: Option<&str>,
        figures: Option<LinkFigures>,
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
        let map = self.map();
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
            if !password.is_some_and(|given| secrets_match(&expected, given)) {
                guard.failures.try_take(now);
                return Err(not_found());
            }
        }
        if guard.members.len() >= env.config().max_room_size {
            return Err(Refusal::new(
                ErrorCode::RoomFull,
                format!(
                    "room {code} is full ({} people)",
                    env.config().max_room_size
                ),
            ));
        }
        let is_host = host_token.is_some_and(|t| secrets_match(&guard.host_token, t));
        let participant = Participant {
            id: link.id.clone(),
            name,
            role: if is_host { Role::Player } else { role },
            is_host,
            link: figures.and_then(LinkFigures::checked),
        };
        guard.add(env, link, participant, false);
        drop(guard);
        Ok(room)
    }

    /// Ends the jam: only the room's host may. Every other member is told `session:ended`
    /// and then closed (4000) once the frames before it are written; the host gets the same
    /// message and stays connected, out of the room. The room leaves the registry at once.
    pub(crate) fn end(&self, env: &impl RoomEnv, room: &RoomRef, id: &str) -> Result<(), Refusal> {
        let mut map = self.map();
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
            m.link.deliver(out(&ended), env.stats());
            if m.link.id != id {
                m.link.deliver(out(&close), env.stats());
            }
        }
        guard.remove(env, id);
        let code = guard.code.clone();
        drop(guard);
        if map.get(&code).is_some_and(|r| Arc::ptr_eq(r, room)) {
            map.remove(&code);
            RelayStats::sub(&env.stats().rooms, 1);
            RelayStats::add(&env.stats().rooms_ended, 1);
            env.log(|| Record::RoomClosed {
                room: code.clone(),
                at_ms: env.clock().now_ms(),
            });
            tracing::info!(room = %code, host = %id, "room closed: the host ended the jam");
        }
        Ok(())
    }

    /// Makes `lane` the spare lane of member `user_id` in room `code` (see [`Room::open_lane`]).
    /// A room that doesn't exist gets the same answer as a wrong token.
    pub(crate) fn open_lane(
        &self,
        env: &impl RoomEnv,
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
        let room = self.map().get(&code).cloned().ok_or_else(refused)?;
        let limiter = lock(&room).open_lane(env, user_id, token, lane)?;
        Ok((room, code, limiter))
    }

    /// Takes member `id` out of `room`; the room is removed when nobody is left.
    pub(crate) fn leave(&self, env: &impl RoomEnv, room: &RoomRef, id: &str) {
        let mut map = self.map();
        let mut guard = lock(room);
        if guard.remove(env, id) {
            let code = guard.code.clone();
            drop(guard);
            if map.get(&code).is_some_and(|r| Arc::ptr_eq(r, room)) {
                map.remove(&code);
                RelayStats::sub(&env.stats().rooms, 1);
                env.log(|| Record::RoomClosed {
                    room: code.clone(),
                    at_ms: env.clock().now_ms(),
                });
                tracing::info!(room = %code, "room closed: everyone left");
            }
        }
    }
}
