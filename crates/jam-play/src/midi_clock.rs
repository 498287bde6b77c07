//! MIDI clock out, following the room (not offered to users yet — see
//! [`crate::midi_out::MidiOutConfig::clock`]): 24 pulses a quarter note on the room's tempo and beat
//! grid (the one the metronome and the sequencer play on), so a DAW or a drum machine set to
//! follow it plays in the jam's time.
//!
//! - It starts on a bar line: Song Position Pointer (the bar's place, in sixteenths from the
//!   room's beat 0), then Continue (Start at position 0) and the bar's first pulse together.
//! - A tempo change is followed from the next pulse: pulses lie on the new tempo's grid, whose
//!   beat 0 is a beat of the old one, so nothing jumps.
//! - Stop when the jam is left (or MIDI out is turned off).
//! - Its own thread sends each pulse at its instant (plus the user's offset); the room's tempo
//!   and the relay clock reach it through a small shared state the groove task refreshes. A
//!   pulse missed by more than one pulse (the machine was suspended) is skipped, not sent in a
//!   burst a DAW would read as a tempo jump.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jam_protocol::groove::Tempo;

use crate::midi_out::SharedPort;
use crate::sync::lock;

/// Pulses per quarter note (MIDI's).
pub const PPQN: f64 = 24.0;
/// How far ahead of now the clock starts, at the least (time for the Song Position Pointer
/// to arrive before the bar).
const START_LEAD_MS: f64 = 100.0;
/// The longest the clock thread sleeps at once, so that a stop or a tempo change is seen.
const NAP: Duration = Duration::from_millis(10);

const CLOCK: u8 = 0xF8;
const START: u8 = 0xFA;
const CONTINUE: u8 = 0xFB;
const STOP: u8 = 0xFC;
const SONG_POSITION: u8 = 0xF2;

/// What the clock thread knows of the room, refreshed by the groove task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shared {
    pub(crate) tempo: Tempo,
    /// A relay time and the local instant it was then: relay time now is `relay_ms` plus what
    /// has passed since `instant`.
    pub(crate) relay_ms: f64,
    pub(crate) instant: Instant,
}

/// A usable tempo: finite and positive, else the default 120.
fn bpm_of(tempo: &Tempo) -> f64 {
    if tempo.bpm.is_finite() && tempo.bpm > 0.0 {
        tempo.bpm
    } else {
        120.0
    }
}

/// The length of a pulse on `tempo`, ms.
pub fn pulse_ms(tempo: &Tempo) -> f64 {
    60_000.0 / bpm_of(tempo) / PPQN
}

/// The first pulse on `tempo`'s grid strictly after `after_ms` (relay time).
pub fn next_pulse(tempo: &Tempo, after_ms: f64) -> f64 {
    let p = pulse_ms(tempo);
    // A pulse within a microsecond of `after_ms` is that one (float error), not a next.
    let k = ((after_ms - tempo.anchor_ms) / p + 1e-6).floor() + 1.0;
    tempo.anchor_ms + k * p
}

/// Where the clock starts when asked at `now_ms`: the first bar line at least
/// [`START_LEAD_MS`] ahead, and its Song Position Pointer (sixteenths from the room's beat 0,
/// wrapped to whole bars within the pointer's 14 bits).
pub fn start_at(tempo: &Tempo, now_ms: f64) -> (f64, u16) {
    let beat = 60_000.0 / bpm_of(tempo);
    let beats_per_bar = f64::from(tempo.beats_per_bar.max(1));
    let bar = beat * beats_per_bar;
    let index = ((now_ms + START_LEAD_MS - tempo.anchor_ms) / bar).ceil();
    let at = tempo.anchor_ms + index * bar;
    let sixteenths_per_bar = beats_per_bar * 4.0;
    let bars_in_range = (16_384.0 / sixteenths_per_bar).floor().max(1.0);
    let wrapped = index.rem_euclid(bars_in_range) * sixteenths_per_bar;
    let position = if wrapped.is_finite() && (0.0..16_384.0).contains(&wrapped) {
        // In range by the check above: the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let p = wrapped as u16;
        p
    } else {
        0
    };
    (at, position)
}

/// The clock thread: runs until `stop` says so (or its sender is gone), then sends Stop.
pub(crate) fn run(
    shared: &Arc<Mutex<Option<Shared>>>,
    ports: &[SharedPort],
    offset_ms: f64,
    stop: &Receiver<()>,
) {
    let send = |bytes: &[u8]| {
        for port in ports {
            lock(port).send(bytes);
        }
    };
    let offset = Duration::try_from_secs_f64(offset_ms.abs() / 1_000.0).unwrap_or_default();
    let shift = |at: Instant| {
        if offset_ms >= 0.0 {
            at.checked_add(offset).unwrap_or(at)
        } else {
            at.checked_sub(offset).unwrap_or(at)
        }
    };
    // The last pulse sent (relay ms), once started; and whether the next is a bar's first.
    let mut last: Option<f64> = None;
    let mut starting: Option<(f64, u16)> = None;
    loop {
        let Some(room) = *lock(shared) else {
            if wait(stop, NAP) {
                break;
            }
            continue;
        };
        let since = Instant::now().saturating_duration_since(room.instant);
        let now_ms = room.relay_ms + since.as_secs_f64() * 1_000.0;
        let next_ms = match (last, starting) {
            (Some(last_ms), _) => {
                let next = next_pulse(&room.tempo, last_ms);
                if now_ms - next > pulse_ms(&room.tempo) {
                    // Missed (a suspended machine): carry on from now, without a burst.
                    next_pulse(&room.tempo, now_ms)
                } else {
                    next
                }
            }
            (None, Some((at, _))) => at,
            (None, None) => {
                let (at, position) = start_at(&room.tempo, now_ms);
                send(&[
                    SONG_POSITION,
                    u8::try_from(position & 0x7f).unwrap_or(0),
                    u8::try_from(position >> 7).unwrap_or(0),
                ]);
                starting = Some((at, position));
                at
            }
        };
        let due = shift(
            room.instant
                .checked_add(
                    Duration::try_from_secs_f64((next_ms - room.relay_ms).max(0.0) / 1_000.0)
                        .unwrap_or_default(),
                )
                .unwrap_or(room.instant),
        );
        let left = due.saturating_duration_since(Instant::now());
        if left > Duration::ZERO {
            if wait(stop, left.min(NAP)) {
                break;
            }
            if left > NAP {
                continue; // look at the tempo again before sleeping on
            }
        }
        if let Some((_, position)) = starting.take() {
            send(&[if position == 0 { START } else { CONTINUE }]);
        }
        send(&[CLOCK]);
        last = Some(next_ms);
    }
    if last.is_some() || starting.is_some() {
        send(&[STOP]);
    }
}

/// Sleeps up to `for_at_most`; true when told to stop.
fn wait(stop: &Receiver<()>, for_at_most: Duration) -> bool {
    match stop.recv_timeout(for_at_most) {
        Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        Err(RecvTimeoutError::Timeout) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempo(bpm: f64, beats_per_bar: u8, anchor_ms: f64) -> Tempo {
        Tempo {
            bpm,
            beats_per_bar,
            anchor_ms,
        }
    }

    #[test]
    fn twenty_four_pulses_a_beat_on_the_rooms_grid() {
        let t = tempo(120.0, 4, 1_000.0);
        let mut at = 1_000.0;
        let mut pulses = Vec::new();
        for _ in 0..48 {
            at = next_pulse(&t, at);
            pulses.push(at);
        }
        assert!(
            (pulses[23] - 1_500.0).abs() < 1e-6,
            "the 24th pulse is the next beat"
        );
        assert!(
            (pulses[47] - 2_000.0).abs() < 1e-6,
            "the 48th the one after"
        );
        // From anywhere between pulses, the next one on the grid.
        assert!((next_pulse(&t, 1_010.0) - (1_000.0 + 500.0 / 24.0)).abs() < 1e-6);
        assert!(
            (next_pulse(&t, 990.0) - 1_000.0).abs() < 1e-6,
            "beat 0 itself"
        );
    }

    #[test]
    fn it_starts_on_a_bar_line_with_its_song_position() {
        let t = tempo(120.0, 4, 0.0);
        // Bars are 2 s. At 4.95 s the next bar (6 s) is > 100 ms ahead: bar 3, 48 sixteenths.
        assert_eq!(start_at(&t, 4_950.0), (6_000.0, 48));
        // At 5.95 s, 6 s is only 50 ms ahead: the bar after.
        assert_eq!(start_at(&t, 5_950.0), (8_000.0, 64));
        assert_eq!(
            start_at(&t, -2_000.0),
            (0.0, 0),
            "beat 0 is position 0: Start"
        );
        // Far into a long jam the pointer wraps in whole bars.
        let (_, p) = start_at(&t, 2_000.0 * 5_000.0);
        assert!(p < 16_384 && p % 16 == 0, "{p}");
        // 3/4: bars of 12 sixteenths.
        assert_eq!(start_at(&tempo(60.0, 3, 0.0), 2_850.0), (3_000.0, 12));
    }

    #[test]
    fn a_tempo_change_is_followed_from_the_next_pulse() {
        let old = tempo(120.0, 4, 0.0);
        let last = 1_000.0 + 7.0 * pulse_ms(&old); // some pulse of the old grid
        let new = old.changed_at(1_010.0, 60.0, 4);
        assert_eq!(
            new.anchor_ms, 1_500.0,
            "the new grid starts on the old one's next beat"
        );
        let next = next_pulse(&new, last);
        // The new grid's pulses are 41.67 ms apart, through its beat 0 at 1.5 s.
        let k = (next - new.anchor_ms) / pulse_ms(&new);
        assert!((k - k.round()).abs() < 1e-9 && next > last, "{next}");
        assert!(next - last <= pulse_ms(&new) + 1e-9);
    }

    #[test]
    fn nonsense_tempos_do_not_stop_the_clock() {
        for bpm in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let t = tempo(bpm, 0, 0.0);
            assert!(pulse_ms(&t).is_finite() && pulse_ms(&t) > 0.0);
            let (at, p) = start_at(&t, 0.0);
            assert!(at.is_finite() && p < 16_384);
        }
    }
}
