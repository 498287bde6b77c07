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

    /// Most open connections; one more is told SERVER_FULL and closed.
    #[arg(long, default_value_t = 4_096, value_name = "N")]
    pub max_connections: usize,

    /// Messages per second each connection may send, sustained (token bucket refill rate).
    /// Note-offs and sustain-offs for notes the sender holds are never limited.
    #[arg(long, default_value_t = 500, value_name = "PER_SEC")]
    pub rate_per_sec: u32,

    /// Messages a connection may send in a burst above the sustained rate (bucket size).
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub rate_burst: u32,

    /// Frames waiting to be written to one member; a member whose queue is full when the relay
    /// has something for it is disconnected (close code 4008) and nobody else waits.
    #[arg(long, default_value_t = 1_024, value_name = "FRAMES")]
    pub outbound_queue: usize,

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
}

impl Default for RelayConfig {
    fn default() -> RelayConfig {
        RelayConfig {
            max_message_bytes: 16 * 1024,
            max_room_size: 64,
            max_rooms: 1_000,
            max_connections: 4_096,
            rate_per_sec: 500,
            rate_burst: 1_000,
            outbound_queue: 1_024,
            stale_note_ms: 500,
            heartbeat_interval_ms: 5_000,
            heartbeat_timeout_ms: 15_000,
            cursor_interval_ms: 100,
        }
    }
}

impl RelayConfig {
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
    fn defaults_carry_a_virtuoso() {
        let c = RelayConfig::default();
        assert!(c.rate_per_sec >= 200 && c.rate_burst >= 1_000);
    }
}
