//! MIDI clock out, following the room ([`crate::midi_out::MidiOutConfig::clock`]; Settings →
//! MIDI out, `jam join --midi-clock`): 24 pulses a quarter note on the room's tempo and beat
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
pub struct Shared {
    /// The room's tempo and beat grid, from its anchor on.
    pub tempo: Tempo,
    /// The tempo before it, which still holds until `tempo`'s anchor (a change takes effect
    /// on the old tempo's next beat).
    pub previous: Option<Tempo>,
    /// A relay time and the local instant it was then: relay time now is `relay_ms` plus what
    /// has passed since `instant`.
    pub relay_ms: f64,
    /// See `relay_ms`.
    pub instant: Instant,
}

impl Shared {
    /// The grid the pulse after `after_ms` lies on: the previous tempo's until the current
    /// one's anchor (a beat of the previous grid, so the two meet there), the current one's
    /// from it on.
    pub fn grid_after(&self, after_ms: f64) -> &Tempo {
        match &self.previous {
            Some(previous) if after_ms + SAME_PULSE_MS < self.tempo.anchor_ms => previous,
            _ => &self.tempo,
        }
    }
}

/// Where the clock's bytes go: a MIDI output (or, for measuring it, anything that notes when
/// they left).
pub trait ClockSink {
    /// Sends one message now.
    fn send(&self, message: &[u8]);
}

impl ClockSink for SharedPort {
    fn send(&self, message: &[u8]) {
        lock(self).send(message);
    }
}

/// A usable tempo: within the protocol's 20–400 BPM (a room's tempo always is; this keeps a
/// pulse long enough to step by at relay times), else the default 120.
fn bpm_of(tempo: &Tempo) -> f64 {
    use jam_protocol::event::{MAX_BPM, MIN_BPM};
    if tempo.bpm.is_finite() && tempo.bpm > 0.0 {
        tempo.bpm.clamp(MIN_BPM, MAX_BPM)
    } else {
        120.0
    }
}

/// The length of a pulse on `tempo`, ms.
pub fn pulse_ms(tempo: &Tempo) -> f64 {
    60_000.0 / bpm_of(tempo) / PPQN
}

/// How much later than `after_ms` a pulse must be to count as the next. Relay times are in
/// the 10¹² ms range, where an `f64` steps by 0.2 µs: a pulse computed from the grid may come
/// out a hair before or after the one it is; a microsecond is far beyond that and far below
/// a pulse.
const SAME_PULSE_MS: f64 = 0.001;

/// The first pulse on `tempo`'s grid strictly after `after_ms` (relay time): never
/// `after_ms` itself, however the floating point rounds (else the clock would send the same
/// pulse again and again). `NaN` when the times are not finite.
pub fn next_pulse(tempo: &Tempo, after_ms: f64) -> f64 {
    let p = pulse_ms(tempo);
    if !(after_ms.is_finite() && tempo.anchor_ms.is_finite()) {
        return f64::NAN;
    }
    let mut k = ((after_ms - tempo.anchor_ms) / p).floor();
    let mut at = tempo.anchor_ms + k * p;
    // At most two steps: `k` is within one of the answer (bounded all the same).
    for _ in 0..4 {
        if at > after_ms + SAME_PULSE_MS {
            return at;
        }
        k += 1.0;
        at = tempo.anchor_ms + k * p;
    }
    if at > after_ms + SAME_PULSE_MS {
        at
    } else {
        f64::NAN
    }
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
pub fn run<S: ClockSink>(
    shared: &Arc<Mutex<Option<Shared>>>,
    ports: &[S],
    offset_ms: f64,
    stop: &Receiver<()>,
) {
    prefer_this_thread();
    let send = |bytes: &[u8]| {
        for port in ports {
            port.send(bytes);
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
                let next = next_pulse(room.grid_after(last_ms), last_ms);
                if now_ms - next > pulse_ms(room.grid_after(last_ms)) {
                    // Missed (a suspended machine): carry on from now, without a burst.
                    next_pulse(room.grid_after(now_ms), now_ms)
                } else {
                    next
                }
            }
            (None, Some((at, _))) => at,
            (None, None) => {
                let (at, position) = start_at(room.grid_after(now_ms), now_ms);
                send(&[
                    SONG_POSITION,
                    u8::try_from(position & 0x7f).unwrap_or(0),
                    u8::try_from(position >> 7).unwrap_or(0),
                ]);
                starting = Some((at, position));
                at
            }
        };
        if !next_ms.is_finite() {
            // A room whose times are not numbers has no grid: wait for a better one.
            last = None;
            starting = None;
            if wait(stop, NAP) {
                break;
            }
            continue;
        }
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

/// Asks the system to run the calling thread — one that sleeps until an exact instant and
/// then sends a few bytes — ahead of ordinary work, so that a busy machine delays its
/// messages less: real-time FIFO at the lowest real-time priority where that is allowed
/// (Linux: root, or a user whose `rtprio` limit allows it, as the `audio` group's usually
/// does), below any audio server's threads; else the highest ordinary priority. Refused, the
/// thread runs as it was. Returns whether it was granted anything.
pub(crate) fn prefer_this_thread() -> bool {
    use thread_priority::{ThreadPriority, set_current_thread_priority};
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            RealtimeThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        if set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
        )
        .is_ok()
        {
            return true;
        }
    }
    let granted = set_current_thread_priority(ThreadPriority::Max).is_ok();
    if !granted {
        tracing::debug!("MIDI timing thread runs at normal priority (the system refused more)");
    }
    granted
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
    fn each_pulse_is_later_than_the_last_at_a_real_relay_clocks_times() {
        // Relay times are milliseconds since 1970: ~1.8e12, where f64 rounds at 0.2 µs. The
        // pulse after a pulse is always the next one, one pulse later.
        for bpm in [120.0, 97.3, 300.0, 20.0] {
            let t = tempo(bpm, 4, 1_796_683_154_500.0);
            let p = pulse_ms(&t);
            let mut at = next_pulse(&t, 1_796_683_156_520.833_3);
            for _ in 0..100_000 {
                let next = next_pulse(&t, at);
                assert!((next - at - p).abs() < 0.01, "{bpm} BPM: {at} -> {next}");
                at = next;
            }
        }
        assert!(next_pulse(&tempo(120.0, 4, f64::NAN), 0.0).is_nan());
        assert!(next_pulse(&tempo(120.0, 4, 0.0), f64::INFINITY).is_nan());
    }

    #[test]
    fn the_old_tempo_holds_until_the_new_ones_anchor() {
        let old = tempo(120.0, 4, 0.0);
        let new = old.changed_at(1_010.0, 90.0, 4);
        let room = Shared {
            tempo: new,
            previous: Some(old),
            relay_ms: 0.0,
            instant: Instant::now(),
        };
        // From a pulse just after the change was asked, the old grid's pulses to its next beat
        // (1.5 s), then the new one's.
        let mut at = next_pulse(&old, 1_010.0);
        let mut pulses = vec![at];
        while at < 1_600.0 {
            at = next_pulse(room.grid_after(at), at);
            pulses.push(at);
        }
        let gaps: Vec<f64> = pulses.windows(2).map(|w| w[1] - w[0]).collect();
        let (to_beat, from_beat) = pulses.split_at(
            pulses
                .iter()
                .position(|p| (p - 1_500.0).abs() < 1e-6)
                .unwrap(),
        );
        assert!(!to_beat.is_empty() && !from_beat.is_empty());
        for (i, g) in gaps.iter().enumerate() {
            let want = if pulses[i + 1] <= 1_500.0 + 1e-6 {
                pulse_ms(&old)
            } else {
                pulse_ms(&new)
            };
            assert!(
                (g - want).abs() < 1e-6,
                "gap {i}: {g} (want {want}): {pulses:?}"
            );
        }
    }

    #[test]
    fn nonsense_tempos_do_not_stop_the_clock() {
        for bpm in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let t = tempo(bpm, 0, 0.0);
            assert!(pulse_ms(&t).is_finite() && pulse_ms(&t) > 0.0);
            let (at, p) = start_at(&t, 0.0);
            assert!(at.is_finite() && p < 16_384);
        }
        // Tempos no room can have (the protocol allows 20–400) still give a next pulse, later,
        // at real relay times: never a loop that can't step, never the same pulse again.
        for bpm in [1e9, 1e-9, 0.5, 10_000.0] {
            let t = tempo(bpm, 4, 1_796_683_154_500.0);
            let after = 1_796_683_156_520.0;
            let next = next_pulse(&t, after);
            assert!(next.is_finite() && next > after, "{bpm}: {next}");
        }
    }
}
