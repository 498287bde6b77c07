//! [`Core`]: the one owner of a running Jamwire — the speaker, the groove, the jam, the
//! settings, the MIDI inputs and the takes — behind one cloneable handle. The desktop app's
//! commands and the `jam` tool's subcommands are thin calls into it.
//!
//! Locks, and the only order they are ever taken in:
//! 1. `jam` (async): the jam's lifecycle; held across the network while hosting, joining and
//!    leaving, by nothing else.
//! 2. `stage` (sync): what the real-time paths share — the speaker, the groove and where our
//!    playing goes. Held for microseconds, never across an `.await`, never while opening a
//!    device or decoding.
//! 3. `settings` (sync): a leaf; nothing is taken while it is held. So is `lan`, the jams found
//!    on the network.
//!
//! `midi` is taken alone (its thread drains the inputs, lets go, then plays through `stage`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use jam_audio::output::{self, OutputConfig};
use jam_protocol::event::Chat;
use jam_protocol::{EpochClock, MAX_NAME_CHARS, MusicalEvent, Participant, Pattern, Role};
use jam_relay::RelayHandle;
use jam_session::{Invite, Session, SessionConfig, SessionHandle, Status};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{PlayError, Result};
use crate::groove::{Groove, Tempo};
use crate::midi::MidiState;
use crate::perform::PlayInput;
use crate::room::{RoomSink, RoomTask};
use crate::settings::{MAX_FIXED_DELAY_MS, Settings, Timing};
use crate::speaker::Speaker;
use crate::takes::Takes;
use crate::views::{
    AudioView, ClockView, JamView, JoinRequest, MidiView, RelayFiguresView, StartupView,
};

/// How far ahead the groove is handed to the engine, ms.
const GROOVE_LOOKAHEAD_MS: f64 = 120.0;
/// How often the groove task wakes up.
const GROOVE_TICK: Duration = Duration::from_millis(25);
/// How often the core looks whether the audio output's stream failed (and reopens it).
const AUDIO_CHECK: Duration = Duration::from_millis(500);
/// The furthest back [`Core::perform_at`] stamps an event.
const MAX_PERFORM_AGO: Duration = Duration::from_secs(1);
/// Audio buffers a player may choose, frames.
const BUFFER_FRAMES: std::ops::RangeInclusive<u32> = 32..=4096;

/// Locks a mutex, carrying on after a panic elsewhere (the data stays usable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How to start a [`Core`].
pub struct CoreConfig {
    /// The runtime the core's tasks (room, groove, replay, the embedded relay) run on.
    pub runtime: Handle,
    /// The audio output, or silence.
    pub speaker: Speaker,
    /// Where the settings are remembered; `None` keeps them in memory (the `jam` tool).
    pub settings_path: Option<PathBuf>,
    /// The takes' log, if this face records takes.
    pub takes: Option<Takes>,
    /// When hosting, listen on exactly this address instead of every interface at the port
    /// asked for (`jam host --bind`, `JAMWIRE_RELAY_BIND`).
    pub relay_bind: Option<SocketAddr>,
    /// MIDI inputs to open, by name (remembered ones); `None` opens no MIDI system.
    pub midi_inputs: Option<Vec<String>>,
    /// Certificate authorities to trust for `jams://` relays besides the public ones (PEM
    /// files; `jam --ca-cert`), for a private relay server.
    pub ca_certs: Vec<PathBuf>,
}

/// What the real-time paths share (one lock: see the module's lock order).
pub(crate) struct Stage {
    /// The local engine.
    pub(crate) speaker: Speaker,
    /// Tempo, pattern, click.
    pub(crate) groove: Groove,
    /// Where our playing goes besides the speaker, in a jam.
    pub(crate) link: Option<(SessionHandle, Role)>,
}

impl Stage {
    /// Relay time in a jam, this machine's epoch time outside one, ms.
    pub(crate) fn now_ms(&self) -> f64 {
        match &self.link {
            Some((session, _)) => session.relay_now_ms(),
            None => EpochClock::process().now_ms(),
        }
    }

    /// The local instant of time `ms` on [`Stage::now_ms`]'s clock.
    fn instant_at(&self, ms: f64) -> Instant {
        match &self.link {
            Some((session, _)) => session.instant_at(ms),
            None => EpochClock::process().instant_at(ms),
        }
    }

    /// Sends a non-sounding event (chat, tempo, pattern) to the room, if we are in one.
    pub(crate) fn share(&self, event: &MusicalEvent) -> Result<()> {
        event
            .validate()
            .map_err(|e| PlayError::BadInput(e.to_string()))?;
        match &self.link {
            // The relay refuses anything from a listener, chat included.
            Some((_, Role::Listener)) => Err(PlayError::Listener),
            Some((session, _)) => Ok(session.send(event)?),
            None => Ok(()),
        }
    }
}

/// The jam we are in.
pub(crate) struct Jam {
    /// Sending and the clock.
    pub(crate) session: SessionHandle,
    /// The embedded relay, when we host here.
    pub(crate) relay: Option<RelayHandle>,
    /// The port the router opened for it, when it did.
    pub(crate) mapping: Option<crate::portmap::Mapping>,
    /// Its advertisement on the local network, when it has one.
    pub(crate) advert: Option<Arc<crate::lan::Advert>>,
    /// We host (here or on a relay server): leaving ends the jam for everyone.
    pub(crate) host: bool,
    /// Player or listener.
    pub(crate) role: Role,
    /// The invite, for the log.
    pub(crate) invite: String,
    /// The task that reads the room.
    pub(crate) task: JoinHandle<()>,
}

pub(crate) struct Inner {
    runtime: Handle,
    pub(crate) jam: tokio::sync::Mutex<Option<Jam>>,
    stage: Mutex<Stage>,
    settings: Mutex<Settings>,
    settings_path: Option<PathBuf>,
    midi: Mutex<MidiState>,
    takes: Option<Takes>,
    pub(crate) relay_bind: Option<SocketAddr>,
    pub(crate) ca_certs: Vec<PathBuf>,
    /// Jams found on the local network (a leaf lock, like `settings`).
    lan: Mutex<Vec<crate::lan::LanJamView>>,
}

/// The app core: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Core {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").finish_non_exhaustive()
    }
}

/// A name as the room will show it: trimmed, and refused (with what to do) if it is empty or
/// holds characters the relay refuses.
pub(crate) fn check_name(name: &str) -> Result<String> {
    if name.trim().is_empty() {
        return Err(PlayError::BadInput(
            "Type your name first — it's how the others see you.".into(),
        ));
    }
    let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
    jam_protocol::clean_name(&name)
        .map(str::to_owned)
        .map_err(|e| PlayError::BadInput(format!("That name won't do: {e}.")))
}

impl Core {
    /// Starts the core: loads the settings, opens the MIDI inputs and starts the groove task.
    pub fn start(config: CoreConfig) -> Core {
        let settings = config
            .settings_path
            .as_deref()
            .map(Settings::load)
            .unwrap_or_default();
        let groove = Groove::new(Tempo::default(), Pattern::default(), settings.click);
        let midi = match &config.midi_inputs {
            Some(chosen) => MidiState::open(chosen),
            None => MidiState::disabled(),
        };
        let core = Core {
            inner: Arc::new(Inner {
                runtime: config.runtime,
                jam: tokio::sync::Mutex::new(None),
                stage: Mutex::new(Stage {
                    speaker: config.speaker,
                    groove,
                    link: None,
                }),
                settings: Mutex::new(settings),
                settings_path: config.settings_path,
                midi: Mutex::new(midi),
                takes: config.takes,
                relay_bind: config.relay_bind,
                ca_certs: config.ca_certs,
                lan: Mutex::new(Vec::new()),
            }),
        };
        core.inner.runtime.spawn(core.clone().run_groove());
        core.inner.runtime.spawn(core.clone().watch_audio());
        core
    }

    pub(crate) fn stage(&self) -> MutexGuard<'_, Stage> {
        lock(&self.inner.stage)
    }

    pub(crate) fn midi(&self) -> MutexGuard<'_, MidiState> {
        lock(&self.inner.midi)
    }

    pub(crate) fn runtime(&self) -> &Handle {
        &self.inner.runtime
    }

    /// The takes' log, if this face has one.
    pub fn takes(&self) -> Result<&Takes> {
        self.inner
            .takes
            .as_ref()
            .ok_or_else(|| PlayError::TakesUnavailable("this face keeps no takes".into()))
    }

    // ------------------------------------------------------------------ settings

    /// What is remembered.
    pub fn settings(&self) -> Settings {
        lock(&self.inner.settings).clone()
    }

    /// Changes the settings and saves them (in memory only without a settings file).
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings> {
        let mut settings = lock(&self.inner.settings);
        change(&mut settings);
        if let Some(path) = &self.inner.settings_path {
            settings
                .save(path)
                .map_err(|e| PlayError::Settings(e.to_string()))?;
        }
        Ok(settings.clone())
    }

    /// The remembered gain of each of `participants` that has one other than 1, by id.
    pub(crate) fn saved_volumes(&self, participants: &[Participant]) -> Vec<(String, f32)> {
        let settings = lock(&self.inner.settings);
        participants
            .iter()
            .filter_map(|p| {
                let gain = *settings.volumes.get(&p.name)?;
                (gain != 1.0).then(|| (p.id.clone(), gain))
            })
            .collect()
    }

    /// Saves the name (and the last invite) as they are typed.
    pub fn remember(&self, name: &str, last_invite: &str) -> Result<()> {
        self.update_settings(|s| {
            s.name = name.chars().take(MAX_NAME_CHARS).collect();
            s.last_invite = last_invite.to_owned();
        })?;
        Ok(())
    }

    /// Reads an invite link from outside the app (a clicked `jam://` link, `jamwire jam://…`)
    /// and remembers a good one as the last invite, so the Join form opens with it; the name
    /// stays as it was. A bad link changes nothing and says why.
    pub fn open_link(&self, link: &str) -> crate::link::OpenedInvite {
        let opened = crate::link::read(link);
        match &opened.invite {
            Some(invite) => {
                if let Err(e) = self.update_settings(|s| s.last_invite.clone_from(invite)) {
                    tracing::warn!(error = %e, "couldn't remember the opened invite");
                }
                tracing::info!(%invite, "invite opened");
            }
            None => tracing::warn!(problem = ?opened.problem, "a link that isn't an invite"),
        }
        opened
    }

    /// Everything the start screen needs.
    pub fn startup(&self) -> StartupView {
        let (tempo, pattern) = {
            let stage = self.stage();
            (stage.groove.tempo, stage.groove.pattern.clone())
        };
        StartupView {
            settings: self.settings(),
            audio: self.audio(),
            midi: self.midi_view(),
            tempo,
            pattern,
            lan_jams: self.lan_jams(),
            about: crate::views::AboutView::current(),
        }
    }

    // ------------------------------------------------------------------ the jam

    /// Joins the room of an invite; the room's events go to `sink`.
    pub async fn join(&self, request: JoinRequest, sink: impl RoomSink) -> Result<JamView> {
        let name = check_name(&request.name)?;
        let invite = Invite::parse(&request.invite)?;
        let mut jam = self.inner.jam.lock().await;
        if jam.is_some() {
            return Err(PlayError::AlreadyInJam);
        }
        let role = if request.listener {
            Role::Listener
        } else {
            Role::Player
        };
        let mut config = SessionConfig::join(&invite, &name);
        config.role = role;
        config.password = request.password.filter(|p| !p.is_empty());
        config.playout = self.settings().playout_mode();
        config.ca_certs.clone_from(&self.inner.ca_certs);
        let session = Session::connect(config).await?;
        let browser_link = invite.browser_link();
        let invite = invite.to_string();
        let view = JamView {
            room: session.room().to_string(),
            invite: invite.clone(),
            browser_link,
            addresses: Vec::new(),
            is_host: false,
            listener: request.listener,
            reach: None,
        };
        let _ = self.update_settings(|s| {
            s.name.clone_from(&name);
            s.last_invite.clone_from(&invite);
        });
        *jam = Some(self.enter(session, None, role, invite, sink, None));
        tracing::info!(invite = %view.invite, ?role, "joined");
        Ok(view)
    }

    pub(crate) fn enter(
        &self,
        session: Session,
        relay: Option<RelayHandle>,
        role: Role,
        invite: String,
        sink: impl RoomSink,
        advert: Option<Arc<crate::lan::Advert>>,
    ) -> Jam {
        let handle = session.handle();
        self.stage().link = Some((handle.clone(), role));
        let task = self.inner.runtime.spawn(
            RoomTask {
                core: self.clone(),
                session,
                sink,
                advert: advert.clone(),
            }
            .run(),
        );
        Jam {
            session: handle,
            host: relay.is_some(),
            relay,
            mapping: None,
            advert,
            role,
            invite,
            task,
        }
    }

    /// The session ended by itself (the host ended the jam, the room refused us): our playing
    /// stays here, on this machine's clock, until the jam is left.
    pub(crate) fn session_ended(&self, session: &SessionHandle) {
        let mut stage = self.stage();
        if stage
            .link
            .as_ref()
            .is_some_and(|(s, _)| s.user_id() == session.user_id() && s.room() == session.room())
        {
            stage.link = None;
        }
    }

    /// Leaves the jam; as its host, ends it for everyone and stops the relay. Returns once
    /// everything has stopped (at once when not in a jam).
    pub async fn leave(&self) -> Result<()> {
        let Some(jam) = self.inner.jam.lock().await.take() else {
            return Ok(());
        };
        self.stage().link = None;
        if jam.host {
            // End the jam for everyone (`session:end`): the relay tells the guests, so they
            // return to their start screen instead of trying to reconnect to a relay going away.
            jam.session.end_jam().await;
        }
        jam.session.leave().await;
        let _ = jam.task.await;
        if let Some(relay) = jam.relay {
            // The relay has closed the room and queued "ended" for every guest; stopping writes
            // out what is queued before it closes each connection.
            let _ = relay.stop().await;
        }
        if let Some(mapping) = jam.mapping {
            mapping.close().await;
        }
        if let Some(advert) = jam.advert.and_then(Arc::into_inner) {
            advert.stop();
        }
        tracing::info!(invite = %jam.invite, role = ?jam.role, "left the jam");
        Ok(())
    }

    /// The jam's connection status, to await (`None` when not in a jam).
    pub fn status(&self) -> Option<watch::Receiver<Status>> {
        self.stage().link.as_ref().map(|(s, _)| s.status())
    }

    /// While reconnecting: try again now instead of waiting.
    pub fn retry_now(&self) {
        if let Some((session, _)) = &self.stage().link {
            session.retry_now();
        }
    }

    /// The embedded relay's figures, while hosting.
    pub async fn relay_figures(&self) -> Option<RelayFiguresView> {
        let jam = self.inner.jam.lock().await;
        let relay = jam.as_ref()?.relay.as_ref()?;
        let metrics = relay.metrics();
        let s = metrics.stats();
        let recorded = metrics.recorded();
        Some(RelayFiguresView {
            connections: s.connections,
            rooms: s.rooms,
            events_in: s.events_in,
            events_out: s.deliveries,
            slow_consumers: s.slow_consumers,
            rate_limited: s.rate_limited,
            recorded: recorded.map(|r| r.0),
            record_dropped: recorded.map(|r| r.1),
        })
    }

    // ------------------------------------------------------------------ playing

    /// Plays something of ours: at once on the local engine, and to the room in parallel.
    pub fn perform(&self, input: PlayInput) -> Result<()> {
        self.perform_at(input, Instant::now())
    }

    /// [`Core::perform`] for something played at `played_at`, a moment ago (a MIDI file's
    /// note at its due time, a device's timestamp): the event is stamped with that moment, so
    /// that a delay between playing and sending (a busy thread, a channel) is not sent on as
    /// a change of rhythm. A moment in the future counts as now; one more than a second ago,
    /// as a second ago.
    pub fn perform_at(&self, input: PlayInput, played_at: Instant) -> Result<()> {
        let mut stage = self.stage();
        if matches!(stage.link, Some((_, Role::Listener))) {
            return Err(PlayError::Listener);
        }
        let ago_ms = played_at.elapsed().min(MAX_PERFORM_AGO).as_secs_f64() * 1_000.0;
        let Some(event) = input.to_event(stage.now_ms() - ago_ms)? else {
            return Ok(());
        };
        stage.speaker.play_local(&event);
        if let Some((session, _)) = &stage.link {
            session.send(&event)?;
        }
        Ok(())
    }

    /// Changes the shared tempo; the new tempo starts on the next beat of the old one.
    pub fn set_tempo(&self, bpm: f64, beats_per_bar: u8) -> Result<Tempo> {
        let mut stage = self.stage();
        let tempo = stage
            .groove
            .tempo
            .changed_at(stage.now_ms(), bpm, beats_per_bar);
        stage.share(&MusicalEvent::TempoChange(tempo.to_change()))?;
        stage.groove.tempo = tempo;
        Ok(tempo)
    }

    /// Changes the shared pattern (steps, start and stop).
    pub fn set_pattern(&self, pattern: Pattern) -> Result<()> {
        if !pattern.is_valid() {
            return Err(PlayError::BadInput(
                "That pattern isn't 16 steps of known drums.".into(),
            ));
        }
        let mut stage = self.stage();
        let change = pattern.to_change(stage.now_ms());
        stage.share(&MusicalEvent::PatternChange(change))?;
        stage.groove.pattern = pattern;
        Ok(())
    }

    /// Turns this player's metronome click on or off (not shared), and remembers it.
    pub fn set_click(&self, on: bool) -> Result<()> {
        self.stage().groove.click = on;
        self.update_settings(|s| s.click = on)?;
        Ok(())
    }

    /// Sends a chat line (nothing for an empty one).
    pub fn send_chat(&self, text: &str) -> Result<()> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        self.stage().share(&MusicalEvent::Chat(Chat {
            text: text.to_owned(),
        }))
    }

    /// A participant's volume (linear gain 0–2) and mute; the gain is remembered by name.
    pub fn set_volume(
        &self,
        participant_id: &str,
        name: &str,
        gain: f32,
        muted: bool,
    ) -> Result<()> {
        if !gain.is_finite() || !(0.0..=2.0).contains(&gain) {
            return Err(PlayError::BadInput(
                "A volume is between 0 and 200 %.".into(),
            ));
        }
        self.stage().speaker.set_volume(participant_id, gain, muted);
        self.update_settings(|s| {
            s.volumes.insert(name.to_owned(), gain);
        })?;
        Ok(())
    }

    /// The shared clock and tempo.
    pub fn clock(&self) -> ClockView {
        let stage = self.stage();
        ClockView {
            now_ms: stage.now_ms(),
            tempo: stage.groove.tempo,
        }
    }

    /// Chooses how others' notes are placed in time, and remembers it.
    pub fn set_playout(&self, timing: Timing, fixed_delay_ms: f64) -> Result<()> {
        if !fixed_delay_ms.is_finite() || !(0.0..=MAX_FIXED_DELAY_MS).contains(&fixed_delay_ms) {
            return Err(PlayError::BadInput(format!(
                "The fixed delay is between 0 and {MAX_FIXED_DELAY_MS} ms."
            )));
        }
        let settings = self.update_settings(|s| {
            s.playout = timing;
            s.fixed_delay_ms = fixed_delay_ms;
        })?;
        if let Some((session, _)) = &self.stage().link {
            session.set_playout(settings.playout_mode());
        }
        Ok(())
    }

    // ------------------------------------------------------------------ audio

    /// The audio output now.
    pub fn audio(&self) -> AudioView {
        let (device, sample_rate, buffer_frames, error) = {
            let stage = self.stage();
            let plan = stage.speaker.plan();
            (
                plan.map(|p| p.device.clone()),
                plan.map(|p| p.sample_rate),
                plan.and_then(|p| p.buffer_frames),
                stage.speaker.silent_reason().map(str::to_owned),
            )
        };
        AudioView {
            device,
            sample_rate,
            buffer_frames,
            error,
            devices: output::output_devices().unwrap_or_default(),
        }
    }

    /// Plays through another output (`""` = the system default) with another buffer, and
    /// remembers the choice. The samples are not decoded again; the stage is locked only to
    /// swap engines. If the new output can't be opened, the previous one is opened again and
    /// nothing is remembered.
    pub fn set_audio(&self, device: &str, buffer_frames: u32) -> Result<AudioView> {
        if !BUFFER_FRAMES.contains(&buffer_frames) {
            return Err(PlayError::BadInput(format!(
                "The buffer must be between {} and {} frames.",
                BUFFER_FRAMES.start(),
                BUFFER_FRAMES.end()
            )));
        }
        let config = OutputConfig {
            device: (!device.is_empty()).then(|| device.to_owned()),
            buffer_frames,
            ..OutputConfig::default()
        };
        let (bank, previous) = {
            let stage = self.stage();
            (stage.speaker.bank(), stage.speaker.config().clone())
        };
        let Some(bank) = bank else {
            let reason = self.audio().error.unwrap_or_default();
            return Err(PlayError::Audio(reason));
        };
        // Close the old device first: some (ALSA hardware) can't be opened twice.
        let old = self
            .stage()
            .speaker
            .replace_output(Err("switching outputs".into()), previous.clone());
        drop(old);
        match Speaker::open_output(&bank, &config) {
            Ok(opened) => {
                drop(self.stage().speaker.replace_output(Ok(opened), config));
                self.update_settings(|s| {
                    s.audio_device = device.to_owned();
                    s.buffer_frames = buffer_frames;
                })?;
                Ok(self.audio())
            }
            Err(reason) => {
                let back = Speaker::open_output(&bank, &previous);
                drop(self.stage().speaker.replace_output(back, previous));
                Err(PlayError::Audio(reason))
            }
        }
    }

    // ------------------------------------------------------------------ the local network

    /// Starts looking for jams on the local network (mDNS); `on_change` hears the whole list
    /// whenever it changes. Runs for as long as the runtime does.
    pub fn browse_lan(&self, on_change: impl Fn(Vec<crate::lan::LanJamView>) + Send + 'static) {
        let core = self.clone();
        self.inner.runtime.spawn(crate::lan::browse(move |jams| {
            lock(&core.inner.lan).clone_from(&jams);
            on_change(jams);
        }));
    }

    /// The jams found on the local network so far.
    pub fn lan_jams(&self) -> Vec<crate::lan::LanJamView> {
        lock(&self.inner.lan).clone()
    }

    // ------------------------------------------------------------------ MIDI

    /// The MIDI inputs now.
    pub fn midi_view(&self) -> MidiView {
        self.midi().view()
    }

    /// Chooses (or drops) a MIDI input, and remembers the choice.
    pub fn set_midi_input(&self, name: &str, chosen: bool) -> Result<MidiView> {
        let (view, remembered) = {
            let mut midi = self.midi();
            midi.choose(name, chosen)?;
            (midi.view(), midi.remembered())
        };
        self.update_settings(|s| s.midi_inputs = remembered)?;
        Ok(view)
    }

    // ------------------------------------------------------------------ the groove

    /// Hands the metronome and the sequencer to the engine a little ahead of time, for as long
    /// as the runtime runs. The engine places each hit at its exact frame.
    /// Reopens the audio output whenever its stream fails (a device unplugged and back, a sound
    /// server restarted, a broken stream): checked every [`AUDIO_CHECK`], the new output opened
    /// off the lock. Everyone's volume and mute carry over; what was ringing is cut.
    async fn watch_audio(self) {
        let mut tick = tokio::time::interval(AUDIO_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The output to reopen, while it can't be (its device is still away): tried every tick.
        let mut reopening: Option<OutputConfig> = None;
        loop {
            tick.tick().await;
            let (old, bank, config) = {
                let mut stage = self.stage();
                if stage.speaker.plan().is_some() && !stage.speaker.output_failed() {
                    reopening = None; // playing (perhaps on a device chosen meanwhile)
                    continue;
                }
                let (old, config) = match (&reopening, stage.speaker.output_failed()) {
                    (_, true) => {
                        let config = stage.speaker.config().clone();
                        let old = stage.speaker.replace_output(
                            Err("the audio output failed; reopening it".into()),
                            config.clone(),
                        );
                        (old, config)
                    }
                    (Some(config), false) => (None, config.clone()),
                    (None, false) => continue, // silent on purpose, or switching devices
                };
                (old, stage.speaker.bank(), config)
            };
            let Some(bank) = bank else { continue };
            let opening = config.clone();
            let opened = tokio::task::spawn_blocking(move || {
                drop(old);
                Speaker::open_output(&bank, &opening)
            })
            .await;
            let mut stage = self.stage();
            if stage.speaker.plan().is_some() {
                continue; // another output was chosen meanwhile: ours is dropped
            }
            match opened {
                Ok(Ok(output)) => {
                    tracing::info!("audio output reopened");
                    reopening = None;
                    let previous = stage.speaker.replace_output(Ok(output), config);
                    drop(stage);
                    drop(previous);
                }
                Ok(Err(reason)) => {
                    if reopening.is_none() {
                        tracing::warn!(%reason, "couldn't reopen the audio output; trying again");
                    }
                    reopening = Some(config);
                }
                Err(e) => tracing::warn!(error = %e, "reopening the audio output panicked"),
            }
        }
    }

    async fn run_groove(self) {
        let mut tick = tokio::time::interval(GROOVE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let mut stage = self.stage();
            let now = stage.now_ms();
            let hits = stage.groove.due(now, GROOVE_LOOKAHEAD_MS);
            for hit in hits {
                let at = stage.instant_at(hit.at_ms);
                let who = if hit.click {
                    "~metronome"
                } else {
                    "~sequencer"
                };
                let hit = MusicalEvent::DrumHit(jam_protocol::event::DrumHit {
                    note: hit.note,
                    velocity: hit.velocity,
                    timestamp: hit.at_ms,
                });
                stage.speaker.play_at(who, at, &hit);
            }
        }
    }
}
