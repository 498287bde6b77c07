//! The playout buffer fed arbitrary timestamps and arrival times, from many senders, in every
//! mode: it never panics, and whenever arrival is a real time, an event plays no earlier than
//! it arrived and no later than the delay bound after — whatever link figures the senders
//! and this listener claim, and whatever output lead the session passes in.
#![no_main]

use arbitrary::Arbitrary;
use jam_protocol::event::{DrumHit, PianoNote, PianoNoteOff, Sustain};
use jam_protocol::{LinkFigures, MusicalEvent};
use jam_session::{MAX_DELAY_MS, Playout, PlayoutMode};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Step {
    sender: u16,
    kind: u8,
    note: u8,
    timestamp: f64,
    arrival: f64,
    duration: Option<f64>,
    /// Figures the sender claims before this step (rtt µs, spread µs, samples), if any.
    link: Option<(u32, u32, u8)>,
    /// An output lead the session passes in before this step, if any.
    lead: Option<f64>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    mode: u8,
    fixed_ms: f64,
    own_link: Option<(u32, u32, u8)>,
    steps: Vec<Step>,
}

fn figures((rtt_us, spread_us, samples): (u32, u32, u8)) -> LinkFigures {
    LinkFigures {
        rtt_us,
        spread_us,
        samples,
    }
}

fuzz_target!(|input: Input| {
    let mode = match input.mode % 3 {
        0 => PlayoutMode::Tight,
        1 => PlayoutMode::Live,
        _ => PlayoutMode::Fixed(input.fixed_ms),
    };
    let mut playout = Playout::new(mode);
    playout.set_own_link(input.own_link.map(figures));
    for step in input.steps.iter().take(2_000) {
        let event = match step.kind % 5 {
            0 => Some(MusicalEvent::DrumHit(DrumHit {
                note: step.note,
                velocity: 100,
                timestamp: step.timestamp,
            })),
            1 => Some(MusicalEvent::PianoNote(PianoNote {
                note: step.note,
                velocity: 100,
                timestamp: step.timestamp,
                duration: step.duration,
            })),
            2 => Some(MusicalEvent::PianoNoteOff(PianoNoteOff {
                note: step.note,
                timestamp: step.timestamp,
            })),
            3 => Some(MusicalEvent::Sustain(Sustain {
                on: step.note % 2 == 0,
                timestamp: step.timestamp,
            })),
            _ => None,
        };
        let sender = format!("s{}", step.sender % 300);
        if let Some(link) = step.link {
            playout.set_link(&sender, Some(figures(link)));
        }
        if let Some(lead) = step.lead {
            playout.set_output_lead(lead);
        }
        let at = playout.schedule(&sender, event.as_ref(), step.arrival);
        if step.arrival.is_finite() && step.arrival.abs() < 1e15 {
            assert!(at >= step.arrival, "{at} < {}", step.arrival);
            assert!(
                at <= step.arrival + MAX_DELAY_MS,
                "{at} > {} + bound",
                step.arrival
            );
        }
        if let Some(f) = playout.figures(&sender) {
            assert!(
                f.delay_ms.is_nan() || f.delay_ms.abs() <= MAX_DELAY_MS,
                "{f:?}"
            );
        }
    }
});
