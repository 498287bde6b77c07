//! Errors of the session log.

use std::path::PathBuf;

/// What went wrong with the session log.
#[derive(Debug, thiserror::Error)]
pub enum TakesError {
    /// The database file could not be opened or set up.
    #[error(
        "couldn't open the session log {path}: {source} — check that its folder exists and is writable"
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A query failed.
    #[error("the session log failed: {0}")]
    Sql(#[from] rusqlite::Error),
    /// No session with that id.
    #[error("there is no take {0} in this session log — list them with `jam export FILE --list`")]
    NoSuchSession(i64),
    /// The log holds no sessions yet.
    #[error("this session log has no takes yet")]
    Empty,
    /// The writer thread could not start.
    #[error("couldn't start the session log's writer: {0}")]
    Thread(#[from] std::io::Error),
}

/// The session log's result type.
pub type Result<T, E = TakesError> = std::result::Result<T, E>;
