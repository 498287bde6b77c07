//! Jamwire's desktop app (Tauri v2). The layer is thin: [`commands`] adapt the UI's calls to the
//! crates, [`jam`] runs the room (session, embedded relay, remote notes → engine and UI over an
//! `ipc::Channel`), [`groove`] turns the shared tempo and pattern into hits at relay times,
//! [`midi`] plays MIDI keyboards, [`settings`] remembers choices between launches.
//!
//! Threads: Tauri's main (UI) thread; the tokio runtime (commands, the room task, the groove
//! scheduler, the embedded relay); the audio callback thread (`jam-audio`'s renderer, real-time
//! safe); the MIDI thread.

mod commands;
mod error;
mod groove;
mod jam;
mod midi;
mod settings;
mod state;

use std::sync::{Arc, Mutex};

use jam_audio::output::OutputConfig;
use jam_session::Speaker;
use tauri::Manager;

use crate::groove::{Groove, Pattern, Tempo};
use crate::jam::Timeline;
use crate::midi::MidiState;
use crate::settings::Settings;
use crate::state::AppState;

/// Runs the app until its window closes.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tao=warn,wry=warn".into()),
        )
        .init();
    tauri::Builder::default()
        .setup(|app| {
            let settings_path = app.path().app_config_dir()?.join("settings.json");
            let data_dir = app.path().app_data_dir()?;
            let takes_path = data_dir.join("takes.sqlite");
            let recorder = std::fs::create_dir_all(&data_dir)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    jam_takes::Recorder::start(&takes_path, jam_takes::DEFAULT_QUEUE)
                        .map_err(|e| e.to_string())
                })
                .inspect_err(|e| tracing::warn!(error = %e, "takes won't be recorded"));
            let (recorder, recorder_thread) = match recorder {
                Ok((recorder, thread)) => (Ok(recorder), Some(thread)),
                Err(e) => (Err(e), None),
            };
            let settings = Settings::load(&settings_path);
            let output = OutputConfig {
                device: (!settings.audio_device.is_empty()).then(|| settings.audio_device.clone()),
                buffer_frames: settings.buffer_frames,
                ..OutputConfig::default()
            };
            let speaker = Arc::new(Mutex::new(Speaker::open(&output)));
            let groove = Groove::new(Tempo::default(), Pattern::default(), settings.click);
            let groove = Arc::new(Mutex::new(groove));
            let timeline = Arc::new(Mutex::new(Timeline::Local));
            let midi = Arc::new(Mutex::new(MidiState::open(&settings.midi_inputs)));
            tauri::async_runtime::spawn(jam::run_groove(
                speaker.clone(),
                groove.clone(),
                timeline.clone(),
            ));
            app.manage(AppState {
                speaker,
                groove,
                timeline,
                jam: tokio::sync::Mutex::new(None),
                sender: Mutex::new(None),
                settings: Mutex::new(settings),
                settings_path,
                midi: midi.clone(),
                takes_path,
                recorder,
                recorder_thread: Mutex::new(recorder_thread),
            });
            midi::spawn(app.handle().clone(), midi);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::startup,
            commands::host_jam,
            commands::join_jam,
            commands::leave_jam,
            commands::retry_now,
            commands::play,
            commands::set_tempo,
            commands::set_pattern,
            commands::set_click,
            commands::send_chat,
            commands::set_volume,
            commands::clock_now,
            commands::set_audio,
            commands::set_midi_input,
            commands::midi_status,
            commands::set_playout,
            commands::remember,
            commands::list_takes,
            commands::take_details,
            commands::export_take,
            commands::delete_take,
            commands::replay_take,
            commands::relay_figures,
        ])
        .build(tauri::generate_context!())
        .expect("Jamwire couldn't open its window")
        .run(|app, event| {
            if let tauri::RunEvent::Exit = event {
                // Store the last moments of a recorded jam before going.
                let state = app.state::<AppState>();
                if let Some(thread) = jam::lock(&state.recorder_thread).take() {
                    thread.finish();
                }
            }
        });
}
