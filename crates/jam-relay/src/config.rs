//! Every limit of the relay, with its default. The `jam-relay` binary exposes each as a flag.

use std::time::Duration;

/// Limits and timings of a relay. `RelayConfig::default()` is what the desktop app and the
/// `jam-relay` binary use unless told otherwise; `docs/PROTOCOL.md` lists the same defaults.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct RelayConfig {
    /// Largest text frame, in bytes, that the relay accepts; larger ones are answered with
    /// PAYLOAD_TOO_LARGE and dropped (the connection stays open). Frames above four times this
    /// (at least 64 KiB) cannot be read at all and close the connection with code 1009.
    #[arg(long, default_value_t = 16 * 1024, value_name = "BYTES")]
    pub max_message_bytes: usize,

    /// Most participants (players and listeners) in one room.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_room_size: usize,

    /// Most rooms the relay hosts at once.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub max_rooms: usize,

    /// Most open connections, counted from the moment a socket is accepted (before its
    /// handshake). One more is told SERVER_FULL and closed; beyond that, a few more, sockets are
    /// closed at once. The default fits the usual limit of 1,024 open files per process; raise
    /// `ulimit -n` before raising this.
    #[arg(long, default_value_t = 900, value_name = "N")]
    pub max_connections: usize,

    /// Most open connections from one IP address (a household behind one router shares one).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub max_connections_per_ip: usize,

    /// A connection that has not created or joined a room this many ms after connecting is
    /// closed (code 4002).
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    pub join_timeout_ms: u64,

    /// Browser origins allowed to connect (e.g. `https://jam.example.org`); repeat for more.
    /// A WebSocket handshake that carries an `Origin` header not in this list is refused with
    /// HTTP 403, so a web page cannot use a visitor's browser to reach the relay. Native clients
    /// send no `Origin` and are always allowed.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,

    /// If set, `session:create` must carry this key: only those who know it can open rooms.
    /// The desktop app and `jam host` set a random one on their embedded relay, so that relay
    /// serves their room alone.
    #[arg(
        long,
        value_name = "KEY",
        env = "JAM_RELAY_CREATE_KEY",
        hide_env_values = true
    )]
    pub create_key: Option<String>,

    /// Messages per second each connection may send, sustained (token bucket refill rate).
    /// Note-offs and sustain-offs for notes the sender holds are never limited.
    #[arg(long, default_value_t = 500, value_name = "PER_SEC")]
    pub rate_per_sec: u32,

    /// Messages a connection may send in a burst above the sustained rate (bucket size).
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub rate_burst: u32,

    /// Bytes per second each connection may send, sustained. Every frame is charged here, and
    /// against twice the message rate, before it is even parsed; a frame over either budget is
    /// dropped unread.
    #[arg(long, default_value_t = 128 * 1024, value_name = "BYTES_PER_SEC")]
    pub byte_rate_per_sec: u32,

    /// Bytes a connection may send in a burst above the sustained byte rate.
    #[arg(long, default_value_t = 512 * 1024, value_name = "BYTES")]
    pub byte_burst: u32,

    /// Frames waiting to be written to one member; a member whose queue is full when the relay
    /// has something for it is disconnected (close code 4008) and nobody else waits.
    #[arg(long, default_value_t = 1_024, value_name = "FRAMES")]
    pub outbound_queue: usize,

    /// Bytes waiting to be written to one member; like `outbound_queue`, a member whose queue
    /// would grow past it is disconnected (4008).
    #[arg(long, default_value_t = 512 * 1024, value_name = "BYTES")]
    pub outbound_queue_bytes: usize,

    /// Failed joins (no such room, wrong password) one connection may make before it is
    /// closed (code 4003).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub join_failures_per_connection: u32,

    /// Failed joins one IP address may make in a burst; it earns one more every
    /// `join_failure_refill_ms`, and while it has none its joins are refused (RATE_LIMITED).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub join_failures_per_ip: u32,

    /// Wrong passwords one room takes in a burst before it refuses joins for a while
    /// (RATE_LIMITED); it earns one more every `join_failure_refill_ms`.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub join_failures_per_room: u32,

    /// How often a failure budget (per IP, per room) earns back one failed join, ms.
    #[arg(long, default_value_t = 6_000, value_name = "MS")]
    pub join_failure_refill_ms: u64,

    /// A note-on (drum_hit, piano_note) still waiting in a member's outbound queue after this
    /// many ms is dropped instead of played far too late. Note-offs are never dropped.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub stale_note_ms: u64,

    /// How often the relay pings each connection, in ms.
    #[arg(long, default_value_t = 5_000, value_name = "MS")]
    pub heartbeat_interval_ms: u64,

    /// A connection that sends nothing (not even a pong) for this many ms is dropped, which
    /// counts as leaving its room.
    #[arg(long, default_value_t = 15_000, value_name = "MS")]
    pub heartbeat_timeout_ms: u64,

    /// Shortest gap, in ms, between two `cursor` events relayed from one sender; the latest
    /// position in between wins.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub cursor_interval_ms: u64,
    /// Serve the browser guest's instrument samples from this assets folder (its `drums/`,
    /// `piano/` and `palette/`) instead of the copies built into the relay. The desktop app and
    /// `jam host` set it to the samples they play with, so the app carries them once; a relay
    /// built without its embedded samples (`--no-default-features`) serves none without it.
    #[arg(long, value_name = "DIR")]
    pub samples_dir: Option<std::path::PathBuf>,
}

impl Default for RelayConfig {
    fn default() -> RelayConfig {
        RelayConfig {
            max_message_bytes: 16 * 1024,
            max_room_size: 64,
            max_rooms: 1_000,
            max_connections: 900,
            max_connections_per_ip: 32,
            join_timeout_ms: 30_000,
            allowed_origins: Vec::new(),
            create_key: None,
            rate_per_sec: 500,
            rate_burst: 1_000,
            byte_rate_per_sec: 128 * 1024,
            byte_burst: 512 * 1024,
            outbound_queue: 1_024,
            outbound_queue_bytes: 512 * 1024,
            join_failures_per_connection: 5,
            join_failures_per_ip: 10,
            join_failures_per_room: 20,
            join_failure_refill_ms: 6_000,
            stale_note_ms: 500,
            heartbeat_interval_ms: 5_000,
            heartbeat_timeout_ms: 15_000,
            cursor_interval_ms: 100,
            samples_dir: None,
        }
    }
}

impl RelayConfig {
    /// The configuration of a relay embedded in an app or `jam host`: one room, created only by
    /// whoever knows its `create_key`, a fresh random secret the embedding process hands to its
    /// own session (`SessionConfig::create_key`).
    pub fn embedded() -> RelayConfig {
        RelayConfig {
            max_rooms: 1,
            create_key: Some(crate::secret::new_secret()),
            ..RelayConfig::default()
        }
    }

    /// True if a handshake with this `Origin` header (or none) may proceed.
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        origin.is_none_or(|o| {
            self.allowed_origins
                .iter()
                .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(o))
        })
    }

    pub(crate) fn join_timeout(&self) -> Duration {
        Duration::from_millis(self.join_timeout_ms)
    }

    pub(crate) fn join_failure_refill(&self) -> Duration {
        Duration::from_millis(self.join_failure_refill_ms.max(1))
    }
    /// Largest frame the WebSocket layer reads at all (see `max_message_bytes`).
    pub fn hard_frame_limit(&self) -> usize {
        (self.max_message_bytes.saturating_mul(4)).max(64 * 1024)
    }

    pub(crate) fn stale_note(&self) -> Duration {
        Duration::from_millis(self.stale_note_ms)
    }

    pub(crate) fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms.max(1))
    }

    pub(crate) fn heartbeat_timeout(&self) -> Duration {
        Duration::from_millis(self.heartbeat_timeout_ms)
    }

    pub(crate) fn cursor_interval(&self) -> Duration {
        Duration::from_millis(self.cursor_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: RelayConfig,
    }

    #[test]
    fn flag_defaults_match_default() {
        let cli = Cli::parse_from(["jam-relay"]);
        assert_eq!(cli.config, RelayConfig::default());
    }

    #[test]
    fn origins_are_refused_unless_listed() {
        let mut c = RelayConfig::default();
        assert!(c.origin_allowed(None), "native clients send no Origin");
        assert!(!c.origin_allowed(Some("http://example.com")));
        assert!(!c.origin_allowed(Some("null")));
        c.allowed_origins = vec!["https://jam.example.org/".into()];
        assert!(c.origin_allowed(Some("https://JAM.example.org")));
        assert!(!c.origin_allowed(Some("https://jam.example.org.evil.com")));
    }

    #[test]
    fn defaults_carry_a_virtuoso() {
        let c = RelayConfig::default();
        assert!(c.rate_per_sec >= 200 && c.rate_burst >= 1_000);
    }
}
