//! `jam`: the headless Jamwire tool.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use jam_audio::{Instrument, SampleBank, offline};
use jam_midi::{PlayEvent, Recording, Router, Song};
use jam_protocol::event::{DrumHit, PianoNote, PianoNoteOff, Sustain};
use jam_protocol::{MusicalEvent, Role};
use jam_relay::RelayConfig;
use jam_session::Speaker;
use jam_session::{Invite, Session, SessionConfig, SessionError, SessionEvent, Status};
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
        /// Address to listen on: 0.0.0.0:PORT for your network, 127.0.0.1:PORT for this
        /// machine only; port 0 picks a free port.
        #[arg(long, default_value = "0.0.0.0:7878", value_name = "ADDR:PORT")]
        bind: SocketAddr,
        /// Your name in the room.
        #[arg(long, default_value = "Host")]
        name: String,
        /// A password joiners must give.
        #[arg(long)]
        password: Option<String>,
        /// Don't play what you hear.
        #[arg(long)]
        no_audio: bool,
    },
    /// Join a jam and play what you hear, until Ctrl-C or SIGTERM.
    Join {
        /// The invite, jam://HOST:PORT/CODE.
        invite: String,
        /// Your name in the room.
        #[arg(long)]
        name: String,
        /// Join as a listener (hear everything, play nothing).
        #[arg(long)]
        listen: bool,
        /// The room's password.
        #[arg(long)]
        password: Option<String>,
        /// Don't play what you hear.
        #[arg(long)]
        no_audio: bool,
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
        /// Don't play the file and the room locally.
        #[arg(long)]
        no_audio: bool,
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
        /// Don't play what you hear.
        #[arg(long)]
        no_audio: bool,
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
                name,
                password,
                no_audio,
            } => host(bind, name, password, !no_audio).await,
            Command::Join {
                invite,
                name,
                listen,
                password,
                no_audio,
            } => {
                let role = if listen { Role::Listener } else { Role::Player };
                join(&invite, name, role, password, !no_audio).await
            }
            Command::Play {
                file,
                into,
                name,
                password,
                no_audio,
            } => play(&file, &into, name, password, !no_audio).await,
            Command::Record {
                output,
                from,
                name,
                password,
                no_audio,
            } => record(&output, &from, name, password, !no_audio).await,
            Command::Render { .. } | Command::Export { .. } => unreachable!("handled above"),
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

/// The address others should use to reach a relay bound to `bind`.
fn reachable(bind: SocketAddr) -> SocketAddr {
    if !bind.ip().is_unspecified() {
        return bind;
    }
    let lan = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback() && !i.is_link_local())
        .map(|i| i.ip())
        .find(IpAddr::is_ipv4);
    SocketAddr::new(lan.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), bind.port())
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

/// Plays what the room plays until `until` completes or the session ends for good.
async fn listen(
    session: &mut Session,
    speaker: &mut Speaker,
    until: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(until);
    let mut status = session.status();
    loop {
        tokio::select! {
            () = &mut until => return Ok(()),
            changed = status.changed() => {
                if changed.is_err() { return Ok(()); }
                let now = status.borrow_and_update().clone();
                if let Status::Ended { .. } = now {
                    return ended(&now);
                }
                report_status(&now);
            }
            event = session.next_event() => match event {
                Some(SessionEvent::Remote(e)) => speaker.play_remote(session, &e),
                Some(SessionEvent::UserLeft(id)) => speaker.forget(&id),
                Some(SessionEvent::Joined(welcome)) => speaker.apply_state(&welcome),
                Some(SessionEvent::UserJoined(_)) => {}
                // The session is over; its last status says why (it may not have been seen yet).
                None => return ended(&status.borrow_and_update().clone()),
            },
        }
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

async fn host(
    bind: SocketAddr,
    name: String,
    password: Option<String>,
    audio: bool,
) -> anyhow::Result<()> {
    // The embedded relay serves this one room: only we know its creation key.
    let relay_config = RelayConfig::embedded();
    let create_key = relay_config.create_key.clone();
    let relay = jam_relay::start(bind, relay_config).await?;
    let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), relay.local_addr().port());
    let mut config = SessionConfig::host(&local.to_string(), &name);
    config.password = password;
    config.create_key = create_key;
    let mut session = Session::connect(config).await?;
    let invite = Invite {
        address: reachable(relay.local_addr()).to_string(),
        room: session.room().clone(),
    };
    println!("jam: hosting {invite}");
    let mut speaker = open_speaker(audio);
    listen(&mut session, &mut speaker, stop_signal()).await?;
    // Tell the guests the jam is over (they stop instead of trying to reconnect), then close.
    session.end_jam().await;
    session.leave().await;
    relay.stop().await?;
    Ok(())
}

async fn connect(
    invite: &str,
    name: String,
    role: Role,
    password: Option<String>,
) -> anyhow::Result<Session> {
    let invite = Invite::parse(invite)?;
    let mut config = SessionConfig::join(&invite, &name);
    config.role = role;
    config.password = password;
    let session = Session::connect(config).await?;
    eprintln!("jam: joined {invite} as {name}");
    Ok(session)
}

async fn join(
    invite: &str,
    name: String,
    role: Role,
    password: Option<String>,
    audio: bool,
) -> anyhow::Result<()> {
    let mut session = connect(invite, name, role, password).await?;
    let mut speaker = open_speaker(audio);
    listen(&mut session, &mut speaker, stop_signal()).await?;
    session.leave().await;
    Ok(())
}

/// The protocol event for a routed MIDI event, stamped `now` (relay ms).
fn to_musical(play: PlayEvent, now: f64) -> MusicalEvent {
    match play {
        PlayEvent::NoteOn {
            instrument: Instrument::Drums,
            note,
            velocity,
        } => MusicalEvent::DrumHit(DrumHit {
            note,
            velocity,
            timestamp: now,
        }),
        PlayEvent::NoteOn {
            instrument: Instrument::Piano,
            note,
            velocity,
        } => MusicalEvent::PianoNote(PianoNote {
            note,
            velocity,
            timestamp: now,
            duration: None,
        }),
        PlayEvent::NoteOff { note, .. } => MusicalEvent::PianoNoteOff(PianoNoteOff {
            note,
            timestamp: now,
        }),
        PlayEvent::Sustain { on } => MusicalEvent::Sustain(Sustain { on, timestamp: now }),
    }
}

async fn play(
    file: &Path,
    invite: &str,
    name: String,
    password: Option<String>,
    audio: bool,
) -> anyhow::Result<()> {
    let song = Song::load(file)?;
    let mut session = connect(invite, name, Role::Player, password).await?;
    let mut speaker = open_speaker(audio);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<PlayEvent>(1_024);
    let performer = std::thread::spawn(move || {
        let router = Router::default();
        let stop = AtomicBool::new(false);
        jam_midi::play_paced(&song, Instant::now(), &stop, |e| {
            // Drum hits are one-shots: the protocol has no drum note-off.
            if let Some(play) = router.route(None, e.event) {
                if !matches!(
                    play,
                    PlayEvent::NoteOff {
                        instrument: Instrument::Drums,
                        ..
                    }
                ) {
                    let _ = tx.blocking_send(play);
                }
            }
        });
    });
    let mut sent = 0usize;
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            play = rx.recv() => match play {
                Some(play) => {
                    let musical = to_musical(play, session.relay_now_ms());
                    speaker.play_local(&musical);
                    session.send(&musical)?;
                    sent += 1;
                }
                None => break,
            },
            event = session.next_event() => match event {
                Some(SessionEvent::Remote(e)) => speaker.play_remote(&session, &e),
                Some(_) => {}
                None => anyhow::bail!("the session ended before the file did"),
            },
            () = &mut stop => break,
        }
    }
    drop(rx); // a performer still playing (stopped early) finds nobody listening and ends
    let _ = performer.join();
    eprintln!("jam: played {sent} events from {}", file.display());
    session.leave().await;
    Ok(())
}

async fn record(
    output: &Path,
    invite: &str,
    name: String,
    password: Option<String>,
    audio: bool,
) -> anyhow::Result<()> {
    let mut session = connect(invite, name, Role::Listener, password).await?;
    let mut speaker = open_speaker(audio);
    let mut recording = Recording::new();
    let mut names: HashMap<String, String> = HashMap::new();
    let start_ms = session.relay_now_ms();
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut events = 0usize;
    loop {
        let event = tokio::select! {
            () = &mut stop => break,
            event = session.next_event() => event,
        };
        match event {
            Some(SessionEvent::Joined(welcome)) => {
                speaker.apply_state(&welcome);
                for p in welcome.participants {
                    names.insert(p.id, p.name);
                }
            }
            Some(SessionEvent::UserJoined(p)) => {
                names.insert(p.id, p.name);
            }
            Some(SessionEvent::UserLeft(id)) => {
                speaker.forget(&id);
                eprintln!(
                    "jam: {} left",
                    names.get(&id).map_or(id.as_str(), String::as_str)
                );
            }
            Some(SessionEvent::Remote(e)) => {
                speaker.play_remote(&session, &e);
                let Some(musical) = &e.event else { continue };
                let name = names
                    .get(&e.sender_id)
                    .cloned()
                    .unwrap_or_else(|| e.sender_id.clone());
                let track = recording.track(&name);
                // The sender's time if it is believable (within 5 s of arrival), else arrival.
                let at_ms = jam_takes::event_time_ms(musical, e.arrived_ms);
                let since = Duration::try_from_secs_f64((at_ms - start_ms).max(0.0) / 1_000.0)
                    .unwrap_or_default();
                let time_us = u64::try_from(since.as_micros()).unwrap_or(u64::MAX);
                if !recording.record_musical(track, time_us, musical) {
                    continue;
                }
                events += 1;
            }
            None => break,
        }
    }
    recording.save(output)?;
    eprintln!(
        "jam: recorded {events} events from {} players to {}",
        recording.track_count(),
        output.display()
    );
    session.leave().await;
    Ok(())
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

/// The default audio output, or silence (with `--no-audio`, or with the reason on stderr).
fn open_speaker(audio: bool) -> Speaker {
    if !audio {
        return Speaker::silent("--no-audio");
    }
    let speaker = Speaker::open(&jam_audio::output::OutputConfig::default());
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
    let store = jam_takes::TakeStore::open(log)?;
    if list {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{:>5}  {:<20}  {:>8}  {:>7}  players",
            "id", "started", "length", "events"
        )?;
        for take in store.sessions()? {
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
        "latest" => store.latest()?,
        id => id.parse().map_err(|_| {
            anyhow::anyhow!("--session takes a take's id (see --list) or `latest`, not {id:?}")
        })?,
    };
    let take = store.session(id)?;
    let bytes = jam_takes::export::to_smf(&store, id)?;
    let output = output.expect("clap requires OUTPUT without --list");
    std::fs::write(output, bytes)
        .map_err(|e| anyhow::anyhow!("couldn't write {}: {e}", output.display()))?;
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
