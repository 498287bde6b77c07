//! Standard MIDI Files: reading them into timed events (tempo map applied), and writing a
//! session's recording with one track per participant.

use std::path::Path;

use midly::num::{u4, u7, u14, u15, u24, u28};
use midly::{Format, Header, MetaMessage, Smf, Timing, TrackEvent, TrackEventKind};

use crate::{MidiError, MidiEvent, MidiMessage, Result};

/// One event of a song, at its time from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SongEvent {
    /// Microseconds from the start of the song.
    pub time_us: u64,
    /// The track it came from (index into [`Song::track_names`]).
    pub track: u16,
    /// The event.
    pub event: MidiEvent,
}

/// A MIDI file as timed channel events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Song {
    /// Every channel event of every track, in time order (ties keep file order).
    pub events: Vec<SongEvent>,
    /// Track names from the file ("" where a track has none).
    pub track_names: Vec<String>,
    /// Tempo changes: (µs from the start, beats per minute).
    pub tempo_changes: Vec<(u64, f64)>,
    /// Time of the file's last event of any kind (end of track included), µs.
    pub duration_us: u64,
}

impl Song {
    /// Reads a `.mid` file.
    pub fn load(path: &Path) -> Result<Song> {
        let bytes = std::fs::read(path).map_err(|source| MidiError::FileUnreadable {
            path: path.to_owned(),
            source,
        })?;
        Song::parse(&bytes).map_err(|e| match e {
            MidiError::FileInvalid { detail, .. } => MidiError::FileInvalid {
                what: path.display().to_string(),
                detail,
            },
            other => other,
        })
    }

    /// Reads a Standard MIDI File from memory, applying its tempo map.
    pub fn parse(bytes: &[u8]) -> Result<Song> {
        let smf = Smf::parse(bytes).map_err(|e| MidiError::FileInvalid {
            what: "the data".into(),
            detail: e.to_string(),
        })?;
        // Every event of every track at its absolute tick, in a stable order.
        let mut all = Vec::new();
        let mut track_names = Vec::with_capacity(smf.tracks.len());
        for (track, events) in smf.tracks.iter().enumerate() {
            let mut tick = 0u64;
            let mut name = String::new();
            for (order, event) in events.iter().enumerate() {
                tick += u64::from(event.delta.as_int());
                if let TrackEventKind::Meta(MetaMessage::TrackName(bytes)) = event.kind {
                    if name.is_empty() {
                        name = String::from_utf8_lossy(bytes).into_owned();
                    }
                }
                all.push((tick, track, order, event.kind));
            }
            track_names.push(name);
        }
        all.sort_by_key(|&(tick, track, order, _)| (tick, track, order));
        // Ticks to microseconds.
        let (mut us_per_tick, metrical_ppq) = match smf.header.timing {
            Timing::Metrical(ppq) => (500_000.0 / f64::from(ppq.as_int().max(1)), true),
            Timing::Timecode(fps, sub) => (
                1e6 / (f64::from(fps.as_f32()) * f64::from(sub.max(1))),
                false,
            ),
        };
        let ppq = match smf.header.timing {
            Timing::Metrical(ppq) => f64::from(ppq.as_int().max(1)),
            Timing::Timecode(..) => 1.0,
        };
        let (mut last_tick, mut now_us) = (0u64, 0.0f64);
        let mut song = Song {
            track_names,
            ..Song::default()
        };
        if metrical_ppq {
            song.tempo_changes.push((0, 120.0));
        }
        for (tick, track, _, kind) in all {
            now_us += (tick - last_tick) as f64 * us_per_tick;
            last_tick = tick;
            let time_us = now_us.round() as u64;
            match kind {
                TrackEventKind::Meta(MetaMessage::Tempo(t)) if metrical_ppq => {
                    let us_per_quarter = f64::from(t.as_int().max(1));
                    us_per_tick = us_per_quarter / ppq;
                    let bpm = 60e6 / us_per_quarter;
                    match song.tempo_changes.last_mut() {
                        Some(last) if last.0 == time_us => last.1 = bpm,
                        _ => song.tempo_changes.push((time_us, bpm)),
                    }
                }
                TrackEventKind::Midi { channel, message } => {
                    if let Some(event) = from_midly(channel.as_int(), message) {
                        song.events.push(SongEvent {
                            time_us,
                            track: track as u16,
                            event,
                        });
                    }
                }
                _ => {}
            }
            song.duration_us = time_us;
        }
        Ok(song)
    }

    /// Number of note-ons (velocity > 0).
    pub fn note_count(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e.event.message, MidiMessage::NoteOn { .. }))
            .count()
    }
}

fn from_midly(channel: u8, message: midly::MidiMessage) -> Option<MidiEvent> {
    use midly::MidiMessage as M;
    let (status, d1, d2) = match message {
        M::NoteOff { key, vel } => (0x80, key.as_int(), vel.as_int()),
        M::NoteOn { key, vel } => (0x90, key.as_int(), vel.as_int()),
        M::Aftertouch { key, vel } => (0xA0, key.as_int(), vel.as_int()),
        M::Controller { controller, value } => (0xB0, controller.as_int(), value.as_int()),
        M::ProgramChange { program } => (0xC0, program.as_int(), 0),
        M::ChannelAftertouch { vel } => (0xD0, vel.as_int(), 0),
        M::PitchBend { bend } => {
            let v = bend.0.as_int();
            (0xE0, (v & 0x7F) as u8, (v >> 7) as u8)
        }
    };
    MidiEvent::from_bytes(status | (channel & 0x0F), d1, d2)
}

fn to_midly(event: &MidiEvent) -> TrackEventKind<'static> {
    use midly::MidiMessage as M;
    let message = match event.message {
        MidiMessage::NoteOn { note, velocity } => M::NoteOn {
            key: u7::new(note & 0x7F),
            vel: u7::new(velocity & 0x7F),
        },
        MidiMessage::NoteOff { note, velocity } => M::NoteOff {
            key: u7::new(note & 0x7F),
            vel: u7::new(velocity & 0x7F),
        },
        MidiMessage::Sustain { on } => M::Controller {
            controller: u7::new(64),
            value: u7::new(if on { 127 } else { 0 }),
        },
        MidiMessage::ControlChange { controller, value } => M::Controller {
            controller: u7::new(controller & 0x7F),
            value: u7::new(value & 0x7F),
        },
        MidiMessage::PitchBend { value } => M::PitchBend {
            bend: midly::PitchBend(u14::new((value.clamp(-8192, 8191) + 8192) as u16)),
        },
        MidiMessage::ProgramChange { program } => M::ProgramChange {
            program: u7::new(program & 0x7F),
        },
        MidiMessage::ChannelPressure { pressure } => M::ChannelAftertouch {
            vel: u7::new(pressure & 0x7F),
        },
        MidiMessage::PolyPressure { note, pressure } => M::Aftertouch {
            key: u7::new(note & 0x7F),
            vel: u7::new(pressure & 0x7F),
        },
    };
    TrackEventKind::Midi {
        channel: u4::new(event.channel & 0x0F),
        message,
    }
}

/// MIDI channel (0-based) of the drums in files we write: General MIDI's channel 10.
pub const DRUM_CHANNEL: u8 = 9;
/// MIDI channel (0-based) of the piano in files we write.
pub const PIANO_CHANNEL: u8 = 0;
/// Length given to a drum hit in files we write, µs.
const DRUM_NOTE_US: u64 = 100_000;

/// Ticks per quarter note in files we write: at 120 BPM one tick is 0.52 ms.
pub const RECORDING_PPQ: u16 = 960;

/// A session being recorded: one track per participant, and the session's tempo changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recording {
    /// (participant name, their events as (µs from the start, event)).
    tracks: Vec<(String, Vec<(u64, MidiEvent)>)>,
    /// Tempo changes as (µs from the start, BPM); 120 BPM until the first.
    tempo: Vec<(u64, f64)>,
}

impl Recording {
    /// An empty recording.
    pub fn new() -> Recording {
        Recording::default()
    }

    /// The track of participant `name`, created on first use.
    pub fn track(&mut self, name: &str) -> usize {
        if let Some(i) = self.tracks.iter().position(|(n, _)| n == name) {
            return i;
        }
        self.tracks.push((name.to_owned(), Vec::new()));
        self.tracks.len() - 1
    }

    /// Records `event` on `track` at `time_us` from the start.
    pub fn record(&mut self, track: usize, time_us: u64, event: MidiEvent) {
        if let Some((_, events)) = self.tracks.get_mut(track) {
            events.push((time_us, event));
        }
    }

    /// Records a tempo change.
    pub fn set_tempo(&mut self, time_us: u64, bpm: f64) {
        if bpm.is_finite() && bpm > 0.0 {
            self.tempo.push((time_us, bpm));
        }
    }

    /// Records a Jamwire musical event at `time_us`: drums on channel 10 (each hit gets a note-off
    /// 100 ms later, since pads have no key-up), piano on channel 1, sustain as CC64, tempo
    /// changes into the tempo map. Returns whether the event was a note or pedal (chat and the
    /// like record nothing).
    pub fn record_musical(
        &mut self,
        track: usize,
        time_us: u64,
        event: &jam_protocol::MusicalEvent,
    ) -> bool {
        use jam_protocol::MusicalEvent as E;
        let on = |channel, note, velocity| MidiEvent {
            channel,
            message: MidiMessage::NoteOn { note, velocity },
        };
        let off = |channel, note| MidiEvent {
            channel,
            message: MidiMessage::NoteOff { note, velocity: 0 },
        };
        match *event {
            E::DrumHit(h) => {
                self.record(track, time_us, on(DRUM_CHANNEL, h.note, h.velocity));
                let end = time_us.saturating_add(DRUM_NOTE_US);
                self.record(track, end, off(DRUM_CHANNEL, h.note));
            }
            E::PianoNote(n) => {
                self.record(track, time_us, on(PIANO_CHANNEL, n.note, n.velocity));
                if let Some(ms) = n.duration {
                    // Within the protocol's bound (a minute) whatever the event says.
                    let ms = ms.clamp(0.0, jam_protocol::event::MAX_DURATION_MS);
                    let held =
                        std::time::Duration::try_from_secs_f64(ms / 1_000.0).unwrap_or_default();
                    let held_us = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
                    self.record(
                        track,
                        time_us.saturating_add(held_us),
                        off(PIANO_CHANNEL, n.note),
                    );
                }
            }
            E::PianoNoteOff(n) => self.record(track, time_us, off(PIANO_CHANNEL, n.note)),
            E::Sustain(s) => self.record(
                track,
                time_us,
                MidiEvent {
                    channel: PIANO_CHANNEL,
                    message: MidiMessage::Sustain { on: s.on },
                },
            ),
            E::PitchBend(b) => self.record(
                track,
                time_us,
                MidiEvent {
                    channel: PIANO_CHANNEL,
                    message: MidiMessage::PitchBend { value: b.value },
                },
            ),
            E::Modulation(m) => self.record(
                track,
                time_us,
                MidiEvent {
                    channel: PIANO_CHANNEL,
                    message: MidiMessage::ControlChange {
                        controller: 1,
                        value: m.value.min(127),
                    },
                },
            ),
            E::TempoChange(t) => {
                self.set_tempo(time_us, t.bpm);
                return false;
            }
            E::Instrument(ref chosen) => {
                // The palette's General MIDI programs: a DAW's GM synth plays something close.
                use jam_protocol::instrument::{kit, melodic};
                let keys = melodic(&chosen.keys).map_or(0, |v| v.program);
                let drums = kit(&chosen.drums).map_or(0, |v| v.program);
                for (channel, program) in [(PIANO_CHANNEL, keys), (DRUM_CHANNEL, drums)] {
                    let message = MidiMessage::ProgramChange { program };
                    self.record(track, time_us, MidiEvent { channel, message });
                }
                return false;
            }
            _ => return false,
        }
        true
    }

    /// Number of participant tracks.
    pub fn track_count(&self) -> usize {
        self.tracks.len()
    }

    /// The recording as a format-1 Standard MIDI File: a conductor track with the tempo map,
    /// then one track per participant named after them.
    pub fn to_smf_bytes(&self) -> Vec<u8> {
        let mut tempo = self.tempo.clone();
        tempo.sort_by_key(|&(t, _)| t);
        // Tempo segments as (µs, tick, µs per quarter).
        let mut segments = vec![(0u64, 0u64, 500_000.0f64)];
        for (time_us, bpm) in tempo {
            let us_per_quarter = 60e6 / bpm;
            let tick = ticks_at(&segments, time_us);
            if segments.last().is_some_and(|s| s.0 == time_us) {
                segments.pop();
            }
            segments.push((time_us, tick, us_per_quarter));
        }
        let mut conductor = vec![TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::TrackName(b"Jamwire session")),
        }];
        let mut last = 0;
        for &(_, tick, us_per_quarter) in &segments {
            conductor.push(TrackEvent {
                delta: u28::new((tick - last) as u32),
                kind: TrackEventKind::Meta(MetaMessage::Tempo(u24::new(
                    us_per_quarter.round() as u32
                ))),
            });
            last = tick;
        }
        conductor.push(TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
        });
        let mut tracks = vec![conductor];
        for (name, events) in &self.tracks {
            let mut sorted: Vec<(u64, MidiEvent)> = events.clone();
            sorted.sort_by_key(|&(t, _)| t);
            let mut track = vec![TrackEvent {
                delta: u28::new(0),
                kind: TrackEventKind::Meta(MetaMessage::TrackName(name.as_bytes())),
            }];
            let mut last = 0;
            for (time_us, event) in sorted {
                let tick = ticks_at(&segments, time_us);
                track.push(TrackEvent {
                    delta: u28::new((tick - last) as u32),
                    kind: to_midly(&event),
                });
                last = tick;
            }
            track.push(TrackEvent {
                delta: u28::new(0),
                kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
            });
            tracks.push(track);
        }
        let smf = Smf {
            header: Header::new(Format::Parallel, Timing::Metrical(u15::new(RECORDING_PPQ))),
            tracks,
        };
        let mut bytes = Vec::new();
        smf.write_std(&mut bytes)
            .expect("writing to memory cannot fail");
        bytes
    }

    /// Writes the recording to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_smf_bytes()).map_err(|e| MidiError::FileWrite {
            path: path.to_owned(),
            detail: e.to_string(),
        })
    }
}

/// The tick at `time_us` under a tempo map of (µs, tick, µs per quarter) segments.
fn ticks_at(segments: &[(u64, u64, f64)], time_us: u64) -> u64 {
    let &(start_us, start_tick, us_per_quarter) = segments
        .iter()
        .rev()
        .find(|s| s.0 <= time_us)
        .unwrap_or(&segments[0]);
    start_tick
        + ((time_us - start_us) as f64 * f64::from(RECORDING_PPQ) / us_per_quarter).round() as u64
}
