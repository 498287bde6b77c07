//! Playing and the shared groove.

use jam_play::views::ClockView;
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
