//! What the app remembers between launches: `settings.json` in the app's config directory
//! (`$XDG_CONFIG_HOME/app.jamwire.desktop/` on Linux). A missing or unreadable file gives the
//! defaults; the file is written whole to a temporary name and renamed, so a crash never leaves
//! half a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything remembered. Unknown fields are ignored and missing ones take their defaults, so
/// older and newer versions read each other's files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// The player's name.
    pub name: String,
    /// The last invite used to join.
    pub last_invite: String,
    /// Port the embedded relay listens on when hosting (default 7878).
    pub host_port: u16,
    /// Audio output device by name; empty = the system default.
    pub audio_device: String,
    /// Audio buffer, frames per callback (default 256).
    pub buffer_frames: u32,
    /// MIDI inputs to connect, by name (reconnected when they come back).
    pub midi_inputs: Vec<String>,
    /// `tight`, `fixed` or `live`.
    pub playout: String,
    /// Delay of the `fixed` playout, ms (default 40).
    pub fixed_delay_ms: f64,
    /// Metronome click on.
    pub click: bool,
    /// Per-participant volume (0–2) by name, so a friend's level survives a rejoin.
    pub volumes: BTreeMap<String, f32>,
    /// Record the jams this player hosts as takes (default on; everyone in the room sees it).
    pub record_takes: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            name: String::new(),
            last_invite: String::new(),
            host_port: 7878,
            audio_device: String::new(),
            buffer_frames: 256,
            midi_inputs: Vec::new(),
            playout: "tight".into(),
            fixed_delay_ms: 40.0,
            click: false,
            volumes: BTreeMap::new(),
            record_takes: true,
        }
    }
}

impl Settings {
    /// Reads the settings; the defaults when there is no file or it cannot be read.
    pub fn load(path: &Path) -> Settings {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "settings unreadable, using defaults");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    }

    /// Writes the settings atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp: PathBuf = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }

    /// The playout mode the settings ask for.
    pub fn playout_mode(&self) -> jam_session::PlayoutMode {
        match self.playout.as_str() {
            "fixed" => jam_session::PlayoutMode::Fixed(self.fixed_delay_ms.clamp(0.0, 500.0)),
            "live" => jam_session::PlayoutMode::Live,
            _ => jam_session::PlayoutMode::Tight,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_a_round_trip_and_a_damaged_file_gives_defaults() {
        let dir = std::env::temp_dir().join(format!("jamwire-settings-{}", std::process::id()));
        let path = dir.join("settings.json");
        let mut settings = Settings {
            name: "Keys".into(),
            playout: "fixed".into(),
            ..Settings::default()
        };
        settings.volumes.insert("Mozart".into(), 0.5);
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path), settings);
        assert_eq!(
            Settings::load(&path).playout_mode(),
            jam_session::PlayoutMode::Fixed(40.0)
        );

        std::fs::write(&path, "{ not json").unwrap();
        assert_eq!(Settings::load(&path), Settings::default());
        // Fields from a newer version are ignored, missing ones defaulted.
        std::fs::write(&path, r#"{"name":"Lis","future":true}"#).unwrap();
        let read = Settings::load(&path);
        assert_eq!(read.name, "Lis");
        assert_eq!(read.host_port, 7878);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
