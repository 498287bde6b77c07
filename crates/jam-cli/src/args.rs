//! What `jam` is asked to do: its subcommands and their options.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The headless Jamwire tool: host a jam, join one, stream a MIDI file into one, record one,
/// or bounce a MIDI file to audio. Everything it hears plays through the audio engine unless
/// --no-audio. Relay errors end it with a message and a non-zero exit status.
#[derive(Debug, Parser)]
#[command(name = "jam", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start a relay here, create a room, print its invite (jam://HOST:PORT/CODE) on one line
    /// and the browser link for friends without the app on the next, and keep hosting until
    /// Ctrl-C or SIGTERM.
    Host {
        /// Address to listen on: 0.0.0.0:PORT for your network (and, through the router's
        /// port mapping, the internet), 127.0.0.1:PORT for this machine only; port 0 picks a
        /// free port.
        #[arg(long, default_value = "0.0.0.0:7878", value_name = "ADDR:PORT")]
        bind: SocketAddr,
        /// Don't ask the router to open the port (UPnP / NAT-PMP): only your network can join.
        #[arg(long)]
        no_port_mapping: bool,
        /// Host on this relay server instead of here (wss://relay.example.org): anyone with
        /// the invite can join, from behind any router.
        #[arg(long, value_name = "URL")]
        relay: Option<String>,
        /// The relay server's creation key, if it asks for one.
        #[arg(
            long,
            value_name = "KEY",
            env = "JAM_RELAY_KEY",
            hide_env_values = true
        )]
        relay_key: Option<String>,
        /// Trust this certificate authority (PEM) for a private relay server.
        #[arg(long, value_name = "CA.pem")]
        ca_cert: Vec<PathBuf>,
        /// Your name in the room.
        #[arg(long, default_value = "Host")]
        name: String,
        /// A password joiners must give.
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        audio: Audio,
        #[command(flatten)]
        sound: Sound,
    },
    /// List the audio output devices (the names --device takes), the system's default
    /// marked, then exit.
    Devices,
    /// List the MIDI outputs (the names --midi-out-port takes), then exit.
    MidiOutputs,
    /// List the jams hosted on your network (found over mDNS, no typing), then exit.
    List {
        /// How long to listen for jams, in seconds.
        #[arg(long, default_value_t = 3, value_name = "SECONDS")]
        wait: u64,
    },
    /// Join a jam and play what you hear, until Ctrl-C or SIGTERM.
    Join {
        /// The invite, jam://HOST:PORT/CODE (or jams://HOST/CODE for a relay server).
        #[arg(required_unless_present = "lan")]
        invite: Option<String>,
        /// Join the jam hosted on your network instead of typing an invite (the only one, or
        /// the first `jam list` shows).
        #[arg(long, conflicts_with = "invite")]
        lan: bool,
        /// Your name in the room.
        #[arg(long)]
        name: String,
        /// Join as a listener (hear everything, play nothing).
        #[arg(long)]
        listen: bool,
        /// Trust this certificate authority (PEM) for a private relay server (jams:// invites).
        #[arg(long, value_name = "CA.pem")]
        ca_cert: Vec<PathBuf>,
        /// The room's password.
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        audio: Audio,
        #[command(flatten)]
        sound: Sound,
        #[command(flatten)]
        midi_out: MidiOutArgs,
    },
    /// Stream a MIDI file into a jam in real time as a player, then leave. Channel 10 plays
    /// the drums, the others the keys part; the file's program changes choose the sounds (the
    /// palette's nearest to each General MIDI program), --instrument and --kit the first ones.
    Play {
        /// The MIDI file.
        file: PathBuf,
        /// The invite, jam://HOST:PORT/CODE.
        #[arg(long)]
        into: String,
        /// Your name in the room.
        #[arg(long, default_value = "MIDI player")]
        name: String,
        /// The room's password.
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        audio: Audio,
        #[command(flatten)]
        sound: Sound,
    },
    /// Join a jam as a listener and, on Ctrl-C or SIGTERM, write what you heard as a multitrack
    /// MIDI file: one track per participant, named after them, drums on channel 10.
    Record {
        /// The MIDI file to write.
        output: PathBuf,
        /// The invite, jam://HOST:PORT/CODE.
        #[arg(long)]
        from: String,
        /// Your name in the room.
        #[arg(long, default_value = "Recorder")]
        name: String,
        /// The room's password.
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        audio: Audio,
    },
    /// Render a MIDI file to a WAV file through Jamwire's audio engine: channel 10 plays the
    /// drum kit, every other channel the piano. The WAV lasts the file plus the time its last
    /// notes take to fade.
    Render {
        /// The MIDI file to render.
        input: PathBuf,
        /// The WAV file to write (16-bit stereo).
        output: PathBuf,
        /// Sample rate of the WAV, in Hz.
        #[arg(long, default_value_t = 48_000, value_name = "HZ")]
        sample_rate: u32,
    },
    /// Export a take from a session log (`jam-relay --log`, or the desktop app's takes.sqlite)
    /// as a Standard MIDI File: one named track per player, the session's tempo map, drums on
    /// channel 10. `--list` shows the takes instead.
    Export {
        /// The session log.
        log: PathBuf,
        /// The MIDI file to write.
        #[arg(required_unless_present_any = ["list", "stems"])]
        output: Option<PathBuf>,
        /// Which take: its id from `--list`, or `latest`.
        #[arg(long, default_value = "latest", value_name = "ID|latest")]
        session: String,
        /// List the takes (id, date, length, players, events) and write nothing.
        #[arg(long)]
        list: bool,
        /// Write the take for a DAW into this folder instead: one WAV per player rendered with
        /// their sounds (32-bit float, `01 Ann.wav`…), `mix.wav` and `take.mid`, all starting
        /// at the take's time zero — drop them at bar 1 and they line up.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["list", "output"])]
        stems: Option<PathBuf>,
        /// The stems' sample rate, Hz.
        #[arg(long, default_value_t = 48_000, requires = "stems")]
        sample_rate: u32,
    },
}

/// The sounds you play with.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Sound {
    /// Your keys sound (default grand-piano): one of grand-piano, bright-piano, tine-piano,
    /// fm-piano, vibraphone, marimba, drawbar-organ, church-organ, nylon-guitar, steel-guitar,
    /// clean-guitar, overdriven-guitar, finger-bass, picked-bass, fretless-bass, synth-bass,
    /// strings, slow-strings, choir, trumpet, brass, alto-sax, flute, square-lead, saw-lead,
    /// warm-pad.
    #[arg(long, value_name = "ID", value_parser = keys_id)]
    pub(crate) instrument: Option<String>,
    /// Your drum kit (default standard-kit): standard-kit, room-kit, electronic-kit or
    /// brush-kit.
    #[arg(long, value_name = "ID", value_parser = kit_id)]
    pub(crate) kit: Option<String>,
    /// Play your keys with your own sound: a SoundFont (.sf2) or a folder of recordings
    /// (WAV, FLAC, Ogg) each named after its note (C4.wav, F#2.flac, 60.ogg; C4 is middle C).
    /// Only you hear it: the room hears --instrument, or the palette's nearest to the font's
    /// preset. A MIDI file's program changes switch back to the palette.
    #[arg(long, value_name = "PATH")]
    pub(crate) my_sound: Option<String>,
    /// The SoundFont preset to play, as BANK:PROGRAM (default: the font's first).
    #[arg(long, value_name = "BANK:PROGRAM", value_parser = preset, requires = "my_sound")]
    pub(crate) my_preset: Option<(u16, u8)>,
}

fn preset(text: &str) -> Result<(u16, u8), String> {
    let (bank, program) = text
        .split_once(':')
        .ok_or("write it as BANK:PROGRAM, like 0:4")?;
    let bank = bank
        .trim()
        .parse::<u16>()
        .map_err(|_| "the bank is a number, 0–16383")?;
    let program = program
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|p| *p <= 127)
        .ok_or("the program is a number, 0–127")?;
    Ok((bank, program))
}

fn keys_id(id: &str) -> Result<String, String> {
    jam_protocol::instrument::melodic(id)
        .map(|v| v.id.to_owned())
        .ok_or_else(|| {
            let ids: Vec<&str> = jam_protocol::instrument::MELODIC
                .iter()
                .map(|v| v.id)
                .collect();
            format!("not an instrument; choose one of {}", ids.join(", "))
        })
}

fn kit_id(id: &str) -> Result<String, String> {
    jam_protocol::instrument::kit(id)
        .map(|v| v.id.to_owned())
        .ok_or_else(|| {
            let ids: Vec<&str> = jam_protocol::instrument::KITS
                .iter()
                .map(|v| v.id)
                .collect();
            format!("not a kit; choose one of {}", ids.join(", "))
        })
}

/// Where the other players' notes go as MIDI, besides the speakers.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct MidiOutArgs {
    /// Send every other player's notes to MIDI out as you hear them: a port per player
    /// ("Jamwire – Ann", keys on channel 1, drums on 10) and "Jamwire – All players" (a
    /// channel each, drums on 10), for a DAW to record (Linux, macOS).
    #[arg(long)]
    pub(crate) midi_out: bool,
    /// Send all players, merged, to this existing MIDI output instead (as `jam midi-outputs`
    /// lists it; on Windows, which has no virtual ports, e.g. a loopMIDI port).
    #[arg(long, value_name = "NAME")]
    pub(crate) midi_out_port: Option<String>,
    /// Move MIDI out this many ms later (negative: earlier, −1000 to 1000), so that your
    /// DAW's recording lines up with its audio.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub(crate) midi_offset: f64,
    /// Send MIDI clock following the room's tempo (24 pulses a beat, starting on a bar line)
    /// on "Jamwire – Clock" and on `--midi-out-port`, for a DAW or a drum machine to follow.
    #[arg(long)]
    pub(crate) midi_clock: bool,
}

/// How `jam` plays what it hears.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Audio {
    /// Don't play anything (no sound card needed).
    #[arg(long)]
    pub(crate) no_audio: bool,
    /// Play through this output device, named as `jam devices` lists it, instead of the
    /// system's default.
    #[arg(long, value_name = "NAME", conflicts_with = "no_audio")]
    pub(crate) device: Option<String>,
    /// Audio buffer, frames per callback (32–4096; 256 ≈ 5 ms at 48 kHz). A bigger buffer
    /// rides out a busy or virtual machine without crackles, at the cost of that much delay
    /// in what you hear.
    #[arg(
        long,
        value_name = "FRAMES",
        default_value_t = jam_audio::output::OutputConfig::default().buffer_frames,
        value_parser = clap::value_parser!(u32).range(32..=4096)
    )]
    pub(crate) buffer: u32,
}
