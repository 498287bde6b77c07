//! What each client message does on its connection: create, join, open a spare lane, leave,
//! end the jam, answer a clock ping, and relay a broadcast into the room.

use jam_protocol::event::{MAX_EVENT_NAME_BYTES, MAX_UNKNOWN_EVENT_BYTES};
use jam_protocol::{
    BroadcastRef, ClientFrame, ClientMsg, ClockPong, CreateRoom, ErrorCode, JoinRoom, LaneOpen,
    MAX_PASSWORD_BYTES, MAX_TOKEN_BYTES, MusicalEvent, RoomCode, ServerMsg,
};
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::connection::{Connection, Membership};
use crate::link::take_token;
use crate::refusal::Refusal;
use crate::room::{Sent, lock};
use crate::secret::secrets_match;
use crate::stats::RelayStats;

/// Close code for a connection that failed to join too often.
pub(crate) const CLOSE_JOIN_FAILURES: u16 = 4003;

impl Connection {
    /// Reads one text frame, which arrived at `now`.
    pub(super) fn on_text(&mut self, text: &str, now: Instant) {
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
        let room = self.shared.rooms.create(
            &*self.shared,
            self.link.clone(),
            name.clone(),
            password,
            wanted,
            create.link,
        )?;
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
        self.address_may_try("too many failed joins from your address — wait a minute")?;
        let opened = self.shared.rooms.open_lane(
            &*self.shared,
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
        self.address_may_try(
            "too many failed joins from your address — wait a minute, then check the invite",
        )?;
        let joined = self.shared.rooms.join(
            &*self.shared,
            self.link.clone(),
            &join.room_code,
            name.clone(),
            join.role,
            join.password.as_deref(),
            join.host_token.as_deref(),
            join.link,
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

    /// Refuses a join (or a lane) while the client's address has no failed joins left.
    fn address_may_try(&self, refusal: &'static str) -> Result<(), Refusal> {
        match self.ip {
            Some(ip) if !self.shared.ips.may_try_join(ip) => {
                Err(Refusal::new(ErrorCode::RateLimited, refusal))
            }
            _ => Ok(()),
        }
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
        self.shared
            .rooms
            .end(&*self.shared, &member.room, &self.link.id)?;
        self.room = None;
        self.outside_since = Some(Instant::now());
        self.cursor.clear();
        Ok(())
    }

    fn on_leave(&mut self) -> Result<(), Refusal> {
        let member = self
            .room
            .take()
            .ok_or_else(|| Refusal::new(ErrorCode::NotInRoom, "you are not in a room"))?;
        self.cursor.clear();
        self.outside_since = Some(Instant::now());
        self.shared
            .rooms
            .leave(&*self.shared, &member.room, &self.link.id);
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

    pub(super) fn relay(
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
        let result = lock(&member.room).broadcast(&*self.shared, sender, &sent, now);
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

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Keys ").unwrap(), "Keys");
        assert!(clean_name("   ").is_err());
        assert!(clean_name(&"x".repeat(33)).is_err());
        assert!(clean_name("a\u{7}b").is_err());
        assert_eq!(clean_name(&"é".repeat(32)).unwrap().chars().count(), 32);
    }
}
