//! One live connection: sending what the app queued (with tail probes), reading what the relay
//! sends, pinging the clock, the spare lane; and what each relay message does.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jam_protocol::event::names;
use jam_protocol::{Broadcast, ClientMsg, MusicalEvent, SeqWindow, ServerMsg};

use crate::probe::TailProbes;
use crate::received::sanitize_participant;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::connect::Ws;

use super::events::{RemoteEvent, SessionEvent};
use super::link::{End, LEARNING_PING_INTERVAL, Link};
use super::shared::Outgoing;

/// How long ending the jam waits for the relay to confirm.
const END_ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// Clock pings sent quickly after every (re)connection, to learn the offset.
const LEARNING_PINGS: u32 = 10;

impl Link {
    /// Serves one connected period.
    pub(super) async fn connected(
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
                let lead_ms = self.shared.output_lead_ms();
                let audible_ms = arrived_ms + lead_ms;
                let play_at_ms = {
                    let mut playout = self.shared.playout();
                    playout.set_output_lead(lead_ms);
                    playout.schedule(&e.sender_id, musical.as_ref(), audible_ms)
                };
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
            ServerMsg::UserJoined(u) => {
                let member = sanitize_participant(u.user);
                self.shared.playout().set_link(&member.id, member.link);
                SessionEvent::UserJoined(member)
            }
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
