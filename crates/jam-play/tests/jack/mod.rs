//! What the JACK tests share: a silent core, and a JACK MIDI client recording a port.
// Each test binary uses some of these.
#![allow(dead_code)]

use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use jam_play::{Core, CoreConfig, Speaker};
use jam_tests::PATIENCE;
use midir::os::unix::VirtualInput;
use midir::{Ignore, MidiInput, MidiInputConnection};

pub fn core() -> Core {
    Core::start(CoreConfig {
        runtime: tokio::runtime::Handle::current(),
        speaker: Speaker::silent("test"),
        settings_path: None,
        takes: None,
        relay_bind: Some("127.0.0.1:0".parse().unwrap()),
        midi_inputs: None,
        ca_certs: Vec::new(),
    })
}

/// A JACK MIDI client recording one port: each message as it arrived.
pub struct Recorder {
    _connection: MidiInputConnection<()>,
    messages: Receiver<(u64, Vec<u8>)>,
    port: String,
}

impl Recorder {
    /// Records the port whose name contains `wanted`, once it exists (bounded wait: the ports
    /// open on their own thread).
    pub fn of(wanted: &str) -> Recorder {
        // One client, asked again and again (making and closing JACK clients in a loop can
        // stall the server's graph).
        let mut input = MidiInput::new("jamwire-test-recorder").expect("the JACK server");
        input.ignore(Ignore::None);
        let deadline = Instant::now() + PATIENCE;
        let (port, name) = loop {
            let found = input.ports().into_iter().find_map(|p| {
                let name = input.port_name(&p).ok()?;
                name.contains(wanted).then_some((p, name))
            });
            if let Some(found) = found {
                break found;
            }
            assert!(
                Instant::now() < deadline,
                "no MIDI port named like {wanted:?} appeared"
            );
            std::thread::park_timeout(Duration::from_millis(10));
        };
        let (tx, messages) = channel();
        let connection = input
            .connect(
                &port,
                "in",
                move |at_us, message, _| {
                    let _ = tx.send((at_us, message.to_vec()));
                },
                (),
            )
            .expect("the recorder connects");
        Recorder {
            _connection: connection,
            messages,
            port: name,
        }
    }

    /// The next `n` messages (bounded wait).
    pub fn take(&self, n: usize) -> Vec<Vec<u8>> {
        self.take_timed(n).into_iter().map(|(_, m)| m).collect()
    }

    /// The next `n` messages with the JACK time (µs) of the cycle they arrived in.
    pub fn take_timed(&self, n: usize) -> Vec<(u64, Vec<u8>)> {
        (0..n)
            .map(|i| {
                self.messages.recv_timeout(PATIENCE).unwrap_or_else(|_| {
                    panic!("message {} of {n} never reached {}", i + 1, self.port)
                })
            })
            .collect()
    }

    /// The next message, if one comes within `wait`.
    pub fn next_within(&self, wait: Duration) -> Option<Vec<u8>> {
        self.messages.recv_timeout(wait).ok().map(|(_, m)| m)
    }

    /// Whatever else arrived.
    pub fn rest(&self) -> Vec<Vec<u8>> {
        self.messages.try_iter().map(|(_, m)| m).collect()
    }
}

/// A MIDI input of a JACK client `client` (as a synthesizer has), recording what reaches it;
/// and its name as an output to send to.
pub fn synth(client: &str) -> (Recorder, String) {
    let (tx, messages) = channel();
    let input = MidiInput::new(client).expect("the JACK server");
    let connection = input
        .create_virtual(
            "in",
            move |at_us, message, _| {
                let _ = tx.send((at_us, message.to_vec()));
            },
            (),
        )
        .expect("a synth's input");
    let deadline = Instant::now() + PATIENCE;
    let name = loop {
        let outputs = jam_midi::output::available_outputs("jamwire-test-lister").unwrap();
        if let Some(name) = outputs.into_iter().find(|n| n.contains(client)) {
            break name;
        }
        assert!(Instant::now() < deadline, "{client} is listed as an output");
        std::thread::park_timeout(Duration::from_millis(10));
    };
    (
        Recorder {
            _connection: connection,
            messages,
            port: name.clone(),
        },
        name,
    )
}
