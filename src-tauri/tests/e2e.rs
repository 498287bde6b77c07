//! The real app, end to end: two running instances of the built `jamwire` binary under Xvfb,
//! driven with WebDriver (`tauri-driver` → `WebKitWebDriver`), each playing into its own
//! PulseAudio null sink whose monitor is recorded. A hosts, B joins with the invite read off A's
//! screen; what A plays lights up on B's screen in A's colour and is heard in B's recording
//! (once); B leaves and A's list updates; B comes back as a listener and cannot play.
//!
//! Needs `Xvfb`, `tauri-driver`, `WebKitWebDriver`, `pulseaudio` and `parec` (`./scripts/test`
//! installs them). Set `JAMWIRE_SCREENSHOTS=DIR` to save screenshots of the start screen and a
//! busy room there.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use jam_tests::PATIENCE;
use serde_json::json;

/// Recording format: what `parec` writes.
const RATE: usize = 48_000;
/// Analysis frame: 5 ms.
const FRAME: usize = RATE / 200;
/// A frame louder than this (RMS, full scale 1.0) is sound; the null sink's silence is 0.
const SOUND: f32 = 1e-3;

/// A child process that is killed when the test ends, pass or fail.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(name: &str) -> PathBuf {
    let cargo_bin = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin").join(name));
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .chain(cargo_bin)
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("{name} is missing: run ./scripts/test, which installs everything the end-to-end test needs")
    })
}

/// `text` without terminal colour codes.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for end in chars.by_ref() {
                if end.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free port on 127.0.0.1")
        .port()
}

/// Polls `check` until it gives a value (each call waits for nothing; the loop is bounded).
async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A private X server on a free display.
fn xvfb() -> (Proc, String) {
    let mut child = Command::new(tool("Xvfb"))
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb didn't start");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("Xvfb didn't say its display");
    let display = format!(":{}", line.trim());
    (Proc(child), display)
}

/// A private PulseAudio server with one null sink per instance.
fn pulseaudio(dir: &Path) -> (Proc, String) {
    let socket = dir.join("pulse.sock");
    let server = format!("unix:{}", socket.display());
    let child = Command::new(tool("pulseaudio"))
        .args([
            "--daemonize=no",
            "-n",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "--use-pid-file=no",
            "--log-target=stderr",
        ])
        .arg(format!(
            "--load=module-native-protocol-unix auth-anonymous=1 socket={}",
            socket.display()
        ))
        .arg("--load=module-null-sink sink_name=jam_a rate=48000")
        .arg("--load=module-null-sink sink_name=jam_b rate=48000")
        .arg("--load=module-null-sink sink_name=jam_web rate=48000")
        .env("XDG_RUNTIME_DIR", dir)
        .env("HOME", dir)
        .stdout(Stdio::null())
        .stderr(File::create(dir.join("pulseaudio.log")).unwrap())
        .spawn()
        .expect("pulseaudio didn't start");
    (Proc(child), server)
}

async fn pulse_ready(server: &str) {
    until("PulseAudio to answer", || async {
        Command::new(tool("pactl"))
            .args(["--server", server, "list", "short", "sinks"])
            .output()
            .ok()
            .filter(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("jam_b"))
    })
    .await;
}

/// Records a sink's monitor as mono 16-bit at 48 kHz.
fn record(server: &str, sink: &str, path: &Path) -> Proc {
    let child = Command::new(tool("parec"))
        .args(["--server", server, "-d", &format!("{sink}.monitor")])
        .args([
            "--format=s16le",
            "--rate=48000",
            "--channels=1",
            "--latency-msec=10",
        ])
        .stdout(File::create(path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("parec didn't start");
    Proc(child)
}

/// RMS per 5 ms frame of a recording, from sample `from` on.
fn envelope(path: &Path, from: usize) -> Vec<f32> {
    let mut file = File::open(path).unwrap();
    file.seek(SeekFrom::Start((from * 2) as u64)).unwrap();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    let samples: Vec<f32> = bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
        .collect();
    samples
        .chunks_exact(FRAME)
        .map(jam_tests::signal::rms)
        .collect()
}

/// The samples of a recording from sample `from` on, full scale 1.0.
fn raw_since(path: &Path, from: usize) -> Vec<f32> {
    let mut file = File::open(path).unwrap();
    file.seek(SeekFrom::Start((from * 2) as u64)).unwrap();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
        .collect()
}

fn samples_in(path: &Path) -> usize {
    std::fs::metadata(path).map_or(0, |m| m.len() as usize / 2)
}

/// Frames where sound starts after at least 100 ms of silence.
fn onsets(envelope: &[f32]) -> Vec<usize> {
    let mut quiet = usize::MAX / 2;
    let mut found = Vec::new();
    for (i, &level) in envelope.iter().enumerate() {
        if level > SOUND {
            if quiet >= 20 {
                found.push(i);
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    found
}

/// One app instance with its own driver, sink, recording and settings.
struct Instance {
    client: Client,
    recording: PathBuf,
    /// The app's log (through tauri-driver's stderr).
    log: PathBuf,
    _recorder: Proc,
    _driver: Proc,
}

async fn launch(label: &str, display: &str, pulse: &str, dir: &Path) -> Instance {
    launch_with(label, display, pulse, dir, &Launch::default()).await
}

/// The app under test: `$JAMWIRE_APP` (the installed package's `/usr/bin/jamwire`, for
/// `tests/installed.sh`), else the one cargo built.
fn app_binary() -> PathBuf {
    std::env::var_os("JAMWIRE_APP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_jamwire")))
}

/// How an instance starts.
struct Launch {
    /// The embedded relay's address (`None`: as a musician's app, every interface at the chosen
    /// port).
    relay_bind: Option<String>,
    /// Command-line arguments (an invite: `jamwire jam://…`).
    args: Vec<String>,
    /// The D-Bus session bus (`None`: none at all, so instances never find each other).
    dbus: Option<String>,
}

impl Default for Launch {
    fn default() -> Launch {
        Launch {
            relay_bind: Some("127.0.0.1:0".into()),
            args: Vec::new(),
            dbus: None,
        }
    }
}

/// [`launch`], with the embedded relay bound as `relay_bind` says.
async fn launch_bound(
    label: &str,
    display: &str,
    pulse: &str,
    dir: &Path,
    relay_bind: Option<&str>,
) -> Instance {
    let how = Launch {
        relay_bind: relay_bind.map(str::to_owned),
        ..Launch::default()
    };
    launch_with(label, display, pulse, dir, &how).await
}

/// [`launch`], as `how` says.
async fn launch_with(
    label: &str,
    display: &str,
    pulse: &str,
    dir: &Path,
    how: &Launch,
) -> Instance {
    let sink = format!("jam_{label}");
    let recording = dir.join(format!("{label}.raw"));
    let recorder = record(pulse, &sink, &recording);
    let (port, native_port) = (free_port(), free_port());
    let config = dir.join(format!("config-{label}"));
    let log = dir.join(format!("{label}.log"));
    let mut driver = Command::new(tool("tauri-driver"));
    match &how.relay_bind {
        Some(bind) => driver.env("JAMWIRE_RELAY_BIND", bind),
        None => driver.env_remove("JAMWIRE_RELAY_BIND"),
    };
    // Without a bus of its own an instance has no single-instance service, and two instances
    // under test never hand their start to each other (nor to a developer's desktop session).
    let no_bus = format!("unix:path={}/no-bus", dir.display());
    driver.env(
        "DBUS_SESSION_BUS_ADDRESS",
        how.dbus.as_deref().unwrap_or(&no_bus),
    );
    let driver = driver
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .env("DISPLAY", display)
        .env("PULSE_SERVER", pulse)
        .env("PULSE_SINK", &sink)
        .env("XDG_CONFIG_HOME", &config)
        .env("XDG_DATA_HOME", &config)
        .env("HOME", &config)
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .expect("tauri-driver didn't start");
    let driver = Proc(driver);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "tauri:options".into(),
        json!({ "application": app_binary(), "args": how.args }),
    );
    caps.insert("browserName".into(), json!("wry"));
    let url = format!("http://127.0.0.1:{port}");
    let client = until("tauri-driver to start the app", || {
        let caps = caps.clone();
        let url = url.clone();
        async move {
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps)
                .connect(&url)
                .await
                .ok()
        }
    })
    .await;
    Instance {
        client,
        recording,
        log,
        _recorder: recorder,
        _driver: driver,
    }
}

impl Instance {
    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
    }

    /// Hosts as `name` from the start screen; gives the invite on the room's screen.
    async fn host(&self, name: &str) -> String {
        self.type_into("#name", name).await;
        self.click("#host-button").await;
        self.wait_for("#room:not([hidden])").await;
        self.text("#invite-text").await
    }

    /// The folder the instance loaded its samples from, read off its log.
    fn samples_dir(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let line = log
            .lines()
            .find(|l| l.contains("samples loaded"))
            .unwrap_or_else(|| panic!("no samples were loaded: {}", self.log.display()));
        let plain: String = strip_ansi(line);
        plain
            .split_whitespace()
            .find_map(|w| w.strip_prefix("dir="))
            .unwrap_or_else(|| panic!("no dir in {plain:?}"))
            .to_owned()
    }

    /// The `id` of the element that has the keyboard focus.
    async fn focused(&self) -> String {
        let id = self
            .client
            .execute(
                "return document.activeElement && document.activeElement.id",
                vec![],
            )
            .await
            .unwrap();
        id.as_str().unwrap_or_default().to_owned()
    }

    /// axe-core (`ui/node_modules/axe-core`) over the window as it is now: the serious and
    /// critical violations, each as "WHERE: rule (impact): help — the first elements".
    async fn axe(&self, screen: &str) -> Vec<String> {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} (npm install in ui/): {e}", path.display()));
        self.client
            .execute(&source, vec![])
            .await
            .expect("axe-core loads");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 axe.run(document, { resultTypes: ['violations'] }).then((r) => done( \
                 r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical') \
                 .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 4) \
                 .map((n) => n.target.join(' ')).join(', ')}`)), (e) => done([`axe failed: ${e}`]));",
                vec![],
            )
            .await
            .expect("axe-core runs");
        let found: Vec<String> = serde_json::from_value(found).expect("a list");
        found
            .into_iter()
            .map(|v| format!("{screen}: {v}"))
            .collect()
    }

    async fn value_of(&self, css: &str) -> String {
        self.wait_for(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e:?}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap()
    }

    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |v| v.len())
    }

    async fn wait_count(&self, css: &str, n: usize) {
        until(&format!("{n} × {css}"), || async {
            (self.count(css).await == n).then_some(())
        })
        .await;
    }

    /// The colour the room gives the participant called `name`.
    async fn colour_of(&self, name: &str) -> String {
        let script = "const li = [...document.querySelectorAll('#participants li')].find(li => li.querySelector('.pname').textContent === arguments[0]); return li ? li.style.getPropertyValue('--colour') : null;";
        until(&format!("{name} in the list"), || async {
            self.client
                .execute(script, vec![json!(name)])
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
        })
        .await
    }

    /// Presses and releases `keys` one after another (WebDriver key values: `\u{E004}` is Tab).
    async fn press(&self, keys: &str) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut actions = KeyActions::new("keys".into());
        for key in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key });
        }
        self.client
            .perform_actions(actions)
            .await
            .expect("keys pressed");
    }

    /// Presses Tab until the focus is on an element matching `css` (at most 200 times).
    async fn tab_to(&self, css: &str) {
        let check = format!(
            "return document.activeElement !== null && document.activeElement.matches({});",
            serde_json::to_string(css).unwrap()
        );
        for _ in 0..200 {
            if self.client.execute(&check, vec![]).await.unwrap() == json!(true) {
                return;
            }
            self.press("\u{E004}").await;
        }
        panic!("Tab never reached {css}");
    }

    /// Holds a key of the computer keyboard for `held`, as a musician plays a note.
    async fn hold_key(&self, key: char, held: Duration) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let actions = KeyActions::new("keys".into())
            .then(KeyAction::Down { value: key })
            .pause(held)
            .then(KeyAction::Up { value: key });
        self.client
            .perform_actions(actions)
            .await
            .expect("a key held");
    }

    async fn screenshot(&self, name: &str) {
        if let Some(dir) = std::env::var_os("JAMWIRE_SCREENSHOTS") {
            let png = self.client.screenshot().await.unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(Path::new(&dir).join(name), png).unwrap();
        }
    }

    /// Waits until this instance's recording has had sound since sample `from`, then silence
    /// for 200 ms; returns the envelope since `from`.
    async fn heard_since(&self, from: usize) -> Vec<f32> {
        until("the sound to be recorded and to end", || async {
            let env = envelope(&self.recording, from);
            let first = env.iter().position(|&l| l > SOUND)?;
            let tail = env.len().checked_sub(40)?;
            (tail > first && env[tail..].iter().all(|&l| l <= SOUND)).then_some(env)
        })
        .await
    }
}

/// One test's desk at a time: each runs several app instances (and maybe a browser) recorded in
/// real time, and two at once on a 2-core machine make their audio drop out.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What every test's instances share: a folder, a virtual screen and a sound server.
struct Desk {
    dir: PathBuf,
    display: String,
    server: String,
    _pulse: Proc,
    _x: Proc,
    _alone: tokio::sync::MutexGuard<'static, ()>,
}

async fn desk(name: &str) -> Desk {
    let alone = ALONE.lock().await;
    let dir = std::env::temp_dir().join(format!("jamwire-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (x, display) = xvfb();
    let (pulse, server) = pulseaudio(&dir);
    pulse_ready(&server).await;
    Desk {
        dir,
        display,
        server,
        _pulse: pulse,
        _x: x,
        _alone: alone,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_host_join_play_hear_and_listen() {
    let Desk {
        dir,
        display,
        server,
        ..
    } = &desk("e2e").await;

    // A hosts.
    let a = launch("a", display, server, dir).await;
    a.type_into("#name", "Ann").await;
    a.screenshot("start-screen.png").await;
    // Accessibility (axe-core) of each screen of the app's window, reported at the end.
    let mut violations = a.axe("start screen").await;
    a.click("#host-button").await;
    a.wait_for("#room:not([hidden])").await;
    let invite = a.text("#invite-text").await;
    assert!(
        invite.starts_with("jam://127.0.0.1:"),
        "invite on A's screen: {invite:?}"
    );
    assert_eq!(a.text("#room-code").await.len(), 8, "40-bit room codes");

    // B joins with the invite copied from A's screen.
    let b = launch("b", display, server, dir).await;
    b.type_into("#name", "Ben").await;
    // A wrong code first: a clear message, and the start screen stays as it was.
    let wrong = format!("{}/22222222", invite.rsplit_once('/').unwrap().0);
    b.type_into("#join-invite", &wrong).await;
    b.click("#join-button").await;
    b.wait_for("#start-error:not([hidden])").await;
    let message = b.text("#start-error").await;
    assert!(
        message.contains("22222222"),
        "the error names the room: {message:?}"
    );
    let kept = b.wait_for("#name").await.prop("value").await.unwrap();
    assert_eq!(
        kept.as_deref(),
        Some("Ben"),
        "a failed join keeps what was typed"
    );
    b.type_into("#join-invite", &invite).await;
    b.click("#join-button").await;
    b.wait_for("#room:not([hidden])").await;
    a.wait_count("#participants li", 2).await;
    b.wait_count("#participants li", 2).await;
    violations.extend(a.axe("the host's room").await);
    violations.extend(b.axe("a player's room").await);
    a.click("#settings-open-room").await;
    a.wait_for("#settings:not([hidden])").await;
    violations.extend(a.axe("settings").await);
    a.click("#settings-close").await;
    // The host records by default, and everyone is told.
    b.wait_for("#rec-mark:not([hidden])").await;
    let ann = b.colour_of("Ann").await;
    assert_eq!(
        ann,
        a.colour_of("Ann").await,
        "A has the same colour on both screens"
    );
    assert_ne!(ann, b.colour_of("Ben").await);

    // A hits the snare: B's pad lights in A's colour, and both hear it.
    let (a_from, b_from) = (samples_in(&a.recording), samples_in(&b.recording));
    a.click("#drums [data-note='38']").await;
    b.wait_for(&format!(
        "#drums [data-note='38'][data-last-colour='{ann}']"
    ))
    .await;
    let (a_snare, b_snare) = (a.heard_since(a_from).await, b.heard_since(b_from).await);

    // Then C4 on the piano.
    let (a_from2, b_from2) = (samples_in(&a.recording), samples_in(&b.recording));
    a.click("#piano [data-note='60']").await;
    b.wait_for(&format!(
        "#piano [data-note='60'][data-last-colour='{ann}']"
    ))
    .await;
    let a_c4 = a.heard_since(a_from2).await;
    let b_c4 = b.heard_since(b_from2).await;

    // Each sound once in each recording, B's no later than 500 ms after A's. Both recordings run
    // on the same PulseAudio clock: align them by their ends, read at the same moment.
    for (what, a_env, b_env) in [("snare", &a_snare, &b_snare), ("C4", &a_c4, &b_c4)] {
        assert_eq!(
            onsets(a_env).len(),
            1,
            "A hears its {what} once: {:?}",
            onsets(a_env)
        );
        assert_eq!(
            onsets(b_env).len(),
            1,
            "B hears A's {what} once: {:?}",
            onsets(b_env)
        );
    }
    let (a_len, b_len) = (samples_in(&a.recording), samples_in(&b.recording));
    let ms_before_end = |from: usize, onset: usize, len: usize| {
        (len - from - onset * FRAME) as f64 * 1_000.0 / RATE as f64
    };
    for (what, a_from, b_from, a_env, b_env) in [
        ("snare", a_from, b_from, &a_snare, &b_snare),
        ("C4", a_from2, b_from2, &a_c4, &b_c4),
    ] {
        let a_at = ms_before_end(a_from, onsets(a_env)[0], a_len);
        let b_at = ms_before_end(b_from, onsets(b_env)[0], b_len);
        let delay = a_at - b_at;
        eprintln!("{what}: B heard it {delay:.0} ms after A");
        assert!(delay < 500.0, "B heard A's {what} {delay:.0} ms after A");
    }

    // A chooses the finger bass in the sound picker, by keyboard (type to search, Enter). B's
    // player list says so, and B hears A's next note as the finger bass: of the engine's own
    // renders of all 26 sounds, the finger bass's is nearest what B's speakers played.
    a.click("#keys-sound").await;
    a.wait_for("#sound-menu:not([hidden])").await;
    a.screenshot("sound-picker.png").await;
    a.type_into("#sound-search", "finger\u{E007}").await;
    a.wait_for("#sound-menu[hidden]").await;
    assert_eq!(a.text("#keys-sound").await, "Finger bass ▾");
    let sound_of_ann = "const li = [...document.querySelectorAll('#participants li')].find(li => li.querySelector('.pname').textContent === 'Ann'); return li ? li.querySelector('.sound')?.textContent ?? null : null;";
    until("B to see Ann's sound", || async {
        let said = b.client.execute(sound_of_ann, vec![]).await.ok()?;
        (said.as_str() == Some("Finger bass")).then_some(())
    })
    .await;
    let b_from3 = samples_in(&b.recording);
    // C4 held for 400 ms from the computer keyboard (`A`), as a musician plays it.
    a.hold_key('a', Duration::from_millis(400)).await;
    b.heard_since(b_from3).await;
    let start = *jam_tests::timbre::notes(&raw_since(&b.recording, b_from3), 300.0)
        .first()
        .expect("B heard A's note");
    // The print reads the note's first third of a second, its tail included.
    let needed = b_from3 + start + RATE / 2;
    until("half a second of B's recording after the note", || async {
        (samples_in(&b.recording) >= needed).then_some(())
    })
    .await;
    let heard = raw_since(&b.recording, b_from3);
    let print = jam_tests::timbre::Print::of(&heard, start).expect("a whole note");
    let bank = std::sync::Arc::new(
        jam_audio::SampleBank::load(&jam_audio::SampleBank::default_dir()).expect("samples"),
    );
    let verdict =
        jam_tests::timbre::verdict(&print, &jam_tests::timbre::references(&bank, 60, 0.4));
    eprintln!("B heard A's finger bass: {verdict:?}");
    assert_eq!(verdict.nearest, "finger-bass", "{verdict:?}");

    // A loads a SoundFont of their own from the sound picker, through the system's file
    // chooser (GTK's, on the virtual screen; it opens in a folder, never in "Recent", where
    // a typed path isn't taken): Ctrl+L opens its location field, Enter chooses.
    let font = dir.join("sine.sf2");
    jam_tests::timbre::sine_font(&font);
    a.click("#keys-sound").await;
    a.wait_for("#sound-menu:not([hidden])").await;
    a.click("#own-font").await;
    let chooser = until("the file chooser to open", || async {
        let out = Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", "^A SoundFont$"])
            .env("DISPLAY", display)
            .output()
            .ok()?;
        let id = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()?
            .trim()
            .to_owned();
        (!id.is_empty()).then_some(id)
    })
    .await;
    let xdotool = |args: &[&str]| {
        let status = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", display)
            .status()
            .expect("xdotool runs");
        assert!(status.success(), "xdotool {args:?}");
    };
    xdotool(&["windowfocus", "--sync", &chooser]);
    xdotool(&["key", "ctrl+l"]);
    xdotool(&["type", "--delay", "30", &font.display().to_string()]);
    xdotool(&["key", "--delay", "200", "Return"]);
    until("A to play its own sound", || async {
        (a.text("#keys-sound").await == "My sound: Sine (sine.sf2) ▾").then_some(())
    })
    .await;
    a.wait_for("#own-play[aria-pressed='true']").await;
    a.screenshot("my-sound.png").await;
    until("B to see that Ann is heard as the square lead", || async {
        let said = b.client.execute(sound_of_ann, vec![]).await.ok()?;
        (said.as_str() == Some("Square lead")).then_some(())
    })
    .await;
    a.click("#keys-sound").await;
    a.wait_for("#sound-menu[hidden]").await;
    let (a_from4, b_from4) = (samples_in(&a.recording), samples_in(&b.recording));
    a.hold_key('a', Duration::from_millis(400)).await;
    let mine = jam_audio::own::load(&font, None, &bank).expect("the font loads");
    let mut references = jam_tests::timbre::references(&bank, 60, 0.4);
    references.push((
        "mine".into(),
        jam_tests::timbre::own_reference(&bank, &mine, 60, 0.4),
    ));
    for (who, instance, from, expected) in [
        ("A", &a, a_from4, "mine"),
        ("B", &b, b_from4, "square-lead"),
    ] {
        instance.heard_since(from).await;
        let start = *jam_tests::timbre::notes(&raw_since(&instance.recording, from), 300.0)
            .first()
            .expect("the note heard");
        let needed = from + start + RATE / 2;
        until("half a second after the note", || async {
            (samples_in(&instance.recording) >= needed).then_some(())
        })
        .await;
        let heard = raw_since(&instance.recording, from);
        let print = jam_tests::timbre::Print::of(&heard, start).expect("a whole note");
        let verdict = jam_tests::timbre::verdict(&print, &references);
        eprintln!("{who} heard A's own sound as: {verdict:?}");
        assert_eq!(verdict.nearest, expected, "{who}: {verdict:?}");
    }
    // Back to the palette: A's keys play the finger bass again, and so does the room.
    a.click("#keys-sound").await;
    a.wait_for("#sound-menu:not([hidden])").await;
    a.type_into("#sound-search", "finger\u{E007}").await;
    a.wait_for("#sound-menu[hidden]").await;
    assert_eq!(a.text("#keys-sound").await, "Finger bass ▾");
    a.wait_for("#own-play[aria-pressed='false']").await;

    // A busy room for the README: the sequencer running, keys lit.
    a.click("#sequencer [data-note='36'][data-step='0']").await;
    a.click("#sequencer [data-note='36'][data-step='8']").await;
    a.click("#sequencer [data-note='38'][data-step='4']").await;
    a.click("#sequencer [data-note='42'][data-step='2']").await;
    a.type_into("#chat-input", "Ready when you are!\u{E007}")
        .await;
    b.wait_for("#sequencer [data-note='38'][data-step='4'].on")
        .await;
    assert!(b.text("#chat-log li").await.contains("Ready when you are!"));
    // The host's lines carry the relay's word that they are the host.
    b.wait_for("#chat-log li .host-badge").await;
    // Start is shared; so is the tempo.
    a.click("#seq-toggle").await;
    b.wait_for("#seq-toggle").await;
    until("B's sequencer to start", || async {
        (b.text("#seq-toggle").await.contains("Stop")).then_some(())
    })
    .await;
    a.type_into("#bpm", "96\u{E007}").await;
    until("B's tempo to follow", || async {
        let bpm = b.wait_for("#bpm").await.prop("value").await.ok().flatten();
        (bpm.as_deref() == Some("96")).then_some(())
    })
    .await;
    b.click("#piano [data-note='64']").await;
    a.client
        .execute("document.querySelector('.scroll').scrollTop = 0", vec![])
        .await
        .unwrap();
    a.screenshot("jam-room.png").await;
    a.click("#seq-toggle").await;

    // B leaves: A's list updates.
    b.click("#leave-button").await;
    a.wait_count("#participants li", 1).await;

    // B comes back as a listener: the banner says so, nothing plays.
    b.click("#role-listen").await;
    b.click("#join-button").await;
    b.wait_for("#listener-banner:not([hidden])").await;
    assert_eq!(b.text("#listener-banner").await, "Listening to Ann's jam");
    a.wait_count("#participants li", 2).await;
    let pad = b.wait_for("#drums [data-note='38']").await;
    assert!(
        !pad.is_enabled().await.unwrap(),
        "a listener's pads are disabled"
    );
    let refused = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; window.__TAURI_INTERNALS__.invoke('play', { input: { type: 'noteOn', instrument: 'drums', note: 38, velocity: 100 } }).then(() => done('played'), (e) => done(e.kind));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        refused,
        json!("listener"),
        "the app refuses a listener's notes"
    );
    // The listener still hears the room.
    a.click("#drums [data-note='36']").await;
    b.wait_for(&format!(
        "#drums [data-note='36'][data-last-colour='{ann}']"
    ))
    .await;

    // A stops hosting: B is told and back on its start screen, not left reconnecting.
    a.click("#leave-button").await;
    b.wait_for("#start:not([hidden])").await;
    assert_eq!(b.text("#start-notice").await, "Ann ended the jam.");
    // The jam is a take on A's start screen; exported, it is a MIDI file with what was played.
    a.wait_for("#takes li").await;
    let take = a.text("#takes li .what").await;
    assert!(take.contains("Ann, Ben"), "{take}");
    // Opened, it shows who played: Ben twice, first playing then listening.
    a.click("#takes li .what").await;
    a.wait_count("#takes li .who li", 3).await;
    violations.extend(a.axe("the takes").await);
    assert!(
        violations.is_empty(),
        "serious or critical accessibility violations in the app:\n{}",
        violations.join("\n")
    );
    let who = a.text("#takes li .who").await;
    assert!(
        who.contains("Ann (player)") && who.contains("Ben (listener)"),
        "{who}"
    );
    a.click("#takes li button[aria-label^='Export MIDI']").await;
    let saved = until("the export", || async {
        let text = a.text("#takes-message").await;
        text.strip_prefix("Saved ").map(str::to_owned)
    })
    .await;
    let song = jam_midi::Song::load(Path::new(&saved)).unwrap();
    assert!(
        song.note_count() >= 4,
        "snare, C4, E4, kick: {} notes",
        song.note_count()
    );
    // As stems: a WAV for each player who played, the mix and the MIDI file, in one folder.
    a.click("#takes li button[aria-label^='Export stems']")
        .await;
    let folder = until("the stems", || async {
        let text = a.text("#takes-message").await;
        text.strip_prefix("Stems saved in ").map(str::to_owned)
    })
    .await;
    let mut files: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["01 Ann.wav", "02 Ben.wav", "mix.wav", "take.mid"],
        "in {folder}"
    );

    // Each instance played from its own samples: an installed app from the package's.
    for instance in [&a, &b] {
        let samples = instance.samples_dir();
        if let Some(installed) = installed_samples() {
            assert_eq!(
                samples, installed,
                "the installed app plays its own samples"
            );
        }
    }

    let _ = a.client.close().await;
    let _ = b.client.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A friend without the app: the host's room shows a browser link; headless Chromium opens it,
/// joins, and the two play to each other — the guest in the app's player list, its pad lit
/// in its colour and heard in the app, the app's note lit in the browser.
/// The app by keyboard alone — no mouse event at all: type a name, host, change the tempo,
/// program the sequencer, chat, open and close the settings and the keys panel, leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_is_played_with_the_keyboard_alone() {
    const ENTER: &str = "\u{E007}";
    const ESCAPE: &str = "\u{E00C}";
    let Desk {
        dir,
        display,
        server,
        ..
    } = &desk("keyboard").await;
    let a = launch("a", display, server, dir).await;
    a.wait_for("#host-button").await;
    a.tab_to("#name").await;
    a.press("Ann").await;
    a.tab_to("#host-button").await;
    a.press(ENTER).await;
    a.wait_for("#room:not([hidden])").await;

    a.tab_to("#bpm").await;
    a.press(&"\u{E003}".repeat(3)).await;
    a.press("96").await;
    a.press(ENTER).await;
    until("the tempo to change", || async {
        (a.value_of("#bpm").await == "96").then_some(())
    })
    .await;

    a.tab_to("#sequencer button.step").await;
    a.press(&"\u{E015}".repeat(7)).await; // down to the kick
    a.press(" ").await;
    a.press(&"\u{E014}".repeat(8)).await; // right to step 9
    a.press(ENTER).await;
    for step in [0, 8] {
        a.wait_for(&format!(
            "#sequencer button.step[data-note='36'][data-step='{step}'][aria-pressed='true']"
        ))
        .await;
    }

    a.tab_to("#chat-input").await;
    a.press("by keys").await;
    a.press(ENTER).await;
    until("the chat line", || async {
        a.text("#chat-log").await.contains("by keys").then_some(())
    })
    .await;

    a.tab_to("#settings-open-room").await;
    a.press(ENTER).await;
    a.wait_for("#settings:not([hidden])").await;
    a.press(ESCAPE).await;
    a.wait_for("#settings[hidden]").await;
    assert_eq!(
        a.focused().await,
        "settings-open-room",
        "the focus comes back"
    );
    a.press("?").await;
    a.wait_for("#help[open]").await;
    a.press(ESCAPE).await;
    a.wait_for("#help:not([open])").await;

    a.tab_to("#leave-button").await;
    a.press(ENTER).await;
    a.wait_for("#start:not([hidden])").await;
    let _ = a.client.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The accessibility tree the app publishes on the AT-SPI bus (what Orca reads), as
/// `scripts/lib/atspi-tree.py` prints it: (role, name) pairs. Empty until the app is there.
fn atspi_tree(bus: &str, display: &str) -> Vec<(String, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib/atspi-tree.py");
    let Ok(out) = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg("jamwire")
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("DISPLAY", display)
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            (
                v["role"].as_str().unwrap_or_default().to_owned(),
                v["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// With the accessibility bus running (as a desktop with a screen reader has it), the app's
/// controls appear on AT-SPI with their names and roles: the Host button, then in the room a
/// piano key named "C4", the tempo field and the chat box.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_controls_reach_the_accessibility_bus_with_names_and_roles() {
    let Desk {
        dir,
        display,
        server,
        ..
    } = &desk("atspi").await;
    let (_bus_daemon, bus) = session_bus(dir);
    let _a11y = Proc(
        Command::new("/usr/libexec/at-spi-bus-launcher")
            .arg("--launch-immediately")
            .env("DBUS_SESSION_BUS_ADDRESS", &bus)
            .env("DISPLAY", display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("at-spi-bus-launcher (Debian's at-spi2-core)"),
    );
    // A screen reader says it is there: toolkits then publish their trees.
    until("the accessibility bus", || async {
        Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.a11y.Bus",
                "/org/a11y/bus",
                "org.freedesktop.DBus.Properties.Set",
                "string:org.a11y.Status",
                "string:ScreenReaderEnabled",
                "variant:boolean:true",
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            .then_some(())
    })
    .await;
    let how = Launch {
        dbus: Some(bus.clone()),
        ..Launch::default()
    };
    let a = launch_with("a", display, server, dir, &how).await;
    a.wait_for("#host-button").await;
    let has = |tree: &[(String, String)], role: &str, name: &str| {
        tree.iter().any(|(r, n)| r == role && n == name)
    };
    let tree = until("the Host button on the bus", || async {
        let tree = atspi_tree(&bus, display);
        has(&tree, "push button", "Host").then_some(tree)
    })
    .await;
    assert!(
        has(&tree, "entry", "Your name"),
        "the name field: {:?}",
        tree.iter()
            .filter(|(r, _)| r == "entry")
            .collect::<Vec<_>>()
    );

    a.type_into("#name", "Ann").await;
    a.click("#host-button").await;
    a.wait_for("#room:not([hidden])").await;
    let tree = until("the room's controls on the bus", || async {
        let tree = atspi_tree(&bus, display);
        has(&tree, "push button", "C4").then_some(tree)
    })
    .await;
    for (role, name) in [
        // WebKitGTK publishes a number field as an entry.
        ("entry", "Tempo (BPM)"),
        ("entry", "Chat message"),
        ("toggle button", "Kick, step 1"),
    ] {
        assert!(
            has(&tree, role, name),
            "{role} {name:?} on the bus; it has: {:?}",
            tree.iter()
                .filter(|(r, n)| !n.is_empty() && (r == role || n == name))
                .collect::<Vec<_>>()
        );
    }
    let _ = a.client.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_hosts_and_a_browser_guest_joins_from_its_link() {
    let Desk {
        dir,
        display,
        server,
        ..
    } = &desk("web").await;
    let a = launch("a", display, server, dir).await;
    a.type_into("#name", "Ann").await;
    a.click("#host-button").await;
    a.wait_for("#room:not([hidden])").await;
    let invite = a.text("#invite-text").await;
    let link = a.text("#link-text").await;
    let (address, code) = invite
        .strip_prefix("jam://")
        .and_then(|rest| rest.split_once('/'))
        .expect("a jam:// invite");
    assert_eq!(
        link,
        format!("http://{address}/join/{code}"),
        "the browser link beside the invite"
    );

    let web = jam_tests::browser::Browser::start(&dir.join("chromium"), server, "jam_web").await;
    web.client.goto(&link).await.expect("the link opens");
    web.wait_for("body.guest").await;
    web.type_into("#name", "Web").await;
    web.click("#join-button").await;
    web.wait_for("#room:not([hidden])").await;
    a.wait_count("#participants li", 2).await;
    let guest = a.colour_of("Web").await;

    // The guest hits the snare: the host's pad lights in the guest's colour, and it is heard.
    let from = samples_in(&a.recording);
    web.click("#drums [data-note='38']").await;
    a.wait_for(&format!(
        "#drums [data-note='38'][data-last-colour='{guest}']"
    ))
    .await;
    let heard = a.heard_since(from).await;
    assert!(
        heard.iter().any(|&l| l > SOUND),
        "the app plays the guest's snare"
    );

    // The host plays C4: it lights in the browser.
    a.click("#piano [data-note='60']").await;
    web.wait_for("#piano [data-note='60'][data-last-by]").await;
    web.close().await;
}

/// Where an installed app keeps its samples (`None` when testing the app cargo built).
fn installed_samples() -> Option<String> {
    std::env::var_os("JAMWIRE_APP")?;
    Some("/usr/lib/Jamwire/assets".to_owned())
}

/// A MIDI keyboard plays in the real app: a virtual JACK keyboard (midir's JACK backend; the
/// app built with `--features jack`) chosen in A's settings plays C4 and a snare (channel 10),
/// which A hears, and which light up on B's screen in A's colour and sound in B's recording.
/// `scripts/test` starts the JACK server (dummy driver) and runs this with
/// `cargo test -p jamwire --features jack --test e2e midi`.
#[cfg(feature = "jack")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_midi_keyboard_plays_in_the_app_and_reaches_the_other_instance() {
    use midir::MidiOutput;
    use midir::os::unix::VirtualOutput;

    let keyboard = until("the JACK server", || async {
        MidiOutput::new("jamwire-e2e-keys").ok()
    })
    .await;
    let mut keys = keyboard
        .create_virtual("keys")
        .expect("a virtual JACK MIDI port");
    let Desk {
        dir,
        display,
        server,
        ..
    } = &desk("e2e-midi").await;
    let a = launch("a", display, server, dir).await;
    let invite = a.host("Ann").await;
    let b = launch("b", display, server, dir).await;
    b.type_into("#name", "Ben").await;
    b.type_into("#join-invite", &invite).await;
    b.click("#join-button").await;
    b.wait_for("#room:not([hidden])").await;
    a.wait_count("#participants li", 2).await;
    let ann = b.colour_of("Ann").await;

    // A chooses the keyboard in Settings → MIDI inputs.
    a.click("#settings-open-room").await;
    let choose = "const l = [...document.querySelectorAll('#midi-list label')].find(l => l.textContent.includes('jamwire-e2e-keys')); if (l) l.querySelector('input').click(); return Boolean(l);";
    until("the virtual keyboard in A's MIDI list", || async {
        a.client
            .execute(choose, vec![])
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .filter(|chosen| *chosen)
    })
    .await;
    until("A's footer to show the keyboard connected", || async {
        a.text("#midi-status").await.contains('✓').then_some(())
    })
    .await;
    a.click("#settings-close").await;

    for (what, on, off, selector) in [
        (
            "C4",
            [0x90, 60, 100],
            Some([0x80, 60, 0]),
            "#piano [data-note='60']",
        ),
        ("snare", [0x99, 38, 110], None, "#drums [data-note='38']"),
    ] {
        let (a_from, b_from) = (samples_in(&a.recording), samples_in(&b.recording));
        keys.send(&on).unwrap();
        b.wait_for(&format!("{selector}[data-last-colour='{ann}']"))
            .await;
        if let Some(off) = off {
            keys.send(&off).unwrap();
        }
        let (a_env, b_env) = (a.heard_since(a_from).await, b.heard_since(b_from).await);
        assert_eq!(onsets(&a_env).len(), 1, "A hears its {what} once");
        assert_eq!(onsets(&b_env).len(), 1, "B hears A's {what} once");
    }

    // The pitch wheel: A holds A4 and bends it up a semitone (+4096 of ±8192, with the
    // piano's 2-semitone range); B hears the note at 440 Hz, then at A♯4 (466.2 Hz).
    let b_from = samples_in(&b.recording);
    keys.send(&[0x90, 69, 110]).unwrap();
    b.wait_for(&format!(
        "#piano [data-note='69'][data-last-colour='{ann}']"
    ))
    .await;
    let before_bend = samples_in(&b.recording);
    until("a quarter second of B's A4", || async {
        (samples_in(&b.recording) >= before_bend + RATE / 4).then_some(())
    })
    .await;
    // +4096 → 12288 = 0x3000: LSB 0x00, MSB 0x60.
    keys.send(&[0xE0, 0x00, 0x60]).unwrap();
    let bent_from = samples_in(&b.recording);
    until("half a second of B's bent note", || async {
        (samples_in(&b.recording) >= bent_from + RATE / 2).then_some(())
    })
    .await;
    keys.send(&[0xE0, 0x00, 0x40]).unwrap();
    keys.send(&[0x80, 69, 0]).unwrap();
    let heard = raw_since(&b.recording, b_from);
    let pitches: Vec<(usize, Option<f64>, Option<f64>)> = (0..heard.len().saturating_sub(4_096))
        .step_by(2_400)
        .map(|at| {
            let window = &heard[at..at + 4_096];
            (
                at * 1_000 / RATE,
                jam_audio::palette::measure::cents_off(window, 440.0),
                jam_audio::palette::measure::cents_off(window, 466.164),
            )
        })
        .collect();
    let straight = pitches
        .iter()
        .position(|(_, a4, _)| a4.is_some_and(|c| c.abs() <= 10.0));
    let bent = pitches
        .iter()
        .rposition(|(_, _, a_sharp)| a_sharp.is_some_and(|c| c.abs() <= 10.0));
    assert!(
        matches!((straight, bent), (Some(s), Some(b)) if s < b),
        "B hears A4, then A♯4 after the bend: (ms, cents from A4, cents from A♯4) {pitches:?}"
    );

    let _ = a.client.close().await;
    let _ = b.client.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Moves the calling thread into the network namespace `ns` (`ip netns` names it): sockets it
/// opens and processes it starts from then on live there.
fn enter_netns(ns: &str) {
    use std::os::fd::AsRawFd;
    unsafe extern "C" {
        fn setns(fd: i32, nstype: i32) -> i32;
    }
    const CLONE_NEWNET: i32 = 0x4000_0000;
    let file = File::open(format!("/var/run/netns/{ns}")).expect("the namespace exists");
    // SAFETY: setns(2) on this thread with a namespace file we hold open; no memory is shared.
    let status = unsafe { setns(file.as_raw_fd(), CLONE_NEWNET) };
    assert_eq!(status, 0, "setns into {ns}");
}

/// The desktop app itself at home A behind a real router (network namespaces, miniupnpd; see
/// `jam_tests::homes`): pressing Host opens a port on the router and shows the internet
/// invite and "Anyone with the invite can join"; a guest at home B joins with that invite and
/// plays, and the app shows and sounds it; leaving closes the port. Needs root: `scripts/test`
/// runs it with `--ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root and network namespaces: scripts/test runs it"]
async fn the_app_hosts_at_home_behind_a_router_and_a_guest_elsewhere_joins() {
    use jam_tests::homes::{Homes, Host};
    let dir = std::env::temp_dir().join(format!("jamwire-e2e-homes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut homes = Homes::build(&dir.join("net"));
    homes.start_port_mapping();
    let jam = jam_tests::workspace_binary("jam", "jam");
    // A two-note song for the guest to play, the notes far enough apart to be heard apart.
    let mut song = jam_midi::Recording::new();
    let t = song.track("Song");
    for (i, note) in [64u8, 67].iter().enumerate() {
        let at = i as u64 * 1_500_000;
        let on = jam_midi::MidiMessage::NoteOn {
            note: *note,
            velocity: 100,
        };
        let off = jam_midi::MidiMessage::NoteOff {
            note: *note,
            velocity: 0,
        };
        song.record(
            t,
            at,
            jam_midi::MidiEvent {
                channel: 0,
                message: on,
            },
        );
        song.record(
            t,
            at + 200_000,
            jam_midi::MidiEvent {
                channel: 0,
                message: off,
            },
        );
    }
    let song_path = dir.join("song.mid");
    song.save(&song_path).unwrap();
    let (_x, display) = xvfb();
    let (_pulse, server) = pulseaudio(&dir);
    pulse_ready(&server).await;

    let ns_a1 = homes.ns(Host::A1);
    let ns_b1 = homes.ns(Host::B1);
    let homes = std::sync::Arc::new(homes);
    let in_a1 = homes.clone();
    let app = std::thread::spawn(move || {
        enter_netns(&ns_a1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let homes = in_a1;
            let a = launch_bound("a", &display, &server, &dir, None).await;
            a.type_into("#name", "Ann").await;
            a.click("#host-button").await;
            a.wait_for("#room:not([hidden])").await;
            let invite = a.text("#invite-text").await;
            assert!(
                invite.starts_with("jam://11.71.0.2:7878/"),
                "the internet invite: {invite}"
            );
            let reach = a.text("#reach").await;
            assert!(
                reach.starts_with("Anyone with the invite can join"),
                "{reach}"
            );
            assert!(a.text("#host-addresses").await.contains("10.1.0.11:7878"));
            assert!(
                homes.mappings().contains("dport 7878"),
                "{}",
                homes.mappings()
            );

            // Bob, at home B, joins with the invite as shown and plays two notes.
            let from = samples_in(&a.recording);
            let played = tokio::process::Command::new("ip")
                .args(["netns", "exec", &ns_b1])
                .arg(&jam)
                .args([
                    "play",
                    song_path.to_str().unwrap(),
                    "--into",
                    &invite,
                    "--name",
                    "Bob",
                    "--no-audio",
                ])
                .output()
                .await
                .unwrap();
            assert!(
                played.status.success(),
                "{}",
                String::from_utf8_lossy(&played.stderr)
            );
            let mine = a.colour_of("Ann").await;
            a.wait_for("#piano [data-note='67'][data-last-colour]")
                .await;
            let lit = a
                .wait_for("#piano [data-note='67']")
                .await
                .attr("data-last-colour")
                .await
                .unwrap()
                .unwrap_or_default();
            assert_ne!(lit, mine, "Bob's note lights in Bob's colour");
            let heard = a.heard_since(from).await;
            assert_eq!(
                onsets(&heard).len(),
                2,
                "Ann hears Bob's two notes: {:?}",
                onsets(&heard)
            );

            a.click("#leave-button").await;
            a.wait_for("#start:not([hidden])").await;
            until("the router's port to close", || async {
                (!homes.mappings().contains("dport 7878")).then_some(())
            })
            .await;
            let _ = a.client.close().await;
        });
    });
    app.join().expect("the app's part ran");
    drop(homes);
}

/// A private D-Bus session bus, as a desktop session has one: the single-instance plugin hands
/// a second start's invite to the running instance over it. Ready when it prints its address.
fn session_bus(dir: &Path) -> (Proc, String) {
    let socket = dir.join("session-bus");
    let mut child = Command::new("dbus-daemon")
        .args([
            "--session",
            "--nofork",
            "--print-address=1",
            &format!("--address=unix:path={}", socket.display()),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon is missing: run ./scripts/test, which installs Debian's dbus");
    let mut address = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
    (Proc(child), address.trim().to_owned())
}

/// Opens `link` as the desktop does when it is clicked: the installed desktop entry's `Exec`
/// line with `%u` replaced. Gives how the started process ended.
async fn click_link(link: &str, display: &str, bus: &str) -> std::process::ExitStatus {
    let entry = std::fs::read_to_string("/usr/share/applications/Jamwire.desktop")
        .expect("the package's desktop entry");
    let exec = entry
        .lines()
        .find_map(|l| l.strip_prefix("Exec="))
        .expect("an Exec line");
    let mut words = exec
        .split_whitespace()
        .map(|w| if w == "%u" { link } else { w });
    let program = words.next().unwrap();
    let mut child = tokio::process::Command::new(program)
        .args(words)
        .env("DISPLAY", display)
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("JAMWIRE_NO_AUDIO", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{exec}: {e}"));
    tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("a second start hands its invite over and exits")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the installed package: tests/installed.sh runs it"]
async fn the_installed_app_opens_invite_links() {
    assert!(
        std::env::var_os("JAMWIRE_APP").is_some(),
        "set JAMWIRE_APP to the installed app (tests/installed.sh does)"
    );
    let Desk {
        dir,
        display,
        server,
        ..
    } = &desk("links").await;
    // A friend hosts.
    let a = launch("a", display, server, dir).await;
    let invite = a.host("Ann").await;

    // Ben has played before: his name is remembered.
    let settings = dir.join("config-b/app.jamwire.desktop/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, r#"{"name":"Ben"}"#).unwrap();
    let (_bus, bus) = session_bus(dir);

    // He clicks the invite while Jamwire isn't running: it starts with the invite in the Join
    // form, his name in place, and Join one key press away.
    let how = Launch {
        args: vec![invite.clone()],
        dbus: Some(bus.clone()),
        ..Launch::default()
    };
    let b = launch_with("b", display, server, dir, &how).await;
    until("the invite in B's Join form", || async {
        (b.value_of("#join-invite").await == invite).then_some(())
    })
    .await;
    assert_eq!(b.value_of("#name").await, "Ben");
    until("Join to have the focus", || async {
        (b.focused().await == "join-button").then_some(())
    })
    .await;

    // A link that isn't an invite, clicked while the app runs: the running app says why; the
    // form keeps its invite.
    assert!(click_link("jam://nowhere", display, &bus).await.success());
    b.wait_for("#start-error:not([hidden])").await;
    let problem = b.text("#start-error").await;
    assert!(problem.contains("isn't a Jamwire invite"), "{problem}");
    assert_eq!(b.value_of("#join-invite").await, invite);

    // The friend's invite again (by name this time), clicked while the app runs: the second
    // start hands it to the running app and exits; the form holds it, and one press joins.
    let again = invite.replace("127.0.0.1", "localhost");
    assert!(click_link(&again, display, &bus).await.success());
    until("the new invite in B's Join form", || async {
        (b.value_of("#join-invite").await == again).then_some(())
    })
    .await;
    assert!(b.wait_for("#start-error").await.is_displayed().await.ok() != Some(true));
    assert_eq!(b.focused().await, "join-button");
    b.click("#join-button").await;
    b.wait_for("#room:not([hidden])").await;
    a.wait_count("#participants li", 2).await;
    assert!(b.text("#participants").await.contains("Ben"));
    // The invite is remembered for next time, with the name.
    let saved = std::fs::read_to_string(&settings).unwrap();
    assert!(
        saved.contains(&again) && saved.contains("\"Ben\""),
        "{saved}"
    );

    let _ = a.client.close().await;
    let _ = b.client.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
