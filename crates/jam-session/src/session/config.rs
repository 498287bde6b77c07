//! How a session joins and behaves: [`SessionConfig`], every default documented.

use std::time::Duration;

use jam_protocol::{Role, RoomCode};

use crate::PlayoutMode;
use crate::lane::LaneMode;

/// After each event sent, a tiny frame (a WebSocket ping) follows this soon, then one every
/// four times as long, until the relay's pong proves the event arrived ([`crate::probe`]).
const TAIL_PROBE_AFTER: Duration = Duration::from_millis(5);

/// How to join and how to behave. Defaults are documented on each field.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The relay, `HOST:PORT`.
    pub address: String,
    /// Speak TLS (`wss://`): a relay server with a certificate.
    pub tls: bool,
    /// Certificate authorities to trust besides the public ones (PEM files), for a private
    /// relay; `JAMWIRE_CA_CERT` adds one more.
    pub ca_certs: Vec<std::path::PathBuf>,
    /// The room to join; `None` creates a new room (as its host).
    pub room: Option<RoomCode>,
    /// Display name.
    pub name: String,
    /// Player or listener.
    pub role: Role,
    /// The room's password, or the new room's.
    pub password: Option<String>,
    /// How remote events are placed in time (default: tight).
    pub playout: PlayoutMode,
    /// Clock-sync pings: ten, 100 ms apart, after every (re)connection, then one per interval (2 s).
    pub ping_interval: Duration,
    /// The relay pings every 5 s; silence this long (15 s) means the connection is dead.
    pub silence_timeout: Duration,
    /// First reconnection delay (250 ms); doubles per attempt up to `backoff_max` (5 s), each
    /// with random jitter of up to half its length.
    pub backoff_min: Duration,
    /// Longest reconnection delay.
    pub backoff_max: Duration,
    /// Received events waiting for the app (1,024); beyond that new ones are dropped and counted.
    pub event_capacity: usize,
    /// Outgoing events waiting for the network (1,024).
    pub outgoing_capacity: usize,
    /// Pretend this machine's clock is off by this many ms (for testing clock sync).
    pub clock_skew_ms: f64,
    /// The relay's creation key, when creating a room on a relay that has one (the relay
    /// embedded in the host's own app).
    pub create_key: Option<String>,
    /// The first tail probe's delay after each sent event ([`TAIL_PROBE_AFTER`], 5 ms; the
    /// next follow every 20 ms until the event's arrival is proven, see [`crate::probe`]);
    /// `None` sends none. `JAMWIRE_TAIL_PROBE_MS=0` turns it off in every session of the process, for
    /// measuring what it does (`benches/groove.rs`).
    pub tail_probe: Option<Duration>,
    /// When to open a spare lane, a second connection carrying a copy of every event
    /// ([`LaneMode`]; default auto: only where an end keeps TCP's 200 ms retransmission floor;
    /// `JAMWIRE_LANE` sets it for every session of the process).
    pub lane: LaneMode,
}

/// The tail probe a new session uses: [`TAIL_PROBE_AFTER`], or `JAMWIRE_TAIL_PROBE_MS` ms
/// (0 = none).
fn default_tail_probe() -> Option<Duration> {
    match std::env::var("JAMWIRE_TAIL_PROBE_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms.min(1_000))),
        None => Some(TAIL_PROBE_AFTER),
    }
}

impl SessionConfig {
    /// Joining the room of an invite as a player.
    pub fn join(invite: &crate::Invite, name: &str) -> SessionConfig {
        SessionConfig {
            room: Some(invite.room.clone()),
            tls: invite.tls,
            ..SessionConfig::host(&invite.address, name)
        }
    }

    /// Creating a new room on the relay at `address`.
    pub fn host(address: &str, name: &str) -> SessionConfig {
        SessionConfig {
            address: address.to_owned(),
            tls: false,
            ca_certs: Vec::new(),
            room: None,
            name: name.to_owned(),
            role: Role::Player,
            password: None,
            playout: PlayoutMode::Tight,
            ping_interval: Duration::from_secs(2),
            silence_timeout: Duration::from_secs(15),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            event_capacity: 1_024,
            outgoing_capacity: 1_024,
            clock_skew_ms: 0.0,
            create_key: None,
            tail_probe: default_tail_probe(),
            lane: LaneMode::from_env(),
        }
    }
}
