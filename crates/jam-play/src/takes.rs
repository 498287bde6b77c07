//! Takes on this computer: the session log the embedded relay records into, read back as the
//! list a UI shows, a take's players, a MIDI file, or sound (replay through the local engine).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use jam_takes::{Recorder, RecorderThread, TakeStore};
use tokio::runtime::Handle;

use crate::error::{PlayError, Result};
use crate::stage::StageHandle;
use crate::sync::lock;
use crate::views::{TakePlayerView, TakeView};

/// How far ahead a replay hands events to the engine: a long take never fills its queue.
const REPLAY_AHEAD: Duration = Duration::from_millis(200);
/// How long after the Replay press the take starts.
const REPLAY_START: Duration = Duration::from_millis(500);

/// A session log and, when this face records, its writer.
#[derive(Debug)]
pub struct Takes {
    /// The SQLite file.
    path: PathBuf,
    /// Its writer, when it could be opened (why not, otherwise).
    recorder: std::result::Result<Recorder, String>,
    /// The writer thread, finished (flushed) by [`Takes::finish`].
    thread: Mutex<Option<RecorderThread>>,
}

impl Takes {
    /// Opens (or creates) the log at `path` for recording; if it can't be, takes are still
    /// read from it and recording says why it can't.
    pub fn open(path: &Path) -> Takes {
        let started = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                Recorder::start(path, jam_takes::DEFAULT_QUEUE).map_err(|e| e.to_string())
            })
            .inspect_err(|e| tracing::warn!(error = %e, "takes won't be recorded"));
        let (recorder, thread) = match started {
            Ok((recorder, thread)) => (Ok(recorder), Some(thread)),
            Err(e) => (Err(e), None),
        };
        Takes {
            path: path.to_owned(),
            recorder,
            thread: Mutex::new(thread),
        }
    }

    /// A log to read only (`jam export`).
    pub fn read(path: &Path) -> Takes {
        Takes {
            path: path.to_owned(),
            recorder: Err("this log is open for reading only".into()),
            thread: Mutex::new(None),
        }
    }

    /// The writer, for a relay to record into.
    pub fn recorder(&self) -> Result<Recorder> {
        self.recorder.clone().map_err(PlayError::TakesUnavailable)
    }

    /// Stores the last moments of a recorded jam (call before the process exits).
    pub fn finish(&self) {
        if let Some(thread) = lock(&self.thread).take() {
            thread.finish();
        }
    }

    fn store(&self) -> Result<TakeStore> {
        Ok(TakeStore::open(&self.path)?)
    }

    /// The takes, newest first (none when there is no log yet).
    pub fn list(&self) -> Result<Vec<TakeView>> {
        if !self.path.exists() {
            return Ok(Vec::new());
        }
        Ok(self
            .store()?
            .sessions()?
            .into_iter()
            .map(|t| TakeView {
                id: t.id,
                room: t.room,
                started_ms: t.started_ms,
                duration_ms: t.duration_ms,
                participants: t.participants,
                event_count: t.event_count,
            })
            .collect())
    }

    /// The newest take's id.
    pub fn latest(&self) -> Result<i64> {
        Ok(self.store()?.latest()?)
    }

    /// Who played in take `id`: everyone, in order of arrival, with how much they played.
    pub fn details(&self, id: i64) -> Result<Vec<TakePlayerView>> {
        let store = self.store()?;
        let events = store.events(id)?;
        Ok(store
            .participants(id)?
            .into_iter()
            .map(|p| TakePlayerView {
                events: u64::try_from(
                    events
                        .iter()
                        .filter(|e| e.sender_id == p.user_id && !e.synthetic)
                        .count(),
                )
                .unwrap_or(u64::MAX),
                name: p.name,
                role: p.role,
                joined_ms: p.joined_ms,
                left_ms: p.left_ms,
            })
            .collect())
    }

    /// Writes take `id` as a multitrack MIDI file at `path`.
    pub fn export_to(&self, id: i64, path: &Path) -> Result<TakeView> {
        let store = self.store()?;
        let take = store.session(id)?;
        let bytes = jam_takes::export::to_smf(&store, id)?;
        std::fs::write(path, bytes).map_err(|e| PlayError::Export {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Ok(TakeView {
            id: take.id,
            room: take.room,
            started_ms: take.started_ms,
            duration_ms: take.duration_ms,
            participants: take.participants,
            event_count: take.event_count,
        })
    }

    /// Writes take `id` as `jamwire-ROOM-take-ID.mid` into the first of `folders` that exists
    /// or can be made, and returns the file's path.
    pub fn export_into(&self, id: i64, folders: &[PathBuf]) -> Result<PathBuf> {
        let take = self.store()?.session(id)?;
        let dir = folders
            .iter()
            .find(|d| std::fs::create_dir_all(d).is_ok())
            .ok_or_else(|| PlayError::Export {
                path: "your Music folder".into(),
                detail: "there is no folder to write the MIDI file to".into(),
            })?;
        let path = dir.join(format!("jamwire-{}-take-{}.mid", take.room, take.id));
        self.export_to(id, &path)?;
        Ok(path)
    }

    /// Deletes take `id`.
    pub fn delete(&self, id: i64) -> Result<()> {
        Ok(self.store()?.delete(id)?)
    }

    /// Plays take `id` on `stage`, on `runtime`, from half a second from now, each player on
    /// their own source. Returns its length in ms.
    pub(crate) fn replay(&self, id: i64, stage: StageHandle, runtime: &Handle) -> Result<f64> {
        let timeline = self.store()?.timeline(id)?;
        let length_ms = timeline
            .last()
            .map_or(0.0, |e| e.offset().as_secs_f64() * 1_000.0);
        let start = tokio::time::Instant::now() + REPLAY_START;
        runtime.spawn(async move {
            for e in timeline {
                let at = start.checked_add(e.offset()).unwrap_or(start);
                tokio::time::sleep_until(at.checked_sub(REPLAY_AHEAD).unwrap_or(at)).await;
                let who = format!("~take:{}", e.sender_id);
                stage.lock().speaker.play_at(&who, at.into_std(), &e.event);
            }
        });
        Ok(length_ms)
    }
}
