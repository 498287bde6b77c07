//! `jam`'s live subcommands: host, list, join, play and record, over the app core.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use jam_midi::{MidiMessage, PlayEvent, Router, Song};
use jam_play::room::Names;
use jam_play::views::{HostRequest, JoinRequest};
use jam_play::{Core, CoreConfig, MidiTake, PlayInput, RoomEvent, RoomSink, Speaker};
use jam_protocol::instrument::{nearest_kit, nearest_melodic};
use jam_session::{SessionError, Status};

use crate::args::{Audio, MidiOutArgs, Sound};

/// Completes on Ctrl-C, or SIGTERM (Unix), or the console window closing or the system
/// shutting down (Windows).
pub(crate) async fn stop_signal() {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = asked_to_end() => {}
    }
}

/// The platform's other ways of asking a program to end; pending forever if none can be heard.
#[cfg(unix)]
async fn asked_to_end() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            term.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

#[cfg(windows)]
async fn asked_to_end() {
    use tokio::signal::windows::{ctrl_close, ctrl_shutdown};
    match (ctrl_close(), ctrl_shutdown()) {
        (Ok(mut close), Ok(mut shutdown)) => {
            tokio::select! {
                _ = close.recv() => {}
                _ = shutdown.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

#[cfg(not(any(unix, windows)))]
async fn asked_to_end() {
    std::future::pending::<()>().await
}

pub(crate) fn report_status(status: &Status) {
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
pub(crate) fn ended(status: &Status) -> anyhow::Result<()> {
    report_status(status);
    match status {
        Status::Ended {
            reason: Some(reason),
        } if !matches!(reason, SessionError::JamEnded { .. }) => anyhow::bail!(reason.clone()),
        _ => Ok(()),
    }
}

/// The core this tool runs on: no settings file, no takes, no MIDI devices.
pub(crate) fn core(
    audio: Audio,
    bind: Option<SocketAddr>,
    ca_certs: Vec<PathBuf>,
) -> anyhow::Result<Core> {
    Ok(Core::start(CoreConfig {
        runtime: tokio::runtime::Handle::current(),
        speaker: open_speaker(audio)?,
        settings_path: None,
        takes: None,
        relay_bind: bind,
        midi_inputs: None,
        ca_certs,
    }))
}

/// Reports the jam's connection until `until` completes or the jam ends for good.
pub(crate) async fn stay(core: &Core, until: impl Future<Output = ()>) -> anyhow::Result<()> {
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
pub(crate) async fn list(wait: std::time::Duration) -> anyhow::Result<()> {
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
pub(crate) async fn lan_invite() -> anyhow::Result<String> {
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
pub(crate) fn quiet() -> impl RoomSink {
    |_: RoomEvent| {}
}

/// Chooses the sounds `sound` asks for (the rest stay the defaults), and loads my own sound
/// when it names one.
async fn choose(core: &Core, sound: &Sound) -> anyhow::Result<()> {
    let settings = core.settings();
    let keys = sound.instrument.as_deref().unwrap_or(&settings.instrument);
    let drums = sound.kit.as_deref().unwrap_or(&settings.kit);
    core.set_instrument(keys, drums)?;
    if let Some(path) = &sound.my_sound {
        let own = core
            .load_own_sound(path, sound.my_preset, sound.instrument.as_deref())
            .await?;
        eprintln!(
            "jam: playing your sound {} ({} recordings by key); the room hears {}",
            own.name, own.zones, own.heard_as
        );
    }
    Ok(())
}

pub(crate) async fn host(
    bind: SocketAddr,
    request: HostRequest,
    ca_certs: Vec<PathBuf>,
    audio: Audio,
    sound: Sound,
) -> anyhow::Result<()> {
    let core = core(audio, Some(bind), ca_certs)?;
    choose(&core, &sound).await?;
    let jam = core.host(request, quiet()).await?;
    // The invite, and on the next line what the app's invite screen shows beside it: the link
    // friends without the app open. One write, and a stdout nobody reads any more (a script
    // that took the invite and closed the pipe) never ends the jam: `println!` would panic.
    let lines = format!(
        "jam: hosting {}\njam: browser link {}\n",
        jam.invite, jam.browser_link
    );
    if let Err(e) = std::io::stdout().lock().write_all(lines.as_bytes()) {
        tracing::debug!(error = %e, "the invite couldn't be printed");
    }
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

pub(crate) async fn connect(
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

pub(crate) async fn join(
    request: JoinRequest,
    ca_certs: Vec<PathBuf>,
    audio: Audio,
    sound: Sound,
    midi_out: MidiOutArgs,
) -> anyhow::Result<()> {
    let core = core(audio, None, ca_certs)?;
    choose(&core, &sound).await?;
    if midi_out.midi_out || midi_out.midi_out_port.is_some() || midi_out.midi_clock {
        core.set_midi_out(Some(jam_play::midi_out::MidiOutConfig {
            virtual_ports: midi_out.midi_out,
            port: midi_out.midi_out_port,
            offset_ms: midi_out.midi_offset,
            clock: midi_out.midi_clock,
            client_name: "jam".into(),
        }))?;
    }
    let JoinRequest {
        name,
        invite,
        listener,
        password,
    } = request;
    connect(&core, invite, name, listener, password, quiet()).await?;
    let result = stay(&core, stop_signal()).await;
    core.leave().await?;
    result
}

/// What a MIDI file plays: a note (or the pedal), or a channel's program change.
enum Played {
    Note(PlayEvent),
    Program { drums: bool, program: u8 },
}

pub(crate) async fn play(
    file: &Path,
    invite: String,
    name: String,
    password: Option<String>,
    audio: Audio,
    sound: Sound,
) -> anyhow::Result<()> {
    let song = Song::load(file)?;
    let core = core(audio, None, Vec::new())?;
    choose(&core, &sound).await?;
    connect(&core, invite, name, false, password, quiet()).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Played, Instant)>(1_024);
    let performer = std::thread::spawn(move || {
        let router = Router::default();
        let stop = AtomicBool::new(false);
        let start = Instant::now();
        jam_midi::play_paced(&song, start, &stop, |e| {
            // Stamped with when the file says it is played, not when it gets sent.
            let due = start + std::time::Duration::from_micros(e.time_us);
            let played = match e.event.message {
                MidiMessage::ProgramChange { program } => Played::Program {
                    drums: router.is_drums(e.event.channel),
                    program,
                },
                _ => match router.route(None, e.event) {
                    Some(play) => Played::Note(play),
                    None => return,
                },
            };
            let _ = tx.blocking_send((played, due));
        });
    });
    let sent = AtomicUsize::new(0);
    let mut status = core.status().context("the jam ended at once")?;
    let outcome = {
        let played = async {
            let mut last_due = None;
            while let Some((played, due)) = rx.recv().await {
                last_due = Some(due);
                let play = match played {
                    Played::Note(play) => play,
                    Played::Program { drums, program } => {
                        let settings = core.settings();
                        let (keys, kit) = if drums {
                            (settings.instrument, nearest_kit(program).id.to_owned())
                        } else {
                            (nearest_melodic(program).id.to_owned(), settings.kit)
                        };
                        core.set_instrument(&keys, &kit)?;
                        continue;
                    }
                };
                let input = PlayInput::from(play);
                // A drum's release plays nothing; everything else counts.
                if input.to_event(0.0).is_ok_and(|e| e.is_some()) {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                core.perform_due(input, due)?;
            }
            // The last note sounds here an output lead after its time: let it, and its
            // attack, be heard before leaving.
            if let Some(due) = last_due {
                let heard = due + core.output_lead() + std::time::Duration::from_millis(250);
                tokio::time::sleep_until(heard.into()).await;
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
pub(crate) struct Recorder {
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

pub(crate) async fn record(
    output: &Path,
    invite: String,
    name: String,
    password: Option<String>,
    audio: Audio,
) -> anyhow::Result<()> {
    let core = core(audio, None, Vec::new())?;
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

/// The audio output asked for (the system's default unless `--device`) with the buffer asked
/// for, or silence: with `--no-audio`, or when the default output can't be opened (the reason
/// on stderr). A device named with `--device` that can't be opened is an error: whoever named
/// it wants to hear it there.
pub(crate) fn open_speaker(audio: Audio) -> anyhow::Result<Speaker> {
    if audio.no_audio {
        return Ok(Speaker::silent("--no-audio"));
    }
    let named = audio.device.is_some();
    let speaker = Speaker::open(&jam_audio::output::OutputConfig {
        device: audio.device,
        buffer_frames: audio.buffer,
        ..jam_audio::output::OutputConfig::default()
    });
    if let Some(reason) = speaker.silent_reason() {
        if named {
            anyhow::bail!("{reason}");
        }
        eprintln!("jam: playing silently: {reason}");
    }
    Ok(speaker)
}

/// `jam devices`: the output devices, one a line, the default marked.
pub(crate) fn devices() -> anyhow::Result<()> {
    let default = jam_audio::output::default_output_device();
    for name in jam_audio::output::output_devices()? {
        if default.as_deref() == Some(name.as_str()) {
            println!("{name}  (default)");
        } else {
            println!("{name}");
        }
    }
    Ok(())
}
