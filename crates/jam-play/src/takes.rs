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
        let dir = first_folder(folders, "the MIDI file")?;
        let path = dir.join(format!("jamwire-{}-take-{}.mid", take.room, take.id));
        self.export_to(id, &path)?;
        Ok(path)
    }

    /// Writes take `id` as stems ([`Takes::export_stems`], at [`crate::stems::SAMPLE_RATE`])
    /// into a folder `jamwire-ROOM-take-ID stems` in the first of `folders` that exists or can
    /// be made, and returns that folder.
    pub fn export_stems_into(
        &self,
        id: i64,
        bank: &std::sync::Arc<jam_audio::SampleBank>,
        folders: &[PathBuf],
    ) -> Result<PathBuf> {
        let take = self.store()?.session(id)?;
        let dir = first_folder(folders, "the stems")?
            .join(format!("jamwire-{}-take-{} stems", take.room, take.id));
        self.export_stems(id, bank, crate::stems::SAMPLE_RATE, &dir)?;
        Ok(dir)
    }

    /// Writes take `id` into `dir` (made if missing) for a DAW: one 32-bit float WAV per player
    /// (`01 Ann.wav`, …, in order of their first note), `mix.wav`, and `take.mid` (the
    /// multitrack MIDI file with its tempo map), all from the take's time zero and of one
    /// length, rendered at `sample_rate` with the samples in `bank`. The stems render on as
    /// many threads as the machine has cores, streaming to their files. Returns the files.
    pub fn export_stems(
        &self,
        id: i64,
        bank: &std::sync::Arc<jam_audio::SampleBank>,
        sample_rate: u32,
        dir: &Path,
    ) -> Result<Vec<PathBuf>> {
        let store = self.store()?;
        let bounce = crate::stems::Bounce::new(&store.timeline(id)?, bank.clone(), sample_rate)?;
        std::fs::create_dir_all(dir).map_err(|e| export_failed(dir, &e))?;
        let mix = dir.join("mix.wav");
        let frames = write_wav(&mix, sample_rate, |sink| bounce.mix(sink))?;
        let stems: Vec<PathBuf> = bounce
            .players()
            .iter()
            .enumerate()
            .map(|(i, (_, name))| dir.join(format!("{:02} {}.wav", i + 1, file_safe(name))))
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        for (chunk_index, chunk) in stems.chunks(threads).enumerate() {
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .enumerate()
                    .map(|(k, path)| {
                        let index = chunk_index * threads + k;
                        let bounce = &bounce;
                        scope.spawn(move || {
                            write_wav(path, sample_rate, |sink| bounce.stem(index, frames, sink))
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect::<Result<Vec<u64>>>()
            })?;
        }
        let midi = dir.join("take.mid");
        let bytes = jam_takes::export::to_smf(&store, id)?;
        std::fs::write(&midi, bytes).map_err(|e| export_failed(&midi, &e))?;
        let mut written = stems;
        written.push(mix);
        written.push(midi);
        Ok(written)
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

/// The first of `folders` that exists or can be made, to write `what` to.
fn first_folder<'a>(folders: &'a [PathBuf], what: &str) -> Result<&'a PathBuf> {
    folders
        .iter()
        .find(|d| std::fs::create_dir_all(d).is_ok())
        .ok_or_else(|| PlayError::Export {
            path: "your Music folder".into(),
            detail: format!("there is no folder to write {what} to"),
        })
}

fn export_failed(path: &Path, e: &dyn std::fmt::Display) -> PlayError {
    PlayError::Export {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// Writes the stereo audio `render` streams into it as a 32-bit float WAV at `path`; returns
/// the frames written.
fn write_wav(
    path: &Path,
    sample_rate: u32,
    render: impl FnOnce(&mut dyn FnMut(&[f32]) -> Result<()>) -> Result<u64>,
) -> Result<u64> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(|e| export_failed(path, &e))?;
    let frames = render(&mut |block: &[f32]| {
        for &s in block {
            writer
                .write_sample(if s.is_finite() { s } else { 0.0 })
                .map_err(|e| export_failed(path, &e))?;
        }
        Ok(())
    })?;
    writer.finalize().map_err(|e| export_failed(path, &e))?;
    Ok(frames)
}

/// A player's name as part of a file name on any system: letters, digits, spaces, `-` and `_`
/// kept (a name from the network could say `../x` or `CON`), at most 40 characters, never
/// empty.
fn file_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let safe = safe.trim();
    if safe.is_empty() {
        "player".into()
    } else {
        safe.into()
    }
}

#[cfg(test)]
mod tests {
    use super::file_safe;

    #[test]
    fn names_from_the_network_make_safe_file_names() {
        assert_eq!(file_safe("Ann"), "Ann");
        assert_eq!(file_safe("../../etc/passwd"), "______etc_passwd");
        assert_eq!(file_safe("a\\b:c*?"), "a_b_c__");
        assert_eq!(file_safe("   "), "player");
        assert_eq!(file_safe("Zoë Ørsted"), "Zoë Ørsted");
        assert_eq!(file_safe(&"x".repeat(100)).chars().count(), 40);
    }
}
