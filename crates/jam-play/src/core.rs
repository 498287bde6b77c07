//! [`Core`]: a running Jamwire behind one cloneable handle, composed of parts that each own
//! their state — the stage (speaker, groove, where our playing goes), the jam, the settings,
//! the MIDI inputs, the takes and the jams found on the network. The desktop app's commands and
//! the `jam` tool's subcommands are thin calls into it; each call goes to the part it concerns.
//!
//! Locks, and the only order they are ever taken in:
//! 1. the jam's (async, `jam`): the jam's lifecycle; held across the network while hosting,
//!    joining and leaving, by nothing else.
//! 2. the stage's (sync, `stage`): held for microseconds, never across an `.await`, never while
//!    opening a device or decoding.
//! 3. the settings' (sync): a leaf; nothing is taken while it is held. So is `lan`, the jams
//!    found on the network.
//!
//! The MIDI inputs' lock is taken alone (its thread drains the inputs, lets go, then plays
//! through the stage).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jam_audio::output::OutputConfig;
use jam_protocol::event::Chat;
use jam_protocol::{MAX_NAME_CHARS, MusicalEvent, Pattern};
use jam_session::Status;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::audio;
use crate::error::{PlayError, Result};
use crate::groove::{Groove, Tempo};
use crate::jam::Jams;
use crate::lan::{self, LanJamView};
use crate::midi::{self, MidiState};
use crate::perform::PlayInput;
use crate::room::RoomSink;
use crate::settings::{MAX_FIXED_DELAY_MS, Settings, SettingsStore, Timing};
use crate::speaker::Speaker;
use crate::stage::{self, Stage, StageHandle};
use crate::sync::lock;
use crate::takes::Takes;
use crate::views::{
    AudioView, ClockView, FontPresetView, HostRequest, JamView, JoinRequest, MidiView,
    OwnSoundView, RelayFiguresView, StartupView,
};

/// Audio buffers a player may choose, frames.
const BUFFER_FRAMES: std::ops::RangeInclusive<u32> = 32..=4096;

/// How to start a [`Core`].
pub struct CoreConfig {
    /// The runtime the core's tasks (room, groove, replay, the embedded relay) run on.
    pub runtime: Handle,
    /// The audio output, or silence.
    pub speaker: Speaker,
    /// Where the settings are remembered; `None` keeps them in memory (the `jam` tool).
    pub settings_path: Option<PathBuf>,
    /// The takes' log, if this face records takes.
    pub takes: Option<Takes>,
    /// When hosting, listen on exactly this address instead of every interface at the port
    /// asked for (`jam host --bind`, `JAMWIRE_RELAY_BIND`).
    pub relay_bind: Option<SocketAddr>,
    /// MIDI inputs to open, by name (remembered ones); `None` opens no MIDI system.
    pub midi_inputs: Option<Vec<String>>,
    /// Certificate authorities to trust for `jams://` relays besides the public ones (PEM
    /// files; `jam --ca-cert`), for a private relay server.
    pub ca_certs: Vec<PathBuf>,
}

/// The parts a core is made of.
struct Inner {
    /// Where the core's tasks run.
    runtime: Handle,
    /// The speaker, the groove and where our playing goes.
    stage: StageHandle,
    /// The jam we are in.
    jams: Jams,
    /// What is remembered.
    settings: Arc<SettingsStore>,
    /// The MIDI inputs.
    midi: Arc<Mutex<MidiState>>,
    /// The takes' log, if this face records takes.
    takes: Option<Takes>,
    /// Jams found on the local network (a leaf lock, like the settings').
    lan: Mutex<Vec<LanJamView>>,
}

/// The app core: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").finish_non_exhaustive()
    }
}

impl Core {
    /// Starts the core: loads the settings, opens the MIDI inputs and starts the groove task.
    pub fn start(config: CoreConfig) -> Core {
        let settings = Arc::new(SettingsStore::open(config.settings_path));
        let groove = Groove::new(Tempo::default(), Pattern::default(), settings.get().click);
        let midi = match &config.midi_inputs {
            Some(chosen) => MidiState::open(chosen),
            None => MidiState::disabled(),
        };
        let mut speaker = config.speaker;
        speaker.play_local(&MusicalEvent::Instrument(
            settings.get().instrument_change(),
        ));
        let stage = StageHandle::new(Stage {
            speaker,
            groove,
            link: None,
            wheels: Default::default(),
            midi_out_config: settings.get().midi_out_config(),
            midi_out: None,
        });
        let core = Core {
            inner: Arc::new(Inner {
                jams: Jams {
                    jam: tokio::sync::Mutex::new(None),
                    runtime: config.runtime.clone(),
                    stage: stage.clone(),
                    settings: settings.clone(),
                    relay_bind: config.relay_bind,
                    ca_certs: config.ca_certs,
                },
                runtime: config.runtime,
                stage,
                settings,
                midi: Arc::new(Mutex::new(midi)),
                takes: config.takes,
                lan: Mutex::new(Vec::new()),
            }),
        };
        let runtime = &core.inner.runtime;
        // My own sound, loaded again in the background (the keys play the sound the room
        // hears until it is ready; a file gone or broken since is said in the log and the
        // keys stay on that sound).
        if let (Some(own), true, Ok(bank)) = (
            core.settings().own_sound,
            core.settings().play_own_sound,
            core.bank(),
        ) {
            let core = core.clone();
            runtime.spawn(async move {
                match load_own(bank, PathBuf::from(&own.path), own.preset).await {
                    Ok(sound) => {
                        // Unless the player chose another sound (or loaded another) meanwhile.
                        let settings = core.settings();
                        let still = settings.play_own_sound
                            && settings.own_sound.is_some_and(|now| now.path == own.path);
                        let mut stage = core.inner.stage.lock();
                        if stage.speaker.own_sound().is_none() {
                            stage.speaker.set_own_sound(Some(sound));
                            stage.speaker.play_own(still);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "my own sound didn't load again"),
                }
            });
        }
        runtime.spawn(stage::run_groove(core.inner.stage.clone()));
        runtime.spawn(audio::watch(core.inner.stage.clone()));
        core
    }

    /// The takes' log, if this face has one.
    pub fn takes(&self) -> Result<&Takes> {
        self.inner
            .takes
            .as_ref()
            .ok_or_else(|| PlayError::TakesUnavailable("this face keeps no takes".into()))
    }

    /// Plays take `id` here, through the local engine, from half a second from now, each player
    /// on their own source. Returns its length in ms.
    pub fn replay_take(&self, id: i64) -> Result<f64> {
        self.takes()?
            .replay(id, self.inner.stage.clone(), &self.inner.runtime)
    }

    /// Writes take `id` as stems for a DAW (one WAV per player, the mix, the MIDI file; see
    /// [`Takes::export_stems_into`]) into a folder in the first of `folders` that exists or
    /// can be made, and returns that folder. Takes seconds: call it off the UI's thread.
    pub fn export_stems(
        &self,
        id: i64,
        folders: &[std::path::PathBuf],
    ) -> Result<std::path::PathBuf> {
        let bank = self.inner.stage.lock().speaker.bank().ok_or_else(|| {
            PlayError::Audio(
                "the instrument samples couldn't be loaded, so there is nothing to render stems with"
                    .into(),
            )
        })?;
        self.takes()?.export_stems_into(id, &bank, folders)
    }

    /// Sends every other player's notes to MIDI out (`None`: nowhere), from now on: in a jam,
    /// at once (the ports open now, and a problem is said now); otherwise from the next jam.
    /// Returns the merged outputs' names.
    pub fn set_midi_out(
        &self,
        config: Option<crate::midi_out::MidiOutConfig>,
    ) -> Result<Vec<String>> {
        let in_jam = self.inner.stage.lock().link.is_some();
        let opened = match (&config, in_jam) {
            (Some(config), true) => Some(crate::midi_out::MidiOut::start(config.clone())?),
            _ => None,
        };
        let ports = opened
            .as_ref()
            .map_or_else(Vec::new, |m| m.ports().to_vec());
        let old = {
            let mut stage = self.inner.stage.lock();
            stage.midi_out_config = config;
            std::mem::replace(&mut stage.midi_out, opened)
        };
        // Outside the lock: stopping releases its held notes and joins its thread.
        drop(old);
        Ok(ports)
    }

    /// Plays participant `participant_id`'s part (`name`) also through the existing MIDI output
    /// `port` ("Ann through my synth"), or no longer (`None`), for this jam. Jamwire's own sound
    /// of them stays as it is (their mute button silences it). My own id plays my part through
    /// it, at once, as I play. Opens MIDI out for the jam if it wasn't.
    pub fn play_through(&self, participant_id: &str, name: &str, port: Option<&str>) -> Result<()> {
        let mut stage = self.inner.stage.lock();
        if stage.link.is_none() {
            return Err(PlayError::BadInput(
                "Join or host a jam first: a player's part goes to a synth while they play.".into(),
            ));
        }
        if stage.midi_out.is_none() {
            let config = crate::midi_out::MidiOutConfig {
                virtual_ports: false,
                ..crate::midi_out::MidiOutConfig::default()
            };
            stage.midi_out = Some(crate::midi_out::MidiOut::start(config)?);
        }
        // My own part is known by a name of its own: only its synth gets it.
        let mine = stage
            .link
            .as_ref()
            .is_some_and(|(session, _)| session.user_id() == participant_id);
        let (id, name) = if mine {
            (crate::midi_out::MY_PART, crate::midi_out::MY_PART)
        } else {
            (participant_id, name)
        };
        if let Some(midi) = &stage.midi_out {
            midi.play_through(id, name, port, "Jamwire")?;
        }
        Ok(())
    }

    /// MIDI out as the settings show it; `error` says why the last choice couldn't be made.
    pub fn midi_out_view(&self, error: Option<String>) -> crate::views::MidiOutView {
        let (outputs, listed) = match jam_midi::output::available_outputs("Jamwire") {
            Ok(outputs) => (outputs, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        crate::views::MidiOutView {
            virtual_ports: jam_midi::output::VIRTUAL_PORTS,
            outputs,
            error: error.or(listed),
        }
    }

    /// Chooses where MIDI out goes (ports of our own, an existing output, the offset, the
    /// clock), remembers it, and applies it now in a jam (from the next one otherwise). An
    /// offset out of range changes nothing.
    pub fn choose_midi_out(
        &self,
        on: bool,
        port: &str,
        offset_ms: f64,
        clock: bool,
    ) -> Result<crate::views::MidiOutView> {
        let max = crate::midi_out::MAX_OFFSET_MS;
        if !offset_ms.is_finite() || !(-max..=max).contains(&offset_ms) {
            return Err(PlayError::BadInput(format!(
                "The MIDI out offset is between -{max} and {max} ms."
            )));
        }
        let settings = self.update_settings(|s| {
            s.midi_out = on;
            s.midi_out_port = port.to_owned();
            s.midi_out_offset_ms = offset_ms;
            s.midi_clock = clock;
        })?;
        let error = self
            .set_midi_out(settings.midi_out_config())
            .err()
            .map(|e| e.to_string());
        Ok(self.midi_out_view(error))
    }

    // ------------------------------------------------------------------ settings

    /// What is remembered.
    pub fn settings(&self) -> Settings {
        self.inner.settings.get()
    }

    /// Changes the settings and saves them (in memory only without a settings file).
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings> {
        self.inner.settings.update(change)
    }

    /// Saves the name (and the last invite) as they are typed.
    pub fn remember(&self, name: &str, last_invite: &str) -> Result<()> {
        self.update_settings(|s| {
            s.name = name.chars().take(MAX_NAME_CHARS).collect();
            s.last_invite = last_invite.to_owned();
        })?;
        Ok(())
    }

    /// Reads an invite link from outside the app (a clicked `jam://` link, `jamwire jam://…`)
    /// and remembers a good one as the last invite, so the Join form opens with it; the name
    /// stays as it was. A bad link changes nothing and says why.
    pub fn open_link(&self, link: &str) -> crate::link::OpenedInvite {
        let opened = crate::link::read(link);
        match &opened.invite {
            Some(invite) => {
                if let Err(e) = self.update_settings(|s| s.last_invite.clone_from(invite)) {
                    tracing::warn!(error = %e, "couldn't remember the opened invite");
                }
                tracing::info!(%invite, "invite opened");
            }
            None => tracing::warn!(problem = ?opened.problem, "a link that isn't an invite"),
        }
        opened
    }

    /// Everything the start screen needs.
    pub fn startup(&self) -> StartupView {
        let (tempo, pattern) = {
            let stage = self.inner.stage.lock();
            (stage.groove.tempo, stage.groove.pattern.clone())
        };
        StartupView {
            settings: self.settings(),
            audio: self.audio(),
            midi: self.midi_view(),
            midi_out: self.midi_out_view(None),
            tempo,
            pattern,
            lan_jams: self.lan_jams(),
            about: crate::views::AboutView::current(),
        }
    }

    // ------------------------------------------------------------------ the jam

    /// Joins the room of an invite; the room's events go to `sink`.
    pub async fn join(&self, request: JoinRequest, sink: impl RoomSink) -> Result<JamView> {
        self.inner.jams.join(request, sink).await
    }

    /// Hosts a jam — here, or on the relay server `request.relay` names — as its host; the
    /// room's events go to `sink`. If anything fails, nothing is left running.
    pub async fn host(&self, request: HostRequest, sink: impl RoomSink) -> Result<JamView> {
        let takes = self.inner.takes.as_ref();
        self.inner.jams.host(request, takes, sink).await
    }

    /// Leaves the jam; as its host, ends it for everyone and stops the relay. Returns once
    /// everything has stopped (at once when not in a jam).
    pub async fn leave(&self) -> Result<()> {
        self.inner.jams.leave().await
    }

    /// The jam's connection status, to await (`None` when not in a jam).
    pub fn status(&self) -> Option<watch::Receiver<Status>> {
        self.inner.jams.status()
    }

    /// While reconnecting: try again now instead of waiting.
    pub fn retry_now(&self) {
        self.inner.jams.retry_now();
    }

    /// The embedded relay's figures, while hosting.
    pub async fn relay_figures(&self) -> Option<RelayFiguresView> {
        self.inner.jams.relay_figures().await
    }

    // ------------------------------------------------------------------ playing

    /// Plays something of ours: at once on the local engine, and to the room in parallel.
    pub fn perform(&self, input: PlayInput) -> Result<()> {
        self.perform_at(input, Instant::now())
    }

    /// [`Core::perform`] for something played at `played_at`, a moment ago (a MIDI file's
    /// note at its due time, a device's timestamp): the event is stamped with that moment, so
    /// that a delay between playing and sending (a busy thread, a channel) is not sent on as
    /// a change of rhythm. A moment in the future counts as now; one more than a second ago,
    /// as a second ago.
    pub fn perform_at(&self, input: PlayInput, played_at: Instant) -> Result<()> {
        self.inner.stage.lock().perform_at(input, played_at, false)
    }

    /// [`Core::perform_at`] for a note whose time was known ahead (a MIDI file's): heard here
    /// at `due` plus the output's lead, frame-exact — as the others place it — instead of at
    /// the next audio block, so its own rhythm is exact too.
    pub fn perform_due(&self, input: PlayInput, due: Instant) -> Result<()> {
        self.inner.stage.lock().perform_at(input, due, true)
    }

    /// How far ahead of now a sound is handed to the output to be heard when asked: its
    /// latency plus a block and some slack (zero when nothing plays). A note played with
    /// [`Core::perform_due`] is heard that long after its time.
    pub fn output_lead(&self) -> std::time::Duration {
        self.inner.stage.lock().speaker.output_lead()
    }

    /// Changes the shared tempo; the new tempo starts on the next beat of the old one.
    pub fn set_tempo(&self, bpm: f64, beats_per_bar: u8) -> Result<Tempo> {
        let mut stage = self.inner.stage.lock();
        let tempo = stage
            .groove
            .tempo
            .changed_at(stage.now_ms(), bpm, beats_per_bar);
        stage.share(&MusicalEvent::TempoChange(tempo.to_change()))?;
        stage.groove.tempo = tempo;
        Ok(tempo)
    }

    /// Chooses our sounds: `keys` for the keys part, `drums` for the drum part (ids of
    /// `jam_protocol::instrument`). Heard at once here and, in a jam, by everyone from our next
    /// note; remembered. My own sound, if it was playing, stops playing (it stays loaded). An
    /// unknown id changes nothing and says so.
    pub fn set_instrument(&self, keys: &str, drums: &str) -> Result<Settings> {
        self.choose(keys, drums, false)
    }

    /// Chooses the sounds the room hears (`keys`, `drums`) and whether our keys play my own
    /// sound instead.
    fn choose(&self, keys: &str, drums: &str, own: bool) -> Result<Settings> {
        let change = MusicalEvent::Instrument(jam_protocol::event::InstrumentChange {
            keys: keys.to_owned(),
            drums: drums.to_owned(),
        });
        change
            .validate()
            .map_err(|_| PlayError::BadInput("That isn't one of Jamwire's instruments.".into()))?;
        {
            let mut stage = self.inner.stage.lock();
            stage.speaker.play_own(own);
            stage.speaker.play_local(&change);
            match stage.share(&change) {
                // A listener plays nothing, so there is nothing to tell the room.
                Ok(()) | Err(PlayError::Listener) => {}
                Err(e) => return Err(e),
            }
        }
        self.update_settings(|s| {
            s.instrument = keys.to_owned();
            s.kit = drums.to_owned();
            s.play_own_sound = own;
        })
    }

    /// The presets of a SoundFont, to choose one before loading it (read on a blocking thread).
    pub async fn own_sound_presets(&self, path: &str) -> Result<Vec<FontPresetView>> {
        let path = PathBuf::from(path);
        let presets = tokio::task::spawn_blocking(move || jam_audio::own::font_presets(&path))
            .await
            .map_err(|e| PlayError::BadInput(format!("Reading the SoundFont failed ({e}).")))?
            .map_err(|e| PlayError::BadInput(e.to_string()))?;
        Ok(presets
            .into_iter()
            .map(|p| FontPresetView {
                bank: p.bank,
                program: p.program,
                name: p.name,
            })
            .collect())
    }

    /// Loads my own sound — a SoundFont (SF2) preset (`preset`: bank and program; `None`: its
    /// first) or a folder of recordings named by note — on a blocking thread (the audio never
    /// waits for it), then plays it on my keys at once. The room hears `heard_as` (a palette
    /// id; by default the palette's nearest to the font's preset), told like any choice;
    /// remembered, and loaded again at the next start. A file that can't be used changes
    /// nothing and says why.
    pub async fn load_own_sound(
        &self,
        path: &str,
        preset: Option<(u16, u8)>,
        heard_as: Option<&str>,
    ) -> Result<OwnSoundView> {
        let heard_as = heard_as
            .map(|id| {
                jam_protocol::instrument::melodic(id).ok_or_else(|| {
                    PlayError::BadInput("That isn't one of Jamwire's instruments.".into())
                })
            })
            .transpose()?;
        let sound = load_own(self.bank()?, PathBuf::from(path), preset).await?;
        let heard_as =
            heard_as.unwrap_or_else(|| jam_protocol::instrument::nearest_melodic(sound.program));
        let setting = crate::settings::OwnSoundSetting {
            path: path.to_owned(),
            preset,
            name: sound.name.clone(),
        };
        self.inner.stage.lock().speaker.set_own_sound(Some(sound));
        let kit = self.settings().kit;
        self.choose(heard_as.id, &kit, true)?;
        self.update_settings(|s| s.own_sound = Some(setting))?;
        self.own_sound_view()
            .ok_or_else(|| PlayError::BadInput("The sound was replaced meanwhile.".into()))
    }

    /// Plays my own sound on my keys (`on`), or the sound the room hears; `heard_as` (a keys
    /// sound of the palette) changes what the room hears meanwhile. Turning it on with no
    /// sound loaded says so and changes nothing.
    pub fn play_own_sound(&self, on: bool, heard_as: Option<&str>) -> Result<Settings> {
        if on && self.inner.stage.lock().speaker.own_sound().is_none() {
            return Err(PlayError::BadInput(
                "Load a SoundFont or a folder of recordings first.".into(),
            ));
        }
        let settings = self.settings();
        self.choose(heard_as.unwrap_or(&settings.instrument), &settings.kit, on)
    }

    /// My own sound, if one is loaded.
    pub fn own_sound_view(&self) -> Option<OwnSoundView> {
        let settings = self.settings();
        let stage = self.inner.stage.lock();
        let sound = stage.speaker.own_sound()?;
        Some(OwnSoundView {
            name: sound.name.clone(),
            path: settings.own_sound.map(|s| s.path).unwrap_or_default(),
            zones: u32::try_from(sound.zone_count()).unwrap_or(u32::MAX),
            heard_as: settings.instrument,
            playing: settings.play_own_sound,
            notes: sound.notes.clone(),
        })
    }

    /// The decoded samples (to level my own sound against), or why there are none.
    fn bank(&self) -> Result<Arc<jam_audio::SampleBank>> {
        self.inner.stage.lock().speaker.bank().ok_or_else(|| {
            PlayError::Audio("Jamwire's own samples aren't loaded, so no sound can be.".into())
        })
    }

    /// Plays a short preview of sound `id` (a keys sound or a kit) here only, changing nothing.
    pub fn preview_instrument(&self, id: &str) -> Result<()> {
        use jam_protocol::instrument::{DEFAULT_KIT, DEFAULT_MELODIC, kit, melodic};
        let (chosen, is_kit) = match (melodic(id), kit(id)) {
            (Some(v), _) => ((v.id, DEFAULT_KIT), false),
            (None, Some(v)) => ((DEFAULT_MELODIC, v.id), true),
            (None, None) => {
                return Err(PlayError::BadInput(
                    "That isn't one of Jamwire's instruments.".into(),
                ));
            }
        };
        let change = jam_protocol::event::InstrumentChange {
            keys: chosen.0.to_owned(),
            drums: chosen.1.to_owned(),
        };
        self.inner.stage.lock().speaker.preview(&change, is_kit);
        Ok(())
    }

    /// Remembers up to four favourite keys sounds (unknown ids are dropped).
    pub fn set_favourites(&self, ids: &[String]) -> Result<Settings> {
        let kept = crate::settings::clean_favourites(ids);
        self.update_settings(|s| s.favourites = kept)
    }

    /// Changes the shared pattern (steps, start and stop).
    pub fn set_pattern(&self, pattern: Pattern) -> Result<()> {
        if !pattern.is_valid() {
            return Err(PlayError::BadInput(
                "That pattern isn't 16 steps of known drums.".into(),
            ));
        }
        let mut stage = self.inner.stage.lock();
        let change = pattern.to_change(stage.now_ms());
        stage.share(&MusicalEvent::PatternChange(change))?;
        stage.groove.pattern = pattern;
        Ok(())
    }

    /// Turns this player's metronome click on or off (not shared), and remembers it.
    pub fn set_click(&self, on: bool) -> Result<()> {
        self.inner.stage.lock().groove.click = on;
        self.update_settings(|s| s.click = on)?;
        Ok(())
    }

    /// Sends a chat line (nothing for an empty one).
    pub fn send_chat(&self, text: &str) -> Result<()> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        self.inner.stage.lock().share(&MusicalEvent::Chat(Chat {
            text: text.to_owned(),
        }))
    }

    /// A participant's volume (linear gain 0–2) and mute; the gain is remembered by name.
    pub fn set_volume(
        &self,
        participant_id: &str,
        name: &str,
        gain: f32,
        muted: bool,
    ) -> Result<()> {
        if !gain.is_finite() || !(0.0..=2.0).contains(&gain) {
            return Err(PlayError::BadInput(
                "A volume is between 0 and 200 %.".into(),
            ));
        }
        self.inner
            .stage
            .lock()
            .speaker
            .set_volume(participant_id, gain, muted);
        self.update_settings(|s| {
            s.volumes.insert(name.to_owned(), gain);
        })?;
        Ok(())
    }

    /// The shared clock and tempo.
    pub fn clock(&self) -> ClockView {
        let stage = self.inner.stage.lock();
        ClockView {
            now_ms: stage.now_ms(),
            tempo: stage.groove.tempo,
        }
    }

    /// Chooses how others' notes are placed in time, and remembers it.
    pub fn set_playout(&self, timing: Timing, fixed_delay_ms: f64) -> Result<()> {
        if !fixed_delay_ms.is_finite() || !(0.0..=MAX_FIXED_DELAY_MS).contains(&fixed_delay_ms) {
            return Err(PlayError::BadInput(format!(
                "The fixed delay is between 0 and {MAX_FIXED_DELAY_MS} ms."
            )));
        }
        let settings = self.update_settings(|s| {
            s.playout = timing;
            s.fixed_delay_ms = fixed_delay_ms;
        })?;
        if let Some((session, _)) = &self.inner.stage.lock().link {
            session.set_playout(settings.playout_mode());
        }
        Ok(())
    }

    // ------------------------------------------------------------------ audio

    /// The audio output now.
    pub fn audio(&self) -> AudioView {
        audio::view(&self.inner.stage)
    }

    /// Plays through another output (`""` = the system default) with another buffer, and
    /// remembers the choice. The samples are not decoded again; the stage is locked only to
    /// swap engines. If the new output can't be opened, the previous one is opened again and
    /// nothing is remembered.
    pub fn set_audio(&self, device: &str, buffer_frames: u32) -> Result<AudioView> {
        if !BUFFER_FRAMES.contains(&buffer_frames) {
            return Err(PlayError::BadInput(format!(
                "The buffer must be between {} and {} frames.",
                BUFFER_FRAMES.start(),
                BUFFER_FRAMES.end()
            )));
        }
        let config = OutputConfig {
            device: (!device.is_empty()).then(|| device.to_owned()),
            buffer_frames,
            ..OutputConfig::default()
        };
        audio::switch(&self.inner.stage, config)?;
        self.update_settings(|s| {
            s.audio_device = device.to_owned();
            s.buffer_frames = buffer_frames;
        })?;
        Ok(self.audio())
    }

    // ------------------------------------------------------------------ the local network

    /// Starts looking for jams on the local network (mDNS); `on_change` hears the whole list
    /// whenever it changes. Runs for as long as the runtime does.
    pub fn browse_lan(&self, on_change: impl Fn(Vec<LanJamView>) + Send + 'static) {
        let core = self.clone();
        self.inner.runtime.spawn(lan::browse(move |jams| {
            lock(&core.inner.lan).clone_from(&jams);
            on_change(jams);
        }));
    }

    /// The jams found on the local network so far.
    pub fn lan_jams(&self) -> Vec<LanJamView> {
        lock(&self.inner.lan).clone()
    }

    // ------------------------------------------------------------------ MIDI

    /// The MIDI inputs now.
    pub fn midi_view(&self) -> MidiView {
        lock(&self.inner.midi).view()
    }

    /// Chooses (or drops) a MIDI input, and remembers the choice.
    pub fn set_midi_input(&self, name: &str, chosen: bool) -> Result<MidiView> {
        let (view, remembered) = {
            let mut midi = lock(&self.inner.midi);
            midi.choose(name, chosen)?;
            (midi.view(), midi.remembered())
        };
        self.update_settings(|s| s.midi_inputs = remembered)?;
        Ok(view)
    }

    /// Runs the MIDI thread for as long as the process runs (returns at once without a MIDI
    /// system). `on_devices` hears of devices that come or go.
    pub fn spawn_midi(&self, on_devices: impl Fn(MidiView) + Send + 'static) {
        midi::spawn(
            self.inner.midi.clone(),
            self.inner.stage.clone(),
            on_devices,
        );
    }
}

/// Loads my own sound on a blocking thread.
async fn load_own(
    bank: Arc<jam_audio::SampleBank>,
    path: PathBuf,
    preset: Option<(u16, u8)>,
) -> Result<jam_audio::own::OwnSound> {
    tokio::task::spawn_blocking(move || jam_audio::own::load(&path, preset, &bank))
        .await
        .map_err(|e| PlayError::BadInput(format!("Loading the sound failed ({e}).")))?
        .map_err(|e| PlayError::BadInput(e.to_string()))
}
