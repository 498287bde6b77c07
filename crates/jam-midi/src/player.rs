//! Playing a song in real time, as if someone were playing it on a keyboard.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::{Song, SongEvent};

/// Longest single wait, so a stop request is noticed promptly.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// Emits every event of `song` at its time after `start` (never early), on the calling thread.
/// Returns early, without emitting the rest, once `stop` is set. Returns how many events were
/// emitted.
pub fn play_paced(
    song: &Song,
    start: Instant,
    stop: &AtomicBool,
    mut emit: impl FnMut(&SongEvent),
) -> usize {
    let mut emitted = 0;
    for event in &song.events {
        let due = start + Duration::from_micros(event.time_us);
        loop {
            if stop.load(Ordering::Relaxed) {
                return emitted;
            }
            let now = Instant::now();
            if now >= due {
                break;
            }
            std::thread::sleep((due - now).min(MAX_WAIT));
        }
        emit(event);
        emitted += 1;
    }
    emitted
}
