//! Errors of the session client.

use jam_protocol::ErrorCode;

/// What went wrong joining or staying in a jam.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The invite text is not `jam://HOST:PORT/ROOMCODE`.
    #[error("\"{0}\" isn't an invite — it looks like jam://192.168.1.20:7878/K7M2QXH4")]
    BadInvite(String),
    /// The relay could not be reached.
    #[error(
        "couldn't reach {address} ({detail}) — is the host's app open and on the same network?"
    )]
    Unreachable {
        /// `HOST:PORT`.
        address: String,
        /// What the network said.
        detail: String,
    },
    /// The relay refused a request.
    #[error("{message}")]
    Relay {
        /// The relay's error code.
        code: ErrorCode,
        /// The relay's explanation, for people.
        message: String,
    },
    /// The relay spoke something other than protocol v1.
    #[error("the relay at {address} doesn't speak Jamwire's protocol ({detail})")]
    Protocol {
        /// `HOST:PORT`.
        address: String,
        /// What was wrong.
        detail: String,
    },
    /// The host ended the jam.
    #[error("{host} ended the jam.")]
    JamEnded {
        /// The host's name.
        host: String,
    },
    /// The session has ended (left, or failed for good).
    #[error("the session has ended")]
    Closed,
    /// Too many outgoing events are waiting; this one was dropped.
    #[error("the connection is too slow for what you are playing; some notes weren't sent")]
    Backlogged,
}
