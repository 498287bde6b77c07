//! Takes: every jam this player hosted.

use jam_play::views::{TakePlayerView, TakeView};
use tauri::{AppHandle, Manager, Runtime, State};

use crate::error::Result;
use crate::state::AppState;

/// The takes recorded on this computer, newest first.
#[tauri::command]
pub fn list_takes(state: State<'_, AppState>) -> Result<Vec<TakeView>> {
    Ok(state.core.takes()?.list()?)
}

/// Who played in take `id`.
#[tauri::command]
pub fn take_details(state: State<'_, AppState>, id: i64) -> Result<Vec<TakePlayerView>> {
    Ok(state.core.takes()?.details(id)?)
}

/// Writes take `id` as a MIDI file into the Music folder (or Downloads, or the app's data
/// folder) and returns its path.
#[tauri::command]
pub fn export_take<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: i64,
) -> Result<String> {
    let file = state.core.takes()?.export_into(id, &export_folders(&app))?;
    Ok(file.display().to_string())
}

/// Writes take `id` as stems for a DAW (a WAV per player, the mix and the MIDI file, all from
/// the take's start) into a folder in the Music folder (or Downloads, or the app's data
/// folder) and returns the folder's path. Renders for seconds, off the UI's thread.
#[tauri::command]
pub async fn export_stems<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: i64,
) -> Result<String> {
    let folders = export_folders(&app);
    let core = state.core.clone();
    let dir = tauri::async_runtime::spawn_blocking(move || core.export_stems(id, &folders))
        .await
        .map_err(crate::error::AppError::App)??;
    Ok(dir.display().to_string())
}

/// Where exported takes go: the Music folder, else Downloads, else the app's data folder.
fn export_folders<R: Runtime>(app: &AppHandle<R>) -> Vec<std::path::PathBuf> {
    let path = app.path();
    [path.audio_dir(), path.download_dir(), path.app_data_dir()]
        .into_iter()
        .flatten()
        .collect()
}

/// Deletes take `id`.
#[tauri::command]
pub fn delete_take(state: State<'_, AppState>, id: i64) -> Result<()> {
    Ok(state.core.takes()?.delete(id)?)
}

/// Plays take `id` here from half a second from now; returns its length in ms.
#[tauri::command]
pub fn replay_take(state: State<'_, AppState>, id: i64) -> Result<f64> {
    Ok(state.core.replay_take(id)?)
}
