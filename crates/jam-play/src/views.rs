//! What a user interface shows, as plain data: every type here is `Serialize` and derives
//! `ts_rs::TS`, so the desktop app's TypeScript types are generated from them
//! (`ui/src/bindings/`, checked by `tests/bindings.rs`), never retyped.

use jam_protocol::Pattern;
use jam_session::{SessionError, Status};
use serde::{Deserialize, Serialize};

use crate::groove::Tempo;
use crate::settings::Settings;

/// The audio output as the footer and settings show it.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct AudioView {
    /// Device name, when one is open.
    pub device: Option<String>,
    /// Hz.
    pub sample_rate: Option<u32>,
    /// Frames per callback, if the device let us choose.
    pub buffer_frames: Option<u32>,
    /// Why nothing is heard, if nothing is.
    pub error: Option<String>,
    /// Output devices to choose from.
    pub devices: Vec<String>,
}

/// The MIDI inputs, as the settings show them.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct MidiView {
    /// Why MIDI is unavailable, if it is.
    pub error: Option<String>,
    /// Every device seen now or chosen before.
    pub devices: Vec<MidiDeviceView>,
}

/// MIDI out, as the settings show it.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct MidiOutView {
    /// This system can make ports of Jamwire's own (not Windows).
    pub virtual_ports: bool,
    /// Existing outputs the merged stream can go to.
    pub outputs: Vec<String>,
    /// Why MIDI out can't work as chosen, if it can't.
    pub error: Option<String>,
}

/// One MIDI device.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct MidiDeviceView {
    /// Its name.
    pub name: String,
    /// Chosen by the player.
    pub chosen: bool,
    /// Open now.
    pub connected: bool,
}

/// Everything the start screen needs.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct StartupView {
    /// What is remembered.
    pub settings: Settings,
    /// The audio output.
    pub audio: AudioView,
    /// The MIDI inputs.
    pub midi: MidiView,
    /// MIDI out.
    pub midi_out: MidiOutView,
    /// The tempo (this machine's until a jam shares one).
    pub tempo: Tempo,
    /// The sequencer's pattern.
    pub pattern: Pattern,
    /// Jams found on the local network so far.
    pub lan_jams: Vec<crate::lan::LanJamView>,
    /// What Jamwire this is, for Settings → About.
    pub about: AboutView,
}

/// My own sound, as the picker shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct OwnSoundView {
    /// The preset's or folder's name ("Rhodes (MyFont.sf2)").
    pub name: String,
    /// The SoundFont file or the folder.
    pub path: String,
    /// Recordings by key range it plays.
    pub zones: u32,
    /// The palette sound the room hears instead (an id of `INSTRUMENTS`).
    pub heard_as: String,
    /// Whether my keys play it now.
    pub playing: bool,
    /// Things worth knowing about the files ("C4.wav and C4-b.wav are both C4: …").
    pub notes: Vec<String>,
}

/// A preset of a SoundFont, to choose from before loading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct FontPresetView {
    /// Bank number.
    pub bank: u16,
    /// Program 0–127.
    pub program: u8,
    /// The font's name for it.
    pub name: String,
}

/// One sound of the palette, as the instrument picker shows it (the UI's list is generated
/// from [`InstrumentView::all`] into `ui/src/bindings/protocol.ts`, for the app and the
/// browser guest alike).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentView {
    /// Its id on the wire.
    pub id: String,
    /// What players read.
    pub name: String,
    /// The picker's group ("Bass", "Drums", …).
    pub family: String,
    /// A drum kit (else a keys sound).
    pub kit: bool,
}

impl InstrumentView {
    /// The whole palette, keys sounds first.
    pub fn all() -> Vec<InstrumentView> {
        use jam_protocol::instrument::{KITS, MELODIC};
        let view = |v: &jam_protocol::instrument::Voice, kit: bool| InstrumentView {
            id: v.id.to_owned(),
            name: v.name.to_owned(),
            family: v.family.to_owned(),
            kit,
        };
        MELODIC
            .iter()
            .map(|v| view(v, false))
            .chain(KITS.iter().map(|v| view(v, true)))
            .collect()
    }
}

/// The version of this Jamwire and of the protocol it speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct AboutView {
    /// The workspace's version (every Jamwire binary has the same).
    pub version: String,
    /// The relay protocol's version.
    pub protocol: u32,
}

impl AboutView {
    /// This build's.
    pub fn current() -> AboutView {
        AboutView {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol: jam_protocol::PROTOCOL_VERSION,
        }
    }
}

/// What the Host card sends (and `jam host`).
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct HostRequest {
    /// The host's name.
    pub name: String,
    /// The room's password, if any.
    pub password: Option<String>,
    /// Port to listen on (every interface, unless the core was told one address).
    pub port: u16,
    /// Record the jam as a take (on this computer; not when hosting on a relay server).
    pub record: bool,
    /// Ask the router to open the port (UPnP / NAT-PMP), so guests elsewhere can join.
    #[serde(default = "yes")]
    pub port_mapping: bool,
    /// Host on this relay server instead of here (`wss://relay.example.org`,
    /// `jams://relay.example.org:8443`, `ws://192.168.1.5:7878`); empty or absent = here.
    #[serde(default)]
    pub relay: Option<String>,
    /// The relay server's creation key, if it asks for one (`jam-relay --create-key`).
    #[serde(default)]
    pub relay_key: Option<String>,
}

fn yes() -> bool {
    true
}

/// Who can join a hosted jam.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum ReachScope {
    /// Anyone with the invite, from anywhere.
    Anyone,
    /// People on this computer's network.
    Network,
    /// This computer only.
    ThisComputer,
}

/// Who can join a hosted jam, and why, in words for the room's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ReachView {
    /// Who.
    pub scope: ReachScope,
    /// The sentence to show ("Anyone with the invite can join…").
    pub message: String,
}

/// What the Join card sends (and `jam join`).
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    /// The player's name.
    pub name: String,
    /// `jam://HOST:PORT/CODE`.
    pub invite: String,
    /// Join as a listener.
    pub listener: bool,
    /// The room's password, if it has one.
    pub password: Option<String>,
}

/// The jam as the room screen needs it after hosting or joining.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct JamView {
    /// The room's code.
    pub room: String,
    /// The invite to copy.
    pub invite: String,
    /// The same invite as a link for a browser (a friend without the app joins from it).
    pub browser_link: String,
    /// Every address the host can be reached at (host only; the invite's first).
    pub addresses: Vec<String>,
    /// We host.
    pub is_host: bool,
    /// We only listen.
    pub listener: bool,
    /// Who can join (hosts only: a guest is told nothing).
    pub reach: Option<ReachView>,
}

/// The shared clock and tempo, for the beat indicator and the sequencer's playhead.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ClockView {
    /// Relay time in a jam, this machine's epoch time before, ms.
    pub now_ms: f64,
    /// The tempo.
    pub tempo: Tempo,
}

/// Connection state of the jam.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum ConnectionState {
    /// Connecting for the first time.
    Connecting,
    /// In the room.
    Connected,
    /// The connection dropped; trying again.
    Reconnecting,
    /// Over.
    Ended,
}

/// The jam's connection status.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// Where the connection is.
    pub state: ConnectionState,
    /// Reconnecting: ms until the next attempt.
    #[ts(type = "number | null")]
    pub retry_in_ms: Option<u64>,
    /// Why it dropped or ended, for people.
    pub reason: Option<String>,
    /// Ended because the host ended the jam (the relay said so; no guest can).
    pub jam_ended: bool,
}

impl From<&Status> for StatusView {
    fn from(status: &Status) -> StatusView {
        let view = |state| StatusView {
            state,
            retry_in_ms: None,
            reason: None,
            jam_ended: false,
        };
        match status {
            Status::Connecting => view(ConnectionState::Connecting),
            Status::Connected { .. } => view(ConnectionState::Connected),
            Status::Reconnecting {
                retry_in, reason, ..
            } => StatusView {
                retry_in_ms: Some(u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX)),
                reason: Some(reason.clone()),
                ..view(ConnectionState::Reconnecting)
            },
            Status::Ended { reason } => StatusView {
                reason: reason.as_ref().map(ToString::to_string),
                jam_ended: matches!(reason, Some(SessionError::JamEnded { .. })),
                ..view(ConnectionState::Ended)
            },
        }
    }
}

/// One participant's timing, for their row in the list.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantFigures {
    /// Who.
    pub id: String,
    /// Current playout delay after their timestamp, ms.
    pub delay_ms: f64,
    /// One-way trip estimate, ms.
    pub one_way_ms: f64,
    /// Spread of their lateness, ms.
    pub jitter_ms: f64,
    /// Their events in the last second.
    pub events_per_s: f64,
}

/// A take as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct TakeView {
    /// Its id.
    #[ts(type = "number")]
    pub id: i64,
    /// The room's code.
    pub room: String,
    /// When it started, ms since the Unix epoch.
    pub started_ms: f64,
    /// How long it lasted, ms.
    pub duration_ms: f64,
    /// Everyone who took part, in order of arrival.
    pub participants: Vec<String>,
    /// Relayed events.
    #[ts(type = "number")]
    pub event_count: u64,
}

/// Someone in a take, for its details.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct TakePlayerView {
    /// Their name.
    pub name: String,
    /// `player` or `listener`.
    pub role: String,
    /// When they joined, ms since the Unix epoch.
    pub joined_ms: f64,
    /// When they left; `null` if still there when the log ends.
    pub left_ms: Option<f64>,
    /// Notes, pedal and other events they sent (not the relay's releases for them).
    #[ts(type = "number")]
    pub events: u64,
}

/// The embedded relay's figures, while hosting.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct RelayFiguresView {
    /// Open connections.
    #[ts(type = "number")]
    pub connections: u64,
    /// Open rooms.
    #[ts(type = "number")]
    pub rooms: u64,
    /// Events received.
    #[ts(type = "number")]
    pub events_in: u64,
    /// Deliveries made.
    #[ts(type = "number")]
    pub events_out: u64,
    /// Members dropped for not keeping up.
    #[ts(type = "number")]
    pub slow_consumers: u64,
    /// Frames refused by the rate limits.
    #[ts(type = "number")]
    pub rate_limited: u64,
    /// Records written to the take, when recording.
    #[ts(type = "number | null")]
    pub recorded: Option<u64>,
    /// Records lost because the writer fell behind, when recording.
    #[ts(type = "number | null")]
    pub record_dropped: Option<u64>,
}

/// An error as a UI shows it: a stable `kind` to match on, a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ErrorView {
    /// Stable name of the kind of error (`badInput`, `listener`, `relay:ROOM_NOT_FOUND`, …).
    pub kind: String,
    /// What happened and what to do.
    pub message: String,
}

impl From<&crate::PlayError> for ErrorView {
    fn from(e: &crate::PlayError) -> ErrorView {
        ErrorView {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}
