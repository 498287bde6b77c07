//! The commands the UI invokes: thin adapters from the UI's arguments to the crates.
//! Every error crosses to the UI as `{kind, message}` ([`AppError`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use jam_audio::output::{self, OutputConfig};
use jam_protocol::event::{Chat, PatternChange, TempoChange};
use jam_protocol::{MusicalEvent, Role};
use jam_session::{Invite, Session, SessionConfig, Speaker};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::{AppHandle, State, WebviewWindow};

use crate::error::{AppError, Result};
use crate::groove::{Pattern, Tempo};
use crate::jam::{Jam, RoomEvent, RoomTask, Timeline, lock};
use crate::midi::MidiView;
use crate::settings::Settings;
use crate::state::{AppState, PlayInput};

/// Overrides the embedded relay's listening address (e.g. `127.0.0.1:0` for tests, or one
/// interface); by default it listens on every interface at the chosen port.
pub const RELAY_BIND_ENV: &str = "JAMWIRE_RELAY_BIND";

/// The audio output as the footer and settings show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioView {
    /// Device name, when one is open.
    pub device: Option<String>,
    /// Hz.
    pub sample_rate: Option<u32>,
    /// Frames per callback, if the device let us choose.
    pub buffer_frames: Option<u32>,
    /// Why nothing is heard, if nothing is.
    pub error: Option<String>,
    /// Output devices to choose from.
    pub devices: Vec<String>,
}

fn audio_view(speaker: &Speaker) -> AudioView {
    let plan = speaker.plan();
    AudioView {
        device: plan.map(|p| p.device.clone()),
        sample_rate: plan.map(|p| p.sample_rate),
        buffer_frames: plan.and_then(|p| p.buffer_frames),
        error: speaker.silent_reason().map(str::to_owned),
        devices: output::output_devices().unwrap_or_default(),
    }
}

/// Everything the start screen needs.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartupView {
    settings: Settings,
    audio: AudioView,
    midi: MidiView,
    tempo: Tempo,
    pattern: Pattern,
}

#[tauri::command]
pub fn startup(state: State<'_, AppState>) -> StartupView {
    let groove = lock(&state.groove).clone();
    StartupView {
        settings: lock(&state.settings).clone(),
        audio: audio_view(&lock(&state.speaker)),
        midi: lock(&state.midi).view(),
        tempo: groove.tempo,
        pattern: groove.pattern,
    }
}

/// The jam as the room screen needs it after hosting or joining.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JamView {
    /// The room's code.
    room: String,
    /// The invite to copy.
    invite: String,
    /// Every address the host can be reached at (host only).
    addresses: Vec<String>,
    /// We host.
    is_host: bool,
    /// We only listen.
    listener: bool,
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::BadInput(
            "Type your name first — it's how the others see you.".into(),
        ));
    }
    Ok(name.chars().take(32).collect())
}

/// What the Host card sends.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostRequest {
    /// The host's name.
    name: String,
    /// The room's password, if any.
    password: Option<String>,
    /// Port to listen on.
    port: u16,
    /// Record the jam as a take.
    record: bool,
}

/// What the Join card sends.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    /// The player's name.
    name: String,
    /// `jam://HOST:PORT/CODE`.
    invite: String,
    /// Join as a listener.
    listener: bool,
    /// The room's password, if it has one.
    password: Option<String>,
}

/// Starts the embedded relay and creates a room on it.
#[tauri::command]
pub async fn host_jam(
    app: AppHandle,
    window: WebviewWindow,
    state: State<'_, AppState>,
    request: HostRequest,
    on_event: Channel<RoomEvent>,
) -> Result<JamView> {
    let HostRequest {
        name,
        password,
        port,
        record,
    } = request;
    let name = check_name(&name)?;
    let mut jam = state.jam.lock().await;
    if jam.is_some() {
        return Err(AppError::AlreadyInJam);
    }
    let bind: SocketAddr = match std::env::var(RELAY_BIND_ENV) {
        Ok(addr) => addr.parse().map_err(|_| AppError::Host {
            address: addr.clone(),
            detail: format!("{RELAY_BIND_ENV} isn't an address like 0.0.0.0:7878"),
        })?,
        Err(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
    };
    let recorder = if record {
        Some(state.recorder.clone().map_err(AppError::Takes)?)
    } else {
        None
    };
    // The embedded relay serves this one room: only this app knows its creation key.
    let relay_config = jam_relay::RelayConfig::embedded();
    let create_key = relay_config.create_key.clone();
    let relay = jam_relay::start_recording(bind, relay_config, recorder)
        .await
        .map_err(|e| AppError::Host {
            address: bind.to_string(),
            detail: match &e {
                jam_relay::RelayError::Bind { source, .. }
                    if source.kind() == std::io::ErrorKind::AddrInUse =>
                {
                    format!(
                        "port {} is already in use — is Jamwire already hosting? Pick another port.",
                        bind.port()
                    )
                }
                other => other.to_string(),
            },
        })?;
    let port = relay.local_addr().port();
    let local = if bind.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    } else {
        relay.local_addr()
    };
    let password = password.filter(|p| !p.is_empty());
    let mut config = SessionConfig::host(&local.to_string(), &name);
    config.password = password;
    config.create_key = create_key;
    config.playout = lock(&state.settings).playout_mode();
    let session = match Session::connect(config).await {
        Ok(session) => session,
        Err(e) => {
            let _ = relay.stop().await;
            return Err(e.into());
        }
    };
    let addresses = reachable_addresses(bind.ip(), port);
    let invite = Invite {
        address: addresses
            .first()
            .cloned()
            .unwrap_or_else(|| local.to_string()),
        room: session.room().clone(),
    }
    .to_string();
    let view = JamView {
        room: session.room().to_string(),
        invite: invite.clone(),
        addresses,
        is_host: true,
        listener: false,
    };
    let _ = state.update_settings(|s| {
        s.name.clone_from(&name);
        s.record_takes = record;
        s.host_port = if std::env::var(RELAY_BIND_ENV).is_ok() {
            s.host_port
        } else {
            port
        };
    });
    *jam = Some(enter(
        &app,
        &window,
        &state,
        session,
        Some(relay),
        Role::Player,
        invite,
        view.addresses.clone(),
        on_event,
    ));
    // The room starts with the tempo and pattern this player set up alone.
    let groove = lock(&state.groove).clone();
    share_groove(&state, &groove.tempo, &groove.pattern);
    Ok(view)
}

/// Joins the room of an invite.
#[tauri::command]
pub async fn join_jam(
    app: AppHandle,
    window: WebviewWindow,
    state: State<'_, AppState>,
    request: JoinRequest,
    on_event: Channel<RoomEvent>,
) -> Result<JamView> {
    let JoinRequest {
        name,
        invite,
        listener,
        password,
    } = request;
    let name = check_name(&name)?;
    let parsed = Invite::parse(&invite)?;
    let mut jam = state.jam.lock().await;
    if jam.is_some() {
        return Err(AppError::AlreadyInJam);
    }
    let role = if listener {
        Role::Listener
    } else {
        Role::Player
    };
    let mut config = SessionConfig::join(&parsed, &name);
    config.role = role;
    config.password = password.filter(|p| !p.is_empty());
    config.playout = lock(&state.settings).playout_mode();
    let session = Session::connect(config).await?;
    let invite = parsed.to_string();
    let view = JamView {
        room: session.room().to_string(),
        invite: invite.clone(),
        addresses: Vec::new(),
        is_host: false,
        listener,
    };
    let _ = state.update_settings(|s| {
        s.name.clone_from(&name);
        s.last_invite.clone_from(&invite);
    });
    *jam = Some(enter(
        &app,
        &window,
        &state,
        session,
        None,
        role,
        invite,
        Vec::new(),
        on_event,
    ));
    Ok(view)
}

#[allow(clippy::too_many_arguments)]
fn enter(
    app: &AppHandle,
    window: &WebviewWindow,
    state: &AppState,
    session: Session,
    relay: Option<jam_relay::RelayHandle>,
    role: Role,
    invite: String,
    addresses: Vec<String>,
    on_event: Channel<RoomEvent>,
) -> Jam {
    let handle = session.handle();
    *lock(&state.sender) = Some((handle.clone(), role));
    *lock(&state.timeline) = Timeline::Relay(handle.clone());
    let _ = window.set_title(&format!("Jamwire — {}", session.room()));
    let task = tauri::async_runtime::spawn(
        RoomTask {
            app: app.clone(),
            session,
            speaker: state.speaker.clone(),
            groove: state.groove.clone(),
            events: on_event,
        }
        .run(),
    );
    Jam {
        session: handle,
        relay,
        role,
        invite,
        addresses,
        task,
    }
}

/// Leaves the jam (and stops hosting).
#[tauri::command]
pub async fn leave_jam(window: WebviewWindow, state: State<'_, AppState>) -> Result<()> {
    let Some(jam) = state.jam.lock().await.take() else {
        return Ok(());
    };
    *lock(&state.sender) = None;
    *lock(&state.timeline) = Timeline::Local;
    if jam.relay.is_some() {
        // End the jam for everyone (`session:end`): the relay tells the guests, so their apps
        // return to the start screen instead of trying to reconnect to a relay going away.
        jam.session.end_jam().await;
    }
    jam.session.leave().await;
    let _ = jam.task.await;
    if let Some(relay) = jam.relay {
        // The relay has closed the room and queued "ended" for every guest; stopping writes
        // out what is queued before it closes each connection.
        let _ = relay.stop().await;
    }
    let _ = window.set_title("Jamwire");
    tracing::info!(invite = %jam.invite, role = ?jam.role, addresses = ?jam.addresses, "left the jam");
    Ok(())
}

/// While reconnecting: try again now instead of waiting.
#[tauri::command]
pub async fn retry_now(state: State<'_, AppState>) -> Result<()> {
    if let Some(jam) = state.jam.lock().await.as_ref() {
        jam.session.retry_now();
    }
    Ok(())
}

/// Where guests can reach a relay listening on `ip:port`: that address if it is a specific one,
/// otherwise every IPv4 address of this machine, loopback last.
fn reachable_addresses(ip: IpAddr, port: u16) -> Vec<String> {
    if !ip.is_unspecified() {
        return vec![SocketAddr::new(ip, port).to_string()];
    }
    let mut addresses: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| {
            ifs.into_iter()
                .map(|i| i.ip())
                .filter(|ip| ip.is_ipv4() && !ip.is_loopback())
                .collect()
        })
        .unwrap_or_default();
    addresses.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    addresses
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port).to_string())
        .collect()
}

/// A key, pad or pedal: sounds at once here, and goes to the room.
#[tauri::command]
pub fn play(state: State<'_, AppState>, input: PlayInput) -> Result<()> {
    state.perform(input)
}

fn share_groove(state: &AppState, tempo: &Tempo, pattern: &Pattern) {
    let now = state.now_ms();
    let _ = state.share(&MusicalEvent::TempoChange(TempoChange {
        bpm: tempo.bpm,
        beats_per_bar: tempo.beats_per_bar,
        timestamp: tempo.anchor_ms,
    }));
    if let Ok(steps) = serde_json::to_value(pattern) {
        let _ = state.share(&MusicalEvent::PatternChange(PatternChange {
            pattern_id: "main".into(),
            bpm: None,
            steps,
            timestamp: now,
        }));
    }
}

/// Changes the shared tempo. The new tempo's beat 0 is the next beat of the old one, so the
/// beat goes on without a jump.
#[tauri::command]
pub fn set_tempo(state: State<'_, AppState>, bpm: f64, beats_per_bar: u8) -> Result<Tempo> {
    let now = state.now_ms();
    let tempo = {
        let groove = lock(&state.groove);
        let old = groove.tempo;
        let beat_ms = 60_000.0 / old.bpm;
        let next_beat = old.anchor_ms + ((now - old.anchor_ms) / beat_ms).ceil() * beat_ms;
        Tempo {
            bpm,
            beats_per_bar,
            anchor_ms: next_beat,
        }
    };
    state.share(&MusicalEvent::TempoChange(TempoChange {
        bpm,
        beats_per_bar,
        timestamp: tempo.anchor_ms,
    }))?;
    lock(&state.groove).tempo = tempo;
    Ok(tempo)
}

/// Changes the shared pattern (steps, start/stop).
#[tauri::command]
pub fn set_pattern(state: State<'_, AppState>, pattern: Pattern) -> Result<()> {
    if !pattern.is_valid() {
        return Err(AppError::BadInput(
            "That pattern isn't 16 steps of known drums.".into(),
        ));
    }
    let steps = serde_json::to_value(&pattern).map_err(|e| AppError::BadInput(e.to_string()))?;
    state.share(&MusicalEvent::PatternChange(PatternChange {
        pattern_id: "main".into(),
        bpm: None,
        steps,
        timestamp: state.now_ms(),
    }))?;
    lock(&state.groove).pattern = pattern;
    Ok(())
}

/// Turns the local metronome click on or off (not shared).
#[tauri::command]
pub fn set_click(state: State<'_, AppState>, on: bool) -> Result<()> {
    lock(&state.groove).click = on;
    state.update_settings(|s| s.click = on)?;
    Ok(())
}

/// Sends a chat line.
#[tauri::command]
pub fn send_chat(state: State<'_, AppState>, text: String) -> Result<()> {
    let text = text.trim().to_owned();
    if text.is_empty() {
        return Ok(());
    }
    state.share(&MusicalEvent::Chat(Chat { text }))
}

/// A participant's volume (0–2) and mute, remembered by name.
#[tauri::command]
pub fn set_volume(
    state: State<'_, AppState>,
    participant_id: String,
    name: String,
    gain: f32,
    muted: bool,
) -> Result<()> {
    lock(&state.speaker).set_volume(&participant_id, gain, muted);
    state.update_settings(|s| {
        s.volumes.insert(name, gain.clamp(0.0, 2.0));
    })?;
    Ok(())
}

/// The shared clock and tempo, for the beat indicator and the sequencer's playhead.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockView {
    now_ms: f64,
    tempo: Tempo,
}

#[tauri::command]
pub fn clock_now(state: State<'_, AppState>) -> ClockView {
    ClockView {
        now_ms: state.now_ms(),
        tempo: lock(&state.groove).tempo,
    }
}

/// Chooses the audio output and its buffer, and remembers them.
#[tauri::command]
pub fn set_audio(
    state: State<'_, AppState>,
    device: String,
    buffer_frames: u32,
) -> Result<AudioView> {
    if !(32..=4096).contains(&buffer_frames) {
        return Err(AppError::BadInput(
            "The buffer must be between 32 and 4096 frames.".into(),
        ));
    }
    let config = OutputConfig {
        device: (!device.is_empty()).then(|| device.clone()),
        buffer_frames,
        ..OutputConfig::default()
    };
    let mut speaker = lock(&state.speaker);
    speaker.close();
    *speaker = Speaker::open(&config);
    let view = audio_view(&speaker);
    drop(speaker);
    state.update_settings(|s| {
        s.audio_device = device;
        s.buffer_frames = buffer_frames;
    })?;
    if let Some(error) = &view.error {
        return Err(AppError::Audio(format!(
            "No sound from that output: {error}"
        )));
    }
    Ok(view)
}

/// Chooses (or drops) a MIDI input, and remembers the choice.
#[tauri::command]
pub fn set_midi_input(state: State<'_, AppState>, name: String, chosen: bool) -> Result<MidiView> {
    let mut midi = lock(&state.midi);
    if let Some(inputs) = &mut midi.inputs {
        if chosen {
            inputs.connect(&name)?;
        } else {
            inputs.disconnect(&name);
        }
    }
    let view = midi.view();
    let remembered = midi
        .inputs
        .as_ref()
        .map(|i| i.remembered().to_vec())
        .unwrap_or_default();
    drop(midi);
    state.update_settings(|s| s.midi_inputs = remembered)?;
    Ok(view)
}

/// The MIDI inputs now.
#[tauri::command]
pub fn midi_status(state: State<'_, AppState>) -> MidiView {
    lock(&state.midi).view()
}

/// Chooses how remote notes are placed in time, and remembers it.
#[tauri::command]
pub async fn set_playout(
    state: State<'_, AppState>,
    mode: String,
    fixed_delay_ms: f64,
) -> Result<()> {
    if !matches!(mode.as_str(), "tight" | "fixed" | "live") {
        return Err(AppError::BadInput(format!("unknown playout mode {mode:?}")));
    }
    let settings = state.update_settings(|s| {
        s.playout = mode;
        s.fixed_delay_ms = fixed_delay_ms;
    })?;
    if let Some(jam) = state.jam.lock().await.as_ref() {
        jam.session.set_playout(settings.playout_mode());
    }
    Ok(())
}

/// Saves the name (and the last invite) as they are typed.
#[tauri::command]
pub fn remember(state: State<'_, AppState>, name: String, last_invite: String) -> Result<()> {
    state.update_settings(|s| {
        s.name = name.chars().take(32).collect();
        s.last_invite = last_invite;
    })?;
    Ok(())
}

/// A take as the list shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TakeView {
    id: i64,
    room: String,
    started_ms: f64,
    duration_ms: f64,
    participants: Vec<String>,
    event_count: u64,
}

fn takes(state: &AppState) -> Result<jam_takes::TakeStore> {
    Ok(jam_takes::TakeStore::open(&state.takes_path)?)
}

/// The takes recorded on this computer, newest first.
#[tauri::command]
pub fn list_takes(state: State<'_, AppState>) -> Result<Vec<TakeView>> {
    if !state.takes_path.exists() {
        return Ok(Vec::new());
    }
    Ok(takes(&state)?
        .sessions()?
        .into_iter()
        .map(|t| TakeView {
            id: t.id,
            room: t.room,
            started_ms: t.started_ms,
            duration_ms: t.duration_ms,
            participants: t.participants,
            event_count: t.event_count,
        })
        .collect())
}

/// Writes take `id` as a MIDI file into the user's Music folder (or Downloads, or the app's
/// data folder) and returns its path.
#[tauri::command]
pub fn export_take(app: AppHandle, state: State<'_, AppState>, id: i64) -> Result<String> {
    use tauri::Manager;
    let store = takes(&state)?;
    let take = store.session(id)?;
    let bytes = jam_takes::export::to_smf(&store, id)?;
    let dir = [
        app.path().audio_dir(),
        app.path().download_dir(),
        app.path().app_data_dir(),
    ]
    .into_iter()
    .flatten()
    .find(|d| std::fs::create_dir_all(d).is_ok())
    .ok_or_else(|| AppError::Takes("there is no folder to write the MIDI file to".into()))?;
    let path = dir.join(format!("jamwire-{}-take-{}.mid", take.room, take.id));
    std::fs::write(&path, bytes)
        .map_err(|e| AppError::Takes(format!("couldn't write {}: {e}", path.display())))?;
    Ok(path.display().to_string())
}

/// Someone in a take, for its details.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TakePlayerView {
    name: String,
    role: String,
    joined_ms: f64,
    left_ms: Option<f64>,
    /// Notes, pedal and other events they sent (not the relay's releases for them).
    events: u64,
}

/// Who played in take `id`: everyone, in order of arrival, with how much they played.
#[tauri::command]
pub fn take_details(state: State<'_, AppState>, id: i64) -> Result<Vec<TakePlayerView>> {
    let store = takes(&state)?;
    let events = store.events(id)?;
    Ok(store
        .participants(id)?
        .into_iter()
        .map(|p| TakePlayerView {
            events: events
                .iter()
                .filter(|e| e.sender_id == p.user_id && !e.synthetic)
                .count() as u64,
            name: p.name,
            role: p.role,
            joined_ms: p.joined_ms,
            left_ms: p.left_ms,
        })
        .collect())
}

/// Deletes take `id`.
#[tauri::command]
pub fn delete_take(state: State<'_, AppState>, id: i64) -> Result<()> {
    Ok(takes(&state)?.delete(id)?)
}

/// Plays take `id` here, through the local engine, from half a second from now. Returns its
/// length in ms. Events are handed to the engine a little ahead of their time, so a long take
/// never fills the engine's queue.
#[tauri::command]
pub fn replay_take(state: State<'_, AppState>, id: i64) -> Result<f64> {
    const AHEAD: std::time::Duration = std::time::Duration::from_millis(200);
    let timeline = takes(&state)?.timeline(id)?;
    let length_ms = timeline
        .last()
        .map_or(0.0, |e| e.offset().as_secs_f64() * 1_000.0);
    let speaker = state.speaker.clone();
    let start = tokio::time::Instant::now() + std::time::Duration::from_millis(500);
    tauri::async_runtime::spawn(async move {
        for e in timeline {
            let at = start.checked_add(e.offset()).unwrap_or(start);
            tokio::time::sleep_until(at.checked_sub(AHEAD).unwrap_or(at)).await;
            lock(&speaker).play_at(&format!("~take:{}", e.sender_id), at.into_std(), &e.event);
        }
    });
    Ok(length_ms)
}

/// The embedded relay's figures, while hosting.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayFiguresView {
    connections: u64,
    rooms: u64,
    events_in: u64,
    events_out: u64,
    slow_consumers: u64,
    rate_limited: u64,
    recorded: Option<u64>,
    record_dropped: Option<u64>,
}

#[tauri::command]
pub async fn relay_figures(state: State<'_, AppState>) -> Result<Option<RelayFiguresView>> {
    let jam = state.jam.lock().await;
    Ok(jam.as_ref().and_then(|j| j.relay.as_ref()).map(|relay| {
        let metrics = relay.metrics();
        let s = metrics.stats();
        let recorded = metrics.recorded();
        RelayFiguresView {
            connections: s.connections,
            rooms: s.rooms,
            events_in: s.events_in,
            events_out: s.deliveries,
            slow_consumers: s.slow_consumers,
            rate_limited: s.rate_limited,
            recorded: recorded.map(|r| r.0),
            record_dropped: recorded.map(|r| r.1),
        }
    }))
}
