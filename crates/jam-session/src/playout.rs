//! Playout: when to play each remote event so the sender's rhythm survives network jitter.
//!
//! Every event carries `timestamp`, the sender's estimate of relay time when the sound was made.
//! Its *lateness* here is `arrival − timestamp` (in relay time): network delay plus both clock
//! errors. Playing every event of a sender at `timestamp + D` reproduces their timing exactly,
//! as long as `D` covers the lateness. `D` is chosen per sender:
//!
//! - [`PlayoutMode::Tight`] (default): an adaptive jitter buffer. Its target covers the largest
//!   lateness among that sender's last 256 events plus a margin of 1.5 ms and a twentieth of the
//!   sender's lateness spread. The delay moves only as a listener cannot hear:
//!   - **first notes**: the delay starts from what is known of the sender's path ([`learnt`]).
//!     Each member tells the room its own link's round trips when it joins ([`LinkFigures`],
//!     from the clock pings it exchanges first) and this listener knows its own; an event's
//!     path is the sender's link and then ours. Its *floor*, where a note with no jitter
//!     arrives, is half of each round trip plus the output lead; its *headroom* is the jitter
//!     both links may add — their pings' spreads at 90 % confidence ([`range_factor`]) — plus
//!     [`LEARN_MARGIN_MS`] (5 ms, the machines' own scheduling delays). On a quiet link (a LAN,
//!     the same machine) the first note plays 5–6 ms after the floor instead of 35 ms after
//!     its own lateness. When either link is unknown (an older client) the headroom is
//!     [`SEED_HEADROOM_MS`] (30 ms, a home internet link's jitter) plus the margin, over the
//!     first note's lateness. For the sender's first [`LEARN_MS`] (and [`LEARN_EVENTS`]
//!     events) the delay covers at least the fastest trip plus the headroom — the fastest seen
//!     or the floor if less, not the first event's, which carries that event's own jitter —
//!     and every note is one more sample of the path, narrowing the headroom. Relaxing further
//!     before the window has seen the link's worst made the first bar glide down and then step
//!     up when a slower event came (heard: 11 intervals of 124.5 ms, then 126.8 ms);
//!   - **in a groove** it glides towards the target by at most [`GLIDE_SHARE`] (1 %) of the
//!     time since the sender's previous event and never more than [`GLIDE_STEP_MS`] (1 ms)
//!     between two events (never between the notes of a chord);
//!   - **in a rest** (a gap of 250 ms and 2.5 times the sender's typical gap) it moves to the
//!     target at once, where no rhythm can be heard to change;
//!   - **an event late for its slot** plays late whatever is done; the delay then grows at
//!     once to cover it, so that only that one interval stretches (growing slowly would also
//!     squeeze the intervals after it).
//!
//!   Times are "audible" times: the session adds the local output's lead (its latency plus a
//!   block) to each arrival, so an event in time for the network is in time for the speakers.
//! - [`PlayoutMode::Fixed`]: `D` is a constant.
//! - [`PlayoutMode::Live`]: play on arrival (`D` = lateness), jitter and all.
//!
//! In every mode an event never plays before it arrived, never before an earlier event of the
//! same sender, and a note-off keeps its gap to its note-on (it uses the delay its note-on got).
//!
//! Bounds, whatever a sender's timestamps say: the delay stays within ±[`MAX_DELAY_MS`] (2 s),
//! an event is never placed more than [`MAX_DELAY_MS`] after it arrived, and at most
//! [`MAX_SENDERS`] senders are tracked. A sender with absurd timestamps therefore only ever
//! hears itself played late; nobody else is touched.

use std::collections::{HashMap, VecDeque};

use jam_protocol::{LinkFigures, MusicalEvent};

/// How remote events are placed in time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum PlayoutMode {
    /// Adaptive per-sender delay (the default).
    #[default]
    Tight,
    /// A fixed delay after the sender's timestamp, in ms.
    Fixed(f64),
    /// Play as soon as an event arrives.
    Live,
}

/// Lateness samples kept per sender (about 30 s of steady 16th notes at 120 BPM).
const WINDOW: usize = 256;
/// Share of the recent lateness the adaptive delay covers: all of it. Every late event is an
/// audible hiccup, and covering only the 98th percentile made the delay fall under the tail
/// and jump back up every fifty or so events; covering the window's maximum jumps only when the
/// network gets worse, and falls slowly once the worst event has left the window.
const QUANTILE: f64 = 1.0;
/// Added on top of the covered lateness, ms...
const MARGIN_MS: f64 = 1.5;
/// ...plus this share of the sender's lateness spread (max − min over the window), so that on
/// a jittery link the next record-late event still fits instead of forcing a step.
const SPREAD_MARGIN: f64 = 0.05;
/// The delay of a sender's first event: its lateness plus this, ms. Nothing is known of the
/// sender's link yet; this is room for the jitter of a typical home internet link (and for the
/// 0–30 ms the benchmarks use), so that the first bar is placed as well as the hundredth. It
/// relaxes to what the link needs within seconds, or at once in the first rest.
const SEED_HEADROOM_MS: f64 = 30.0;
/// How long (ms of the sender's time) and for how many events the delay keeps that headroom
/// over the smallest lateness seen, while the window learns the link: 2 s is 16 sixteenths at
/// 120 BPM, a bar.
const LEARN_MS: f64 = 2_000.0;
const LEARN_EVENTS: usize = 16;
/// Added to [`SEED_HEADROOM_MS`] while learning, ms: the sender's and the listener's machines
/// add their own scheduling delays to the link's jitter (measured on a loaded 2-core machine
/// through 0–30 ms of jitter: an event 33.7 ms slower than the fastest, in the first bar).
const LEARN_MARGIN_MS: f64 = 5.0;
/// How fast the delay glides towards its target in a groove: by this share of the time since
/// the sender's previous event, and at most [`GLIDE_STEP_MS`] between two events. Listeners
/// hear a single displaced note in a steady pulse from about 2.5 % of the interval, and 6 ms
/// below 250 ms (Friberg & Sundberg 1995); a glide shortens every interval alike, which is a
/// change of tempo and is heard later still (several % over a few beats). 1 %, at most 1 ms,
/// is well under both and keeps the groove's inter-onset error p99 under 2 ms while it
/// glides; at 16ths of 120 BPM it sheds 8 ms a second (it used to be 4 ms a second at most
/// 0.5 ms a step: the first minute of a jam played against a lag it could have shed in
/// seconds).
pub const GLIDE_SHARE: f64 = 0.01;
/// The most the delay glides between two events, ms (see [`GLIDE_SHARE`]).
pub const GLIDE_STEP_MS: f64 = 1.0;
/// A gap at least this long (ms), and at least [`REST_FACTOR`] times the sender's typical gap,
/// is a rest: the delay moves to its target at once, where no rhythm can be heard to change.
const REST_MS: f64 = 250.0;
const REST_FACTOR: f64 = 2.5;
/// Gaps kept per sender for its typical gap (the median).
const GAPS: usize = 16;
/// Largest playout delay, either way, ms: a sender whose events come later than this is
/// played on arrival, like [`PlayoutMode::Live`].
pub const MAX_DELAY_MS: f64 = 2_000.0;
/// Most senders tracked at once (a room holds at most 64 members); beyond it the sender
/// heard from longest ago is forgotten.
pub const MAX_SENDERS: usize = 256;

/// Timing figures for one sender, for the participant list.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SenderFigures {
    /// Current playout delay after the sender's timestamp, ms.
    pub delay_ms: f64,
    /// Smallest recent lateness: the one-way trip plus clock error, ms.
    pub one_way_ms: f64,
    /// Spread of recent lateness (98th percentile − minimum), ms.
    pub jitter_ms: f64,
    /// Headroom over the fastest lateness while the sender's link is learnt, ms: what
    /// [`seed_headroom_ms`] gives for the links known.
    pub headroom_ms: f64,
    /// Events received in the last second.
    pub events_per_s: f64,
}

#[derive(Debug, Default)]
struct SenderState {
    lateness: VecDeque<f64>,
    delay_ms: Option<f64>,
    /// Sender's timestamp of the previous timed event.
    last_timestamp: Option<f64>,
    /// Sender's timestamp of its first timed event.
    first_timestamp: Option<f64>,
    /// Recent gaps between the sender's timed events, ms (at most [`GAPS`]).
    gaps: VecDeque<f64>,
    /// Latest play time given to this sender, relay ms.
    last_play_at: f64,
    /// Delay used by each piano note's note-on, so its note-off keeps the gap.
    note_delay: HashMap<u8, f64>,
    /// Arrival times within the last second (at most [`MAX_RECENT`]).
    recent: VecDeque<f64>,
    /// Relay time this sender was last heard from.
    last_heard: f64,
    /// The sender's own link, as it told the room.
    link: Option<LinkFigures>,
}

impl SenderState {
    /// The median of the recent gaps between the sender's events, ms (0 before two events).
    fn typical_gap_ms(&self) -> f64 {
        quantile(&self.gaps, 0.5)
    }
}

/// Most arrival times kept for the events-per-second figure.
const MAX_RECENT: usize = 1_024;

/// The chance, in the headroom's estimates, that a link's jitter is wider than estimated.
const RANGE_MISS: f64 = 0.1;

/// How many times the spread of `n` samples a uniform jitter's whole range may be, at 90 %
/// confidence: `1/r` where the chance that `n` samples spread less than `r` of the range,
/// `n·r^(n−1) − (n−1)·r^n`, is [`RANGE_MISS`]. 2 samples: ×19.5; 8: ×1.68; 16: ×1.28.
fn range_factor(n: usize) -> f64 {
    let n = n.clamp(2, WINDOW) as f64;
    let below = |r: f64| n * r.powf(n - 1.0) - (n - 1.0) * r.powf(n);
    let (mut low, mut high) = (0.0f64, 1.0f64);
    for _ in 0..40 {
        let mid = 0.5 * (low + high);
        if below(mid) < RANGE_MISS {
            low = mid;
        } else {
            high = mid;
        }
    }
    1.0 / high
}

/// The headroom a sender's first note gets over the path's fastest trip, ms, from the links'
/// figures (ours, theirs): see [`learnt`]. [`SEED_HEADROOM_MS`] + [`LEARN_MARGIN_MS`] when
/// either is unknown; never more than [`MAX_DELAY_MS`].
pub fn seed_headroom_ms(ours: Option<LinkFigures>, theirs: Option<LinkFigures>) -> f64 {
    learnt(ours, theirs, 0.0, 0, 0.0).headroom
}

/// The playout scheduler for every remote sender of a session.
#[derive(Debug, Default)]
pub struct Playout {
    mode: PlayoutMode,
    senders: HashMap<String, SenderState>,
    /// This machine's own link to the relay, once the clock sync has measured it.
    own_link: Option<LinkFigures>,
    /// What the session adds to each arrival for the local output ([`Playout::set_output_lead`]).
    lead_ms: f64,
}

/// What is known of a sender's path while its link is learnt.
struct Learnt {
    /// Room over the path's fastest trip for its jitter, ms.
    headroom: f64,
    /// The fastest lateness the path can have, from both links' round trips and the output
    /// lead, if both links are known.
    floor: Option<f64>,
}

/// What is known of a sender's path while its link is learnt, from the links' figures (ours,
/// theirs) and the sender's `notes` so far, whose lateness spread `spread` ms; `lead_ms` is
/// what the session adds to each arrival.
///
/// The headroom is the path's jitter at 90 % confidence plus [`LEARN_MARGIN_MS`]. Both links
/// known: their pings' spreads add up, the notes' spread counts if wider, and every ping and
/// note is one more sample of the path (`n` = the fewer pings + the notes) for
/// [`range_factor`]. A link unknown: [`SEED_HEADROOM_MS`], or the notes' spread ×
/// [`range_factor`] of their number if that is less. The floor is half of each round trip plus
/// the lead: where a note with no jitter would arrive.
fn learnt(
    ours: Option<LinkFigures>,
    theirs: Option<LinkFigures>,
    spread: f64,
    notes: usize,
    lead_ms: f64,
) -> Learnt {
    let ms = |us: u32| f64::from(us) / 1_000.0;
    let known = ours
        .and_then(LinkFigures::checked)
        .zip(theirs.and_then(LinkFigures::checked));
    let (jitter, floor) = match known {
        Some((ours, theirs)) => {
            let pings = usize::from(ours.samples.min(theirs.samples));
            let wider = (ms(ours.spread_us) + ms(theirs.spread_us)).max(spread);
            (
                wider * range_factor(pings + notes),
                Some(lead_ms + 0.5 * (ms(ours.rtt_us) + ms(theirs.rtt_us))),
            )
        }
        None if notes >= 2 => (SEED_HEADROOM_MS.min(spread * range_factor(notes)), None),
        None => (SEED_HEADROOM_MS, None),
    };
    Learnt {
        headroom: (jitter + LEARN_MARGIN_MS).min(MAX_DELAY_MS),
        floor,
    }
}

impl Playout {
    /// A scheduler in `mode`.
    pub fn new(mode: PlayoutMode) -> Playout {
        Playout {
            mode,
            senders: HashMap::new(),
            own_link: None,
            lead_ms: 0.0,
        }
    }

    /// What the session adds to each arrival for the local output (its latency and a block),
    /// ms: part of the fastest lateness a sender's notes can have here.
    pub fn set_output_lead(&mut self, lead_ms: f64) {
        if lead_ms.is_finite() {
            self.lead_ms = lead_ms.clamp(0.0, MAX_DELAY_MS);
        }
    }

    /// This machine's own link to the relay, as its clock sync measured it: the listener's
    /// half of every sender's path. Applies to senders whose link is still being learnt.
    pub fn set_own_link(&mut self, link: Option<LinkFigures>) {
        self.own_link = link.and_then(LinkFigures::checked);
    }

    /// A sender's own link, as they told the room when they joined (`None`: they didn't say).
    pub fn set_link(&mut self, sender: &str, link: Option<LinkFigures>) {
        self.state(sender).link = link.and_then(LinkFigures::checked);
    }

    /// The state of `sender`, made if new; the table stays within [`MAX_SENDERS`] by
    /// forgetting the sender heard from longest ago.
    fn state(&mut self, sender: &str) -> &mut SenderState {
        if !self.senders.contains_key(sender) && self.senders.len() >= MAX_SENDERS {
            let oldest = self
                .senders
                .iter()
                .min_by(|a, b| a.1.last_heard.total_cmp(&b.1.last_heard))
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                self.senders.remove(&oldest);
            }
        }
        self.senders.entry(sender.to_owned()).or_default()
    }

    /// Changes the mode (applies to the next events).
    pub fn set_mode(&mut self, mode: PlayoutMode) {
        self.mode = mode;
    }

    /// The mode.
    pub fn mode(&self) -> PlayoutMode {
        self.mode
    }

    /// Forgets a sender (they left).
    pub fn remove(&mut self, sender: &str) {
        self.senders.remove(sender);
    }

    /// When to play an event from `sender` that arrived at relay time `arrival_ms`: the relay
    /// time at which it should sound.
    pub fn schedule(&mut self, sender: &str, event: Option<&MusicalEvent>, arrival_ms: f64) -> f64 {
        let mode = self.mode;
        let own_link = self.own_link;
        let lead_ms = self.lead_ms;
        let state = self.state(sender);
        state.last_heard = arrival_ms;
        if state.recent.len() >= MAX_RECENT {
            state.recent.pop_front();
        }
        state.recent.push_back(arrival_ms);
        while state
            .recent
            .front()
            .is_some_and(|&t| t < arrival_ms - 1_000.0)
        {
            state.recent.pop_front();
        }
        let timestamp = match event {
            Some(MusicalEvent::DrumHit(e)) => Some(e.timestamp),
            Some(MusicalEvent::PianoNote(e)) => Some(e.timestamp),
            Some(MusicalEvent::PianoNoteOff(e)) => Some(e.timestamp),
            Some(MusicalEvent::Sustain(e)) => Some(e.timestamp),
            Some(MusicalEvent::PitchBend(e)) => Some(e.timestamp),
            Some(MusicalEvent::Modulation(e)) => Some(e.timestamp),
            _ => None,
        };
        let Some(timestamp) = timestamp.filter(|t| t.is_finite()) else {
            // Chat, cursors, tempo and pattern changes: no rhythm to keep. (A timestamp that
            // is not a number never passes validation; if one came here, it is no time either.)
            return arrival_ms
                .max(state.last_play_at)
                .min(arrival_ms + MAX_DELAY_MS);
        };
        // Beyond the delay bound the exact lateness no longer matters: clamp it, so one absurd
        // timestamp cannot drag the window's figures anywhere.
        let lateness = (arrival_ms - timestamp).clamp(-MAX_DELAY_MS, MAX_DELAY_MS);
        if state.lateness.len() == WINDOW {
            state.lateness.pop_front();
        }
        state.lateness.push_back(lateness);
        let gap = state.last_timestamp.map(|last| timestamp - last);
        let delay = match mode {
            PlayoutMode::Live => lateness,
            PlayoutMode::Fixed(ms) => ms,
            PlayoutMode::Tight => {
                let fastest = quantile(&state.lateness, 0.0);
                let spread = quantile(&state.lateness, 1.0) - fastest;
                let margin = MARGIN_MS + SPREAD_MARGIN * spread;
                let learning = state.lateness.len() < LEARN_EVENTS
                    || state
                        .first_timestamp
                        .is_none_or(|first| timestamp - first < LEARN_MS);
                // Once learnt, the window alone decides (a sender's first note is always learnt).
                let Learnt { headroom, floor } = if learning {
                    learnt(own_link, state.link, spread, state.lateness.len(), lead_ms)
                } else {
                    Learnt {
                        headroom: 0.0,
                        floor: None,
                    }
                };
                // The fastest trip: the fastest seen, or what the links' round trips say it is
                // if that is less (the first notes carry their own jitter).
                let fastest = floor.map_or(fastest, |floor| fastest.min(floor));
                let target = (quantile(&state.lateness, QUANTILE) + margin).max(fastest + headroom);
                let since = state
                    .last_timestamp
                    .map_or(f64::INFINITY, |last| (timestamp - last).max(0.0));
                let rest = since >= REST_MS.max(REST_FACTOR * state.typical_gap_ms());
                // How far the delay may move on its own at this event: a little per elapsed
                // time (never between the notes of a chord), at most a step; all of it in a rest.
                let step = if rest {
                    f64::INFINITY
                } else {
                    (since * GLIDE_SHARE).min(GLIDE_STEP_MS)
                };
                match state.delay_ms {
                    // A sender's first event: start with room for the jitter its path may
                    // show, as far as it is known, and let it relax.
                    None => {
                        let first = if floor.is_some() {
                            target
                        } else {
                            (lateness + headroom).max(target)
                        };
                        tracing::info!(
                            sender,
                            lateness_ms = lateness,
                            delay_ms = first,
                            headroom_ms = headroom,
                            floor_ms = ?floor,
                            own_link = ?own_link,
                            their_link = ?state.link,
                            "placing a sender's first note"
                        );
                        first
                    }
                    // Late for its slot: it must play late; grow at once, so only this one
                    // interval stretches (growing slowly would also squeeze the next ones).
                    Some(current) if lateness + MARGIN_MS > current => {
                        tracing::debug!(
                            sender,
                            lateness_ms = lateness,
                            was_ms = current,
                            delay_ms = lateness + margin,
                            fastest_ms = fastest,
                            learning,
                            "a note came too late for its place: the delay grows"
                        );
                        lateness + margin
                    }
                    Some(current) => current + (target - current).clamp(-step, step),
                }
            }
        };
        let delay = if delay.is_finite() {
            delay.clamp(-MAX_DELAY_MS, MAX_DELAY_MS)
        } else {
            lateness
        };
        state.delay_ms = Some(delay);
        if let Some(gap) = gap.filter(|g| *g > 0.0) {
            if state.gaps.len() == GAPS {
                state.gaps.pop_front();
            }
            state.gaps.push_back(gap.min(MAX_DELAY_MS));
        }
        state.last_timestamp = Some(state.last_timestamp.map_or(timestamp, |t| t.max(timestamp)));
        state.first_timestamp.get_or_insert(timestamp);
        let used = match event {
            Some(MusicalEvent::PianoNote(e)) => {
                state.note_delay.insert(e.note, delay);
                delay
            }
            Some(MusicalEvent::PianoNoteOff(e)) => {
                state.note_delay.remove(&e.note).unwrap_or(delay)
            }
            _ => delay,
        };
        let latest = arrival_ms + MAX_DELAY_MS;
        let play_at = (timestamp + used)
            .max(arrival_ms)
            .max(state.last_play_at)
            .min(latest);
        state.last_play_at = play_at;
        play_at
    }

    /// Figures for one sender.
    pub fn figures(&self, sender: &str) -> Option<SenderFigures> {
        let s = self.senders.get(sender)?;
        let headroom_ms = seed_headroom_ms(self.own_link, s.link);
        let min = s.lateness.iter().copied().fold(f64::INFINITY, f64::min);
        Some(SenderFigures {
            delay_ms: s.delay_ms.unwrap_or(0.0),
            one_way_ms: if min.is_finite() { min } else { 0.0 },
            jitter_ms: if min.is_finite() {
                quantile(&s.lateness, QUANTILE) - min
            } else {
                0.0
            },
            headroom_ms,
            events_per_s: s.recent.len() as f64,
        })
    }
}

fn quantile(values: &VecDeque<f64>, q: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * q).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jam_protocol::event::{DrumHit, PianoNote, PianoNoteOff};

    fn hit(timestamp: f64) -> MusicalEvent {
        MusicalEvent::DrumHit(DrumHit {
            note: 38,
            velocity: 100,
            timestamp,
        })
    }

    /// A repeatable pseudo-random delay in 0..30 ms.
    fn jitter(i: u64) -> f64 {
        ((i.wrapping_mul(2_654_435_761) >> 7) % 30_000) as f64 / 1_000.0
    }

    #[test]
    fn tight_mode_keeps_the_rhythm_through_jitter_and_live_mode_does_not() {
        for (mode, keeps) in [(PlayoutMode::Tight, true), (PlayoutMode::Live, false)] {
            let mut playout = Playout::new(mode);
            let mut plays = Vec::new();
            let mut arrival_floor = 0.0;
            for i in 0..400u64 {
                let sent = 10_000.0 + i as f64 * 125.0; // 16th notes at 120 BPM
                let arrival = (sent + 5.0 + jitter(i)).max(arrival_floor); // in order, like TCP
                arrival_floor = arrival;
                plays.push(playout.schedule("drummer", Some(&hit(sent)), arrival));
            }
            // Every interval, from the first note on.
            let errors: Vec<f64> = plays
                .windows(2)
                .map(|w| (w[1] - w[0] - 125.0).abs())
                .collect();
            let mut sorted = errors.clone();
            sorted.sort_by(f64::total_cmp);
            let p99 = sorted[(sorted.len() - 1) * 99 / 100];
            let max = sorted[sorted.len() - 1];
            if keeps {
                assert!(p99 < 2.0, "tight: inter-onset error p99 {p99} ms");
                assert!(max <= GLIDE_STEP_MS + 1e-9, "tight: no steps, max {max} ms");
                let delay = playout.figures("drummer").unwrap().delay_ms;
                assert!(delay < 5.0 + 30.0 + 10.0, "added delay {delay} ms");
            } else {
                assert!(p99 > 10.0, "live mode shows the jitter: p99 {p99} ms");
            }
        }
    }

    #[test]
    fn a_late_event_never_plays_before_an_earlier_one_and_note_offs_keep_their_gap() {
        let mut playout = Playout::new(PlayoutMode::Tight);
        let on = MusicalEvent::PianoNote(PianoNote {
            note: 60,
            velocity: 90,
            timestamp: 1_000.0,
            duration: None,
        });
        let play_on = playout.schedule("keys", Some(&on), 1_010.0);
        // A very late event raises the delay; the note-off still keeps its 300 ms gap.
        let late = hit(1_100.0);
        let play_late = playout.schedule("keys", Some(&late), 1_180.0);
        assert!(play_late >= play_on);
        let off = MusicalEvent::PianoNoteOff(PianoNoteOff {
            note: 60,
            timestamp: 1_300.0,
        });
        let play_off = playout.schedule("keys", Some(&off), 1_305.0);
        assert!(
            (play_off - play_on - 300.0).abs() < 1e-9,
            "{play_on} → {play_off}"
        );
        // An event stamped earlier than one already scheduled still plays after it.
        let early = hit(1_050.0);
        assert!(playout.schedule("keys", Some(&early), 1_320.0) >= play_off);
    }

    #[test]
    fn the_delay_glides_in_a_groove_keeps_chords_together_and_jumps_only_in_a_rest() {
        let mut playout = Playout::new(PlayoutMode::Tight);
        let mut t = 10_000.0;
        let first = playout.schedule("keys", Some(&hit(t)), t + 5.0);
        let seed = 5.0 + SEED_HEADROOM_MS + LEARN_MARGIN_MS;
        assert_eq!(first, t + seed, "a conservative start");
        // While the link is being learnt (a bar), the notes' own steadiness narrows the
        // headroom, a glide step at a time, never below the learning margin...
        let mut last = first;
        for _ in 1..LEARN_EVENTS {
            t += 125.0;
            let at = playout.schedule("keys", Some(&hit(t)), t + 5.0);
            let interval = at - last;
            assert!(
                (interval - 125.0).abs() <= GLIDE_STEP_MS + 1e-9,
                "{interval}"
            );
            assert!(at - t >= 5.0 + LEARN_MARGIN_MS - 1e-9, "{}", at - t);
            last = at;
        }
        // ...then, on a calm link, the delay relaxes by at most a glide step per note...
        for _ in 0..10 {
            t += 125.0;
            let at = playout.schedule("keys", Some(&hit(t)), t + 5.0);
            let interval = at - last;
            assert!(
                (interval - 125.0).abs() <= GLIDE_STEP_MS + 1e-9,
                "{interval}"
            );
            assert!(interval < 125.0, "it relaxes");
            last = at;
        }
        // ...never between the notes of a chord...
        let chord: Vec<f64> = (0..3)
            .map(|_| playout.schedule("keys", Some(&hit(t)), t + 5.5))
            .collect();
        assert!(
            chord.iter().all(|&at| (at - last).abs() < 1e-9),
            "{chord:?}"
        );
        // ...and to what the link needs at once after a rest.
        t += 2_000.0;
        let after_rest = playout.schedule("keys", Some(&hit(t)), t + 5.0);
        // (The window's worst lateness was the chord's 5.5 ms, spread 0.5 ms.)
        let needed = t + 5.5 + MARGIN_MS + SPREAD_MARGIN * 0.5;
        assert!((after_rest - needed).abs() < 1e-9, "{after_rest}");
        // A late note grows the delay once: it plays on arrival, and the next keep the gap.
        t += 125.0;
        let late = playout.schedule("keys", Some(&hit(t)), t + 25.0);
        assert!(late >= t + 25.0);
        t += 125.0;
        let next = playout.schedule("keys", Some(&hit(t)), t + 5.0);
        assert!((next - late - 125.0).abs() < 1e-9, "{late} → {next}");
    }

    fn link(rtt_ms: f64, spread_ms: f64, samples: u8) -> Option<LinkFigures> {
        Some(LinkFigures {
            rtt_us: (rtt_ms * 1_000.0) as u32,
            spread_us: (spread_ms * 1_000.0) as u32,
            samples,
        })
    }

    #[test]
    fn the_first_notes_get_the_headroom_the_known_links_need() {
        // Nothing known (an older client, or our own sync didn't measure): 30 ms + 5.
        let unknown = SEED_HEADROOM_MS + LEARN_MARGIN_MS;
        assert_eq!(seed_headroom_ms(None, None), unknown);
        assert_eq!(seed_headroom_ms(link(0.2, 0.1, 8), None), unknown);
        assert_eq!(seed_headroom_ms(None, link(0.2, 0.1, 8)), unknown);
        // Figures out of bounds are no figures.
        assert_eq!(
            seed_headroom_ms(link(0.2, 0.1, 8), link(0.2, 0.1, 1)),
            unknown
        );
        assert_eq!(
            seed_headroom_ms(link(0.2, 20_000.0, 8), link(0.2, 0.1, 8)),
            unknown
        );
        // Both quiet (one machine, a LAN): a few ms.
        let quiet = seed_headroom_ms(link(0.2, 0.1, 8), link(0.3, 0.2, 8));
        assert!(
            (LEARN_MARGIN_MS..LEARN_MARGIN_MS + 1.0).contains(&quiet),
            "{quiet}"
        );
        // 0–30 ms of jitter on one side, seen by 8 pings as an 18 ms spread (90 % of runs
        // see more): 30 ms.
        let jittery = seed_headroom_ms(link(1.0, 18.0, 8), link(0.3, 0.0, 8));
        assert!((jittery - LEARN_MARGIN_MS - 30.0).abs() < 0.5, "{jittery}");
        // Fewer pings, wider guess; a huge spread is bounded.
        assert!(seed_headroom_ms(link(1.0, 10.0, 2), link(0.3, 0.0, 8)) > 30.0);
        assert_eq!(
            seed_headroom_ms(link(1.0, 9_000.0, 2), link(1.0, 9_000.0, 2)),
            MAX_DELAY_MS
        );

        // In a playout: a drummer on a quiet link is heard from the first hit a few ms after
        // the fastest trip, not 35 ms, and the first bar keeps that headroom.
        let mut playout = Playout::new(PlayoutMode::Tight);
        playout.set_own_link(link(0.2, 0.1, 8));
        playout.set_link("drums", link(0.3, 0.2, 8));
        playout.set_link("old", None);
        let mut t = 10_000.0;
        let first = playout.schedule("drums", Some(&hit(t)), t + 0.4);
        // Placed from the path's floor (half of each round trip: 0.25 ms), its first note
        // one more sample of the path.
        let h1 = learnt(link(0.2, 0.1, 8), link(0.3, 0.2, 8), 0.0, 1, 0.0).headroom;
        assert!((first - (t + 0.25 + h1)).abs() < 1e-9, "{}", first - t);
        assert_eq!(playout.figures("drums").unwrap().headroom_ms, quiet);
        let mut last = first;
        for _ in 1..LEARN_EVENTS {
            t += 125.0;
            let at = playout.schedule("drums", Some(&hit(t)), t + 0.4);
            let held = at - (t + 0.25);
            assert!(
                (LEARN_MARGIN_MS - 1e-9..=quiet + 1e-9).contains(&held),
                "{held}"
            );
            last = at;
        }
        let old = playout.schedule("old", Some(&hit(t)), t + 0.4);
        assert!((old - (t + 0.4 + unknown)).abs() < 1e-9);
        // Once learnt it glides to what the link needs: 1 ms a note at most.
        for _ in 0..10 {
            t += 125.0;
            let at = playout.schedule("drums", Some(&hit(t)), t + 0.4);
            assert!((125.0 - (at - last)) <= GLIDE_STEP_MS + 1e-9);
            last = at;
        }
        let settled = playout.figures("drums").unwrap().delay_ms;
        assert!((settled - (0.4 + MARGIN_MS)).abs() < 1e-9, "{settled}");
    }

    #[test]
    fn the_range_factor_is_what_ninety_percent_of_runs_of_uniform_jitter_stay_within() {
        assert!((range_factor(2) - 1.0 / (1.0 - 0.9f64.sqrt())).abs() < 1e-6);
        assert!((range_factor(8) - 1.68).abs() < 0.01, "{}", range_factor(8));
        assert!(
            (range_factor(16) - 1.28).abs() < 0.01,
            "{}",
            range_factor(16)
        );
        // Checked by drawing: 8 samples of 0–30 ms, 10,000 times.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut covered = 0;
        for _ in 0..10_000 {
            let draws: Vec<f64> = (0..8)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 1_000_000) as f64 / 1_000_000.0 * 30.0
                })
                .collect();
            let spread = draws.iter().copied().fold(f64::MIN, f64::max)
                - draws.iter().copied().fold(f64::MAX, f64::min);
            if spread * range_factor(8) >= 30.0 {
                covered += 1;
            }
        }
        assert!((8_850..=9_150).contains(&covered), "{covered}");
    }

    #[test]
    fn a_first_note_that_came_late_is_placed_from_the_paths_floor_not_from_its_own_lateness() {
        let mut playout = Playout::new(PlayoutMode::Tight);
        let (ours, theirs) = (link(1.0, 18.0, 8), link(0.3, 0.0, 8));
        playout.set_own_link(ours);
        playout.set_link("drums", theirs);
        playout.set_output_lead(10.0);
        let floor = 10.0 + 0.5 * (1.0 + 0.3);
        let t = 10_000.0;
        // It arrived 25 ms after the floor: the jitter the headroom is for, already spent.
        let lateness = floor + 25.0;
        let first = playout.schedule("drums", Some(&hit(t)), t + lateness) - t;
        let h1 = learnt(ours, theirs, 0.0, 1, 10.0).headroom;
        assert!((first - (floor + h1)).abs() < 1e-9, "{first}");
        assert!(
            first < lateness + h1 - 20.0,
            "not its lateness plus the headroom: {first}"
        );
        // One later than the whole headroom allows plays a margin after it could be heard.
        playout.set_link("far", theirs);
        let late = playout.schedule("far", Some(&hit(t)), t + floor + 60.0) - t;
        assert!((late - (floor + 60.0 + MARGIN_MS)).abs() < 1e-9, "{late}");
    }

    #[test]
    fn a_sender_who_claims_a_quiet_link_only_makes_their_own_notes_late() {
        let mut playout = Playout::new(PlayoutMode::Tight);
        playout.set_own_link(link(0.2, 0.1, 8));
        playout.set_link("liar", link(0.1, 0.0, 8));
        let mut t = 10_000.0;
        let mut last = 0.0;
        for i in 0..64u64 {
            let arrival = t + 5.0 + jitter(i);
            let at = playout.schedule("liar", Some(&hit(t)), arrival);
            assert!(at >= arrival && at >= last && at <= arrival + MAX_DELAY_MS);
            last = at;
            t += 125.0;
        }
        // The window has learnt the link: from here its notes keep their rhythm.
        let covered = playout.figures("liar").unwrap().delay_ms;
        assert!(covered >= 5.0 + 29.0, "{covered}");
        // Another sender is placed by its own figures.
        playout.set_link("friend", link(0.3, 0.2, 8));
        let friend = playout.schedule("friend", Some(&hit(t)), t + 0.4);
        assert!(friend - t < 0.4 + 6.0, "{}", friend - t);
    }

    #[test]
    fn fixed_mode_uses_its_delay_unless_the_event_is_later() {
        let mut playout = Playout::new(PlayoutMode::Fixed(40.0));
        assert_eq!(playout.schedule("a", Some(&hit(100.0)), 120.0), 140.0);
        assert_eq!(
            playout.schedule("a", Some(&hit(200.0)), 260.0),
            260.0,
            "arrived after its slot: now"
        );
    }

    #[test]
    fn absurd_timestamps_stay_within_the_bounds_and_spare_the_next_events() {
        let mut playout = Playout::new(PlayoutMode::Tight);
        let now = 1.8e12;
        for ts in [
            now - 86_400_000.0,
            now + 86_400_000.0,
            f64::MAX,
            -f64::MAX,
            f64::NAN,
        ] {
            let at = playout.schedule("rogue", Some(&hit(ts)), now);
            assert!(
                at.is_finite() && at >= now && at <= now + MAX_DELAY_MS,
                "{ts} → {at}"
            );
            let delay = playout.figures("rogue").unwrap().delay_ms;
            assert!(delay.abs() <= MAX_DELAY_MS, "{delay}");
        }
        // An honest event after them plays within the bound of its arrival.
        let at = playout.schedule("rogue", Some(&hit(now + 10.0)), now + 20.0);
        assert!(at >= now + 20.0 && at <= now + 20.0 + MAX_DELAY_MS, "{at}");
        // Nobody else is touched.
        assert_eq!(
            playout.schedule("friend", Some(&hit(now)), now + 5.0),
            now + 5.0 + SEED_HEADROOM_MS + LEARN_MARGIN_MS
        );
    }

    #[test]
    fn the_sender_table_is_bounded() {
        let mut playout = Playout::new(PlayoutMode::Tight);
        for i in 0..(MAX_SENDERS * 3) {
            playout.schedule(&format!("s{i}"), Some(&hit(1_000.0)), 1_000.0 + i as f64);
        }
        assert_eq!(playout.senders.len(), MAX_SENDERS);
        assert!(
            playout
                .figures(&format!("s{}", MAX_SENDERS * 3 - 1))
                .is_some()
        );
    }
}
