//! MIDI keyboards and drum pads: a thread drains the chosen inputs every 2 ms and plays what
//! they send through [`AppState::perform`] (local engine + room), and rescans once a second so
//! an unplugged keyboard comes back by itself. Without a MIDI system (Linux without the ALSA
//! sequencer) the app says so and keeps working with the mouse and the computer keyboard.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jam_audio::Instrument;
use jam_midi::input::MidiInputs;
use jam_midi::{PlayEvent, Router};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};

use crate::jam::lock;
use crate::state::{AppState, InstrumentName, PlayInput};

/// How often the inputs are drained: the added latency is at most this.
const DRAIN_EVERY: Duration = Duration::from_millis(2);
/// How often devices are rescanned.
const RESCAN_EVERY: Duration = Duration::from_secs(1);

/// The MIDI inputs, or why there are none.
#[derive(Debug, Default)]
pub struct MidiState {
    /// Open inputs.
    pub inputs: Option<MidiInputs>,
    /// Why MIDI is unavailable, for people.
    pub error: Option<String>,
    /// Channel 10 plays drums, the rest piano.
    pub router: Router,
}

/// What the settings screen shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MidiView {
    /// Why MIDI is unavailable, if it is.
    pub error: Option<String>,
    /// Every device seen now or chosen before.
    pub devices: Vec<MidiDeviceView>,
}

/// One device.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MidiDeviceView {
    /// Its name.
    pub name: String,
    /// Chosen by the player.
    pub chosen: bool,
    /// Open now.
    pub connected: bool,
}

impl MidiState {
    /// Opens the MIDI system and the inputs chosen before.
    pub fn open(chosen: &[String]) -> MidiState {
        match MidiInputs::new("Jamwire") {
            Ok(mut inputs) => {
                for name in chosen {
                    if let Err(e) = inputs.connect(name) {
                        tracing::info!(device = %name, error = %e, "chosen MIDI input not available now");
                    }
                }
                MidiState {
                    inputs: Some(inputs),
                    ..MidiState::default()
                }
            }
            Err(e) => {
                tracing::info!(error = %e, "no MIDI");
                MidiState {
                    error: Some(e.to_string()),
                    ..MidiState::default()
                }
            }
        }
    }

    /// The list for the settings screen.
    pub fn view(&self) -> MidiView {
        let Some(inputs) = &self.inputs else {
            return MidiView {
                error: self.error.clone(),
                devices: Vec::new(),
            };
        };
        let mut names = inputs.available().unwrap_or_default();
        for name in inputs.remembered() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let connected = inputs.connected();
        let devices = names
            .into_iter()
            .map(|name| MidiDeviceView {
                chosen: inputs.remembered().contains(&name),
                connected: connected.contains(&name.as_str()),
                name,
            })
            .collect();
        MidiView {
            error: self.error.clone(),
            devices,
        }
    }
}

fn to_input(event: PlayEvent) -> PlayInput {
    let name = |i| match i {
        Instrument::Drums => InstrumentName::Drums,
        Instrument::Piano => InstrumentName::Piano,
    };
    match event {
        PlayEvent::NoteOn {
            instrument,
            note,
            velocity,
        } => PlayInput::NoteOn {
            instrument: name(instrument),
            note,
            velocity,
        },
        PlayEvent::NoteOff { instrument, note } => PlayInput::NoteOff {
            instrument: name(instrument),
            note,
        },
        PlayEvent::Sustain { on } => PlayInput::Sustain { on },
    }
}

/// Runs the MIDI thread for the app's lifetime (returns at once without a MIDI system).
pub fn spawn(app: AppHandle, midi: Arc<Mutex<MidiState>>) {
    if lock(&midi).inputs.is_none() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("jamwire-midi".into())
        .spawn(move || {
            let mut last_rescan = Instant::now();
            let mut played = Vec::new();
            loop {
                std::thread::sleep(DRAIN_EVERY);
                {
                    let mut state = lock(&midi);
                    let MidiState { inputs, router, .. } = &mut *state;
                    let Some(inputs) = inputs else { return };
                    inputs.drain(|device, e| {
                        if let Some(play) = router.route(Some(device), e.event) {
                            played.push(to_input(play));
                        }
                    });
                    if last_rescan.elapsed() >= RESCAN_EVERY {
                        last_rescan = Instant::now();
                        if let Ok(changes) = inputs.rescan()
                            && !changes.is_empty()
                        {
                            let _ = app.emit("midi-devices", state.view());
                        }
                    }
                }
                let app_state = app.state::<AppState>();
                for input in played.drain(..) {
                    // A listener's keyboard plays nothing; the UI already says so.
                    let _ = app_state.perform(input);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "couldn't start the MIDI thread");
    }
}
