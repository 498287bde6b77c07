//! Playing what the room plays through the local audio engine.
//!
//! [`Speaker`] is the glue between a session and a `jam-audio` engine: each participant gets
//! their own engine source (so their volume, mute and "release everything" are theirs alone),
//! remote events are placed at the frame the playout chose, local ones play at once. The sample
//! bank is decoded once; changing the output device opens a new engine on the same bank
//! ([`Speaker::open_output`], off any lock) and hands it everyone's volume and mute again.
//! Without an audio device it stays silent and says why.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The engine source previews play on (never a participant's id: ids have no `~`).
const PREVIEW: &str = "~preview";

/// Added to the output's measured lead: an audio callback may come this much later than its
/// period on a busy machine.
pub const LEAD_SLACK: Duration = Duration::from_millis(2);

use jam_audio::output::{self, AudioOutput, OutputConfig, OutputPlan};
use jam_audio::own::{OWN_PROGRAM, OwnSound};
use jam_audio::palette::Kind;
use jam_audio::{Action, Command, Engine, EngineConfig, Instrument, SampleBank, SourceId};
use jam_protocol::event::InstrumentChange;
use jam_protocol::{MusicalEvent, RoomWelcome};

/// An engine playing through a device: what [`Speaker::open_output`] makes.
pub type Output = (Engine, AudioOutput);

/// The local engine and its device, when there is one.
pub struct Speaker {
    /// The decoded samples, shared by every engine this speaker opens; `None` if they could
    /// not be loaded (then nothing ever sounds, and `silent_reason` says why).
    bank: Option<Arc<SampleBank>>,
    /// The engine and its device.
    engine: Option<Output>,
    /// Why there is no engine, for people.
    silent_reason: Option<String>,
    /// The engine source of each participant we have heard of.
    sources: HashMap<String, SourceId>,
    /// Engine sources no participant holds (source 0 is our own playing).
    free: Vec<SourceId>,
    /// Gain and mute set per source, given again to a new engine.
    mix: HashMap<SourceId, (f32, bool)>,
    /// Palette indices (keys, drums) chosen per source, given again to a new engine; a source
    /// not here plays the defaults.
    programs: HashMap<SourceId, (u16, u16)>,
    /// The bend range (semitones) of each source's keys sound; 2 where not chosen.
    bend_ranges: HashMap<SourceId, f32>,
    /// My own sound, given to every engine this speaker opens.
    own: Option<OwnSound>,
    /// Our keys play `own` (when there is one) rather than `local_choice`'s keys sound.
    own_on: bool,
    /// Our sounds as the room hears of them.
    local_choice: InstrumentChange,
    /// The output asked for.
    config: OutputConfig,
}

/// Every engine source but our own, to hand out to participants.
fn all_sources() -> Vec<SourceId> {
    // Reversed, so `pop` hands out 1, 2, 3, … in order.
    (1..SourceId::MAX)
        .rev()
        .filter_map(|i| u8::try_from(i).ok().map(SourceId))
        .collect()
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker")
            .field("device", &self.plan().map(|p| p.device.clone()))
            .field("silent_reason", &self.silent_reason)
            .finish_non_exhaustive()
    }
}

impl Speaker {
    /// Loads the samples and opens an audio output (the system default with
    /// `OutputConfig::default()`). Without one it logs why, remembers it for
    /// [`Speaker::silent_reason`], and plays nothing.
    pub fn open(config: &OutputConfig) -> Speaker {
        let dir = SampleBank::default_dir();
        let bank = match SampleBank::load(&dir) {
            Ok(bank) => {
                tracing::info!(dir = %dir.display(), "samples loaded");
                Arc::new(bank)
            }
            Err(e) => {
                tracing::warn!(error = %e, "no samples: playing silently");
                return Speaker::silent(e.to_string());
            }
        };
        let mut speaker = Speaker {
            bank: Some(bank.clone()),
            ..Speaker::silent("starting")
        };
        drop(speaker.replace_output(Speaker::open_output(&bank, config), config.clone()));
        speaker
    }

    /// A speaker that plays nothing (`--no-audio`).
    pub fn silent(reason: impl Into<String>) -> Speaker {
        Speaker {
            bank: None,
            engine: None,
            silent_reason: Some(reason.into()),
            sources: HashMap::new(),
            free: all_sources(),
            mix: HashMap::new(),
            programs: HashMap::new(),
            bend_ranges: HashMap::new(),
            own: None,
            own_on: false,
            local_choice: InstrumentChange {
                keys: jam_protocol::instrument::DEFAULT_MELODIC.to_owned(),
                drums: jam_protocol::instrument::DEFAULT_KIT.to_owned(),
            },
            config: OutputConfig::default(),
        }
    }

    /// Gives every engine my own sound (`None` forgets it); our keys play it while
    /// [`Speaker::play_own`] is on. Notes sounding on the previous one stop.
    pub fn set_own_sound(&mut self, sound: Option<OwnSound>) {
        self.own = sound;
        if let Some((engine, _)) = &mut self.engine
            && let Err(e) = engine.set_own_sound(self.own.as_ref())
        {
            tracing::warn!(error = %e, "the audio engine didn't take the new sound");
        }
        self.play_own(self.own_on);
    }

    /// My own sound, if one is loaded.
    pub fn own_sound(&self) -> Option<&OwnSound> {
        self.own.as_ref()
    }

    /// Our keys play my own sound (when one is loaded) or the sound the room hears.
    pub fn play_own(&mut self, on: bool) {
        self.own_on = on;
        let choice = self.local_choice.clone();
        self.set_programs(None, SourceId::LOCAL, &choice);
    }

    /// The output asked for (what [`Speaker::replace_output`] was last given).
    pub fn config(&self) -> &OutputConfig {
        &self.config
    }

    /// The decoded samples, to open another output with.
    pub fn bank(&self) -> Option<Arc<SampleBank>> {
        self.bank.clone()
    }

    /// Opens an engine on `bank` playing through the output `config` names. Decodes nothing;
    /// call it without holding the lock that guards the speaker.
    pub fn open_output(bank: &Arc<SampleBank>, config: &OutputConfig) -> Result<Output, String> {
        let plan = output::plan(config).map_err(|e| e.to_string())?;
        let (engine, renderer) = jam_audio::engine(
            bank.clone(),
            EngineConfig {
                sample_rate: plan.sample_rate,
                ..EngineConfig::default()
            },
        );
        let out = output::start(plan, renderer).map_err(|failed| failed.error.to_string())?;
        Ok((engine, out))
    }

    /// Plays through `opened` (the output `config` asked for) from now on, or silently saying
    /// why, with everyone's volume and mute as they were. Returns the previous output: stop it
    /// (drop it) outside the lock.
    pub fn replace_output(
        &mut self,
        opened: Result<Output, String>,
        config: OutputConfig,
    ) -> Option<Output> {
        let previous = self.engine.take();
        self.config = config;
        match opened {
            Ok(output) => {
                self.engine = Some(output);
                self.silent_reason = None;
                if let Some((engine, _)) = &mut self.engine
                    && self.own.is_some()
                {
                    // A fresh engine's ring is empty.
                    let _ = engine.set_own_sound(self.own.as_ref());
                }
                let mix: Vec<(SourceId, (f32, bool))> =
                    self.mix.iter().map(|(s, m)| (*s, *m)).collect();
                for (source, (gain, muted)) in mix {
                    self.send(None, Action::SourceGain { source, gain });
                    self.send(None, Action::SourceMute { source, muted });
                }
                let programs: Vec<(SourceId, (u16, u16))> =
                    self.programs.iter().map(|(s, p)| (*s, *p)).collect();
                for (source, (keys, drums)) in programs {
                    self.send_programs(None, source, keys, drums);
                }
            }
            Err(reason) => {
                tracing::warn!(%reason, "playing silently");
                self.silent_reason = Some(reason);
            }
        }
        previous
    }

    /// Whether the output's stream has failed and must be reopened (see
    /// [`jam_audio::output::AudioOutput::failed`]).
    pub fn output_failed(&self) -> bool {
        self.engine.as_ref().is_some_and(|(_, out)| out.failed())
    }

    /// Why nothing is heard, if nothing is.
    pub fn silent_reason(&self) -> Option<&str> {
        self.silent_reason.as_deref()
    }

    /// The device and stream settings in use.
    pub fn plan(&self) -> Option<&OutputPlan> {
        self.engine.as_ref().map(|(_, out)| out.plan())
    }

    /// The engine source that plays a participant: their own for as long as they are in the
    /// room (see [`Speaker::forget`]). A new participant gets a source nobody holds, at full
    /// volume and unmuted. Only with more than 63 participants at once (a relay allows 64 in a
    /// room, us included) would two share one: the last source is then shared.
    pub fn source(&mut self, participant_id: &str) -> SourceId {
        if let Some(source) = self.sources.get(participant_id) {
            return *source;
        }
        let source = match self.free.pop() {
            Some(source) => {
                self.mix.remove(&source);
                if self.programs.remove(&source).is_some() {
                    self.send_programs(None, source, 0, 0);
                }
                self.bend_ranges.remove(&source);
                self.send(None, Action::SourceGain { source, gain: 1.0 });
                self.send(
                    None,
                    Action::SourceMute {
                        source,
                        muted: false,
                    },
                );
                source
            }
            None => SourceId(u8::try_from(SourceId::MAX - 1).unwrap_or(u8::MAX)),
        };
        self.sources.insert(participant_id.to_owned(), source);
        source
    }

    /// A participant left: release what they hold and give their source back, so that the
    /// next newcomer gets it fresh.
    pub fn forget(&mut self, participant_id: &str) {
        self.release(participant_id);
        if let Some(source) = self.sources.remove(participant_id) {
            if !self.free.contains(&source) && self.sources.values().all(|s| *s != source) {
                // Reused last, so that anything still scheduled for the leaver has played out.
                self.free.insert(0, source);
            }
        }
    }

    /// Palette indices of a player's choice: the defaults for sounds this palette lacks.
    fn program_of(&self, chosen: &InstrumentChange) -> (u16, u16) {
        self.bank
            .as_ref()
            .map_or((0, 0), |bank| programs_of(bank, chosen))
    }

    /// What a pitch or modulation wheel does to `source`'s keys part.
    fn wheel(&self, source: SourceId, musical: &MusicalEvent) -> Option<Action> {
        let range = self.bend_ranges.get(&source).copied().unwrap_or(2.0);
        wheel_action(source, range, musical)
    }

    /// Sets what `source` plays, at `at` (or now), and remembers it.
    fn set_programs(&mut self, at: Option<Instant>, source: SourceId, chosen: &InstrumentChange) {
        let (mut keys, drums) = self.program_of(chosen);
        if source == SourceId::LOCAL {
            self.local_choice = chosen.clone();
            if self.own_on && self.own.is_some() {
                keys = OWN_PROGRAM;
            }
        }
        self.bend_ranges
            .insert(source, jam_protocol::instrument::bend_range(&chosen.keys));
        if (keys, drums) == (0, 0) {
            self.programs.remove(&source);
        } else {
            self.programs.insert(source, (keys, drums));
        }
        self.send_programs(at, source, keys, drums);
    }

    fn send_programs(&mut self, at: Option<Instant>, source: SourceId, keys: u16, drums: u16) {
        for (instrument, program) in [(Instrument::Piano, keys), (Instrument::Drums, drums)] {
            let action = Action::Program {
                source,
                instrument,
                program,
            };
            self.send(at, action);
        }
    }

    fn send(&mut self, at: Option<Instant>, action: Action) {
        if let Some((engine, _)) = &mut self.engine {
            let command = match at {
                Some(at) => Command::at(engine.clock().frame_at(at), action),
                None => Command::now(action),
            };
            // A full command ring means the audio thread has stalled: nothing better to do
            // than drop the command (the engine counts it).
            let _ = engine.send(command);
        }
    }

    /// How far ahead of now a sound must be handed over to be heard exactly when asked: the
    /// output's latency plus a block, plus [`LEAD_SLACK`] for audio callbacks that come late on
    /// a busy machine. Zero when nothing plays.
    pub fn output_lead(&self) -> Duration {
        self.engine.as_ref().map_or(Duration::ZERO, |(engine, _)| {
            engine.clock().lead() + LEAD_SLACK
        })
    }

    /// Plays an event as participant `participant_id` at instant `at`: a remote event at the
    /// time the playout chose, a take being replayed, the sequencer.
    pub fn play_at(&mut self, participant_id: &str, at: Instant, musical: &MusicalEvent) {
        let source = self.source(participant_id);
        if let MusicalEvent::Instrument(chosen) = musical {
            self.set_programs(Some(at), source, chosen);
            return;
        }
        if let Some(action) = self.wheel(source, musical) {
            self.send(Some(at), action);
            return;
        }
        for (delay, action) in actions_for(source, musical).into_iter().flatten() {
            self.send(Some(at.checked_add(delay).unwrap_or(at)), action);
        }
    }

    /// Plays one of our own events at instant `at` (frame-exact, as [`Speaker::play_at`]
    /// does): a note from a file, whose time is known ahead.
    pub fn play_local_at(&mut self, musical: &MusicalEvent, at: Instant) {
        if let MusicalEvent::Instrument(chosen) = musical {
            self.set_programs(Some(at), SourceId::LOCAL, chosen);
            return;
        }
        if let Some(action) = self.wheel(SourceId::LOCAL, musical) {
            self.send(Some(at), action);
            return;
        }
        for (delay, action) in actions_for(SourceId::LOCAL, musical).into_iter().flatten() {
            self.send(Some(at.checked_add(delay).unwrap_or(at)), action);
        }
    }

    /// Plays one of our own events now.
    pub fn play_local(&mut self, musical: &MusicalEvent) {
        if let MusicalEvent::Instrument(chosen) = musical {
            self.set_programs(None, SourceId::LOCAL, chosen);
            return;
        }
        if let Some(action) = self.wheel(SourceId::LOCAL, musical) {
            self.send(None, action);
            return;
        }
        for (delay, action) in actions_for(SourceId::LOCAL, musical).into_iter().flatten() {
            let now = Instant::now();
            let at = (!delay.is_zero()).then(|| now.checked_add(delay).unwrap_or(now));
            self.send(at, action);
        }
    }

    /// Applies the room state of a (re)join: whatever was sounding before is released (a note-off
    /// may have been missed while disconnected), then the notes others hold now start.
    pub fn apply_state(&mut self, welcome: &RoomWelcome) {
        let known: Vec<String> = self.sources.keys().cloned().collect();
        for id in &known {
            self.release(id);
        }
        // Everyone's sound: their choice, or the defaults (a rejoin forgets earlier choices).
        let defaults = InstrumentChange {
            keys: jam_protocol::instrument::DEFAULT_MELODIC.to_owned(),
            drums: jam_protocol::instrument::DEFAULT_KIT.to_owned(),
        };
        for p in welcome
            .participants
            .iter()
            .filter(|p| p.id != welcome.user_id)
        {
            let source = self.source(&p.id);
            let chosen = welcome
                .state
                .instruments
                .iter()
                .find(|i| i.user_id == p.id)
                .map_or(defaults.clone(), |i| InstrumentChange {
                    keys: i.keys.clone(),
                    drums: i.drums.clone(),
                });
            self.set_programs(None, source, &chosen);
        }
        for sustained in &welcome.state.sustain {
            let source = self.source(sustained);
            self.send(None, Action::Sustain { source, on: true });
        }
        for held in &welcome.state.held_notes {
            let source = self.source(&held.user_id);
            let action = Action::NoteOn {
                source,
                instrument: Instrument::Piano,
                note: held.note,
                velocity: held.velocity,
            };
            self.send(None, action);
        }
    }

    /// Plays a short preview of a sound on a source of its own, without changing anyone's: an
    /// arpeggio for a keys sound (with its sustain and release), a beat for a kit. A new
    /// preview cuts the last one short.
    pub fn preview(&mut self, chosen: &InstrumentChange, kit: bool) {
        let source = self.source(PREVIEW);
        self.send(None, Action::AllNotesOff { source });
        self.set_programs(None, source, chosen);
        let now = Instant::now();
        let (instrument, notes): (Instrument, &[(u64, u8, u64)]) = if kit {
            // Kick, hi-hat, snare, hi-hat: at 150 ms steps.
            (
                Instrument::Drums,
                &[
                    (0, 36, 0),
                    (150, 42, 0),
                    (300, 38, 0),
                    (450, 42, 0),
                    (600, 36, 0),
                ],
            )
        } else {
            // C4 E4 G4 C5, the last held (at, note, length ms).
            (
                Instrument::Piano,
                &[(0, 60, 180), (180, 64, 180), (360, 67, 180), (540, 72, 600)],
            )
        };
        for &(at_ms, note, length_ms) in notes {
            let on = now + Duration::from_millis(at_ms + 30);
            let action = Action::NoteOn {
                source,
                instrument,
                note,
                velocity: 100,
            };
            self.send(Some(on), action);
            if length_ms > 0 {
                let off = on + Duration::from_millis(length_ms);
                let action = Action::NoteOff {
                    source,
                    instrument,
                    note,
                };
                self.send(Some(off), action);
            }
        }
    }

    /// Releases everything a participant holds (they left).
    pub fn release(&mut self, participant_id: &str) {
        let source = self.source(participant_id);
        self.send(None, Action::AllNotesOff { source });
    }

    /// Sets a participant's volume (linear gain, 0–2) and mute.
    pub fn set_volume(&mut self, participant_id: &str, gain: f32, muted: bool) {
        let source = self.source(participant_id);
        let gain = if gain.is_finite() {
            gain.clamp(0.0, 2.0)
        } else {
            1.0
        };
        self.mix.insert(source, (gain, muted));
        self.send(None, Action::SourceGain { source, gain });
        self.send(None, Action::SourceMute { source, muted });
    }
}

/// The palette programs (keys, drums) of a chosen sound; 0 (the defaults) for a name the
/// palette doesn't have.
pub(crate) fn programs_of(bank: &SampleBank, chosen: &InstrumentChange) -> (u16, u16) {
    let palette = bank.palette();
    (
        palette.find(Kind::Melodic, &chosen.keys).unwrap_or(0),
        palette.find(Kind::Kit, &chosen.drums).unwrap_or(0),
    )
}

/// What a pitch or modulation wheel does to `source`'s keys part: the bend scaled by its
/// sound's bend range (`bend_range` semitones), the vibrato's depth.
pub(crate) fn wheel_action(
    source: SourceId,
    bend_range: f32,
    musical: &MusicalEvent,
) -> Option<Action> {
    match musical {
        MusicalEvent::PitchBend(b) => {
            let semitones = f32::from(b.value) / 8192.0 * bend_range;
            Some(Action::PitchBend { source, semitones })
        }
        MusicalEvent::Modulation(m) => Some(Action::Modulation {
            source,
            depth: f32::from(m.value.min(127)) / 127.0,
        }),
        _ => None,
    }
}

/// What the engine does for a musical event, each after a delay from its start (a note with a
/// `duration` releases itself).
pub(crate) fn actions_for(
    source: SourceId,
    musical: &MusicalEvent,
) -> [Option<(Duration, Action)>; 2] {
    let now = Duration::ZERO;
    match musical {
        MusicalEvent::DrumHit(h) => [
            Some((
                now,
                Action::NoteOn {
                    source,
                    instrument: Instrument::Drums,
                    note: h.note,
                    velocity: h.velocity,
                },
            )),
            None,
        ],
        MusicalEvent::PianoNote(n) => [
            Some((
                now,
                Action::NoteOn {
                    source,
                    instrument: Instrument::Piano,
                    note: n.note,
                    velocity: n.velocity,
                },
            )),
            n.duration.map(|ms| {
                (
                    duration_from_ms(ms),
                    Action::NoteOff {
                        source,
                        instrument: Instrument::Piano,
                        note: n.note,
                    },
                )
            }),
        ],
        MusicalEvent::PianoNoteOff(n) => [
            Some((
                now,
                Action::NoteOff {
                    source,
                    instrument: Instrument::Piano,
                    note: n.note,
                },
            )),
            None,
        ],
        MusicalEvent::Sustain(s) => [Some((now, Action::Sustain { source, on: s.on })), None],
        _ => [None, None],
    }
}

/// A `duration` in ms as a [`Duration`], within the protocol's bound of a minute whatever it
/// says (NaN and negative values are zero).
fn duration_from_ms(ms: f64) -> Duration {
    let ms = ms.clamp(0.0, jam_protocol::event::MAX_DURATION_MS);
    Duration::try_from_secs_f64(ms / 1_000.0).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_never_panic_and_stay_within_a_minute() {
        assert_eq!(duration_from_ms(250.0), Duration::from_millis(250));
        assert_eq!(duration_from_ms(1e300), Duration::from_secs(60));
        assert_eq!(duration_from_ms(f64::INFINITY), Duration::from_secs(60));
        assert_eq!(duration_from_ms(-5.0), Duration::ZERO);
        assert_eq!(duration_from_ms(f64::NAN), Duration::ZERO);
    }

    #[test]
    fn sources_come_back_when_participants_leave_and_are_never_shared_below_the_limit() {
        let mut speaker = Speaker::silent("test");
        for round in 0..200 {
            let a = speaker.source(&format!("a{round}"));
            let b = speaker.source(&format!("b{round}"));
            assert_ne!(a, b, "round {round}");
            assert_ne!(a, SourceId::LOCAL);
            speaker.forget(&format!("a{round}"));
            speaker.forget(&format!("b{round}"));
        }
        let held: Vec<SourceId> = (0..63).map(|i| speaker.source(&format!("p{i}"))).collect();
        let mut unique = held.clone();
        unique.sort_by_key(|s| s.0);
        unique.dedup();
        assert_eq!(unique.len(), 63, "63 participants, 63 sources");
    }
}
