//! Errors that stop the relay from starting or running.
//!
//! Problems caused by a client (bad JSON, a wrong password, a flood) are not errors of the relay:
//! they are answered on that connection with an `error` message and the relay carries on.

use std::net::SocketAddr;

/// Why the relay could not start or keep listening.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The address could not be bound (in use, not local, no permission).
    #[error(
        "couldn't listen on {addr}: {source} — is another Jamwire relay already using that port? Try another port or port 0 for any free one"
    )]
    Bind {
        /// The address that was asked for.
        addr: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key can't be used.
    #[error("couldn't use the TLS certificate or key {path}: {detail}")]
    Tls {
        /// The file.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The listening socket failed after it was bound.
    #[error("the relay's listening socket on {addr} failed: {source}")]
    Listener {
        /// The address the relay listened on.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

/// The relay's result type.
pub type Result<T, E = RelayError> = std::result::Result<T, E>;
