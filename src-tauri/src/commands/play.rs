//! Playing and the shared groove.

use jam_play::views::{ClockView, FontPresetView, OwnSoundView};
use jam_play::{PlayInput, Settings, Tempo};
use jam_protocol::Pattern;
use tauri::State;

use crate::error::Result;
use crate::state::AppState;

/// A key, pad or pedal: sounds at once here, and goes to the room.
#[tauri::command]
pub fn play(state: State<'_, AppState>, input: PlayInput) -> Result<()> {
    Ok(state.core.perform(input)?)
}

/// Changes the shared tempo (from the next beat).
#[tauri::command]
pub fn set_tempo(state: State<'_, AppState>, bpm: f64, beats_per_bar: u8) -> Result<Tempo> {
    Ok(state.core.set_tempo(bpm, beats_per_bar)?)
}

/// Changes the shared pattern (steps, start/stop).
#[tauri::command]
pub fn set_pattern(state: State<'_, AppState>, pattern: Pattern) -> Result<()> {
    Ok(state.core.set_pattern(pattern)?)
}

/// Turns this player's metronome click on or off (not shared).
#[tauri::command]
pub fn set_click(state: State<'_, AppState>, on: bool) -> Result<()> {
    Ok(state.core.set_click(on)?)
}

/// Chooses our keys sound and kit (palette ids): heard here at once and by the room from our
/// next note; remembered.
#[tauri::command]
pub fn set_instrument(state: State<'_, AppState>, keys: String, drums: String) -> Result<Settings> {
    Ok(state.core.set_instrument(&keys, &drums)?)
}

/// Plays a short preview of a sound here only.
#[tauri::command]
pub fn preview_instrument(state: State<'_, AppState>, id: String) -> Result<()> {
    Ok(state.core.preview_instrument(&id)?)
}

/// Opens the system's file chooser for my own sound: a SoundFont (`folder` false) or a folder
/// of recordings. It opens where the last one came from (else the Music folder, else home).
/// The path chosen, or `None` when the musician cancels.
#[tauri::command]
pub async fn choose_own_sound<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    folder: bool,
) -> Result<Option<String>> {
    use tauri::Manager;
    use tauri_plugin_dialog::DialogExt;
    if app.try_state::<tauri_plugin_dialog::Dialog<R>>().is_none() {
        return Err(jam_play::PlayError::BadInput("No file chooser here.".into()).into());
    }
    let last = state.core.settings().own_sound.and_then(|s| {
        std::path::Path::new(&s.path)
            .parent()
            .map(ToOwned::to_owned)
    });
    let start = [
        last,
        app.path().audio_dir().ok(),
        app.path().home_dir().ok(),
    ]
    .into_iter()
    .flatten()
    .find(|dir| dir.is_dir());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut dialog = app.dialog().file().set_title(if folder {
        "A folder of recordings named by note (C4.wav, F#2.flac …)"
    } else {
        "A SoundFont"
    });
    if let Some(dir) = start {
        dialog = dialog.set_directory(dir);
    }
    if folder {
        dialog.pick_folder(move |path| {
            let _ = tx.send(path);
        });
    } else {
        dialog
            .add_filter("SoundFont", &["sf2", "SF2"])
            .pick_file(move |path| {
                let _ = tx.send(path);
            });
    }
    let chosen = rx.await.ok().flatten();
    Ok(chosen
        .and_then(|p| p.into_path().ok())
        .map(|p| p.display().to_string()))
}

/// The presets of a SoundFont, to choose one before loading it.
#[tauri::command]
pub async fn own_sound_presets(
    state: State<'_, AppState>,
    path: String,
) -> Result<Vec<FontPresetView>> {
    Ok(state.core.own_sound_presets(&path).await?)
}

/// Loads my own sound (a SoundFont preset or a folder of recordings) and plays it on my keys;
/// the room hears `heard_as` (default: the palette's nearest). Remembered.
#[tauri::command]
pub async fn load_own_sound(
    state: State<'_, AppState>,
    path: String,
    preset: Option<(u16, u8)>,
    heard_as: Option<String>,
) -> Result<OwnSoundView> {
    Ok(state
        .core
        .load_own_sound(&path, preset, heard_as.as_deref())
        .await?)
}

/// My keys play my own sound (`on`) or the sound the room hears; `heard_as` changes what the
/// room hears.
#[tauri::command]
pub fn play_own_sound(
    state: State<'_, AppState>,
    on: bool,
    heard_as: Option<String>,
) -> Result<Settings> {
    Ok(state.core.play_own_sound(on, heard_as.as_deref())?)
}

/// My own sound, if one is loaded.
#[tauri::command]
pub fn own_sound(state: State<'_, AppState>) -> Option<OwnSoundView> {
    state.core.own_sound_view()
}

/// Remembers up to four favourite keys sounds.
#[tauri::command]
pub fn set_favourites(state: State<'_, AppState>, ids: Vec<String>) -> Result<Settings> {
    Ok(state.core.set_favourites(&ids)?)
}

/// Sends a chat line.
#[tauri::command]
pub fn send_chat(state: State<'_, AppState>, text: String) -> Result<()> {
    Ok(state.core.send_chat(&text)?)
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
    Ok(state.core.set_volume(&participant_id, &name, gain, muted)?)
}

/// The shared clock and tempo, for the beat indicator and the sequencer's playhead.
#[tauri::command]
pub fn clock_now(state: State<'_, AppState>) -> ClockView {
    state.core.clock()
}
