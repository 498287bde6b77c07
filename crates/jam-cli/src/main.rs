//! `jam`: the headless Jamwire tool.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use jam_audio::{SampleBank, offline};
use jam_midi::{PlayEvent, Router, Song};
use jam_play::room::Names;
use jam_play::views::{HostRequest, JoinRequest};
use jam_play::{Core, CoreConfig, MidiTake, PlayInput, RoomEvent, RoomSink, Speaker, Takes};
use jam_session::{SessionError, Status};
use tracing_subscriber::EnvFilter;

/// The headless Jamwire tool: host a jam, join one, stream a MIDI file into one, record one,
/// or bounce a MIDI file to audio. Everything it hears plays through the audio engine unless
/// --no-audio. Relay errors end it with a message and a non-zero exit status.
#[derive(Debug, Parser)]
#[command(name = "jam", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a relay here, create a room, print its invite (jam://HOST:PORT/CODE) on one line,
    /// and keep hosting until Ctrl-C or SIGTERM.
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
    },
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
    },
    /// Stream a MIDI file into a jam in real time as a player, then leave.
    Play {
        /// The MIDI file (channel 10 plays drums, the rest piano).
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
        #[arg(required_unless_present = "list")]
        output: Option<PathBuf>,
        /// Which take: its id from `--list`, or `latest`.
        #[arg(long, default_value = "latest", value_name = "ID|latest")]
        session: String,
        /// List the takes (id, date, length, players, events) and write nothing.
        #[arg(long)]
        list: bool,
    },
}

/// How `jam` plays what it hears.
#[derive(Debug, Clone, Copy, clap::Args)]
struct Audio {
    /// Don't play anything (no sound card needed).
    #[arg(long)]
    no_audio: bool,
    /// Audio buffer, frames per callback (32–4096; 256 ≈ 5 ms at 48 kHz). A bigger buffer
    /// rides out a busy or virtual machine without crackles, at the cost of that much delay
    /// in what you hear.
    #[arg(
        long,
        value_name = "FRAMES",
        default_value_t = jam_audio::output::OutputConfig::default().buffer_frames,
        value_parser = clap::value_parser!(u32).range(32..=4096)
    )]
    buffer: u32,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let command = Cli::parse().command;
    if let Command::Render {
        input,
        output,
        sample_rate,
    } = command
    {
        return render(&input, &output, sample_rate);
    }
    if let Command::Export {
        log,
        output,
        session,
        list,
    } = command
    {
        return export(&log, output.as_deref(), &session, list);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match command {
            Command::Host {
                bind,
                no_port_mapping,
                relay,
                relay_key,
                ca_cert,
                name,
                password,
                audio,
            } => {
                let request = HostRequest {
                    name,
                    password,
                    port: bind.port(),
                    record: false,
                    port_mapping: !no_port_mapping,
                    relay,
                    relay_key,
                };
                host(bind, request, ca_cert, audio).await
            }
            Command::List { wait } => list(std::time::Duration::from_secs(wait)).await,
            Command::Join {
                invite,
                lan,
                name,
                listen,
                ca_cert,
                password,
                audio,
            } => {
                let invite = match (invite, lan) {
                    (Some(invite), _) => invite,
                    (None, _) => lan_invite().await?,
                };
                join(invite, name, listen, password, ca_cert, audio).await
            }
            Command::Play {
                file,
                into,
                name,
                password,
                audio,
            } => play(&file, into, name, password, audio).await,
            Command::Record {
                output,
                from,
                name,
                password,
                audio,
            } => record(&output, from, name, password, audio).await,
            Command::Render { .. } | Command::Export { .. } => {
                anyhow::bail!("render and export run without a network")
            }
        }
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

fn report_status(status: &Status) {
    match status {
        Status::Connecting | Status::Connected { .. } => {}
        Status::Reconnecting {
            retry_in, reason, ..
        } => {
            eprintln!(
                "jam: connection lost ({reason}) — reconnecting in {:.1} s",
                retry_in.as_secs_f64()
            );
        }
        Status::Ended {
            reason: Some(reason),
        } => eprintln!("jam: {reason}"),
        Status::Ended { reason: None } => {}
    }
}

/// Reports how a session ended: the host ending the jam or leaving is a normal end, anything
/// else a failure.
fn ended(status: &Status) -> anyhow::Result<()> {
    report_status(status);
    match status {
        Status::Ended {
            reason: Some(reason),
        } if !matches!(reason, SessionError::JamEnded { .. }) => anyhow::bail!(reason.clone()),
        _ => Ok(()),
    }
}

/// The core this tool runs on: no settings file, no takes, no MIDI devices.
fn core(audio: Audio, bind: Option<SocketAddr>, ca_certs: Vec<PathBuf>) -> Core {
    Core::start(CoreConfig {
        runtime: tokio::runtime::Handle::current(),
        speaker: open_speaker(audio),
        settings_path: None,
        takes: None,
        relay_bind: bind,
        midi_inputs: None,
        ca_certs,
    })
}

/// Reports the jam's connection until `until` completes or the jam ends for good.
async fn stay(core: &Core, until: impl Future<Output = ()>) -> anyhow::Result<()> {
    let Some(mut status) = core.status() else {
        return Ok(());
    };
    tokio::pin!(until);
    loop {
        tokio::select! {
            () = &mut until => return Ok(()),
            changed = status.changed() => {
                let now = status.borrow_and_update().clone();
                if changed.is_err() || matches!(now, Status::Ended { .. }) {
                    return ended(&now);
                }
                report_status(&now);
            }
        }
    }
}

/// Prints the jams on the network, one a line.
async fn list(wait: std::time::Duration) -> anyhow::Result<()> {
    let jams = jam_play::lan::list(wait).await;
    let mut out = std::io::stdout().lock();
    if jams.is_empty() {
        eprintln!(
            "jam: no jam found on your network within {} s",
            wait.as_secs()
        );
    }
    for jam in jams {
        writeln!(
            out,
            "{}  {}'s jam  {} in the room{}",
            jam.invite,
            jam.host,
            jam.players,
            if jam.password { "  (password)" } else { "" }
        )?;
    }
    Ok(())
}

/// The invite of the jam on this network, for `jam join --lan`.
async fn lan_invite() -> anyhow::Result<String> {
    let jams = jam_play::lan::list(jam_play::lan::LIST_FOR).await;
    let Some(first) = jams.first() else {
        anyhow::bail!(
            "no jam found on your network within {} s — ask the host for the invite",
            jam_play::lan::LIST_FOR.as_secs()
        );
    };
    if jams.len() > 1 {
        eprintln!(
            "jam: {} jams on your network; joining {}'s (see `jam list`)",
            jams.len(),
            first.host
        );
    }
    Ok(first.invite.clone())
}

/// A room sink that plays nothing more than the core already does.
fn quiet() -> impl RoomSink {
    |_: RoomEvent| {}
}

async fn host(
    bind: SocketAddr,
    request: HostRequest,
    ca_certs: Vec<PathBuf>,
    audio: Audio,
) -> anyhow::Result<()> {
    let core = core(audio, Some(bind), ca_certs);
    let jam = core.host(request, quiet()).await?;
    println!("jam: hosting {}", jam.invite);
    if let Some(reach) = &jam.reach {
        eprintln!("jam: {}", reach.message);
    }
    if jam.addresses.len() > 1 {
        eprintln!("jam: also reachable at {}", jam.addresses[1..].join(", "));
    }
    let result = stay(&core, stop_signal()).await;
    // Tell the guests the jam is over (they stop instead of trying to reconnect), then close.
    core.leave().await?;
    result
}

async fn connect(
    core: &Core,
    invite: String,
    name: String,
    listener: bool,
    password: Option<String>,
    sink: impl RoomSink,
) -> anyhow::Result<()> {
    let request = JoinRequest {
        name: name.clone(),
        invite,
        listener,
        password,
    };
    let jam = core.join(request, sink).await?;
    eprintln!("jam: joined {} as {name}", jam.invite);
    Ok(())
}

async fn join(
    invite: String,
    name: String,
    listener: bool,
    password: Option<String>,
    ca_certs: Vec<PathBuf>,
    audio: Audio,
) -> anyhow::Result<()> {
    let core = core(audio, None, ca_certs);
    connect(&core, invite, name, listener, password, quiet()).await?;
    let result = stay(&core, stop_signal()).await;
    core.leave().await?;
    result
}

async fn play(
    file: &Path,
    invite: String,
    name: String,
    password: Option<String>,
    audio: Audio,
) -> anyhow::Result<()> {
    let song = Song::load(file)?;
    let core = core(audio, None, Vec::new());
    connect(&core, invite, name, false, password, quiet()).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(PlayEvent, Instant)>(1_024);
    let performer = std::thread::spawn(move || {
        let router = Router::default();
        let stop = AtomicBool::new(false);
        let start = Instant::now();
        jam_midi::play_paced(&song, start, &stop, |e| {
            if let Some(play) = router.route(None, e.event) {
                // Stamped with when the file says it is played, not when it gets sent.
                let due = start + std::time::Duration::from_micros(e.time_us);
                let _ = tx.blocking_send((play, due));
            }
        });
    });
    let sent = AtomicUsize::new(0);
    let mut status = core.status().context("the jam ended at once")?;
    let outcome = {
        let played = async {
            while let Some((play, due)) = rx.recv().await {
                let input = PlayInput::from(play);
                // A drum's release plays nothing; everything else counts.
                if input.to_event(0.0).is_ok_and(|e| e.is_some()) {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                core.perform_at(input, due)?;
            }
            anyhow::Ok(())
        };
        tokio::pin!(played);
        let stopped = stop_signal();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                r = &mut played => break r,
                () = &mut stopped => break Ok(()),
                changed = status.changed() => {
                    let now = status.borrow_and_update().clone();
                    report_status(&now);
                    if changed.is_err() || matches!(now, Status::Ended { .. }) {
                        break Err(anyhow::anyhow!("the session ended before the file did"));
                    }
                }
            }
        }
    };
    drop(rx); // a performer still playing (stopped early) finds nobody listening and ends
    let _ = performer.join();
    let sent = sent.load(Ordering::Relaxed);
    eprintln!("jam: played {sent} events from {}", file.display());
    core.leave().await?;
    outcome
}

/// `jam record`'s sink: every note on its player's track, and a line when someone leaves.
struct Recorder {
    take: Arc<MidiTake>,
    names: std::sync::Mutex<Names>,
}

impl RoomSink for Recorder {
    fn send(&self, event: RoomEvent) {
        {
            let mut names = self
                .names
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            names.learn(&event);
            if let RoomEvent::UserLeft { user_id } = &event {
                eprintln!("jam: {} left", names.of(user_id));
            }
        }
        self.take.send(event);
    }
}

async fn record(
    output: &Path,
    invite: String,
    name: String,
    password: Option<String>,
    audio: Audio,
) -> anyhow::Result<()> {
    let core = core(audio, None, Vec::new());
    let take = Arc::new(MidiTake::new(core.clock().now_ms));
    let recorder = Arc::new(Recorder {
        take: take.clone(),
        names: Default::default(),
    });
    connect(&core, invite, name, true, password, recorder).await?;
    let result = stay(&core, stop_signal()).await;
    core.leave().await?;
    take.save(output)?;
    let (events, players) = take.counts();
    eprintln!(
        "jam: recorded {events} events from {players} players to {}",
        output.display()
    );
    result
}

fn render(input: &Path, output: &Path, sample_rate: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        (8_000..=192_000).contains(&sample_rate),
        "--sample-rate must be between 8000 and 192000 Hz"
    );
    let song = Song::load(input)?;
    let bank = Arc::new(
        SampleBank::load(&SampleBank::default_dir()).context("loading the instrument samples")?,
    );
    let audio = jam_midi::render_song(&song, bank, sample_rate, &Router::default());
    offline::write_wav(output, &audio, sample_rate)?;
    eprintln!(
        "rendered {} notes, {:.2} s, to {}",
        song.note_count(),
        audio.len() as f64 / 2.0 / f64::from(sample_rate),
        output.display()
    );
    Ok(())
}

/// The default audio output with the buffer asked for, or silence (with `--no-audio`, or with
/// the reason on stderr).
fn open_speaker(audio: Audio) -> Speaker {
    if audio.no_audio {
        return Speaker::silent("--no-audio");
    }
    let speaker = Speaker::open(&jam_audio::output::OutputConfig {
        buffer_frames: audio.buffer,
        ..jam_audio::output::OutputConfig::default()
    });
    if let Some(reason) = speaker.silent_reason() {
        eprintln!("jam: playing silently: {reason}");
    }
    speaker
}

fn export(log: &Path, output: Option<&Path>, session: &str, list: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        log.exists(),
        "there is no session log at {} — record one with `jam-relay --log {}`",
        log.display(),
        log.display()
    );
    let takes = Takes::read(log);
    if list {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{:>5}  {:<20}  {:>8}  {:>7}  players",
            "id", "started", "length", "events"
        )?;
        for take in takes.list()? {
            writeln!(
                out,
                "{:>5}  {:<20}  {:>8}  {:>7}  {}",
                take.id,
                utc(take.started_ms),
                clock(take.duration_ms),
                take.event_count,
                take.participants.join(", ")
            )?;
        }
        return Ok(());
    }
    let id = match session {
        "latest" => takes.latest()?,
        id => id.parse().map_err(|_| {
            anyhow::anyhow!("--session takes a take's id (see --list) or `latest`, not {id:?}")
        })?,
    };
    let output = output.context("give the MIDI file to write, or --list")?;
    let take = takes.export_to(id, output)?;
    eprintln!(
        "jam: take {id} ({}, {} events, {}) written to {}",
        clock(take.duration_ms),
        take.event_count,
        take.participants.join(", "),
        output.display()
    );
    Ok(())
}

/// `M:SS` (or `H:MM:SS`).
fn clock(ms: f64) -> String {
    let s = (ms / 1_000.0).round() as u64;
    if s >= 3_600 {
        format!("{}:{:02}:{:02}", s / 3_600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// RFC 3339 in UTC, to the second, from ms since the Unix epoch.
fn utc(ms: f64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0.0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}
