//! Errors as the UI sees them: `{kind, message}` ([`jam_play::views::ErrorView`]), where `kind`
//! is stable for the UI to match on and `message` is a sentence a musician can act on.

use jam_play::PlayError;
use jam_play::views::ErrorView;

/// What went wrong in a command.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The core refused or failed.
    #[error(transparent)]
    Play(#[from] PlayError),
    /// The window or the app itself failed.
    #[error("The app failed: {0}")]
    App(#[from] tauri::Error),
}

impl AppError {
    /// What the UI receives.
    pub fn view(&self) -> ErrorView {
        match self {
            AppError::Play(e) => ErrorView::from(e),
            AppError::App(e) => ErrorView {
                kind: "app".into(),
                message: format!("The app failed: {e}"),
            },
        }
    }
}

impl From<jam_session::SessionError> for AppError {
    fn from(e: jam_session::SessionError) -> AppError {
        AppError::Play(e.into())
    }
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.view().serialize(serializer)
    }
}

/// Result of a command.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_reach_the_ui_as_kind_and_message() {
        let e = AppError::from(jam_session::SessionError::Relay {
            code: jam_protocol::ErrorCode::WrongPassword,
            message: "wrong password for room K7M2QXH4".into(),
        });
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"kind": "relay:WRONG_PASSWORD", "message": "wrong password for room K7M2QXH4"})
        );
        let e = AppError::Play(PlayError::Listener);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "listener");
        assert!(json["message"].as_str().unwrap().contains("listener"));
    }
}
