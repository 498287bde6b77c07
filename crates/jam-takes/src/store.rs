//! The SQLite database: schema, batched writes, and reading takes back.

use std::collections::HashMap;
use std::path::Path;

use jam_protocol::{Role, RoomCode};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{Record, Result, TakesError};

/// Schema version, in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id          INTEGER PRIMARY KEY,
    room        TEXT NOT NULL,
    started_ms  REAL NOT NULL,
    ended_ms    REAL
);
CREATE TABLE IF NOT EXISTS participants (
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    joined_ms   REAL NOT NULL,
    left_ms     REAL
);
CREATE INDEX IF NOT EXISTS participants_by_session ON participants(session_id);
CREATE TABLE IF NOT EXISTS events (
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    at_ms       REAL NOT NULL,
    sender_id   TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    event       TEXT NOT NULL,
    payload     TEXT NOT NULL,
    synthetic   INTEGER NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
";

/// A take as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    /// Its id (for export and deletion).
    pub id: i64,
    /// The room's code.
    pub room: String,
    /// Relay time it started, ms since the Unix epoch.
    pub started_ms: f64,
    /// How long it lasted, ms (to its last event if it was never closed).
    pub duration_ms: f64,
    /// Everyone who took part, in order of arrival, each once.
    pub participants: Vec<String>,
    /// Relayed events.
    pub event_count: u64,
}

/// Someone in a take.
#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    /// Their id in the room.
    pub user_id: String,
    /// Their name.
    pub name: String,
    /// `player` or `listener`.
    pub role: String,
    /// When they joined and left (relay time, ms).
    pub joined_ms: f64,
    /// `None` if still there when the log ends.
    pub left_ms: Option<f64>,
}

/// One relayed event of a take.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// The room's sequence number.
    pub seq: u64,
    /// Relay time, ms.
    pub at_ms: f64,
    /// Sender's id.
    pub sender_id: String,
    /// Sender's name.
    pub sender_name: String,
    /// Event name.
    pub event: String,
    /// Payload JSON, as relayed.
    pub payload: String,
    /// A release made by the relay for someone who left.
    pub synthetic: bool,
}

/// The session log's database.
#[derive(Debug)]
pub struct TakeStore {
    conn: Connection,
    /// Open session per room (writer side).
    open: HashMap<RoomCode, i64>,
    /// Names by (session, user id) (writer side).
    names: HashMap<(i64, String), String>,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Player => "player",
        Role::Listener => "listener",
    }
}

impl TakeStore {
    /// Opens (creating if needed) the log at `path`.
    pub fn open(path: &Path) -> Result<TakeStore> {
        let open = || -> rusqlite::Result<Connection> {
            let conn = Connection::open(path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version < SCHEMA_VERSION {
                conn.execute_batch(SCHEMA)?;
                conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            }
            Ok(conn)
        };
        let conn = open().map_err(|source| TakesError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(TakeStore {
            conn,
            open: HashMap::new(),
            names: HashMap::new(),
        })
    }

    /// Closes sessions a crashed process left open, at their last event (or join).
    pub fn close_abandoned(&self) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE sessions SET ended_ms = max(started_ms,
                 coalesce((SELECT max(at_ms) FROM events WHERE session_id = sessions.id), started_ms),
                 coalesce((SELECT max(joined_ms) FROM participants WHERE session_id = sessions.id), started_ms))
             WHERE ended_ms IS NULL",
            [],
        )?)
    }

    /// Writes records in one transaction.
    pub fn write(&mut self, records: &[Record]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for record in records {
            match record {
                Record::RoomOpened { room, at_ms } => {
                    tx.execute(
                        "INSERT INTO sessions (room, started_ms) VALUES (?1, ?2)",
                        params![room.as_str(), at_ms],
                    )?;
                    self.open.insert(room.clone(), tx.last_insert_rowid());
                }
                Record::Joined {
                    room,
                    user_id,
                    name,
                    role,
                    at_ms,
                } => {
                    let Some(&session) = self.open.get(room) else {
                        continue;
                    };
                    tx.execute(
                        "INSERT INTO participants (session_id, user_id, name, role, joined_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![session, user_id, name, role_name(*role), at_ms],
                    )?;
                    self.names.insert((session, user_id.clone()), name.clone());
                }
                Record::Left {
                    room,
                    user_id,
                    at_ms,
                } => {
                    let Some(&session) = self.open.get(room) else {
                        continue;
                    };
                    tx.execute(
                        "UPDATE participants SET left_ms = ?3 WHERE session_id = ?1 AND user_id = ?2 AND left_ms IS NULL",
                        params![session, user_id, at_ms],
                    )?;
                }
                Record::Event {
                    room,
                    seq,
                    at_ms,
                    sender_id,
                    event_name,
                    payload,
                    synthetic,
                } => {
                    let Some(&session) = self.open.get(room) else {
                        continue;
                    };
                    let name = self
                        .names
                        .get(&(session, sender_id.clone()))
                        .map_or(sender_id.as_str(), String::as_str);
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO events (session_id, seq, at_ms, sender_id, sender_name, event, payload, synthetic)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )?
                    .execute(params![
                        session,
                        i64::try_from(*seq).unwrap_or(i64::MAX),
                        at_ms,
                        sender_id,
                        name,
                        event_name,
                        payload.get(),
                        synthetic
                    ])?;
                }
                Record::RoomClosed { room, at_ms } => {
                    if let Some(session) = self.open.remove(room) {
                        tx.execute(
                            "UPDATE sessions SET ended_ms = ?2 WHERE id = ?1",
                            params![session, at_ms],
                        )?;
                        self.names.retain(|(s, _), _| *s != session);
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every take, newest first.
    pub fn sessions(&self) -> Result<Vec<SessionSummary>> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id, s.room, s.started_ms,
                    coalesce(s.ended_ms, (SELECT max(at_ms) FROM events WHERE session_id = s.id), s.started_ms),
                    (SELECT count(*) FROM events WHERE session_id = s.id)
             FROM sessions s ORDER BY s.started_ms DESC, s.id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, f64>(2)?,
                r.get::<_, f64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut sessions = Vec::new();
        for row in rows {
            let (id, room, started_ms, ended_ms, count) = row?;
            let mut names: Vec<String> = Vec::new();
            for p in self.participants(id)? {
                if !names.contains(&p.name) {
                    names.push(p.name);
                }
            }
            sessions.push(SessionSummary {
                id,
                room,
                started_ms,
                duration_ms: (ended_ms - started_ms).max(0.0),
                participants: names,
                event_count: count as u64,
            });
        }
        Ok(sessions)
    }

    /// The newest take's id.
    pub fn latest(&self) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT id FROM sessions ORDER BY started_ms DESC, id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(TakesError::Empty)
    }

    /// One take's summary.
    pub fn session(&self, id: i64) -> Result<SessionSummary> {
        self.sessions()?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(TakesError::NoSuchSession(id))
    }

    /// Who took part in a take, in order of arrival (a rejoin is a new row).
    pub fn participants(&self, id: i64) -> Result<Vec<Participant>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT user_id, name, role, joined_ms, left_ms FROM participants
             WHERE session_id = ?1 ORDER BY joined_ms, rowid",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(Participant {
                user_id: r.get(0)?,
                name: r.get(1)?,
                role: r.get(2)?,
                joined_ms: r.get(3)?,
                left_ms: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A take's events in `seq` order.
    pub fn events(&self, id: i64) -> Result<Vec<LoggedEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, at_ms, sender_id, sender_name, event, payload, synthetic FROM events
             WHERE session_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(LoggedEvent {
                seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                at_ms: r.get(1)?,
                sender_id: r.get(2)?,
                sender_name: r.get(3)?,
                event: r.get(4)?,
                payload: r.get(5)?,
                synthetic: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes a take and everything in it.
    pub fn delete(&self, id: i64) -> Result<()> {
        match self
            .conn
            .execute("DELETE FROM sessions WHERE id = ?1", [id])?
        {
            0 => Err(TakesError::NoSuchSession(id)),
            _ => Ok(()),
        }
    }

    /// SQLite's own consistency check ("ok" when the file is sound).
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}
