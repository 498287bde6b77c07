//! MIDI input devices through midir: list, connect by name, several at once, reconnect when a
//! remembered device comes back.
//!
//! midir's callback runs on its own thread; it only parses bytes and pushes typed events into
//! a bounded lock-free ring per device (never blocking: a full ring counts a drop). The owner
//! drains the rings with [`MidiInputs::drain`] and calls [`MidiInputs::rescan`] every second or
//! so to notice devices that leave or come back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use midir::{Ignore, MidiInput, MidiInputConnection};

use crate::{MidiError, MidiEvent, MidiParser, Result};

/// Events waiting per device between two drains (default; about 2 s of a dense performance).
pub const DEFAULT_RING_CAPACITY: usize = 1_024;

/// An event from a device, with the driver's timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputEvent {
    /// The MIDI driver's timestamp, in microseconds (its own clock: compare only between
    /// events of the same device).
    pub timestamp_us: u64,
    /// The event.
    pub event: MidiEvent,
}

/// A change in the set of connected devices, reported by [`MidiInputs::rescan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceChange {
    /// A remembered device disappeared (unplugged); it will be reconnected when it returns.
    Disconnected(String),
    /// A remembered device came back and is connected again.
    Reconnected(String),
}

struct LiveDevice {
    name: String,
    /// Kept open for as long as the device is connected; closed on drop.
    _connection: MidiInputConnection<()>,
    events: rtrb::Consumer<InputEvent>,
}

/// The MIDI inputs the player chose.
pub struct MidiInputs {
    client_name: String,
    /// Devices the player picked, by name: reconnected whenever they are present.
    remembered: Vec<String>,
    live: Vec<LiveDevice>,
    ring_capacity: usize,
    /// Events lost because a ring was full.
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for MidiInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MidiInputs")
            .field("remembered", &self.remembered)
            .field("connected", &self.connected())
            .finish()
    }
}

fn midi_input(client_name: &str) -> Result<MidiInput> {
    let mut input = MidiInput::new(client_name).map_err(|e| MidiError::NoMidiSystem {
        detail: e.to_string(),
    })?;
    input.ignore(Ignore::All);
    Ok(input)
}

impl MidiInputs {
    /// Opens the MIDI system. Fails with [`MidiError::NoMidiSystem`] where there is none (on
    /// Linux without the ALSA sequencer): the app keeps running with the on-screen keyboard.
    pub fn new(client_name: &str) -> Result<MidiInputs> {
        midi_input(client_name)?;
        Ok(MidiInputs {
            client_name: client_name.to_owned(),
            remembered: Vec::new(),
            live: Vec::new(),
            ring_capacity: DEFAULT_RING_CAPACITY,
            dropped: Arc::default(),
        })
    }

    /// Names of the input devices present now.
    pub fn available(&self) -> Result<Vec<String>> {
        let input = midi_input(&self.client_name)?;
        Ok(input
            .ports()
            .iter()
            .filter_map(|p| input.port_name(p).ok())
            .collect())
    }

    /// Names of the devices connected now.
    pub fn connected(&self) -> Vec<&str> {
        self.live.iter().map(|d| d.name.as_str()).collect()
    }

    /// Devices the player picked (connected or waiting to come back).
    pub fn remembered(&self) -> &[String] {
        &self.remembered
    }

    /// Remembers `name` and connects it now.
    pub fn connect(&mut self, name: &str) -> Result<()> {
        if !self.remembered.iter().any(|n| n == name) {
            self.remembered.push(name.to_owned());
        }
        if self.live.iter().any(|d| d.name == name) {
            return Ok(());
        }
        let device = self.open(name)?;
        self.live.push(device);
        tracing::info!(device = name, "MIDI input connected");
        Ok(())
    }

    /// Forgets `name` and closes it.
    pub fn disconnect(&mut self, name: &str) {
        self.remembered.retain(|n| n != name);
        self.live.retain(|d| d.name != name);
    }

    fn open(&self, name: &str) -> Result<LiveDevice> {
        let input = midi_input(&self.client_name)?;
        let ports = input.ports();
        let port = ports
            .iter()
            .find(|p| input.port_name(p).is_ok_and(|n| n == name))
            .ok_or_else(|| MidiError::DeviceNotFound {
                name: name.to_owned(),
                available: ports
                    .iter()
                    .filter_map(|p| input.port_name(p).ok())
                    .collect(),
            })?;
        let (mut producer, events) = rtrb::RingBuffer::new(self.ring_capacity);
        let dropped = self.dropped.clone();
        let mut parser = MidiParser::new();
        let connection = input
            .connect(
                port,
                "jamwire-in",
                move |timestamp_us, bytes, _| {
                    // Real-time safe: parse into a fixed-size parser, push into a fixed ring.
                    parser.feed(bytes, |event| {
                        if producer
                            .push(InputEvent {
                                timestamp_us,
                                event,
                            })
                            .is_err()
                        {
                            dropped.fetch_add(1, Relaxed);
                        }
                    });
                },
                (),
            )
            .map_err(|e| MidiError::ConnectFailed {
                name: name.to_owned(),
                detail: e.to_string(),
            })?;
        Ok(LiveDevice {
            name: name.to_owned(),
            _connection: connection,
            events,
        })
    }

    /// Notices devices that left (closing them) and remembered ones that came back
    /// (reconnecting them).
    pub fn rescan(&mut self) -> Result<Vec<DeviceChange>> {
        let present = self.available()?;
        let mut changes = Vec::new();
        self.live.retain(|d| {
            let still_there = present.contains(&d.name);
            if !still_there {
                tracing::warn!(device = %d.name, "MIDI input disconnected");
                changes.push(DeviceChange::Disconnected(d.name.clone()));
            }
            still_there
        });
        let waiting: Vec<String> = self
            .remembered
            .iter()
            .filter(|n| present.contains(n) && !self.live.iter().any(|d| &d.name == *n))
            .cloned()
            .collect();
        for name in waiting {
            match self.open(&name) {
                Ok(device) => {
                    tracing::info!(device = %name, "MIDI input reconnected");
                    self.live.push(device);
                    changes.push(DeviceChange::Reconnected(name));
                }
                Err(e) => {
                    tracing::warn!(device = %name, error = %e, "MIDI input is back but couldn't be opened")
                }
            }
        }
        Ok(changes)
    }

    /// Hands every waiting event to `f`, with the name of its device.
    pub fn drain(&mut self, mut f: impl FnMut(&str, InputEvent)) {
        for device in &mut self.live {
            while let Ok(event) = device.events.pop() {
                f(&device.name, event);
            }
        }
    }

    /// Events lost because the app did not drain fast enough.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
}
