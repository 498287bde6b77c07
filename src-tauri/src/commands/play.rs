//! Playing and the shared groove.

use jam_play::views::ClockView;
use jam_play::{PlayInput, Tempo};
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
