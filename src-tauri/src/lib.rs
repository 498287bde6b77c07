//! Jamwire's desktop app (Tauri v2): a thin face over the app core, `jam_play::Core`.
//! [`commands`] adapt the UI's calls to it in a few lines each; [`state`] holds the one core;
//! [`error`] turns its errors into `{kind, message}` for the UI.
//!
//! Threads: Tauri's main (UI) thread; the tokio runtime (commands, the core's room, groove and
//! replay tasks, the embedded relay); the audio callback thread (`jam-audio`'s renderer,
//! real-time safe); the MIDI thread.

pub mod commands;
mod error;
pub mod invite;
pub mod state;
pub mod window;

use tauri::{Emitter, Manager, Runtime};

pub use crate::error::AppError;
use crate::state::{AppState, Paths};

/// The app on any Tauri runtime: its commands, and its state made by [`start`] when the app
/// is ready. The real app runs it on Wry ([`run`]); the command tests on Tauri's mock runtime
/// (which never becomes ready, so they call [`start`] themselves).
pub fn app<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .setup(|app| Ok(start(app.handle())?))
        .invoke_handler(tauri::generate_handler![
            commands::jam::host_jam,
            commands::jam::join_jam,
            commands::jam::leave_jam,
            commands::jam::retry_now,
            commands::jam::relay_figures,
            commands::jam::lan_jams,
            commands::play::play,
            commands::play::set_tempo,
            commands::play::set_pattern,
            commands::play::set_click,
            commands::play::set_instrument,
            commands::play::preview_instrument,
            commands::play::set_favourites,
            commands::play::choose_own_sound,
            commands::play::own_sound_presets,
            commands::play::load_own_sound,
            commands::play::play_own_sound,
            commands::play::own_sound,
            commands::play::send_chat,
            commands::play::set_volume,
            commands::play::clock_now,
            commands::settings::startup,
            commands::settings::set_audio,
            commands::settings::set_midi_input,
            commands::settings::midi_status,
            commands::settings::set_playout,
            commands::settings::remember,
            commands::settings::set_port_mapping,
            commands::settings::opened_invite,
            commands::takes::list_takes,
            commands::takes::take_details,
            commands::takes::export_take,
            commands::takes::export_stems,
            commands::settings::set_midi_out,
            commands::settings::midi_out_status,
            commands::settings::play_through,
            commands::takes::delete_take,
            commands::takes::replay_take,
        ])
}

/// Opens the app's state — settings, audio output, takes, MIDI inputs, the core — in the app's
/// own folders, and starts the MIDI thread.
pub fn start<R: Runtime>(app: &tauri::AppHandle<R>) -> tauri::Result<()> {
    let paths = Paths {
        settings: app.path().app_config_dir()?.join("settings.json"),
        takes: app.path().app_data_dir()?.join("takes.sqlite"),
    };
    let state = AppState::open(&paths);
    let handle = app.clone();
    state.core.spawn_midi(move |view| {
        let _ = handle.emit("midi-devices", view);
    });
    let handle = app.clone();
    state.core.browse_lan(move |jams| {
        let _ = handle.emit("lan-jams", jams);
    });
    app.manage(state);
    // Invites that opened the app ([`invite`]): the one it was started with waits for the UI
    // to ask (`opened_invite`); later ones (a second start, handed over by the single-instance
    // plugin) are sent to it.
    if let Some(links) = app.try_state::<tauri_plugin_deep_link::DeepLink<R>>() {
        let started_with = links
            .get_current()
            .ok()
            .flatten()
            .and_then(|urls| urls.into_iter().next());
        if let Some(url) = started_with {
            let opened = invite::open(app, url.as_str());
            app.manage(commands::settings::StartedWith(std::sync::Mutex::new(
                Some(opened),
            )));
        }
        let handle = app.clone();
        links.on_open_url(move |event| {
            for url in event.urls() {
                invite::opened_while_running(&handle, url.as_str());
            }
        });
    }
    Ok(())
}

/// How long quitting waits for the jam to end (guests told, the router's port closed).
const LEAVE_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// What the app does as it exits: end the jam it hosts (its guests are told, the port on the
/// router is closed, the advertisement withdrawn), and store the last moments of a take.
pub fn on_exit<R: Runtime>(app: &tauri::AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let core = state.core.clone();
    let _ = tauri::async_runtime::block_on(tokio::time::timeout(LEAVE_WITHIN, core.leave()));
    if let Ok(takes) = state.core.takes() {
        takes.finish();
    }
}

/// Runs the app until its window closes; `false` if it couldn't open one (the musician has
/// been told why).
pub fn run() -> bool {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tao=warn,wry=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if !window::available() {
        window::tell(&window::webview2_missing());
        return false;
    }
    // The single-instance plugin first: a second start hands its arguments (an invite) to the
    // running instance over the D-Bus session bus and exits before opening anything.
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            // Started again from the menu: the window the musician already has comes forward.
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.set_focus();
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        // The file chooser for my own sound, opened from Rust (`choose_own_sound`): the page
        // itself is given no dialog or file-system permission.
        .plugin(tauri_plugin_dialog::init());
    match app(builder).build(tauri::generate_context!()) {
        Ok(app) => {
            app.run(|app, event| {
                if let tauri::RunEvent::Exit = event {
                    on_exit(app);
                }
            });
            true
        }
        Err(error) => {
            window::tell(&window::failed(&error));
            false
        }
    }
}
