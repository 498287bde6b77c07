//! MIDI out: ports a DAW or a synthesizer reads from.
//!
//! On Linux (ALSA sequencer, or JACK with the `jack` feature) and macOS (CoreMIDI) Jamwire makes
//! its own *virtual* ports, which appear in a DAW's MIDI inputs like a keyboard would. Windows
//! has no virtual ports: there the stream goes to an existing output the user picks (a loopMIDI
//! port, a hardware synth) — [`OutPort::connect`].

use midir::{MidiOutput, MidiOutputConnection};

use crate::error::{MidiError, Result};

/// One open MIDI output.
pub struct OutPort {
    name: String,
    connection: MidiOutputConnection,
}

impl std::fmt::Debug for OutPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutPort").field("name", &self.name).finish()
    }
}

fn midi_output(client_name: &str) -> Result<MidiOutput> {
    MidiOutput::new(client_name).map_err(|e| MidiError::NoMidiSystem {
        detail: e.to_string(),
    })
}

/// Names of the MIDI outputs present now (synthesizers, a DAW's inputs, loopMIDI ports).
pub fn available_outputs(client_name: &str) -> Result<Vec<String>> {
    let output = midi_output(client_name)?;
    Ok(output
        .ports()
        .iter()
        .filter_map(|p| output.port_name(p).ok())
        .collect())
}

/// Whether this system can make virtual ports (not Windows).
pub const VIRTUAL_PORTS: bool = cfg!(unix);

impl OutPort {
    /// Makes a virtual output port `name` (a MIDI client of that name with one port), which
    /// other programs connect to. Unix only (ALSA, JACK, CoreMIDI).
    #[cfg(unix)]
    pub fn virtual_port(name: &str) -> Result<OutPort> {
        use midir::os::unix::VirtualOutput;
        let connection =
            midi_output(name)?
                .create_virtual(name)
                .map_err(|e| MidiError::ConnectFailed {
                    name: name.to_owned(),
                    detail: e.to_string(),
                })?;
        Ok(OutPort {
            name: name.to_owned(),
            connection,
        })
    }

    /// Connects to the existing output `name` (as [`available_outputs`] lists it).
    pub fn connect(client_name: &str, name: &str) -> Result<OutPort> {
        let output = midi_output(client_name)?;
        let ports = output.ports();
        let mut available = Vec::with_capacity(ports.len());
        for port in &ports {
            let Ok(port_name) = output.port_name(port) else {
                continue;
            };
            if port_name == name {
                let connection =
                    output
                        .connect(port, client_name)
                        .map_err(|e| MidiError::ConnectFailed {
                            name: name.to_owned(),
                            detail: e.to_string(),
                        })?;
                return Ok(OutPort {
                    name: name.to_owned(),
                    connection,
                });
            }
            available.push(port_name);
        }
        Err(MidiError::DeviceNotFound {
            name: name.to_owned(),
            available,
        })
    }

    /// The port's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends one MIDI message. A message the system refuses is lost (and logged at debug):
    /// MIDI out is best effort, like a cable.
    pub fn send(&mut self, message: &[u8]) {
        if let Err(e) = self.connection.send(message) {
            tracing::debug!(port = %self.name, error = %e, "a MIDI message couldn't be sent");
        }
    }
}
