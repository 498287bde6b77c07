//! MIDI keyboards and drum pads: a thread drains the chosen inputs every 2 ms and plays what
//! they send through the stage (local engine and room), and rescans once a second so an
//! unplugged keyboard comes back by itself. Without a MIDI system (Linux without the ALSA
//! sequencer) it says so, and the mouse and the computer keyboard still play.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jam_midi::Router;
use jam_midi::input::MidiInputs;

use crate::error::Result;
use crate::perform::PlayInput;
use crate::stage::StageHandle;
use crate::sync::lock;
use crate::views::{MidiDeviceView, MidiView};

/// How often the inputs are drained: the added latency is at most this.
const DRAIN_EVERY: Duration = Duration::from_millis(2);
/// How often devices are rescanned.
const RESCAN_EVERY: Duration = Duration::from_secs(1);

/// The MIDI inputs, or why there are none.
#[derive(Debug, Default)]
pub(crate) struct MidiState {
    /// Open inputs.
    inputs: Option<MidiInputs>,
    /// Why MIDI is unavailable, for people.
    error: Option<String>,
    /// Channel 10 plays drums, the rest piano.
    router: Router,
}

impl MidiState {
    /// Opens the MIDI system and the inputs chosen before.
    pub(crate) fn open(chosen: &[String]) -> MidiState {
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

    /// No MIDI system opened (a face that reads no MIDI devices).
    pub(crate) fn disabled() -> MidiState {
        MidiState {
            error: Some("MIDI inputs are not used here".into()),
            ..MidiState::default()
        }
    }

    /// The list for the settings screen.
    pub(crate) fn view(&self) -> MidiView {
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

    /// Connects or disconnects an input by name.
    pub(crate) fn choose(&mut self, name: &str, chosen: bool) -> Result<()> {
        if let Some(inputs) = &mut self.inputs {
            if chosen {
                inputs.connect(name)?;
            } else {
                inputs.disconnect(name);
            }
        }
        Ok(())
    }

    /// The inputs to reconnect next time, by name.
    pub(crate) fn remembered(&self) -> Vec<String> {
        self.inputs
            .as_ref()
            .map(|i| i.remembered().to_vec())
            .unwrap_or_default()
    }
}

/// Runs the MIDI thread for as long as the process runs (returns at once without a MIDI
/// system): it drains `midi`'s inputs and plays what they send on `stage`. `on_devices` hears
/// of devices that come or go.
pub(crate) fn spawn(
    midi: Arc<Mutex<MidiState>>,
    stage: StageHandle,
    on_devices: impl Fn(MidiView) + Send + 'static,
) {
    if lock(&midi).inputs.is_none() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("jamwire-midi".into())
        .spawn(move || {
            let mut last_rescan = Instant::now();
            // Bounded by the inputs' rings (what one drain can hold).
            let mut played: Vec<PlayInput> = Vec::new();
            loop {
                std::thread::sleep(DRAIN_EVERY);
                let devices_changed = {
                    let mut state = lock(&midi);
                    let MidiState { inputs, router, .. } = &mut *state;
                    let Some(inputs) = inputs else { return };
                    inputs.drain(|device, e| {
                        if let Some(play) = router.route(Some(device), e.event) {
                            played.push(play.into());
                        }
                    });
                    let mut changed = None;
                    if last_rescan.elapsed() >= RESCAN_EVERY {
                        last_rescan = Instant::now();
                        if let Ok(changes) = inputs.rescan()
                            && !changes.is_empty()
                        {
                            changed = Some(state.view());
                        }
                    }
                    changed
                };
                if let Some(view) = devices_changed {
                    on_devices(view);
                }
                for input in played.drain(..) {
                    // A listener's keyboard plays nothing; the UI already says so.
                    let _ = stage.lock().perform_at(input, Instant::now(), false);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "couldn't start the MIDI thread");
    }
}
