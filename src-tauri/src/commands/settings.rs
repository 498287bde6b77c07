//! The start screen and the settings drawer.

use jam_play::Timing;
use jam_play::views::{AudioView, MidiView, StartupView};
use tauri::State;

use crate::error::Result;
use crate::state::AppState;

/// Everything the start screen needs.
#[tauri::command]
pub fn startup(state: State<'_, AppState>) -> StartupView {
    state.core.startup()
}

/// Chooses the audio output and its buffer, and remembers them.
#[tauri::command]
pub fn set_audio(
    state: State<'_, AppState>,
    device: String,
    buffer_frames: u32,
) -> Result<AudioView> {
    Ok(state.core.set_audio(&device, buffer_frames)?)
}

/// Chooses (or drops) a MIDI input, and remembers the choice.
#[tauri::command]
pub fn set_midi_input(state: State<'_, AppState>, name: String, chosen: bool) -> Result<MidiView> {
    Ok(state.core.set_midi_input(&name, chosen)?)
}

/// Chooses where MIDI out goes (ports of our own, an existing output, the offset, the clock)
/// and remembers it.
#[tauri::command]
pub fn set_midi_out(
    state: State<'_, AppState>,
    on: bool,
    port: String,
    offset_ms: f64,
    clock: bool,
) -> Result<jam_play::views::MidiOutView> {
    Ok(state.core.choose_midi_out(on, &port, offset_ms, clock)?)
}

/// Plays a player's part also through an existing MIDI output (`""`: no longer), in this jam.
#[tauri::command]
pub fn play_through(
    state: State<'_, AppState>,
    participant_id: String,
    name: String,
    port: String,
) -> Result<()> {
    let port = (!port.is_empty()).then_some(port.as_str());
    Ok(state.core.play_through(&participant_id, &name, port)?)
}

/// MIDI out's outputs now.
#[tauri::command]
pub fn midi_out_status(state: State<'_, AppState>) -> jam_play::views::MidiOutView {
    state.core.midi_out_view(None)
}

/// The MIDI inputs now.
#[tauri::command]
pub fn midi_status(state: State<'_, AppState>) -> MidiView {
    state.core.midi_view()
}

/// Chooses how others' notes are placed in time, and remembers it.
#[tauri::command]
pub fn set_playout(state: State<'_, AppState>, mode: Timing, fixed_delay_ms: f64) -> Result<()> {
    Ok(state.core.set_playout(mode, fixed_delay_ms)?)
}

/// Saves the name (and the last invite) as they are typed.
#[tauri::command]
pub fn remember(state: State<'_, AppState>, name: String, last_invite: String) -> Result<()> {
    Ok(state.core.remember(&name, &last_invite)?)
}

/// Whether hosting asks the router to open the port, remembered.
#[tauri::command]
pub fn set_port_mapping(state: State<'_, AppState>, on: bool) -> Result<()> {
    state.core.update_settings(|s| s.port_mapping = on)?;
    Ok(())
}

/// The invite the app was started with (`jamwire jam://…`, or a link clicked while it wasn't
/// running), once: the start screen shows it in the Join form.
pub struct StartedWith(pub std::sync::Mutex<Option<jam_play::link::OpenedInvite>>);

/// The invite the app was started with, if any (given once).
#[tauri::command]
pub fn opened_invite<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
) -> Option<jam_play::link::OpenedInvite> {
    use tauri::Manager;
    // The start screen calls this last, once it is up: the moment the startup bench times.
    tracing::info!("start screen shown");
    let started = app.try_state::<StartedWith>()?;
    let mut slot = started
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    slot.take()
}
