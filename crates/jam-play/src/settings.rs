//! What Jamwire remembers between launches: `settings.json` in the app's config directory
//! (`$XDG_CONFIG_HOME/app.jamwire.desktop/` on Linux; the `jam` tool keeps them in memory). A
//! missing or unreadable file gives the defaults; the file is written whole to a temporary name
//! and renamed, so a crash never leaves half a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::Mutex;

use jam_protocol::Participant;
use serde::{Deserialize, Serialize};

use crate::error::PlayError;
use crate::sync::lock;

/// How others' notes are placed in time (see `jam_session::PlayoutMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum Timing {
    /// Keeps each player's rhythm: an adaptive delay per player (the default).
    #[default]
    Tight,
    /// A fixed delay after each note's timestamp ([`Settings::fixed_delay_ms`]).
    Fixed,
    /// As soon as it arrives.
    Live,
}

/// Reads a [`Timing`] by name; a name this version doesn't know is the default.
fn lenient_timing<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Timing, D::Error> {
    let name = String::deserialize(d)?;
    Ok(Timing::deserialize(
        serde::de::value::StrDeserializer::<serde::de::value::Error>::new(&name),
    )
    .unwrap_or_default())
}

/// The fixed playout's default delay, ms.
pub const DEFAULT_FIXED_DELAY_MS: f64 = 40.0;
/// The longest fixed playout delay, ms.
pub const MAX_FIXED_DELAY_MS: f64 = 500.0;

/// Everything remembered. Unknown fields are ignored and missing ones take their defaults, so
/// older and newer versions read each other's files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
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
    /// How others' notes are placed in time (an unknown name, from a newer version, is tight).
    #[serde(deserialize_with = "lenient_timing")]
    pub playout: Timing,
    /// Delay of the `fixed` playout, ms (default 40).
    pub fixed_delay_ms: f64,
    /// Metronome click on.
    pub click: bool,
    /// Per-participant volume (0–2) by name, so a friend's level survives a rejoin.
    pub volumes: BTreeMap<String, f32>,
    /// Record the jams this player hosts as takes (default on; everyone in the room sees it).
    pub record_takes: bool,
    /// Ask the router to open the port when hosting (UPnP / NAT-PMP; default on).
    pub port_mapping: bool,
    /// Host on a relay server rather than on this computer.
    pub host_on_relay: bool,
    /// The relay server to host on (`wss://relay.example.org`), remembered.
    pub relay_server: String,
    /// The keys part's sound, an id of `jam_protocol::instrument::MELODIC` (an id this
    /// version doesn't know, from a newer one, is the grand piano).
    #[serde(deserialize_with = "lenient_keys")]
    pub instrument: String,
    /// The drum kit, an id of `jam_protocol::instrument::KITS`.
    #[serde(deserialize_with = "lenient_kit")]
    pub kit: String,
    /// Up to four favourite keys sounds, switched with Alt+1…4 (ids; unknown ones are dropped).
    #[serde(deserialize_with = "lenient_favourites")]
    pub favourites: Vec<String>,
    /// My own sound (a SoundFont preset or a folder of recordings), once one has been loaded;
    /// loaded again at start when `play_own_sound` is on. The room hears `instrument`.
    #[serde(deserialize_with = "lenient_own_sound")]
    pub own_sound: Option<OwnSoundSetting>,
    /// The keys play my own sound rather than `instrument` (which the room hears).
    pub play_own_sound: bool,
    /// Send the other players to MIDI out on ports of Jamwire's own (a port each and all of
    /// them merged; not on Windows, which has no virtual ports).
    pub midi_out: bool,
    /// An existing MIDI output that gets all the players merged; empty = none.
    pub midi_out_port: String,
    /// MIDI out leaves this much later (negative: earlier) than the speakers play, ms.
    pub midi_out_offset_ms: f64,
    /// MIDI clock out following the room's tempo, on "Jamwire – Clock" (and on the existing
    /// output, when one is chosen).
    pub midi_clock: bool,
}

/// Where my own sound comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct OwnSoundSetting {
    /// The SoundFont file or the folder of recordings.
    pub path: String,
    /// The font's preset (bank, program); `None` for a folder or the font's first preset.
    pub preset: Option<(u16, u8)>,
    /// What the picker shows ("Rhodes (MyFont.sf2)").
    pub name: String,
}

/// A damaged `ownSound` entry is forgotten, not the whole settings file.
fn lenient_own_sound<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<OwnSoundSetting>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// Most favourite sounds remembered.
pub const MAX_FAVOURITES: usize = 4;

fn lenient_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let id = String::deserialize(d)?;
    Ok(jam_protocol::instrument::melodic(&id)
        .map_or(jam_protocol::instrument::DEFAULT_MELODIC, |v| v.id)
        .to_owned())
}

fn lenient_kit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let id = String::deserialize(d)?;
    Ok(jam_protocol::instrument::kit(&id)
        .map_or(jam_protocol::instrument::DEFAULT_KIT, |v| v.id)
        .to_owned())
}

fn lenient_favourites<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let ids = Vec::<String>::deserialize(d)?;
    Ok(clean_favourites(&ids))
}

/// Known keys sounds, each once, at most [`MAX_FAVOURITES`].
pub fn clean_favourites(ids: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for id in ids {
        if let Some(v) = jam_protocol::instrument::melodic(id) {
            if kept.len() < MAX_FAVOURITES && !kept.iter().any(|k| k == v.id) {
                kept.push(v.id.to_owned());
            }
        }
    }
    kept
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
            playout: Timing::Tight,
            fixed_delay_ms: DEFAULT_FIXED_DELAY_MS,
            click: false,
            volumes: BTreeMap::new(),
            record_takes: true,
            port_mapping: true,
            host_on_relay: false,
            relay_server: String::new(),
            instrument: jam_protocol::instrument::DEFAULT_MELODIC.to_owned(),
            kit: jam_protocol::instrument::DEFAULT_KIT.to_owned(),
            favourites: ["grand-piano", "finger-bass", "strings", "warm-pad"]
                .map(str::to_owned)
                .to_vec(),
            own_sound: None,
            play_own_sound: false,
            midi_out: false,
            midi_out_port: String::new(),
            midi_out_offset_ms: 0.0,
            midi_clock: false,
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

    /// The sounds chosen, as the room hears of them.
    pub fn instrument_change(&self) -> jam_protocol::event::InstrumentChange {
        jam_protocol::event::InstrumentChange {
            keys: self.instrument.clone(),
            drums: self.kit.clone(),
        }
    }

    /// The playout mode the settings ask for.
    pub fn playout_mode(&self) -> jam_session::PlayoutMode {
        match self.playout {
            Timing::Fixed => jam_session::PlayoutMode::Fixed(if self.fixed_delay_ms.is_finite() {
                self.fixed_delay_ms.clamp(0.0, MAX_FIXED_DELAY_MS)
            } else {
                DEFAULT_FIXED_DELAY_MS
            }),
            Timing::Live => jam_session::PlayoutMode::Live,
            Timing::Tight => jam_session::PlayoutMode::Tight,
        }
    }
}

/// The settings of a running core, and where they are saved: a leaf lock, nothing is taken
/// while it is held.
#[derive(Debug)]
pub(crate) struct SettingsStore {
    settings: Mutex<Settings>,
    /// Where they are saved; `None` keeps them in memory (the `jam` tool).
    path: Option<PathBuf>,
}

impl SettingsStore {
    /// The settings saved at `path` (the defaults when there are none), or in memory only.
    pub(crate) fn open(path: Option<PathBuf>) -> SettingsStore {
        let settings = path.as_deref().map(Settings::load).unwrap_or_default();
        SettingsStore {
            settings: Mutex::new(settings),
            path,
        }
    }

    /// What is remembered now.
    pub(crate) fn get(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// Changes the settings and saves them (in memory only without a settings file).
    pub(crate) fn update(&self, change: impl FnOnce(&mut Settings)) -> crate::Result<Settings> {
        let mut settings = lock(&self.settings);
        change(&mut settings);
        if let Some(path) = &self.path {
            settings
                .save(path)
                .map_err(|e| PlayError::Settings(e.to_string()))?;
        }
        Ok(settings.clone())
    }

    /// The remembered gain of each of `participants` that has one other than 1, by id.
    pub(crate) fn saved_volumes(&self, participants: &[Participant]) -> Vec<(String, f32)> {
        let settings = lock(&self.settings);
        participants
            .iter()
            .filter_map(|p| {
                let gain = *settings.volumes.get(&p.name)?;
                (gain != 1.0).then(|| (p.id.clone(), gain))
            })
            .collect()
    }
}

impl Settings {
    /// Where MIDI out goes, as chosen; `None` when nowhere.
    pub fn midi_out_config(&self) -> Option<crate::midi_out::MidiOutConfig> {
        let port = (!self.midi_out_port.is_empty()).then(|| self.midi_out_port.clone());
        (self.midi_out || port.is_some() || self.midi_clock).then(|| {
            crate::midi_out::MidiOutConfig {
                virtual_ports: self.midi_out && jam_midi::output::VIRTUAL_PORTS,
                port,
                offset_ms: self.midi_out_offset_ms,
                clock: self.midi_clock,
                ..crate::midi_out::MidiOutConfig::default()
            }
        })
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
            playout: Timing::Fixed,
            ..Settings::default()
        };
        settings.volumes.insert("Mozart".into(), 0.5);
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path), settings);
        assert_eq!(
            Settings::load(&path).playout_mode(),
            jam_session::PlayoutMode::Fixed(40.0)
        );

        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains(r#""playout": "fixed""#)
        );
        // A timing from a newer version is the default; the rest of the file still counts.
        std::fs::write(&path, r#"{"name":"Lis","playout":"warp"}"#).unwrap();
        let read = Settings::load(&path);
        assert_eq!((read.name.as_str(), read.playout), ("Lis", Timing::Tight));
        std::fs::write(&path, "{ not json").unwrap();
        assert_eq!(Settings::load(&path), Settings::default());
        // Fields from a newer version are ignored, missing ones defaulted.
        std::fs::write(&path, r#"{"name":"Lis","future":true}"#).unwrap();
        let read = Settings::load(&path);
        assert_eq!(read.name, "Lis");
        assert_eq!(read.host_port, 7878);
        assert_eq!(
            (read.instrument.as_str(), read.kit.as_str()),
            ("grand-piano", "standard-kit")
        );
        // Sounds from a newer version are the defaults; favourites keep the known ones, once.
        std::fs::write(
            &path,
            r#"{"instrument":"theremin","kit":"tabla","favourites":["strings","kazoo","strings","flute","choir","brass","saw-lead"]}"#,
        )
        .unwrap();
        let read = Settings::load(&path);
        assert_eq!(
            (read.instrument.as_str(), read.kit.as_str()),
            ("grand-piano", "standard-kit")
        );
        assert_eq!(read.favourites, ["strings", "flute", "choir", "brass"]);
        // A damaged own-sound entry is forgotten, not the rest.
        let read: Settings =
            serde_json::from_str(r#"{"name":"Ann","ownSound":{"path":7},"playOwnSound":true}"#)
                .unwrap();
        assert_eq!((read.name.as_str(), read.own_sound), ("Ann", None));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
