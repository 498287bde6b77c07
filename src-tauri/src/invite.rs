//! Invites that open the app: a `jam://` or `jams://` link clicked in a chat or a browser, or
//! given on the command line (`jamwire jam://…`).
//!
//! The desktop entry registers the schemes (`MimeType=x-scheme-handler/jam;…` in
//! `src-tauri/jamwire.desktop`, the bundler's template), so the desktop starts `jamwire URL`. The
//! single-instance plugin hands a second start's arguments to the running instance, whose
//! deep-link plugin turns them into an "open URL" event; a first start finds the URL in its own
//! arguments. Either way [`open`] checks the text — it comes from anyone who can send a link —
//! remembers it as the last invite (the Join form opens filled in, the name as it was) and tells
//! the UI, which shows the Join form one press away from joining.

use jam_play::link::OpenedInvite;
use tauri::{Emitter, Manager, Runtime};

use crate::state::AppState;

/// The UI's event for an invite opened while the app runs.
pub const INVITE_EVENT: &str = "invite-opened";

/// Opens a link: remembers a good invite as the last one and brings the window forward.
pub fn open<R: Runtime>(app: &tauri::AppHandle<R>, link: &str) -> OpenedInvite {
    let opened = match app.try_state::<AppState>() {
        Some(state) => state.core.open_link(link),
        None => jam_play::link::read(link),
    };
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
    opened
}

/// Opens a link that arrived while the app runs and tells the UI.
pub fn opened_while_running<R: Runtime>(app: &tauri::AppHandle<R>, link: &str) {
    let opened = open(app, link);
    let _ = app.emit(INVITE_EVENT, opened);
}
