//! The app's managed state: one [`jam_play::Core`], the single owner of the speaker, the groove,
//! the jam, the settings, the MIDI inputs and the takes (its lock order is written in
//! `jam_play::core`). Nothing here holds a lock of its own.

use std::net::SocketAddr;
use std::path::PathBuf;

use jam_audio::output::OutputConfig;
use jam_play::{Core, CoreConfig, Settings, Speaker, Takes};

/// Overrides the embedded relay's listening address (e.g. `127.0.0.1:0` for tests, or one
/// interface); by default it listens on every interface at the chosen port.
pub const RELAY_BIND_ENV: &str = "JAMWIRE_RELAY_BIND";
/// Set (to anything) to play nothing: no audio device is opened (the command tests).
pub const NO_AUDIO_ENV: &str = "JAMWIRE_NO_AUDIO";

/// Everything the commands share.
pub struct AppState {
    /// The app core.
    pub core: Core,
}

/// Where the app keeps its files.
pub struct Paths {
    /// `settings.json`.
    pub settings: PathBuf,
    /// `takes.sqlite`.
    pub takes: PathBuf,
}

impl AppState {
    /// Opens the audio output, the takes, the MIDI inputs and the settings at `paths`.
    pub fn open(paths: &Paths) -> AppState {
        let settings = Settings::load(&paths.settings);
        let speaker = if std::env::var_os(NO_AUDIO_ENV).is_some() {
            Speaker::silent(format!("{NO_AUDIO_ENV} is set"))
        } else {
            Speaker::open(&OutputConfig {
                device: (!settings.audio_device.is_empty()).then(|| settings.audio_device.clone()),
                buffer_frames: settings.buffer_frames,
                ..OutputConfig::default()
            })
        };
        let relay_bind = std::env::var(RELAY_BIND_ENV).ok().and_then(|addr| {
            addr.parse::<SocketAddr>()
                .inspect_err(|_| {
                    tracing::warn!(%addr, "{RELAY_BIND_ENV} isn't an address like 0.0.0.0:7878; ignored");
                })
                .ok()
        });
        let core = Core::start(CoreConfig {
            runtime: tauri::async_runtime::handle().inner().clone(),
            speaker,
            settings_path: Some(paths.settings.clone()),
            takes: Some(Takes::open(&paths.takes)),
            relay_bind,
            midi_inputs: Some(settings.midi_inputs),
            // A private relay's authority comes from JAMWIRE_CA_CERT (read when connecting).
            ca_certs: Vec::new(),
        });
        AppState { core }
    }
}
