//! Hosting, joining and leaving.

use jam_play::lan::LanJamView;
use jam_play::views::{HostRequest, JamView, JoinRequest, RelayFiguresView};
use jam_play::{RoomEvent, RoomSink};
use tauri::ipc::Channel;
use tauri::{Runtime, State, WebviewWindow};

use crate::error::Result;
use crate::state::AppState;

/// The room's events, to the UI over the jam's channel.
fn to_ui(channel: Channel<RoomEvent>) -> impl RoomSink {
    move |event: RoomEvent| {
        let _ = channel.send(event);
    }
}

/// Starts the embedded relay and creates a room on it.
#[tauri::command]
pub async fn host_jam<R: Runtime>(
    window: WebviewWindow<R>,
    state: State<'_, AppState>,
    request: HostRequest,
    on_event: Channel<RoomEvent>,
) -> Result<JamView> {
    let view = state.core.host(request, to_ui(on_event)).await?;
    window.set_title(&format!("Jamwire — {}", view.room))?;
    Ok(view)
}

/// Joins the room of an invite.
#[tauri::command]
pub async fn join_jam<R: Runtime>(
    window: WebviewWindow<R>,
    state: State<'_, AppState>,
    request: JoinRequest,
    on_event: Channel<RoomEvent>,
) -> Result<JamView> {
    let view = state.core.join(request, to_ui(on_event)).await?;
    window.set_title(&format!("Jamwire — {}", view.room))?;
    Ok(view)
}

/// Leaves the jam (and, as its host, ends it for everyone).
#[tauri::command]
pub async fn leave_jam<R: Runtime>(
    window: WebviewWindow<R>,
    state: State<'_, AppState>,
) -> Result<()> {
    state.core.leave().await?;
    window.set_title("Jamwire")?;
    Ok(())
}

/// While reconnecting: try again now instead of waiting.
#[tauri::command]
pub fn retry_now(state: State<'_, AppState>) {
    state.core.retry_now();
}

/// The embedded relay's figures, while hosting.
#[tauri::command]
pub async fn relay_figures(state: State<'_, AppState>) -> Result<Option<RelayFiguresView>> {
    Ok(state.core.relay_figures().await)
}

/// The jams found on the local network so far (the `lan-jams` event tells of changes).
#[tauri::command]
pub fn lan_jams(state: State<'_, AppState>) -> Vec<LanJamView> {
    state.core.lan_jams()
}
