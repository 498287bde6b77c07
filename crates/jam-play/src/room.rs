//! Being in a room: the task that reads the session, plays what the room plays, keeps the
//! groove in step, and tells a UI what happened as typed [`RoomEvent`]s. A UI never reads a
//! protocol payload: every event here was parsed and range-checked by `jam-session` first.

use std::collections::HashMap;
use std::time::Duration;

use jam_protocol::event::names;
use jam_protocol::{HeldNote, MemberInstrument, MusicalEvent, Participant, Pattern};
use jam_session::{Session, SessionEvent, SessionHandle};
use serde::Serialize;

use crate::groove::Tempo;
use crate::perform::PlayInput;
use crate::settings::SettingsStore;
use crate::stage::StageHandle;
use crate::views::{ParticipantFigures, StatusView};

/// How often timing figures go to the UI.
const FIGURES_EVERY: Duration = Duration::from_secs(1);

/// What the room tells a UI.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RoomEvent {
    /// Joined or re-joined: replace the room view.
    #[serde(rename_all = "camelCase")]
    Joined {
        /// Our own id in the room.
        user_id: String,
        /// The room's code.
        room: String,
        /// Everyone in the room, us included, in order of arrival.
        participants: Vec<Participant>,
        /// Piano notes others hold now.
        held_notes: Vec<HeldNote>,
        /// The room's tempo.
        tempo: Tempo,
        /// The room's pattern.
        pattern: Pattern,
        /// The host records this jam.
        recording: bool,
        /// The sounds of those who chose theirs (the others play the grand piano and the
        /// standard kit).
        instruments: Vec<MemberInstrument>,
    },
    /// Someone arrived.
    UserJoined {
        /// Who.
        participant: Participant,
    },
    /// Someone left.
    #[serde(rename_all = "camelCase")]
    UserLeft {
        /// Who.
        user_id: String,
    },
    /// Someone played a note, a drum or the pedal.
    #[serde(rename_all = "camelCase")]
    Played {
        /// Who.
        sender_id: String,
        /// What, as the same input our own playing is.
        input: PlayInput,
        /// A piano note that releases itself after this many ms.
        duration_ms: Option<f64>,
        /// In how many ms it sounds here (light the key then).
        in_ms: f64,
        /// When they played it, relay time, ms (their timestamp if believable).
        at_ms: f64,
        /// A release the relay made for someone who left.
        synthetic: bool,
    },
    /// Someone changed the tempo.
    #[serde(rename_all = "camelCase")]
    TempoChanged {
        /// Who.
        sender_id: String,
        /// The new tempo.
        tempo: Tempo,
        /// When, relay time, ms.
        at_ms: f64,
    },
    /// Someone changed the pattern (or started or stopped the sequencer).
    #[serde(rename_all = "camelCase")]
    PatternChanged {
        /// Who.
        sender_id: String,
        /// The new pattern.
        pattern: Pattern,
    },
    /// Someone chose their sounds.
    #[serde(rename_all = "camelCase")]
    InstrumentChanged {
        /// Who.
        sender_id: String,
        /// Their keys sound (an id of the palette).
        keys: String,
        /// Their kit.
        drums: String,
    },
    /// A chat line (plain text: never show it as markup).
    #[serde(rename_all = "camelCase")]
    Chat {
        /// Who.
        sender_id: String,
        /// What they wrote.
        text: String,
    },
    /// Timing figures, once a second.
    #[serde(rename_all = "camelCase")]
    Figures {
        /// Round trip to the relay, ms.
        rtt_ms: Option<f64>,
        /// Per remote participant.
        participants: Vec<ParticipantFigures>,
    },
    /// The connection's state changed.
    Status {
        /// The new state.
        status: StatusView,
    },
}

/// Where a room's events go: the desktop app's IPC channel, the `jam` tool's console, a take.
pub trait RoomSink: Send + Sync + 'static {
    /// One event. Called from the room task: return quickly, never block.
    fn send(&self, event: RoomEvent);
}

impl<F: Fn(RoomEvent) + Send + Sync + 'static> RoomSink for F {
    fn send(&self, event: RoomEvent) {
        self(event);
    }
}

impl<T: RoomSink> RoomSink for std::sync::Arc<T> {
    fn send(&self, event: RoomEvent) {
        T::send(self, event);
    }
}

/// A welcome's stored tempo or pattern payload, read as the event `name` it was sent as.
fn state_event(payload: Option<&serde_json::value::RawValue>, name: &str) -> Option<MusicalEvent> {
    MusicalEvent::parse(name, payload?).ok().flatten()
}

/// The task that reads one session until it ends.
pub(crate) struct RoomTask<S> {
    /// Where the room plays.
    pub(crate) stage: StageHandle,
    /// Each player's remembered volume.
    pub(crate) settings: std::sync::Arc<SettingsStore>,
    pub(crate) session: Session,
    pub(crate) sink: S,
    /// The jam's advertisement on the network (hosting here): kept told how many are in.
    pub(crate) advert: Option<std::sync::Arc<crate::lan::Advert>>,
    /// Welcomes seen so far (the first is the join, the others rejoins).
    pub(crate) rejoins: u32,
}

/// Tells the room we are in what our sounds are, unless they are the defaults (which need no
/// word: the room plays the grand piano and the standard kit for whoever said nothing).
pub(crate) fn tell_our_sound(stage: &mut crate::stage::Stage, settings: &SettingsStore) {
    let ours = settings.get().instrument_change();
    let defaults = ours.keys == jam_protocol::instrument::DEFAULT_MELODIC
        && ours.drums == jam_protocol::instrument::DEFAULT_KIT;
    if defaults {
        return;
    }
    match stage.share(&MusicalEvent::Instrument(ours)) {
        Ok(()) | Err(crate::error::PlayError::Listener) => {}
        Err(e) => tracing::warn!(error = %e, "couldn't tell the room our sound"),
    }
}

impl<S: RoomSink> RoomTask<S> {
    /// Plays and reports what the room does until the session ends.
    pub(crate) async fn run(mut self) {
        let handle = self.session.handle();
        handle.set_output_lead_ms(self.stage.lock().speaker.output_lead().as_secs_f64() * 1_000.0);
        let mut status = self.session.status();
        let mut figures = tokio::time::interval(FIGURES_EVERY);
        figures.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut members: Vec<String> = Vec::new();
        // The status closes when the session ends, possibly before every event it received has
        // been read: the loop ends only when the events do, so nothing received is lost.
        let mut status_open = true;
        // How many others the advertisement last said were in the room.
        let mut advertised: Option<usize> = None;
        loop {
            tokio::select! {
                event = self.session.next_event() => {
                    let Some(event) = event else { break };
                    self.handle(&handle, &mut members, event);
                    if let Some(advert) = &self.advert
                        && advertised != Some(members.len())
                    {
                        advertised = Some(members.len());
                        advert.set_players(members.len() + 1);
                    }
                }
                changed = status.changed(), if status_open => {
                    if changed.is_err() {
                        status_open = false;
                        continue;
                    }
                    let status = StatusView::from(&*status.borrow_and_update());
                    self.sink.send(RoomEvent::Status { status });
                }
                _ = figures.tick() => {
                    let participants = members
                        .iter()
                        .filter_map(|id| handle.figures(id).map(|f| ParticipantFigures {
                            id: id.clone(),
                            delay_ms: f.delay_ms,
                            one_way_ms: f.one_way_ms,
                            jitter_ms: f.jitter_ms,
                            events_per_s: f.events_per_s,
                        }))
                        .collect();
                    self.sink.send(RoomEvent::Figures { rtt_ms: handle.rtt_ms(), participants });
                }
            }
        }
        // The last word: why it ended (the watch may have changed after the events stopped).
        let status = StatusView::from(&*status.borrow());
        let midi_out = {
            let mut stage = self.stage.lock();
            stage.unlink(&handle);
            stage.midi_out.take()
        };
        // Outside the lock: stopping releases every held note and joins its thread.
        drop(midi_out);
        self.sink.send(RoomEvent::Status { status });
    }

    fn handle(&mut self, handle: &SessionHandle, members: &mut Vec<String>, event: SessionEvent) {
        match event {
            SessionEvent::Joined(welcome) => {
                // Parsed and range-checked like any event (the session has already dropped a
                // state out of bounds); anything else leaves the defaults.
                let tempo = match state_event(welcome.state.tempo.as_deref(), names::TEMPO_CHANGE) {
                    Some(MusicalEvent::TempoChange(t)) => Tempo::from(&t),
                    _ => Tempo::default(),
                };
                let pattern =
                    match state_event(welcome.state.pattern.as_deref(), names::PATTERN_CHANGE) {
                        Some(MusicalEvent::PatternChange(p)) => {
                            Pattern::from_change(&p).unwrap_or_default()
                        }
                        _ => Pattern::default(),
                    };
                let volumes = self.settings.saved_volumes(&welcome.participants);
                {
                    let mut stage = self.stage.lock();
                    stage.speaker.apply_state(&welcome);
                    if let Some(midi) = &stage.midi_out {
                        // A note-off may have been missed while we were away.
                        for id in members.iter() {
                            midi.release(id);
                        }
                        for p in welcome.participants.iter().filter(|p| {
                            p.id != welcome.user_id && p.role == jam_protocol::Role::Player
                        }) {
                            midi.player(&p.id, &p.name);
                        }
                    }
                    stage.groove.tempo = tempo;
                    stage.groove.pattern = pattern.clone();
                    for (id, gain) in &volumes {
                        stage.speaker.set_volume(id, *gain, false);
                    }
                    // The room forgot our sounds when we dropped out: tell it again (the first
                    // time, `Jams::enter` did, before anything we played).
                    if self.rejoins > 0 {
                        tell_our_sound(&mut stage, &self.settings);
                    }
                }
                self.rejoins += 1;
                members.clear();
                members.extend(
                    welcome
                        .participants
                        .iter()
                        .filter(|p| p.id != welcome.user_id)
                        .map(|p| p.id.clone()),
                );
                self.sink.send(RoomEvent::Joined {
                    user_id: welcome.user_id,
                    room: welcome.room_code,
                    participants: welcome.participants,
                    held_notes: welcome.state.held_notes,
                    tempo,
                    pattern,
                    recording: welcome.recording,
                    instruments: welcome.state.instruments,
                });
            }
            SessionEvent::UserJoined(participant) => {
                let volumes = self
                    .settings
                    .saved_volumes(std::slice::from_ref(&participant));
                if !volumes.is_empty() {
                    let mut stage = self.stage.lock();
                    for (id, gain) in &volumes {
                        stage.speaker.set_volume(id, *gain, false);
                    }
                }
                if participant.role == jam_protocol::Role::Player {
                    if let Some(midi) = &self.stage.lock().midi_out {
                        midi.player(&participant.id, &participant.name);
                    }
                }
                members.retain(|m| *m != participant.id);
                members.push(participant.id.clone());
                self.sink.send(RoomEvent::UserJoined { participant });
            }
            SessionEvent::UserLeft(user_id) => {
                {
                    let mut stage = self.stage.lock();
                    stage.speaker.forget(&user_id);
                    if let Some(midi) = &stage.midi_out {
                        midi.release(&user_id);
                    }
                }
                members.retain(|m| *m != user_id);
                self.sink.send(RoomEvent::UserLeft { user_id });
            }
            SessionEvent::Remote(remote) => {
                let Some(event) = remote.event else {
                    // Not of our vocabulary: relayed, never looked at.
                    return;
                };
                let at = handle.instant_at(remote.play_at_ms);
                {
                    let mut stage = self.stage.lock();
                    stage.speaker.play_at(&remote.sender_id, at, &event);
                    if let Some(midi) = &stage.midi_out {
                        midi.play_at(&remote.sender_id, at, &event);
                    }
                    // For the next events: the output's lead only grows once known.
                    handle.set_output_lead_ms(stage.speaker.output_lead().as_secs_f64() * 1_000.0);
                    match &event {
                        MusicalEvent::TempoChange(t) => stage.groove.tempo = Tempo::from(t),
                        MusicalEvent::PatternChange(p) => {
                            if let Some(pattern) = Pattern::from_change(p) {
                                stage.groove.pattern = pattern;
                            }
                        }
                        _ => {}
                    }
                }
                let at_ms = jam_takes::event_time_ms(&event, remote.arrived_ms);
                let sender_id = remote.sender_id;
                let reported = match &event {
                    MusicalEvent::TempoChange(t) => Some(RoomEvent::TempoChanged {
                        sender_id,
                        tempo: Tempo::from(t),
                        at_ms,
                    }),
                    MusicalEvent::PatternChange(p) => Pattern::from_change(p)
                        .map(|pattern| RoomEvent::PatternChanged { sender_id, pattern }),
                    MusicalEvent::Instrument(c) => Some(RoomEvent::InstrumentChanged {
                        sender_id,
                        keys: c.keys.clone(),
                        drums: c.drums.clone(),
                    }),
                    MusicalEvent::Chat(c) => Some(RoomEvent::Chat {
                        sender_id,
                        text: c.text.clone(),
                    }),
                    other => {
                        PlayInput::from_event(other).map(|(input, duration_ms)| RoomEvent::Played {
                            sender_id,
                            input,
                            duration_ms,
                            in_ms: (remote.play_at_ms - handle.relay_now_ms()).max(0.0),
                            at_ms,
                            synthetic: remote.synthetic,
                        })
                    }
                };
                if let Some(reported) = reported {
                    self.sink.send(reported);
                }
            }
        }
    }
}

/// The room's events in order, for code that reads them one by one (the `jam` tool, tests):
/// a sink with a bounded queue. A full queue drops the event and counts it (the room task never
/// waits), except the final status, which always has room: the queue keeps one slot for it.
pub fn channel(capacity: usize) -> (ChannelSink, tokio::sync::mpsc::Receiver<RoomEvent>) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(2));
    (
        ChannelSink {
            tx,
            dropped: Default::default(),
        },
        rx,
    )
}

/// The sending side of [`channel`].
#[derive(Debug)]
pub struct ChannelSink {
    tx: tokio::sync::mpsc::Sender<RoomEvent>,
    dropped: std::sync::atomic::AtomicU64,
}

impl ChannelSink {
    /// Events dropped because the reader fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl RoomSink for ChannelSink {
    fn send(&self, event: RoomEvent) {
        let ended = matches!(&event, RoomEvent::Status { status } if status.state == crate::views::ConnectionState::Ended);
        let kept = if ended || self.tx.capacity() > 1 {
            self.tx.try_send(event).is_ok()
        } else {
            false
        };
        if !kept {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Who is who in a room, by id, from its events (for naming senders).
#[derive(Debug, Default, Clone)]
pub struct Names(HashMap<String, String>);

impl Names {
    /// Learns from one event.
    pub fn learn(&mut self, event: &RoomEvent) {
        match event {
            RoomEvent::Joined { participants, .. } => {
                for p in participants {
                    self.0.insert(p.id.clone(), p.name.clone());
                }
            }
            RoomEvent::UserJoined { participant } => {
                self.0
                    .insert(participant.id.clone(), participant.name.clone());
            }
            _ => {}
        }
    }

    /// The name of `id`, or the id itself if we never heard it.
    pub fn of<'a>(&'a self, id: &'a str) -> &'a str {
        self.0.get(id).map_or(id, String::as_str)
    }
}
