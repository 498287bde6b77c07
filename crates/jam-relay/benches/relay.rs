//! `relay-bench`: drives a real `jam-relay` process over loopback and prints what it measured.
//!
//! Run: `cargo bench -p jam-relay --bench relay --profile relay` (figures go to stdout; record
//! them in docs/PERFORMANCE.md). `--profile relay` builds the relay as `scripts/relay` and the
//! server package ship it, whole-program optimised; without it the bench measures the plain
//! `release` build the desktop app embeds. Each scenario starts a fresh relay process so its
//! CPU time and peak RSS are its own, connects R rooms × C clients and has every client send E
//! events/s open-loop: each event is due at a fixed time and carries that time, so latency
//! counts from when the event *should* have been sent and queueing anywhere is not hidden.
//!
//! Optional arguments: a scenario-name filter, `--seconds N` (default 10), `--threads N`
//! (the relay's worker threads, default 1 like the binary) and `--compare-log`, which runs each
//! scenario twice in a row — without and with `--log` (recording into a SQLite session log) —
//! so the cost of recording shows up against the same conditions, and `--compare-socketio`,
//! which runs each scenario (but the stalled reader's) against `jam-relay` and then, with the
//! same clients and pacing, against a Socket.IO jam server written the usual way
//! (`tests/peers/socketio/server.mjs`: `socket.to(room).emit`; Node.js and `npm install` there,
//! which the bench runs itself when `node_modules` is missing), and prints the ratio of their
//! CPU per delivery. The Socket.IO clients speak Engine.IO v4 over a plain WebSocket (`40`
//! to connect, `42[...]` events), as socket.io-client does with `transports: ["websocket"]`.
//! `--compare-floor` runs each scenario also against the floor (`support/floor.rs`, this
//! bench's own binary as a separate process): a relay that does one read per event and one
//! write per delivery and nothing else, which is what this machine's kernel charges any relay
//! that gives every member its own TCP connection.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};

#[path = "support/floor.rs"]
mod floor;
#[path = "support/servers.rs"]
mod servers;
use servers::{
    cpu_ns, peak_rss_kib, relay_wrapper, socketio_join, start_floor, start_relay, start_socketio,
};
use tokio::net::TcpSocket;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Which server a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    /// `jam-relay`, speaking protocol v1.
    Jam,
    /// The Socket.IO jam server in `tests/peers/socketio`.
    SocketIo,
    /// The floor (`support/floor.rs`): one read per event, one write per delivery, nothing
    /// else; spoken to in the Socket.IO dialect.
    Floor,
}

struct Scenario {
    name: &'static str,
    rooms: usize,
    clients: usize,
    events_per_sec: f64,
    /// One client per room connects with a tiny receive buffer and never reads.
    stalled: bool,
    /// Extra relay flags.
    relay_args: &'static [&'static str],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "1 room x 8 clients x 10 ev/s",
        rooms: 1,
        clients: 8,
        events_per_sec: 10.0,
        stalled: false,
        relay_args: &[],
    },
    Scenario {
        name: "25 rooms x 4 clients x 10 ev/s",
        rooms: 25,
        clients: 4,
        events_per_sec: 10.0,
        stalled: false,
        relay_args: &[],
    },
    Scenario {
        name: "50 rooms x 4 clients x 10 ev/s",
        rooms: 50,
        clients: 4,
        events_per_sec: 10.0,
        stalled: false,
        relay_args: &[],
    },
    Scenario {
        name: "500 rooms x 4 clients x 10 ev/s",
        rooms: 500,
        clients: 4,
        events_per_sec: 10.0,
        stalled: false,
        relay_args: &[],
    },
    Scenario {
        name: "1 room x 100 clients x 10 ev/s",
        rooms: 1,
        clients: 100,
        events_per_sec: 10.0,
        stalled: false,
        relay_args: &["--max-room-size", "128"],
    },
    Scenario {
        name: "1 room x 8 clients x 10 ev/s, one stalled reader",
        rooms: 1,
        clients: 8,
        events_per_sec: 10.0,
        stalled: true,
        relay_args: &["--outbound-queue", "256"],
    },
];

/// Start of the bench's clock; payloads carry nanoseconds since then.
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The `"t":<ns>` stamp of a relayed bench event. A plain search rather than a JSON parse, so
/// the clients (100 of them on one thread) cost as little as possible and the figures are the
/// relay's, not the bench's.
fn due_stamp(text: &str) -> Option<u64> {
    if !text.starts_with(r#"{"type":"event:broadcast""#) && !text.starts_with(r#"42["drum_hit""#) {
        return None;
    }
    let start = text.find(r#""t":"#)? + 4;
    let digits = &text[start..];
    let end = digits.find(|c: char| !c.is_ascii_digit())?;
    digits[..end].parse().ok()
}

/// A WebSocket client on a fresh socket (`tiny_receive_buffer`: 4 KiB, a reader that stalls).
pub(crate) async fn connect(url: &str, tiny_receive_buffer: bool) -> Ws {
    let addr: std::net::SocketAddr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    if tiny_receive_buffer {
        socket.set_recv_buffer_size(4096).unwrap();
    }
    let stream = socket.connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
        .await
        .unwrap();
    ws
}

async fn next_json(ws: &mut Ws) -> serde_json::Value {
    loop {
        match ws.next().await.expect("open").expect("readable") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            _ => continue,
        }
    }
}

/// Waits for `clock:pong`, discarding what comes before (joins of others, mostly).
async fn settle(ws: &mut Ws) {
    ws.send(Message::text(r#"{"type":"clock:ping","clientTime":0}"#))
        .await
        .unwrap();
    while next_json(ws).await["type"] != "clock:pong" {}
}

struct Outcome {
    latencies_ns: Vec<u64>,
    delivered: u64,
    expected: u64,
    relay_cpu_pct: f64,
    /// Relay CPU per delivered message (µs).
    relay_us_per_delivery: f64,
    client_cpu_pct: f64,
    peak_rss_kib: u64,
    stalled_closed: Option<String>,
}

async fn run(
    s: &Scenario,
    seconds: f64,
    threads: usize,
    log: Option<&Path>,
    server: Server,
) -> Outcome {
    let mut relay = match server {
        Server::Jam => start_relay(s.relay_args, threads, log).await,
        Server::SocketIo => start_socketio().await,
        Server::Floor => start_floor().await,
    };
    // Rooms: the first client creates, the rest join; the last one is the stalled reader.
    let mut players: Vec<(Ws, String)> = Vec::new();
    let mut stalled: Vec<Ws> = Vec::new();
    for room in 0..if server != Server::Jam { s.rooms } else { 0 } {
        let code = format!("room{room}");
        for _ in 0..s.clients {
            players.push((socketio_join(&relay.url, &code).await, code.clone()));
        }
    }
    for _ in 0..if server == Server::Jam { s.rooms } else { 0 } {
        let mut host = connect(&relay.url, false).await;
        next_json(&mut host).await;
        host.send(Message::text(r#"{"type":"session:create","name":"Host"}"#))
            .await
            .unwrap();
        let created = next_json(&mut host).await;
        let code = created["roomCode"].as_str().unwrap().to_owned();
        players.push((host, code.clone()));
        for i in 1..s.clients {
            let is_stalled = s.stalled && i == s.clients - 1;
            let mut ws = connect(&relay.url, is_stalled).await;
            next_json(&mut ws).await;
            ws.send(Message::text(format!(
                r#"{{"type":"session:join","roomCode":"{code}","name":"P{i}"}}"#
            )))
            .await
            .unwrap();
            while next_json(&mut ws).await["type"] != "session:joined" {}
            if is_stalled {
                stalled.push(ws);
            } else {
                players.push((ws, code.clone()));
            }
        }
    }
    if server == Server::Jam {
        for (ws, _) in &mut players {
            settle(ws).await;
        }
    }

    let senders_per_room = s.clients - usize::from(s.stalled);
    let per_sender = (seconds * s.events_per_sec).round() as u64;
    let expected = (s.rooms * senders_per_room * (senders_per_room - 1)) as u64 * per_sender;
    let period = Duration::from_secs_f64(1.0 / s.events_per_sec);
    let n_players = players.len();
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(expected as usize)));
    let cpu_before = cpu_ns(relay.pid);
    let own_cpu_before = cpu_ns(std::process::id());
    let wall = Instant::now();
    let start_ns = now_ns() + 200_000_000;
    let mut tasks = Vec::new();
    let mut due_txs = Vec::new();
    for (ws, code) in players.into_iter() {
        let (mut sink, mut stream) = ws.split();
        let expect_here = per_sender * (senders_per_room as u64 - 1);
        let latencies = latencies.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(expect_here as usize);
            let deadline = Duration::from_secs_f64(seconds + 5.0);
            let _ = tokio::time::timeout(deadline, async {
                while (mine.len() as u64) < expect_here {
                    let t = match stream.next().await {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(_)) => continue, // pings from the relay's heartbeat
                        _ => break,
                    };
                    let now = now_ns();
                    if let Some(due) = due_stamp(t.as_str()) {
                        mine.push(now.saturating_sub(due));
                    }
                }
            })
            .await;
            latencies.lock().await.extend_from_slice(&mine);
            mine.len() as u64
        }));
        let (due_tx, mut due_rx) = tokio::sync::mpsc::channel::<u64>(64);
        due_txs.push(due_tx);
        tasks.push(tokio::spawn(async move {
            let mut text = String::with_capacity(160);
            // Relay time now (the relay refuses timestamps more than a day away from its own).
            let timestamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            while let Some(due) = due_rx.recv().await {
                text.clear();
                use std::fmt::Write;
                let _ = match server {
                    Server::Jam => write!(
                        text,
                        r#"{{"type":"event:broadcast","roomCode":"{code}","eventName":"drum_hit","payload":{{"note":38,"velocity":100,"timestamp":{timestamp},"t":{due}}}}}"#
                    ),
                    Server::SocketIo | Server::Floor => write!(
                        text,
                        r#"42["drum_hit",{{"note":38,"velocity":100,"timestamp":{timestamp},"t":{due}}}]"#
                    ),
                };
                if sink.send(Message::text(text.clone())).await.is_err() {
                    break;
                }
            }
            // Keep the sending half (and so the connection) open until the readers are done.
            tokio::time::sleep(Duration::from_secs(6)).await;
            drop(sink);
            0
        }));
    }
    // One OS thread paces every sender: std::thread::sleep is precise to tens of microseconds,
    // where tokio's timer wheel would add up to a millisecond of its own lateness. Phases are
    // spread evenly over one period so the relay sees a steady stream.
    let pacer = std::thread::spawn(move || {
        let period_ns = period.as_nanos() as u64;
        let mut schedule: Vec<(u64, usize)> = (0..per_sender)
            .flat_map(|k| {
                (0..n_players).map(move |i| {
                    (
                        start_ns + period_ns * i as u64 / n_players as u64 + k * period_ns,
                        i,
                    )
                })
            })
            .collect();
        schedule.sort_unstable();
        for (due, i) in schedule {
            let now = now_ns();
            if due > now {
                std::thread::sleep(Duration::from_nanos(due - now));
            }
            if due_txs[i].blocking_send(due).is_err() {
                break;
            }
        }
    });
    let mut delivered = 0;
    tokio::task::spawn_blocking(move || pacer.join().expect("pacer"))
        .await
        .unwrap();
    for task in tasks {
        delivered += task.await.unwrap();
    }
    let cpu = cpu_ns(relay.pid) - cpu_before;
    let relay_cpu_pct = cpu as f64 / wall.elapsed().as_nanos() as f64 * 100.0;
    let relay_us_per_delivery = cpu as f64 / 1e3 / delivered.max(1) as f64;
    let client_cpu_pct = (cpu_ns(std::process::id()) - own_cpu_before) as f64
        / wall.elapsed().as_nanos() as f64
        * 100.0;
    let peak = peak_rss_kib(relay.pid);
    let mut stalled_closed = None;
    for mut ws in stalled {
        // Drain what the kernel buffered for it and see how the relay ended the connection.
        let ending = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(Some(f)))) => {
                        return format!("closed {} \"{}\"", u16::from(f.code), f.reason);
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return format!("dropped ({e})"),
                    None => return "dropped".into(),
                }
            }
        })
        .await
        .unwrap_or_else(|_| "still open".into());
        stalled_closed = Some(ending);
    }
    if relay_wrapper().is_empty() {
        let _ = relay.child.kill().await;
    } else {
        // Let the wrapping tool write its results: stop the relay as an operator would.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &relay.pid.to_string()])
            .status();
        let _ = relay.child.wait().await;
    }
    let latencies_ns = Arc::try_unwrap(latencies).unwrap().into_inner();
    Outcome {
        latencies_ns,
        delivered,
        expected,
        relay_cpu_pct,
        relay_us_per_delivery,
        client_cpu_pct,
        peak_rss_kib: peak,
        stalled_closed,
    }
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[i] as f64 / 1e6
}

fn main() {
    if std::env::args().any(|a| a == "--floor-server") {
        floor::serve();
        return;
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(bench());
}

async fn bench() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut seconds = 10.0;
    let mut threads = 1;
    let mut filter = None;
    let mut compare_log = false;
    let mut compare_socketio = false;
    let mut compare_floor = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--seconds" {
            seconds = it.next().and_then(|v| v.parse().ok()).expect("--seconds N");
        } else if a == "--compare-log" {
            compare_log = true;
        } else if a == "--compare-socketio" {
            compare_socketio = true;
        } else if a == "--compare-floor" {
            compare_floor = true;
        } else if a == "--threads" {
            threads = it.next().and_then(|v| v.parse().ok()).expect("--threads N");
        } else {
            filter = Some(a.clone());
        }
    }
    println!(
        "relay-bench: {seconds} s per scenario; relay = release jam-relay process with {threads} worker thread(s); \
         clients in this process (1 tokio thread + 1 pacing thread)"
    );
    println!(
        "{:<50} {:>9} {:>9} {:>9} {:>9} {:>9} {:>18} {:>9} {:>9}",
        "scenario",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "loss",
        "delivered/expected",
        "relay CPU",
        "peak RSS"
    );
    for s in SCENARIOS
        .iter()
        .filter(|s| filter.as_ref().is_none_or(|f| s.name.contains(f.as_str())))
    {
        let mut runs: Vec<(bool, Server)> = vec![(false, Server::Jam)];
        if compare_log {
            runs.push((true, Server::Jam));
        }
        if compare_socketio && !s.stalled {
            runs.push((false, Server::SocketIo));
        }
        if compare_floor && !s.stalled {
            runs.push((false, Server::Floor));
        }
        let mut jam_us = None;
        for (logged, server) in runs {
            let log = logged.then(|| {
                let path =
                    std::env::temp_dir().join(format!("relay-bench-{}.sqlite", std::process::id()));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                path
            });
            let mut out = run(s, seconds, threads, log.as_deref(), server).await;
            out.latencies_ns.sort_unstable();
            let l = &out.latencies_ns;
            let name = match (logged, server) {
                (true, _) => format!("{} +log", s.name),
                (false, Server::SocketIo) => format!("{} socket.io", s.name),
                (false, Server::Floor) => format!("{} floor", s.name),
                (false, Server::Jam) => s.name.to_owned(),
            };
            println!(
                "{:<50} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9} {:>18} {:>8.1}% {:>6.1} MiB",
                name,
                pct(l, 50.0),
                pct(l, 99.0),
                pct(l, 99.9),
                l.last().map_or(f64::NAN, |&m| m as f64 / 1e6),
                out.expected - out.delivered.min(out.expected),
                format!("{}/{}", out.delivered, out.expected),
                out.relay_cpu_pct,
                out.peak_rss_kib as f64 / 1024.0,
            );
            println!(
                "    relay CPU per delivery: {:.2} µs; bench clients' own CPU: {:.1}% of one core",
                out.relay_us_per_delivery, out.client_cpu_pct
            );
            match (server, logged, jam_us) {
                (Server::Jam, false, _) => jam_us = Some(out.relay_us_per_delivery),
                (Server::SocketIo, _, Some(jam)) => println!(
                    "    jam-relay / socket.io CPU per delivery: {:.2}×",
                    jam / out.relay_us_per_delivery
                ),
                (Server::Floor, _, Some(jam)) => println!(
                    "    jam-relay / floor CPU per delivery: {:.2}×",
                    jam / out.relay_us_per_delivery
                ),
                _ => {}
            }
            if let Some(ending) = out.stalled_closed {
                println!("    stalled reader: {ending}");
            }
        }
    }
}
