//! Helpers for Jamwire's end-to-end tests: a relay on `127.0.0.1:0` and a small WebSocket
//! client that speaks the protocol as plain JSON, so tests see exactly what goes over the wire.
//!
//! Waiting is always for an event, bounded by [`PATIENCE`] so that a bug fails the test instead
//! of hanging it; nothing here sleeps to synchronise.

pub mod browser;
pub mod groove;
pub mod heard;
pub mod homes;
pub mod pki;
pub mod proxy;
pub mod signal;
pub mod timbre;
pub mod windows;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jam_relay::{RelayConfig, RelayHandle};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest a test waits for something that should happen; only reached when a test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Starts a relay on a free loopback port.
pub async fn relay(config: RelayConfig) -> RelayHandle {
    jam_relay::start("127.0.0.1:0".parse().expect("valid address"), config)
        .await
        .expect("a loopback port is free")
}

/// A protocol client for tests.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The `clientId` from `connected` (also the user id in rooms).
    pub id: String,
    /// The room this client created or joined last.
    pub room: Option<String>,
}

/// How a connection ended, as seen by the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// A close frame arrived with this code and reason.
    Closed(u16, String),
    /// The socket ended without a close frame.
    Dropped,
}

impl Client {
    /// Connects and reads the `connected` greeting.
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio::time::timeout(
            PATIENCE,
            tokio_tungstenite::connect_async_with_config(url, None, true),
        )
        .await
        .expect("connect in time")
        .expect("relay accepts the connection");
        let mut client = Client {
            ws,
            id: String::new(),
            room: None,
        };
        let hello = client.recv().await;
        assert_eq!(hello["type"], "connected", "{hello}");
        assert_eq!(hello["protocol"], 1);
        assert!(hello["serverTime"].as_f64().is_some());
        client.id = hello["clientId"].as_str().expect("clientId").to_owned();
        client
    }

    /// Connects with an `Origin` header, as a web page's WebSocket would; the error is what the
    /// handshake failed with (e.g. HTTP 403).
    pub async fn connect_from_origin(url: &str, origin: &str) -> Result<Client, String> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        let value = origin
            .parse()
            .map_err(|_| "not a header value".to_owned())?;
        request.headers_mut().insert("Origin", value);
        Client::try_connect(request).await
    }

    /// Connects and reads the greeting, or says why it could not.
    pub async fn try_connect(
        request: impl tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
    ) -> Result<Client, String> {
        let (ws, _) = tokio::time::timeout(
            PATIENCE,
            tokio_tungstenite::connect_async_with_config(request, None, true),
        )
        .await
        .map_err(|_| "no answer in time".to_owned())?
        .map_err(|e| e.to_string())?;
        let mut client = Client {
            ws,
            id: String::new(),
            room: None,
        };
        let hello = client.next().await.map_err(|e| format!("{e:?}"))?;
        if hello["type"] != "connected" {
            return Err(format!("greeted with {hello}"));
        }
        client.id = hello["clientId"].as_str().unwrap_or_default().to_owned();
        Ok(client)
    }

    /// Sends one JSON message.
    pub async fn send(&mut self, msg: Value) {
        self.send_text(msg.to_string()).await;
    }

    /// Sends one raw text frame.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::text(text.into()))
            .await
            .expect("send a frame");
    }

    /// Sends a raw frame of any kind, saying whether the connection took it.
    pub async fn try_send_frame(&mut self, frame: Message) -> Result<(), String> {
        self.ws.send(frame).await.map_err(|e| e.to_string())
    }

    /// Reads whatever has already arrived, without waiting; false if the connection ended.
    pub async fn is_open(&mut self) -> bool {
        use futures_util::FutureExt;
        loop {
            match self.ws.next().now_or_never() {
                None => return true,
                Some(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => return false,
                Some(Some(Ok(_))) => {}
            }
        }
    }

    /// Reads until a message of type `ty` arrives, skipping the rest.
    pub async fn expect_eventually(&mut self, ty: &str) -> Value {
        loop {
            let msg = self.recv().await;
            if msg["type"] == ty {
                return msg;
            }
        }
    }

    /// Sends a raw frame of any kind.
    pub async fn send_frame(&mut self, frame: Message) {
        self.ws.send(frame).await.expect("send a frame");
    }

    /// The next protocol message (pings and pongs are skipped).
    pub async fn recv(&mut self) -> Value {
        match self.next().await {
            Ok(v) => v,
            Err(ending) => panic!("connection ended while waiting for a message: {ending:?}"),
        }
    }

    /// The next protocol message, or how the connection ended.
    pub async fn next(&mut self) -> Result<Value, Ending> {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a message arrives in time");
            match frame {
                Some(Ok(Message::Text(t))) => {
                    return Ok(serde_json::from_str(t.as_str()).expect("relay sends JSON"));
                }
                Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                    return Err(Ending::Closed(code.into(), reason.to_string()));
                }
                Some(Ok(Message::Close(None))) => return Err(Ending::Closed(1005, String::new())),
                Some(Ok(Message::Binary(_))) => panic!("relay sent a binary frame"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(Ending::Dropped),
            }
        }
    }

    /// Reads until the connection ends, returning how (messages before that are discarded).
    pub async fn ending(&mut self) -> Ending {
        loop {
            if let Err(ending) = self.next().await {
                return ending;
            }
        }
    }

    /// The next message, which must have `type` equal to `ty`.
    pub async fn expect(&mut self, ty: &str) -> Value {
        let msg = self.recv().await;
        assert_eq!(msg["type"], ty, "expected {ty}, got {msg}");
        msg
    }

    /// The next message, which must be an `error` with this code.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let msg = self.expect("error").await;
        assert_eq!(msg["code"], code, "{msg}");
        assert!(
            msg["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{msg}"
        );
        msg
    }

    /// Proves that nothing else is queued for this client: sends `clock:ping` and requires the
    /// very next message to be its `clock:pong`. The relay handles a connection's messages in
    /// order, so anything already queued for us would arrive first.
    pub async fn expect_nothing_pending(&mut self) {
        self.send(json!({"type": "clock:ping", "clientTime": 4242.5}))
            .await;
        let msg = self.recv().await;
        assert_eq!(
            msg["type"], "clock:pong",
            "expected nothing before the pong, got {msg}"
        );
        assert_eq!(msg["clientTime"], 4242.5);
    }

    /// Creates a room; returns the `session:created` message.
    pub async fn create(&mut self, name: &str) -> Value {
        self.send(json!({"type": "session:create", "name": name}))
            .await;
        let created = self.expect("session:created").await;
        self.room = Some(created["roomCode"].as_str().expect("roomCode").to_owned());
        created
    }

    /// Joins `code` as a player; returns the `session:joined` message.
    pub async fn join(&mut self, code: &str, name: &str) -> Value {
        self.join_as(code, name, "player").await
    }

    /// Joins `code` with a role; returns the `session:joined` message.
    pub async fn join_as(&mut self, code: &str, name: &str, role: &str) -> Value {
        self.send(json!({"type": "session:join", "roomCode": code, "name": name, "role": role}))
            .await;
        let joined = self.expect("session:joined").await;
        self.room = Some(code.to_owned());
        joined
    }

    /// Broadcasts an event to the room this client is in.
    pub async fn broadcast(&mut self, event_name: &str, payload: Value) {
        let room = self.room.clone().expect("in a room");
        self.send(json!({"type": "event:broadcast", "roomCode": room, "eventName": event_name, "payload": payload}))
            .await;
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        while let Some(Ok(_)) = self.ws.next().await {}
    }
}

/// Relay time `offset_ms` from now: ms since the Unix epoch, as a relay on this machine reads
/// it (the relay refuses timestamps more than a day away from its own time).
pub fn at(offset_ms: f64) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1_000.0);
    now.floor() + offset_ms
}

/// A `piano_note` payload.
pub fn piano_note(note: u8, velocity: u8) -> Value {
    json!({"note": note, "velocity": velocity, "timestamp": at(0.0)})
}

/// A `piano_note_off` payload.
pub fn piano_note_off(note: u8) -> Value {
    json!({"note": note, "timestamp": at(100.0)})
}

/// A `drum_hit` payload.
pub fn drum_hit(note: u8, velocity: u8) -> Value {
    json!({"note": note, "velocity": velocity, "timestamp": at(0.0)})
}

/// Path to binary `name` of workspace package `package`, built first so it is never stale.
///
/// Cargo only hands `CARGO_BIN_EXE_*` to tests of the binary's own package; these cross-crate
/// tests ask cargo to build it into the same target directory and profile as the test itself.
pub fn workspace_binary(package: &str, name: &str) -> std::path::PathBuf {
    let test_exe = std::env::current_exe().expect("test executable path");
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let release = profile_dir.file_name().is_some_and(|p| p == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--quiet", "--package", package, "--bin", name]);
    if release {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building {name} failed");
    let path = profile_dir.join(name);
    assert!(path.exists(), "{} exists after the build", path.display());
    path
}

/// Sends SIGKILL to the process group `pgid` (a child the test started with
/// `process_group(0)`, and everything it started).
pub fn kill_group(pgid: u32) {
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    // SAFETY: kill(2) on a process group the caller created; no memory is shared.
    let _ = unsafe { kill(-pgid, 9) };
}

/// Sends SIGTERM to a process (a child the test started), as Ctrl-C's polite sibling.
pub fn sigterm(pid: u32) {
    signal(pid, 15);
}

/// Sends signal `sig` (SIGTERM 15, SIGSTOP 19, SIGCONT 18) to the process `pid`.
pub fn signal(pid: u32, sig: i32) {
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    let target = i32::try_from(pid).expect("a pid fits kill(2)'s");
    // SAFETY: kill(2) with a pid the caller owns; no memory is shared.
    let status = unsafe { kill(target, sig) };
    assert_eq!(status, 0, "signal {sig} to {pid}");
}

/// A `jam-relay` process started by a test (killed when dropped), with what it prints.
pub struct RelayProcess {
    /// The process; its stderr is piped for the test to read.
    pub child: tokio::process::Child,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl RelayProcess {
    /// Builds and starts `jam-relay` with `args` (give it `--bind 127.0.0.1:0`).
    pub fn spawn<I, S>(args: I) -> RelayProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(workspace_binary("jam-relay", "jam-relay"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the jam-relay binary starts");
        let stdout = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();
        RelayProcess { child, stdout }
    }

    /// The next URL it prints: `ws://…/` once it listens, then `http://…/metrics` with
    /// `--metrics`. Also returns the whole line.
    pub async fn next_url(&mut self) -> (String, String) {
        let line = tokio::time::timeout(PATIENCE, self.stdout.next_line())
            .await
            .expect("the relay prints a line in time")
            .expect("stdout readable")
            .expect("a line before exiting");
        let url = line
            .split_whitespace()
            .find(|w| w.contains("://"))
            .unwrap_or_else(|| panic!("a URL on {line:?}"))
            .to_owned();
        (url, line)
    }
}
