//! Errors of the session client.

use jam_protocol::ErrorCode;

/// What went wrong joining or staying in a jam.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The invite text is not `jam://HOST:PORT/ROOMCODE` (or `jams://HOST[:PORT]/ROOMCODE`).
    #[error(
        "\"{0}\" isn't an invite — it looks like jam://192.168.1.20:7878/K7M2QXH4 (or jams://relay.example.org/K7M2QXH4)"
    )]
    BadInvite(String),
    /// Nothing answered in time: packets are dropped on the way (a router or firewall), or
    /// nothing is there.
    #[error(
        "no answer from {address} within {secs} s — the host's router or firewall is probably blocking it. Ask the host whether their room says \"Anyone with the invite can join\"; if not, they can host on a relay server"
    )]
    TimedOut {
        /// `HOST:PORT`.
        address: String,
        /// How long we waited.
        secs: u64,
    },
    /// The host's machine answered that nothing listens there.
    #[error(
        "{address} refused the connection: nothing is listening there. Has the host ended the jam, or is the port in the invite wrong?"
    )]
    Refused {
        /// `HOST:PORT`.
        address: String,
    },
    /// The host name in the invite doesn't resolve.
    #[error(
        "couldn't find \"{host}\" — check the invite's address (its spelling) and that you are online"
    )]
    UnknownHost {
        /// The name that didn't resolve.
        host: String,
    },
    /// The secure connection to a relay server failed (its certificate, most often).
    #[error(
        "couldn't connect securely to {address}: {detail}. If this is a private relay, point JAMWIRE_CA_CERT (or --ca-cert) at the certificate of the authority that signed it"
    )]
    Tls {
        /// `HOST:PORT`.
        address: String,
        /// What TLS said.
        detail: String,
    },
    /// The relay could not be reached.
    #[error("lost the connection to {address} ({detail}) — is the host's app still open?")]
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
