//! The servers the relay bench drives, started as their own processes (`jam-relay`, the
//! Socket.IO server, the floor), and what the bench reads of a process (CPU time, peak RSS).

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::{Ws, connect};

/// A server a scenario drives: its process, its URL and its pid.
pub(crate) struct Relay {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) pid: u32,
}

/// The Socket.IO server, its packages installed first if they are missing.
pub(crate) async fn start_socketio() -> Relay {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/socketio");
    if !dir.join("node_modules/socket.io").exists() {
        let installed = Command::new("npm")
            .args(["install", "--no-fund", "--no-audit", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .await
            .expect("npm runs (Node.js is needed for --compare-socketio)");
        assert!(installed.success(), "npm install in {}", dir.display());
    }
    let mut node = Command::new("node");
    node.arg(dir.join("server.mjs")).arg("0");
    socketio_dialect(node, "node starts the Socket.IO server").await
}

/// The floor server: this bench's own binary in `--floor-server` mode, in its own process.
pub(crate) async fn start_floor() -> Relay {
    let mut floor = Command::new(std::env::current_exe().expect("the bench's own path"));
    floor.arg("--floor-server");
    socketio_dialect(floor, "the floor server starts").await
}

/// Starts a server that speaks the Socket.IO dialect and prints `listening on PORT` first.
pub(crate) async fn socketio_dialect(mut command: Command, what: &str) -> Relay {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect(what);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().expect("the port line");
    let port = line.trim_start_matches("listening on ").trim();
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let pid = child.id().unwrap();
    Relay { child, url, pid }
}

/// The next text message that starts with `prefix`, discarding others.
pub(crate) async fn next_text_starting(ws: &mut Ws, prefix: &str) -> String {
    loop {
        if let Message::Text(t) = ws.next().await.expect("open").expect("readable")
            && t.as_str().starts_with(prefix)
        {
            return t.as_str().to_owned();
        }
    }
}

/// A Socket.IO client in `room`: the Engine.IO open, the namespace connect, the join.
pub(crate) async fn socketio_join(url: &str, room: &str) -> Ws {
    let mut ws = connect(url, false).await;
    next_text_starting(&mut ws, "0{").await;
    ws.send(Message::text("40")).await.unwrap();
    next_text_starting(&mut ws, "40").await;
    ws.send(Message::text(format!(r#"42["join","{room}"]"#)))
        .await
        .unwrap();
    next_text_starting(&mut ws, r#"42["joined""#).await;
    ws
}

/// `JAM_BENCH_RELAY_WRAPPER`: a command the relay runs under, split at spaces (for example
/// `valgrind --tool=callgrind --callgrind-out-file=/tmp/relay.cg`, which counts the relay's
/// user-space instructions; it is then stopped with SIGTERM, so the tool writes its results).
pub(crate) fn relay_wrapper() -> Vec<String> {
    std::env::var("JAM_BENCH_RELAY_WRAPPER")
        .map(|w| w.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

pub(crate) async fn start_relay(extra: &[&str], threads: usize, log: Option<&Path>) -> Relay {
    let wrapper = relay_wrapper();
    let binary = env!("CARGO_BIN_EXE_jam-relay");
    let mut command = match wrapper.split_first() {
        None => Command::new(binary),
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(binary);
            c
        }
    };
    let mut child = command
        .args([
            "--bind",
            "127.0.0.1:0",
            "--max-connections",
            "10000",
            // Every simulated client comes from 127.0.0.1.
            "--max-connections-per-ip",
            "10000",
            "--threads",
            &threads.to_string(),
        ])
        .args(extra)
        .args(
            log.iter()
                .flat_map(|p| [std::ffi::OsStr::new("--log"), p.as_os_str()]),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("jam-relay starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().expect("the URL line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap()
        .to_owned();
    let pid = child.id().unwrap();
    Relay { child, url, pid }
}

/// CPU time the process has used, summed over its threads, from /proc (ns).
pub(crate) fn cpu_ns(pid: u32) -> u64 {
    let tasks = format!("/proc/{pid}/task");
    std::fs::read_dir(&tasks)
        .map(|dir| {
            dir.flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
                .filter_map(|s| {
                    s.split_whitespace()
                        .next()
                        .and_then(|v| v.parse::<u64>().ok())
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Peak resident set size of the process, from /proc (KiB).
pub(crate) fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status"))
        .unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
