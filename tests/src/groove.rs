//! A friend's groove, as heard: a drummer `jam play`s 16th notes at 120 BPM, a listener's
//! `jam` plays what arrives through its real audio engine into a PulseAudio null sink, and the
//! sink is recorded and analysed ([`crate::heard`]). Two networks:
//!
//! - [`through_jitter`]: one machine, the listener behind a proxy that delays every chunk by a
//!   random 0..max (order kept, as TCP does);
//! - [`across_homes`]: the drummer at home A, the listener at home B, a relay server on the
//!   "internet" between them ([`crate::homes`]; needs root), and router A dropping a share of
//!   the packets it forwards, both ways, as a bad home link does.
//!
//! Used by `tests/tests/groove.rs` (what must hold on any machine) and `benches/groove.rs`
//! (the figures).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

use crate::heard::{Heard, LEFT, Pulse, RATE, RIGHT, groove_file, samples, samples_both};
use crate::homes::{Homes, Host};
use crate::proxy::Proxy;
use crate::{PATIENCE, sigterm, workspace_binary};

/// Silence before the groove's first note, ms (lets the listener's engine settle, as a
/// musician's would have long before a friend starts playing).
pub const LEAD_IN_MS: u64 = 500;

/// A program a run started, its output read line by line; killed if dropped still running.
pub struct Program {
    child: Child,
    /// Its output, until [`Program::log_to`] hands it to a task writing it to a file.
    stdout: Option<Lines<BufReader<ChildStdout>>>,
    stderr: Option<Lines<BufReader<ChildStderr>>>,
    /// The tasks writing its output to a log file.
    logs: Vec<tokio::task::JoinHandle<()>>,
}

impl Program {
    pub fn start(mut command: Command) -> Program {
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the program starts");
        let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        let stderr = BufReader::new(child.stderr.take().expect("piped")).lines();
        Program {
            child,
            stdout: Some(stdout),
            stderr: Some(stderr),
            logs: Vec::new(),
        }
    }

    pub async fn out_line(&mut self, needle: &str) -> String {
        line_with(
            self.stdout.as_mut().expect("its output is read here"),
            needle,
        )
        .await
    }

    pub async fn err_line(&mut self, needle: &str) -> String {
        line_with(
            self.stderr.as_mut().expect("its output is read here"),
            needle,
        )
        .await
    }

    /// From now on everything it prints goes to `path`: a program whose output nobody reads
    /// would block once the pipe is full, and a run's log says what happened in it.
    pub fn log_to(&mut self, path: &Path) {
        async fn copy<R: tokio::io::AsyncBufRead + Unpin>(
            mut lines: Lines<R>,
            file: std::sync::Arc<std::sync::Mutex<std::fs::File>>,
        ) {
            use std::io::Write;
            while let Ok(Some(line)) = lines.next_line().await {
                let mut file = file
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let _ = writeln!(file, "{line}");
            }
        }
        let file = std::sync::Arc::new(std::sync::Mutex::new(
            std::fs::File::create(path).expect("a log file"),
        ));
        if let Some(lines) = self.stdout.take() {
            self.logs.push(tokio::spawn(copy(lines, file.clone())));
        }
        if let Some(lines) = self.stderr.take() {
            self.logs.push(tokio::spawn(copy(lines, file)));
        }
    }

    /// Waits for it to end by itself, successfully.
    pub async fn finished(mut self) {
        let mut said = String::new();
        if let Some(stderr) = self.stderr.as_mut() {
            while let Ok(Ok(Some(line))) =
                tokio::time::timeout(PATIENCE * 3, stderr.next_line()).await
            {
                said.push_str(&line);
                said.push('\n');
            }
        }
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("it ends in time")
            .expect("an exit status");
        assert!(status.success(), "{status}: {said}");
    }

    /// Waits (bounded) for it to end by itself, however it ends: its exit status.
    pub async fn exit(mut self) -> std::process::ExitStatus {
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("it ends in time")
            .expect("an exit status")
    }

    /// Stops it as Ctrl-C would.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            sigterm(pid);
        }
        let _ = tokio::time::timeout(PATIENCE, self.child.wait()).await;
        // Its pipes are closed: the log is complete once the copies have read them out.
        for log in self.logs.drain(..) {
            let _ = tokio::time::timeout(PATIENCE, log).await;
        }
    }
}

async fn line_with<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut Lines<R>,
    needle: &str,
) -> String {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match lines.next_line().await {
                Ok(Some(line)) if line.contains(needle) => return line,
                Ok(Some(_)) => {}
                _ => panic!("it ended before a line with {needle:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no line with {needle:?} in time"))
}

pub fn invite_in(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("jam://"))
        .unwrap_or_else(|| panic!("an invite in {line:?}"))
        .to_owned()
}

/// Waits until the recording holds `seconds` more audio than it did when called: that it
/// records, before a run; that the listener's last note has sounded, after it. Bounded.
pub async fn record_on(path: &Path, seconds: u64) {
    let bytes = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let until = bytes(path) + seconds * u64::from(RATE) * 2;
    tokio::time::timeout(PATIENCE, async {
        while bytes(path) < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the recording grows");
}

/// The drummer: `jam play SONG --into INVITE` with `command` (a `jam`, maybe in a namespace),
/// until the file has been played.
pub async fn play_through(mut command: Command, song: &Path, invite: &str, env: &[(&str, &str)]) {
    drummer_args(&mut command, song, invite);
    command.arg("--no-audio").envs(env.iter().copied());
    Program::start(command).finished().await;
}

/// `play SONG --into INVITE --name Drummer`.
fn drummer_args(command: &mut Command, song: &Path, invite: &str) {
    command.args([
        "play",
        song.to_str().expect("a UTF-8 path"),
        "--into",
        invite,
        "--name",
        "Drummer",
    ]);
}

/// What both ends heard: the drummer's own speaker and the listener's, recorded in one file.
#[derive(Debug)]
pub struct BothEnds {
    /// The drummer's own speaker (the recording's left channel).
    pub drummer: Heard,
    /// The listener's (the right channel).
    pub listener: Heard,
    /// For each hit, from the first, how long after the drummer's speaker the listener's
    /// played it, ms (as many as both heard).
    pub delays: Vec<f64>,
    /// What the listener said (its log, with `jam_session::playout` at info).
    pub said: String,
}

/// Each of the drummer's hits paired with the listener's next one within a 16th (an extra
/// onset at one end, a dropout on a loaded machine, then shifts nothing): how long after the
/// drummer's speaker the listener's played it, ms.
fn delays(drummer: &Heard, listener: &Heard) -> Vec<f64> {
    let mut delays = Vec::new();
    let mut theirs = listener.onsets.iter().peekable();
    for mine in &drummer.onsets {
        while theirs.next_if(|o| o.at_ms < mine.at_ms - 5.0).is_some() {}
        if let Some(o) = theirs.next_if(|o| o.at_ms < mine.at_ms + 120.0) {
            delays.push(o.at_ms - mine.at_ms);
        }
    }
    delays
}

/// `notes` 16ths from a drummer `jam play`ing with its sound on, into the left channel of one
/// stereo null sink, heard by a listener on this machine into the right channel, through a
/// proxy adding 0..`max_jitter` to each chunk (`run`'s sequence: [`Proxy::start_seeded`];
/// zero: loopback). Both play with audio buffers of `buffer` frames. Gives both ends and each
/// hit's delay between them: what the network and the playout add, measured at the speakers.
pub async fn both_ends(
    dir: &Path,
    notes: usize,
    max_jitter: Duration,
    run: u64,
    buffer: Option<u32>,
) -> BothEnds {
    std::fs::create_dir_all(dir).expect("a folder for the run");
    let song = dir.join("groove.mid");
    groove_file(&song, notes, LEAD_IN_MS);
    let pulse = Pulse::start_split(&dir.join("pulse"));
    let host = SilentHost::start().await;
    let code = host.code();
    let proxy = Proxy::start_seeded(host.relay.local_addr(), max_jitter, run).await;
    let through = format!("jam://{}/{code}", proxy.addr());
    let recording = dir.join("both.raw");
    let recorder = pulse.record_both(&recording);
    // Recording steadily before anything plays (stereo: two seconds of bytes are one of sound).
    record_on(&recording, 2).await;
    let mut ear = Command::new(jam());
    ear.args(["join", &through, "--name", "Ear", "--listen"]);
    audio_env(&mut ear, &pulse, RIGHT, buffer);
    ear.env("RUST_LOG", "warn,jam_session::playout=debug");
    let mut ear = Program::start(ear);
    ear.err_line("joined").await;
    let log = dir.join("ear.log");
    ear.log_to(&log);
    drum_into_left(&pulse, &song, &host.invite, buffer, &recording).await;
    recorder.stop();
    ear.stop().await;
    host.program.stop().await;
    BothEnds::of(
        &recording,
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

/// The drummer, hearing itself in the left channel of `pulse` (its audio buffer `buffer`
/// frames), plays `song` into `invite`; returns once it has and the stereo `recording` holds
/// its last hit's echo too.
async fn drum_into_left(
    pulse: &Pulse,
    song: &Path,
    invite: &str,
    buffer: Option<u32>,
    recording: &Path,
) {
    let mut drummer = Command::new(jam());
    drummer_args(&mut drummer, song, invite);
    audio_env(&mut drummer, pulse, LEFT, buffer);
    Program::start(drummer).finished().await;
    // (Stereo: four seconds of bytes are two of sound.)
    record_on(recording, 4).await;
}

impl BothEnds {
    /// What the stereo `recording` of both ends holds, with what the listener `said`.
    fn of(recording: &Path, said: String) -> BothEnds {
        let (left, right) = samples_both(recording);
        let (drummer, listener) = (Heard::of(&left), Heard::of(&right));
        let delays = delays(&drummer, &listener);
        BothEnds {
            drummer,
            listener,
            delays,
            said,
        }
    }
}

/// The `jam` tool, built for the caller's profile.
pub fn jam() -> PathBuf {
    workspace_binary("jam", "jam")
}

/// The listener's audio buffer in the live tests, frames: 1024 (21 ms at 48 kHz), what a
/// musician picks on a busy machine (`jam --buffer`, the app's audio settings). A test VM
/// whose hypervisor takes a quarter of the CPU pauses every process for tens of milliseconds
/// at a time; the default 256 frames (5 ms) then underruns, and the sink hears gaps and
/// restarted notes however right the program is. Placement does not depend on the buffer
/// (the engine places every note at its frame, a buffer ahead); the benches measure the
/// default.
pub const STEADY_BUFFER: Option<u32> = Some(1024);

/// Plays `command` (a `jam` that hears) into `sink` of `pulse`, with an audio buffer of
/// `buffer` frames (`None`: the default).
pub fn audio_env(command: &mut Command, pulse: &Pulse, sink: &str, buffer: Option<u32>) {
    if let Some(frames) = buffer {
        command.args(["--buffer", &frames.to_string()]);
    }
    command
        .env("PULSE_SERVER", pulse.server())
        .env("PULSE_SINK", sink)
        .env("RUST_LOG", "warn");
}

/// `jam host` on a fresh in-process relay, with no audio: a room for tests and benches where
/// the host only holds the room open.
pub struct SilentHost {
    pub relay: jam_relay::RelayHandle,
    pub program: Program,
    /// The invite the host printed.
    pub invite: String,
}

impl SilentHost {
    /// The room's code, from the invite.
    pub fn code(&self) -> String {
        self.invite
            .rsplit('/')
            .next()
            .expect("a room code")
            .to_owned()
    }

    pub async fn start() -> SilentHost {
        let relay = crate::relay(jam_relay::RelayConfig::default()).await;
        let mut host = Command::new(jam());
        host.args([
            "host",
            "--relay",
            &format!("ws://{}", relay.local_addr()),
            "--name",
            "Host",
            "--no-audio",
        ]);
        let mut program = Program::start(host);
        let invite = invite_in(&program.out_line("hosting").await);
        SilentHost {
            relay,
            program,
            invite,
        }
    }
}

/// `notes` 16ths from a drummer on this machine, heard by a listener behind a proxy that
/// delays each chunk by 0..`max_jitter` (the sequence of delays is `run`'s: see
/// [`Proxy::start_seeded`]). `dir` holds the recording and logs; `drummer_env` is added to the
/// drummer's environment; the listener's audio buffer is `ear_buffer` frames.
pub async fn through_jitter(
    dir: &Path,
    notes: usize,
    max_jitter: Duration,
    drummer_env: &[(&str, &str)],
    run: u64,
    ear_buffer: Option<u32>,
) -> Heard {
    std::fs::create_dir_all(dir).expect("a folder for the run");
    let song = dir.join("groove.mid");
    groove_file(&song, notes, LEAD_IN_MS);
    let pulse = Pulse::start(&dir.join("pulse"), &["ear"]);
    let jam = jam();
    // The host hosts on the relay and plays nothing; the listener hears through the proxy.
    let SilentHost {
        relay,
        program: mut host,
        invite,
    } = SilentHost::start().await;
    let code = invite.rsplit('/').next().expect("a room code").to_owned();
    let proxy = Proxy::start_seeded(relay.local_addr(), max_jitter, run).await;
    let through = format!("jam://{}/{code}", proxy.addr());
    let recording = dir.join("heard.raw");
    let recorder = pulse.record("ear", &recording);
    // Recording steadily before anything plays (parec takes a moment to start).
    record_on(&recording, 1).await;
    let mut ear = Command::new(&jam);
    ear.args(["join", &through, "--name", "Ear", "--listen"]);
    audio_env(&mut ear, &pulse, "ear", ear_buffer);
    let mut ear = Program::start(ear);
    ear.err_line("joined").await;
    ear.log_to(&dir.join("ear.log"));
    host.log_to(&dir.join("host.log"));
    play_through(Command::new(&jam), &song, &invite, drummer_env).await;
    record_on(&recording, 2).await;
    recorder.stop();
    ear.stop().await;
    host.stop().await;
    Heard::of(&samples(&recording))
}

/// A listening `jam` (`--listen`, saying what `jam-play` does) on a [`SilentHost`], playing
/// into the sink "ear" of its own PulseAudio server, and a groove of `notes` for the drummer.
struct Listener {
    song: PathBuf,
    pulse: Pulse,
    host: SilentHost,
    ear: Program,
}

impl Listener {
    /// Starts it all in `dir`, the listener's audio buffer `buffer` frames; returns once the
    /// listener has joined and plays into the sink.
    async fn start(dir: &Path, notes: usize, buffer: Option<u32>) -> Listener {
        std::fs::create_dir_all(dir).expect("a folder for the run");
        let song = dir.join("groove.mid");
        groove_file(&song, notes, LEAD_IN_MS);
        let pulse = Pulse::start(&dir.join("pulse"), &["ear"]);
        let host = SilentHost::start().await;
        let mut ear = Command::new(jam());
        ear.args(["join", &host.invite, "--name", "Ear", "--listen"]);
        audio_env(&mut ear, &pulse, "ear", buffer);
        ear.env("RUST_LOG", "warn,jam_play=info");
        let mut ear = Program::start(ear);
        ear.err_line("joined").await;
        let listener = Listener {
            song,
            pulse,
            host,
            ear,
        };
        listener.stream("the listener's stream").await;
        listener
    }

    /// Waits (bounded) until the listener plays into the sound server.
    async fn stream(&self, what: &str) {
        until(|| self.pulse.sink_inputs().into_iter().next(), what).await;
    }

    /// The listener's log from now on, into `dir`/ear.log.
    fn log(&mut self, dir: &Path) -> PathBuf {
        let log = dir.join("ear.log");
        self.ear.log_to(&log);
        log
    }

    /// Records the sink while the drummer plays the groove, freezing the sound server
    /// `stalls` times for `length`, once a second; then stops everyone. Gives what was heard
    /// and what the listener said into `log`.
    async fn hear(
        self,
        dir: &Path,
        log: &Path,
        stalls: usize,
        length: Duration,
    ) -> (Heard, String) {
        let recording = dir.join("heard.raw");
        let recorder = self.pulse.record("ear", &recording);
        record_on(&recording, 1).await;
        let stall = async {
            for _ in 0..stalls {
                record_on(&recording, 1).await;
                self.pulse.stall(length).await;
            }
        };
        tokio::join!(
            play_through(Command::new(jam()), &self.song, &self.host.invite, &[]),
            stall
        );
        record_on(&recording, 2).await;
        recorder.stop();
        self.ear.stop().await;
        self.host.program.stop().await;
        let said = std::fs::read_to_string(log).unwrap_or_default();
        (Heard::of(&samples(&recording)), said)
    }
}

/// A listener whose sound card goes away mid-jam and comes back (its PulseAudio sink removed
/// and added again): the listener's `jam` reopens its output by itself once it is back, and a
/// groove of `notes` played after that is heard. Gives what was heard and the listener's log.
/// The listener's audio buffer is `buffer` frames.
pub async fn after_the_sound_card_returns(
    dir: &Path,
    notes: usize,
    buffer: Option<u32>,
) -> (Heard, String) {
    let mut listener = Listener::start(dir, notes, buffer).await;
    listener.pulse.unplug("ear");
    listener.ear.err_line("audio output lost").await;
    listener
        .ear
        .err_line("couldn't reopen the audio output")
        .await;
    listener.pulse.plug("ear");
    listener.ear.err_line("audio output reopened").await;
    listener.stream("the listener's new stream").await;
    let log = listener.log(dir);
    listener.hear(dir, &log, 0, Duration::ZERO).await
}

/// A listener whose sound server stalls (frozen `stalls` times for `length`, once a second,
/// while a groove of `notes` plays, the listener's audio buffer `buffer` frames): gives what
/// was heard and what the listener said from joining on.
pub async fn through_server_stalls(
    dir: &Path,
    notes: usize,
    stalls: usize,
    length: Duration,
    buffer: Option<u32>,
) -> (Heard, String) {
    let mut listener = Listener::start(dir, notes, buffer).await;
    let log = listener.log(dir);
    listener.hear(dir, &log, stalls, length).await
}

/// Polls `found` (bounded by [`PATIENCE`]) until it gives something.
async fn until<T>(mut found: impl FnMut() -> Option<T>, what: &str) -> T {
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(found) = found() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up waiting for {what}"))
}

/// [`both_ends`] with the listener a browser guest of `kind`: it opens the browser link
/// through the jittery proxy (page, samples and WebSocket all come through it), joins to
/// listen, and its WebAudio output is recorded in the right channel, the drummer's own speaker
/// (`jam play`, its audio buffer `buffer` frames) in the left. `said` is empty: the page logs
/// nothing the benches read.
pub async fn browser_through_jitter(
    dir: &Path,
    notes: usize,
    max_jitter: Duration,
    kind: crate::browser::Kind,
    run: u64,
    buffer: Option<u32>,
) -> BothEnds {
    std::fs::create_dir_all(dir).expect("a folder for the run");
    let song = dir.join("groove.mid");
    groove_file(&song, notes, LEAD_IN_MS);
    let pulse = Pulse::start_split(&dir.join("pulse"));
    let SilentHost {
        relay,
        program: host,
        invite,
    } = SilentHost::start().await;
    let code = invite.rsplit('/').next().expect("a room code").to_owned();
    let proxy = Proxy::start_seeded(relay.local_addr(), max_jitter, run).await;
    let browser =
        crate::browser::Browser::start_kind(kind, &dir.join("browser"), pulse.server(), RIGHT)
            .await;
    browser
        .client
        .goto(&format!("http://{}/join/{code}", proxy.addr()))
        .await
        .expect("the page opens");
    browser.wait_for("body[data-sound-ready-ms]").await;
    browser.click("#role-listen").await;
    browser.type_into("#name", "Ear").await;
    browser.click("#join-button").await;
    browser.wait_for("#room:not([hidden])").await;
    let recording = dir.join("both.raw");
    let recorder = pulse.record_both(&recording);
    // Recording steadily before anything plays (stereo: two seconds of bytes are one of sound).
    record_on(&recording, 2).await;
    drum_into_left(&pulse, &song, &invite, buffer, &recording).await;
    recorder.stop();
    browser.close().await;
    host.stop().await;
    BothEnds::of(&recording, String::new())
}

/// `notes` 16ths from a drummer at home A heard by a listener at home B, through a relay
/// server on the internet, with `lossy_router` (home A's or home B's) dropping `loss_permille`
/// ‰ of the packets it forwards, both ways; `env` is set for every Jamwire process (relay
/// server, listener, drummer); the listener's audio buffer is `ear_buffer` frames. With
/// `both_ends` the drummer hears itself too, into the left channel of one stereo sink whose
/// right channel is the listener's ([`both_ends`]), so [`Across`] also has each hit's delay
/// between the two homes' speakers. Needs root.
pub async fn across_homes(
    dir: &Path,
    notes: usize,
    lossy_router: Host,
    loss_permille: u32,
    env: &[(&str, &str)],
    ear_buffer: Option<u32>,
    both_ends: bool,
) -> Across {
    std::fs::create_dir_all(dir).expect("a folder for the run");
    let song = dir.join("groove.mid");
    groove_file(&song, notes, LEAD_IN_MS);
    let (pulse, ear_sink) = if both_ends {
        (Pulse::start_split(&dir.join("pulse")), RIGHT)
    } else {
        (Pulse::start(&dir.join("pulse"), &["ear"]), "ear")
    };
    let homes = Homes::build(&dir.join("net"));
    let jam = jam();
    let mut server = homes.command(Host::Server, &workspace_binary("jam-relay", "jam-relay"));
    server.args(["--bind", "0.0.0.0:7878"]);
    server.env("RUST_LOG", "info,jam_relay::peer=debug");
    server.envs(env.iter().copied());
    let mut server = Program::start(server);
    server.out_line("listening on ws://").await;
    // The listener hosts on the relay server from home B, and hears.
    let mut ear = homes.command(Host::B1, &jam);
    ear.args([
        "host",
        "--relay",
        &format!("ws://{}:7878", Host::Server.ip()),
        "--name",
        "Ear",
    ]);
    audio_env(&mut ear, &pulse, ear_sink, ear_buffer);
    let recording = dir.join("heard.raw");
    // (A stereo recording's second holds two of `record_on`'s.)
    let seconds = if both_ends { 2 } else { 1 };
    let recorder = if both_ends {
        pulse.record_both(&recording)
    } else {
        pulse.record("ear", &recording)
    };
    // Recording steadily before anything plays (parec takes a moment to start).
    record_on(&recording, seconds).await;
    ear.env("RUST_LOG", "warn,jam_play=info,jam_session=debug");
    ear.envs(env.iter().copied());
    let mut ear = Program::start(ear);
    let invite = invite_in(&ear.out_line("hosting").await);
    ear.log_to(&dir.join("ear.log"));
    server.log_to(&dir.join("server.log"));
    // `JAM_GROOVE_PCAP=1`: what reaches the listener, captured at home B (whose link loses
    // nothing, so the capture cannot change what the lossy link does), for a developer.
    // Also at the drummer (before its router's losses) and at the relay server (after them).
    let capture: Vec<Child> = std::env::var_os("JAM_GROOVE_PCAP")
        .map(|_| {
            [
                (Host::B1, "ear"),
                (Host::A1, "drummer"),
                (Host::Server, "server"),
            ]
            .into_iter()
            .map(|(host, name)| {
                let mut tcpdump = homes.command(host, Path::new("tcpdump"));
                tcpdump
                    .args(["-i", "any", "-U", "-s", "200", "-w"])
                    .arg(dir.join(format!("{name}.pcap")))
                    .arg("tcp")
                    .stderr(Stdio::null());
                tcpdump.spawn().expect("tcpdump starts")
            })
            .collect()
        })
        .unwrap_or_default();
    homes.set_loss(lossy_router, loss_permille);
    if both_ends {
        let mut drummer = homes.command(Host::A1, &jam);
        drummer_args(&mut drummer, &song, &invite);
        audio_env(&mut drummer, &pulse, LEFT, ear_buffer);
        drummer.envs(env.iter().copied());
        Program::start(drummer).finished().await;
    } else {
        play_through(homes.command(Host::A1, &jam), &song, &invite, env).await;
    }
    record_on(&recording, 2 * seconds).await;
    recorder.stop();
    ear.stop().await;
    server.stop().await;
    for mut tcpdump in capture {
        let _ = tcpdump.start_kill();
        let _ = tcpdump.wait().await;
    }
    // The sending side of the lossy link: the drummer's, or the relay server's to the listener.
    let (sender, counters) = match lossy_router {
        Host::RouterB => ("relay server", homes.tcp_counters(Host::Server)),
        _ => ("drummer", homes.tcp_counters(Host::A1)),
    };
    let count = |name: &str| counters.get(name).copied().unwrap_or(0);
    let tcp = format!(
        "{sender}'s TCP: {} segments retransmitted, {} timeouts, {} loss probes, {} retransmissions lost",
        count("RetransSegs"),
        count("TCPTimeouts"),
        count("TCPLossProbes"),
        count("TCPLostRetransmit"),
    );
    let (drummer, heard) = if both_ends {
        let (left, right) = samples_both(&recording);
        (Some(Heard::of(&left)), Heard::of(&right))
    } else {
        (None, Heard::of(&samples(&recording)))
    };
    let delays = drummer
        .as_ref()
        .map_or_else(Vec::new, |drummer| delays(drummer, &heard));
    Across {
        heard,
        tcp,
        drummer,
        delays,
        said: std::fs::read_to_string(dir.join("ear.log")).unwrap_or_default(),
    }
}

/// What [`across_homes`] found.
pub struct Across {
    /// What the listener heard.
    pub heard: Heard,
    /// The TCP counters of the lossy link's sender (the drummer, or the relay server when the
    /// listener's link loses) over the run, in words: retransmissions, timeouts, probes.
    pub tcp: String,
    /// What the drummer's own speaker played (`both_ends` only).
    pub drummer: Option<Heard>,
    /// Each hit's delay from the drummer's speaker to the listener's, ms (`both_ends` only).
    pub delays: Vec<f64>,
    /// What the listener said.
    pub said: String,
}
