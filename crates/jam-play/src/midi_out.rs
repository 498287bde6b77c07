//! Live MIDI out: every other player's notes, placed in time by the playout (the same instant
//! the speakers get), sent to MIDI ports a DAW records from or a synthesizer plays.
//!
//! - **A port per player** — `Jamwire – Ann` — where the system has virtual ports (Linux,
//!   macOS): keys on channel 1, drums on channel 10. It opens when they are in the room as a
//!   player (so a DAW can be routed before they play) and stays, with its name, until the jam
//!   is left (a DAW loses its routing when a port disappears); a player who leaves and comes
//!   back under the same name gets the same port.
//! - **All players merged** — `Jamwire – All players`, or an existing output the user picks
//!   (Windows, which has no virtual ports: a loopMIDI port) — each player's keys on a channel
//!   of their own (1–9, 11–16, in order of arrival), everyone's drums on channel 10.
//! - Notes, drum hits (each 100 ms long, so that a DAW draws them), sustain, pitch bend, the
//!   modulation wheel (CC 1) and sound changes (program change: the sound's General MIDI
//!   program; a kit's GS drum-set number on channel 10).
//! - A player who leaves or drops: every note they hold gets its note-off and their pedal is
//!   released, on their port and the merged one; what was still waiting to leave is dropped.
//!
//! One thread of its own sends each message at its instant (plus the user's offset, so the
//! DAW's recording lines up with its audio), so a busy UI or network never delays one. What
//! waits is bounded ([`QUEUE`], [`PENDING`]): beyond, messages are dropped and counted.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jam_midi::output::OutPort;
use jam_protocol::MusicalEvent;
use jam_protocol::groove::Tempo;

use crate::sync::lock;

/// An output two threads send on (the events' and the clock's).
pub(crate) type SharedPort = Arc<Mutex<OutPort>>;

/// Messages on their way to the MIDI thread (default 4,096): a burst of a whole room's chords
/// fits many times over.
pub const QUEUE: usize = 4_096;
/// MIDI messages waiting for their instant (default 16,384: several seconds of a busy room).
pub const PENDING: usize = 16_384;
/// Players MIDI out keeps track of in one jam (default 256: a long public jam's comings and
/// goings); events of players beyond are dropped and counted.
pub const MAX_PLAYERS: usize = 256;
/// Players who get a port of their own (default 64); those after them are on the merged port
/// only — each port is a MIDI client of the system's, and a room's churn must not exhaust them.
pub const MAX_PLAYER_PORTS: usize = 64;
/// How long a drum hit's note lasts on MIDI out.
pub const DRUM_NOTE: Duration = Duration::from_millis(100);
/// The largest offset a user may set, ms either way.
pub const MAX_OFFSET_MS: f64 = 1_000.0;
/// The merged port's name.
pub const MERGED_PORT: &str = "Jamwire – All players";
/// The id MIDI out knows my own part by: it goes only through the output I pick for it (no
/// port of its own, not on the merged port — those are for the others), at once (no offset:
/// I am playing it now).
pub const MY_PART: &str = "~me";

/// The MIDI clock's port's name.
pub const CLOCK_PORT: &str = "Jamwire – Clock";
/// The keys channels of the merged port, in order of the players' arrival (channel 10 is the
/// drums').
const KEYS_CHANNELS: [u8; 15] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15];
const DRUM_CHANNEL: u8 = 9;

/// Where MIDI out goes.
#[derive(Debug, Clone, PartialEq)]
pub struct MidiOutConfig {
    /// A virtual port per player and the merged one (where the system has virtual ports).
    pub virtual_ports: bool,
    /// An existing output that gets the merged stream (e.g. a loopMIDI port on Windows).
    pub port: Option<String>,
    /// Every message leaves this much later (or, negative, earlier: never before it is
    /// known) than the speakers play it, ms, within ±[`MAX_OFFSET_MS`].
    pub offset_ms: f64,
    /// MIDI clock following the room's tempo (`crate::midi_clock`): on a port of its own
    /// ([`CLOCK_PORT`]) where there are virtual ports (whether or not the players get ports
    /// of their own), and on `port`.
    pub clock: bool,
    /// The MIDI client name for connecting to an existing output.
    pub client_name: String,
}

impl Default for MidiOutConfig {
    fn default() -> MidiOutConfig {
        MidiOutConfig {
            virtual_ports: jam_midi::output::VIRTUAL_PORTS,
            port: None,
            offset_ms: 0.0,
            clock: false,
            client_name: "Jamwire".into(),
        }
    }
}

enum Msg {
    Player {
        id: String,
        name: String,
    },
    Through {
        id: String,
        name: String,
        port: Option<OutPort>,
    },
    Event {
        id: String,
        at: Instant,
        event: MusicalEvent,
    },
    Release {
        id: String,
    },
    Stop,
}

/// Live MIDI out for one jam: dropped (or [`MidiOut::stop`]) when the jam is left, which
/// releases every held note and closes the ports.
pub struct MidiOut {
    tx: SyncSender<Msg>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
    ports: Vec<String>,
    clock: Option<Clock>,
}

/// The MIDI clock's thread and what it is told.
struct Clock {
    room: Arc<Mutex<Option<crate::midi_clock::Shared>>>,
    stop: SyncSender<()>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MidiOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MidiOut")
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl MidiOut {
    /// Opens the merged output (virtual, or the existing `config.port`) at once, so that a
    /// problem is said now; players' ports open as they first play.
    pub fn start(config: MidiOutConfig) -> Result<MidiOut, jam_midi::MidiError> {
        if config.virtual_ports && !jam_midi::output::VIRTUAL_PORTS {
            return Err(jam_midi::MidiError::NoVirtualPorts);
        }
        let mut merged: Vec<SharedPort> = Vec::new();
        if let Some(name) = &config.port {
            merged.push(Arc::new(Mutex::new(OutPort::connect(
                &config.client_name,
                name,
            )?)));
        }
        #[cfg(unix)]
        if config.virtual_ports {
            merged.push(Arc::new(Mutex::new(OutPort::virtual_port(MERGED_PORT)?)));
        }
        // (Added to below only where there are virtual ports.)
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut ports: Vec<String> = merged.iter().map(|p| lock(p).name().to_owned()).collect();
        let offset = if config.offset_ms.is_finite() {
            config.offset_ms.clamp(-MAX_OFFSET_MS, MAX_OFFSET_MS)
        } else {
            0.0
        };
        let clock = if config.clock {
            // The clock goes where the merged stream does when that is an existing output
            // (Windows), and to a port of its own where there are virtual ports.
            let mut clock_ports: Vec<SharedPort> = Vec::new();
            if config.port.is_some() {
                clock_ports.extend(merged.first().cloned());
            }
            #[cfg(unix)]
            {
                clock_ports.push(Arc::new(Mutex::new(OutPort::virtual_port(CLOCK_PORT)?)));
                ports.push(CLOCK_PORT.to_owned());
            }
            let room = Arc::new(Mutex::new(None));
            let (stop, stopped) = std::sync::mpsc::sync_channel(1);
            let shared = room.clone();
            let thread = std::thread::Builder::new()
                .name("jam-midi-clock".into())
                .spawn(move || crate::midi_clock::run(&shared, &clock_ports, offset, &stopped))
                .map_err(|e| jam_midi::MidiError::NoMidiSystem {
                    detail: e.to_string(),
                })?;
            Some(Clock {
                room,
                stop,
                thread: Some(thread),
            })
        } else {
            None
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let out = Out {
            merged,
            virtual_ports: config.virtual_ports,
            players: Vec::new(),
            pending: BinaryHeap::new(),
            order: 0,
            offset_ms: offset,
            dropped: dropped.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("jam-midi-out".into())
            .spawn(move || out.run(&rx))
            .map_err(|e| jam_midi::MidiError::NoMidiSystem {
                detail: e.to_string(),
            })?;
        Ok(MidiOut {
            tx,
            thread: Some(thread),
            dropped,
            ports,
            clock,
        })
    }

    /// The room's tempo, and its relay time `relay_ms` as of `now`: the clock follows them
    /// (the groove task calls this as it runs).
    pub fn follow(&self, tempo: Tempo, relay_ms: f64, now: Instant) {
        if let Some(clock) = &self.clock {
            let mut room = lock(&clock.room);
            let previous = match &*room {
                Some(was) if was.tempo != tempo => Some(was.tempo),
                Some(was) => was.previous,
                None => None,
            };
            *room = Some(crate::midi_clock::Shared {
                tempo,
                previous,
                relay_ms,
                instant: now,
            });
        }
    }

    /// The merged outputs' names.
    pub fn ports(&self) -> &[String] {
        &self.ports
    }

    /// Messages dropped because too many waited.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    fn send(&self, msg: Msg) {
        match self.tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Participant `id`, a player, is in the room as `name`: their port opens, named after
    /// them.
    pub fn player(&self, id: &str, name: &str) {
        self.send(Msg::Player {
            id: id.to_owned(),
            name: name.to_owned(),
        });
    }

    /// Sends what `event` of participant `id` means in MIDI at instant `at` (when the speakers
    /// play it).
    pub fn play_at(&self, id: &str, at: Instant, event: &MusicalEvent) {
        if !matters(event) {
            return;
        }
        self.send(Msg::Event {
            id: id.to_owned(),
            at,
            event: event.clone(),
        });
    }

    /// Plays participant `id`'s part (`name`) also through the existing output `port` (a
    /// hardware or software synth: "Ann through my synth"; keys on channel 1, drums on 10), or
    /// no longer (`None`). The output opens now, so a problem is said now. What they hold on
    /// the output they leave ends there.
    pub fn play_through(
        &self,
        id: &str,
        name: &str,
        port: Option<&str>,
        client_name: &str,
    ) -> Result<(), jam_midi::MidiError> {
        let port = port.map(|p| OutPort::connect(client_name, p)).transpose()?;
        // Never dropped for a full queue: the choice must take.
        let _ = self.tx.send(Msg::Through {
            id: id.to_owned(),
            name: name.to_owned(),
            port,
        });
        Ok(())
    }

    /// Participant `id` left or dropped: their held notes end, their pedal comes up.
    pub fn release(&self, id: &str) {
        // Never dropped for a full queue: a stuck note is worse than a late one.
        let _ = self.tx.send(Msg::Release { id: id.to_owned() });
    }

    /// Releases everything and closes the ports.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(clock) = &mut self.clock {
            let _ = clock.stop.try_send(());
            if let Some(thread) = clock.thread.take() {
                let _ = thread.join();
            }
        }
        let _ = self.tx.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MidiOut {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Whether `event` has a MIDI meaning.
fn matters(event: &MusicalEvent) -> bool {
    matches!(
        event,
        MusicalEvent::PianoNote(_)
            | MusicalEvent::PianoNoteOff(_)
            | MusicalEvent::DrumHit(_)
            | MusicalEvent::Sustain(_)
            | MusicalEvent::PitchBend(_)
            | MusicalEvent::Modulation(_)
            | MusicalEvent::Instrument(_)
    )
}

/// A player's part a message belongs to: their keys channel, or the drums'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Keys,
    Drums,
}

/// A channel message without its channel: status (high nibble), two data bytes, length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Message {
    part: Part,
    status: u8,
    data: [u8; 2],
    len: u8,
}

impl Message {
    const fn new(part: Part, status: u8, a: u8, b: u8) -> Message {
        Message {
            part,
            status,
            data: [a & 0x7f, b & 0x7f],
            len: 3,
        }
    }

    const fn short(part: Part, status: u8, a: u8) -> Message {
        Message {
            part,
            status,
            data: [a & 0x7f, 0],
            len: 2,
        }
    }

    /// The bytes on `channel`.
    fn bytes(self, channel: u8) -> ([u8; 3], usize) {
        (
            [self.status | (channel & 0x0f), self.data[0], self.data[1]],
            usize::from(self.len),
        )
    }
}

/// What `event` is in MIDI, each after a delay from its instant.
fn messages(event: &MusicalEvent) -> Vec<(Duration, Message)> {
    let now = Duration::ZERO;
    match event {
        MusicalEvent::PianoNote(n) => {
            let mut out = vec![(
                now,
                Message::new(Part::Keys, 0x90, n.note, n.velocity.max(1)),
            )];
            if let Some(ms) = n.duration {
                let ms = ms.clamp(0.0, jam_protocol::event::MAX_DURATION_MS);
                let after = Duration::try_from_secs_f64(ms / 1_000.0).unwrap_or_default();
                out.push((after, Message::new(Part::Keys, 0x80, n.note, 0)));
            }
            out
        }
        MusicalEvent::PianoNoteOff(n) => vec![(now, Message::new(Part::Keys, 0x80, n.note, 0))],
        MusicalEvent::DrumHit(h) => vec![
            (
                now,
                Message::new(Part::Drums, 0x90, h.note, h.velocity.max(1)),
            ),
            (DRUM_NOTE, Message::new(Part::Drums, 0x80, h.note, 0)),
        ],
        MusicalEvent::Sustain(s) => vec![(
            now,
            Message::new(Part::Keys, 0xB0, 64, if s.on { 127 } else { 0 }),
        )],
        MusicalEvent::PitchBend(b) => {
            let value = u16::try_from(i32::from(b.value).clamp(-8192, 8191) + 8192).unwrap_or(8192);
            let (lsb, msb) = (
                u8::try_from(value & 0x7f).unwrap_or(0),
                u8::try_from(value >> 7).unwrap_or(64),
            );
            vec![(now, Message::new(Part::Keys, 0xE0, lsb, msb))]
        }
        MusicalEvent::Modulation(m) => vec![(now, Message::new(Part::Keys, 0xB0, 1, m.value))],
        MusicalEvent::Instrument(chosen) => {
            let mut out = Vec::with_capacity(2);
            if let Some(voice) = jam_protocol::instrument::melodic(&chosen.keys) {
                out.push((now, Message::short(Part::Keys, 0xC0, voice.program)));
            }
            if let Some(kit) = jam_protocol::instrument::kit(&chosen.drums) {
                out.push((now, Message::short(Part::Drums, 0xC0, kit.program)));
            }
            out
        }
        _ => Vec::new(),
    }
}

/// One player as MIDI out knows them.
struct PlayerOut {
    id: String,
    name: String,
    /// Their own port (virtual), opened when they first play.
    port: Option<OutPort>,
    /// Their keys channel on the merged port.
    channel: u8,
    /// An existing output their part also plays through ("Ann through my synth").
    through: Option<OutPort>,
    /// Notes on, as sent: (part, note).
    held: Vec<(Part, u8)>,
    sustain: bool,
}

/// A message waiting for its instant: (when, order sent, player index, message).
type Pending = Reverse<(Instant, u64, usize, Message)>;

/// The MIDI thread's state.
struct Out {
    merged: Vec<SharedPort>,
    virtual_ports: bool,
    players: Vec<PlayerOut>,
    pending: BinaryHeap<Pending>,
    order: u64,
    offset_ms: f64,
    dropped: Arc<AtomicU64>,
}

impl Out {
    fn run(mut self, rx: &Receiver<Msg>) {
        crate::midi_clock::prefer_this_thread();
        loop {
            let wait = self
                .pending
                .peek()
                .map_or(Duration::from_secs(1), |Reverse(p)| {
                    p.0.saturating_duration_since(Instant::now())
                });
            match rx.recv_timeout(wait) {
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.send_due(Instant::now());
        }
        for index in 0..self.players.len() {
            self.release(index);
        }
    }

    /// Player `id`'s place, made if new; `None` beyond [`MAX_PLAYERS`].
    fn index_of(&mut self, id: &str) -> Option<usize> {
        if let Some(i) = self.players.iter().position(|p| p.id == id) {
            return Some(i);
        }
        if self.players.len() >= MAX_PLAYERS {
            self.dropped.fetch_add(1, Relaxed);
            return None;
        }
        let channel = KEYS_CHANNELS
            .get(self.players.len() % KEYS_CHANNELS.len())
            .copied()
            .unwrap_or(0);
        self.players.push(PlayerOut {
            id: id.to_owned(),
            name: String::new(),
            port: None,
            channel,
            through: None,
            held: Vec::new(),
            sustain: false,
        });
        Some(self.players.len() - 1)
    }

    /// Whether player `index` may have a port of their own (never my own part).
    fn may_have_port(&self, index: usize) -> bool {
        self.virtual_ports
            && self.players.get(index).is_some_and(|p| p.id != MY_PART)
            && self.players.iter().filter(|p| p.port.is_some()).count() < MAX_PLAYER_PORTS
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Player { id, name } => {
                // Someone back under a name we know: their port (and channel) again.
                if let Some(old) = self
                    .players
                    .iter()
                    .position(|p| p.name == name && p.id != id)
                {
                    if let Some(p) = self.players.get_mut(old) {
                        p.id = id;
                    }
                    return;
                }
                let Some(index) = self.index_of(&id) else {
                    return;
                };
                let may_have_port = self.may_have_port(index);
                if let Some(p) = self.players.get_mut(index) {
                    p.name = name;
                    if may_have_port && p.port.is_none() {
                        p.port = open_player_port(&p.name, &p.id);
                    }
                }
            }
            Msg::Through { id, name, port } => {
                let found = self.players.iter().position(|p| p.name == name);
                let Some(index) = found.or_else(|| self.index_of(&id)) else {
                    return;
                };
                // What they hold on the old output ends there.
                let held: Vec<(Part, u8)> = self
                    .players
                    .get(index)
                    .map(|p| p.held.clone())
                    .unwrap_or_default();
                if let Some(player) = self.players.get_mut(index) {
                    player.id = id;
                    player.name = name;
                    if let Some(old) = &mut player.through {
                        for (part, note) in held {
                            let channel = if part == Part::Keys { 0 } else { DRUM_CHANNEL };
                            let (bytes, len) = Message::new(part, 0x80, note, 0).bytes(channel);
                            old.send(bytes.get(..len).unwrap_or(&bytes));
                        }
                    }
                    player.through = port;
                }
            }
            Msg::Event { id, at, event } => {
                let Some(index) = self.index_of(&id) else {
                    return;
                };
                let offset_ms = if id == MY_PART { 0.0 } else { self.offset_ms };
                let offset =
                    Duration::try_from_secs_f64(offset_ms.abs() / 1_000.0).unwrap_or_default();
                let at = if offset_ms >= 0.0 {
                    at.checked_add(offset).unwrap_or(at)
                } else {
                    at.checked_sub(offset).unwrap_or(at)
                };
                for (delay, message) in messages(&event) {
                    if self.pending.len() >= PENDING {
                        self.dropped.fetch_add(1, Relaxed);
                        continue;
                    }
                    self.order += 1;
                    let when = at.checked_add(delay).unwrap_or(at);
                    self.pending
                        .push(Reverse((when, self.order, index, message)));
                }
            }
            Msg::Release { id } => {
                if let Some(index) = self.players.iter().position(|p| p.id == id) {
                    self.pending.retain(|Reverse(p)| p.2 != index);
                    self.release(index);
                }
            }
            Msg::Stop => {}
        }
    }

    fn send_due(&mut self, now: Instant) {
        while let Some(Reverse((when, _, index, message))) = self.pending.peek().copied() {
            if when > now {
                break;
            }
            self.pending.pop();
            self.deliver(index, message);
        }
    }

    /// Sends `message` of player `index` on their port and the merged ones, and keeps the
    /// ledger of what they hold.
    fn deliver(&mut self, index: usize, message: Message) {
        let needs_port = self.players.get(index).is_some_and(|p| p.port.is_none());
        let may_have_port = needs_port && self.may_have_port(index);
        let Some(player) = self.players.get_mut(index) else {
            return;
        };
        let note = message.data[0];
        match (message.status, message.data[1]) {
            (0x90, _) => {
                player
                    .held
                    .retain(|&(part, n)| (part, n) != (message.part, note));
                player.held.push((message.part, note));
            }
            (0x80, _) => player
                .held
                .retain(|&(part, n)| (part, n) != (message.part, note)),
            (0xB0, value) if note == 64 => player.sustain = value >= 64,
            _ => {}
        }
        if may_have_port && player.port.is_none() {
            player.port = open_player_port(&player.name, &player.id);
        }
        let own_channel = match message.part {
            Part::Keys => 0,
            Part::Drums => DRUM_CHANNEL,
        };
        let (bytes, len) = message.bytes(own_channel);
        for port in [&mut player.port, &mut player.through]
            .into_iter()
            .flatten()
        {
            port.send(bytes.get(..len).unwrap_or(&bytes));
        }
        if player.id == MY_PART {
            return;
        }
        let merged_channel = match message.part {
            Part::Keys => player.channel,
            Part::Drums => DRUM_CHANNEL,
        };
        let (bytes, len) = message.bytes(merged_channel);
        for port in &self.merged {
            lock(port).send(bytes.get(..len).unwrap_or(&bytes));
        }
    }

    /// Note-offs for everything player `index` holds, and their pedal up.
    fn release(&mut self, index: usize) {
        let Some(player) = self.players.get_mut(index) else {
            return;
        };
        let mut offs: Vec<Message> = player
            .held
            .iter()
            .map(|&(part, note)| Message::new(part, 0x80, note, 0))
            .collect();
        if player.sustain {
            offs.push(Message::new(Part::Keys, 0xB0, 64, 0));
        }
        for message in offs {
            self.deliver(index, message);
        }
    }
}

/// `Jamwire – NAME`, made a virtual port; `None` (logged) if the system refuses.
fn open_player_port(name: &str, id: &str) -> Option<OutPort> {
    #[cfg(unix)]
    {
        let shown = if name.is_empty() { id } else { name };
        // JACK and ALSA use `:` between client and port.
        let port = format!("Jamwire – {}", shown.replace(':', "-"));
        match OutPort::virtual_port(&port) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(port = %port, error = %e, "couldn't open a player's MIDI port");
                None
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (name, id);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jam_protocol::event::{DrumHit, PianoNote, PitchBend};

    #[test]
    fn a_rooms_comings_and_goings_are_bounded() {
        let mut out = Out {
            merged: Vec::new(),
            virtual_ports: false,
            players: Vec::new(),
            pending: BinaryHeap::new(),
            order: 0,
            offset_ms: 0.0,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        let hit = MusicalEvent::DrumHit(DrumHit {
            note: 36,
            velocity: 100,
            timestamp: 0.0,
        });
        let at = Instant::now();
        for i in 0..MAX_PLAYERS + 10 {
            out.handle(Msg::Player {
                id: format!("p{i}"),
                name: format!("Player {i}"),
            });
            out.handle(Msg::Event {
                id: format!("p{i}"),
                at,
                event: hit.clone(),
            });
        }
        assert_eq!(out.players.len(), MAX_PLAYERS);
        assert_eq!(
            out.dropped.load(Relaxed),
            20,
            "10 names and 10 events beyond"
        );
        // The merged port's channels cycle through the 15 keys channels, never 10 (drums).
        assert!(out.players.iter().all(|p| p.channel != DRUM_CHANNEL));
        out.send_due(at + Duration::from_secs(1));
        assert!(out.pending.is_empty(), "everything due was sent");
        assert!(
            out.players.iter().all(|p| p.held.is_empty()),
            "each hit's note ended"
        );
    }

    #[test]
    fn events_become_midi_messages_on_their_part() {
        let note = MusicalEvent::PianoNote(PianoNote {
            note: 60,
            velocity: 0,
            timestamp: 0.0,
            duration: Some(f64::INFINITY),
        });
        let m = messages(&note);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0].1.bytes(3),
            ([0x93, 60, 1], 3),
            "velocity 0 would be a note-off"
        );
        assert_eq!(m[1].0, Duration::from_secs(60), "a duration is bounded");
        assert_eq!(m[1].1.bytes(3), ([0x83, 60, 0], 3));
        let hit = MusicalEvent::DrumHit(DrumHit {
            note: 200,
            velocity: 100,
            timestamp: 0.0,
        });
        let m = messages(&hit);
        assert_eq!(m[0].1.part, Part::Drums);
        assert_eq!(
            m[0].1.bytes(9).0[1],
            200 & 0x7f,
            "data bytes stay below 128"
        );
        for (value, bytes) in [
            (-8192, [0xE0, 0, 0]),
            (0, [0xE0, 0, 64]),
            (8191, [0xE0, 127, 127]),
        ] {
            let bend = MusicalEvent::PitchBend(PitchBend {
                value,
                timestamp: 0.0,
            });
            assert_eq!(messages(&bend)[0].1.bytes(0).0, bytes, "bend {value}");
        }
    }
}
