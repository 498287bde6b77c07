//! A real browser for the browser guest's tests, driven over WebDriver (fantoccini) and playing
//! into a PulseAudio null sink that the test records: Debian's headless Chromium under
//! `chromedriver` (also emulating a phone), Firefox ESR under `geckodriver`, and WebKitGTK's
//! MiniBrowser — Safari's engine — under `WebKitWebDriver`, on a private Xvfb screen. Needs
//! `chromium`, `chromium-driver`, `firefox-esr`, `geckodriver`, `webkit2gtk-driver` and `xvfb`
//! (`scripts/test` installs them: geckodriver with cargo).

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::PATIENCE;
use crate::heard::tool;

/// Which browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Chromium (Blink), under chromedriver.
    Chromium,
    /// Firefox ESR (Gecko), under geckodriver.
    Firefox,
    /// WebKitGTK's MiniBrowser (WebKit, Safari's engine), under WebKitWebDriver on Xvfb.
    WebKit,
    /// Chromium emulating a phone: a 390 × 844 touch screen with a phone's user agent.
    Phone,
}

/// The phone [`Kind::Phone`] emulates (CSS pixels).
pub const PHONE_WIDTH: u32 = 390;
const PHONE_HEIGHT: u32 = 844;

/// A headless browser under its WebDriver server; both are killed when this is dropped.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    _driver: Child,
    /// The private X server a browser that needs a screen (WebKitGTK) draws on.
    _screen: Option<Child>,
}

/// WebKitGTK's MiniBrowser (not on the PATH: under the library's folder).
fn minibrowser() -> std::path::PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|arch| arch.path().join("webkit2gtk-4.1/MiniBrowser"))
        .find(|path| path.exists());
    found.expect("WebKitGTK's MiniBrowser (Debian's libwebkit2gtk-4.1-0)")
}

/// A private X server on a free display: the child and its `DISPLAY`.
pub async fn xvfb() -> (Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = Command::new(tool("Xvfb"))
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x900x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("Xvfb starts");
    let out = child.stdout.take().expect("Xvfb's output");
    let mut line = String::new();
    tokio::time::timeout(
        PATIENCE,
        tokio::io::BufReader::new(out).read_line(&mut line),
    )
    .await
    .expect("Xvfb says its display in time")
    .expect("Xvfb says its display");
    (child, format!(":{}", line.trim()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl Browser {
    /// Starts Chromium with its own profile in `dir`, its sound going to `sink` of the
    /// PulseAudio server `pulse` (a `PULSE_SERVER` value, e.g. [`crate::heard::Pulse::server`]).
    pub async fn start(dir: &Path, pulse: &str, sink: &str) -> Browser {
        Browser::start_kind(Kind::Chromium, dir, pulse, sink).await
    }

    /// [`Browser::start`] with the browser of `kind`.
    pub async fn start_kind(kind: Kind, dir: &Path, pulse: &str, sink: &str) -> Browser {
        std::fs::create_dir_all(dir).expect("a folder for the browser");
        let port = free_port();
        let driver = match kind {
            Kind::Chromium | Kind::Phone => "chromedriver",
            Kind::Firefox => "geckodriver",
            Kind::WebKit => "WebKitWebDriver",
        };
        let (screen, display) = match kind {
            Kind::WebKit => {
                let (child, display) = xvfb().await;
                (Some(child), Some(display))
            }
            _ => (None, None),
        };
        let mut driver = Command::new(tool(driver));
        if let Some(display) = &display {
            driver.env("DISPLAY", display);
        }
        driver
            .arg(format!("--port={port}"))
            .env("MOZ_HEADLESS", "1")
            .env("PULSE_SERVER", pulse)
            .env("PULSE_SINK", sink)
            .env("HOME", dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("chromedriver.log")).expect("a log file"))
            .kill_on_drop(true);
        // Its own process group: the browser it starts is in it too, and dropping this kills
        // the whole group (killing the driver alone leaves the browser running). (The helpers
        // build for Windows too, for the crates whose unit tests run there.)
        #[cfg(unix)]
        driver.process_group(0);
        let driver = driver.spawn().expect("the WebDriver server starts");
        let profile = dir.join("profile");
        let chromium = |window: String| {
            vec![
                "--headless=new".to_owned(),
                "--no-sandbox".into(),
                "--disable-gpu".into(),
                "--no-first-run".into(),
                "--disable-dev-shm-usage".into(),
                "--autoplay-policy=no-user-gesture-required".into(),
                window,
                format!("--user-data-dir={}", profile.display()),
            ]
        };
        let caps = match kind {
            Kind::Chromium => json!({
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": tool("chromium"),
                    "args": chromium("--window-size=1280,900".into()),
                },
            }),
            Kind::Phone => json!({
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": tool("chromium"),
                    "args": chromium(format!("--window-size={PHONE_WIDTH},{PHONE_HEIGHT}")),
                    "mobileEmulation": {
                        "deviceMetrics": {
                            "width": PHONE_WIDTH, "height": PHONE_HEIGHT, "pixelRatio": 3.0,
                            "touch": true, "mobile": true,
                        },
                        "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36",
                    },
                },
            }),
            Kind::WebKit => json!({
                "webkitgtk:browserOptions": {
                    "binary": minibrowser(),
                    "args": ["--automation"],
                },
            }),
            Kind::Firefox => json!({
                "browserName": "firefox",
                "moz:firefoxOptions": {
                    "binary": tool("firefox-esr"),
                    "args": ["-headless", "--width=1280", "--height=900"],
                    "prefs": {
                        "media.autoplay.default": 0,
                        "media.autoplay.blocking_policy": 0,
                        "media.cubeb.backend": "pulse",
                    },
                },
            }),
        };
        let caps = match caps {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + PATIENCE;
        let client = loop {
            let connected =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&url)
                    .await;
            match connected {
                Ok(client) => break client,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "the WebDriver server never answered: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if kind == Kind::WebKit {
            // MiniBrowser opens a small window; the page's desktop layout needs its width.
            let _ = client.set_window_rect(0, 0, 1280, 900).await;
        }
        Browser {
            client,
            _driver: driver,
            _screen: screen,
        }
    }

    /// Waits for an element matching `css`.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
    }

    /// Replaces the text of the input at `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.expect("the field clears");
        field.send_keys(text).await.expect("typing works");
    }

    /// Clicks the element at `css`.
    pub async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// The text of the element at `css`.
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.expect("its text")
    }

    /// Taps the element at `css` with a finger (a touch pointer, as on a phone).
    pub async fn tap(&self, css: &str) {
        use fantoccini::actions::{InputSource, PointerAction, TouchActions};
        let element = self.wait_for(css).await;
        let tap = TouchActions::new("finger".into())
            .then(PointerAction::MoveToElement {
                element,
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down { button: 0 })
            .then(PointerAction::Pause {
                duration: Duration::from_millis(40),
            })
            .then(PointerAction::Up { button: 0 });
        self.client
            .perform_actions(tap)
            .await
            .unwrap_or_else(|e| panic!("tapping {css}: {e}"));
    }

    /// Presses and releases physical keys (`KeyboardEvent.code`s the app reads come from
    /// these characters) on whatever has the focus.
    pub async fn press(&self, keys: &str) {
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
            .expect("the keys are pressed");
    }

    /// Runs `script` in the page and gives its result.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("the script failed: {e}"))
    }

    /// Ends the session (the browser closes).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// Pass or fail, the driver and every browser process it started end with the test: a
    /// browser left behind keeps a core busy and makes later real-time recordings drop out.
    fn drop(&mut self) {
        if let Some(pid) = self._driver.id() {
            crate::kill_group(pid);
        }
    }
}

/// The native client watching the room: who joins, what they play, who leaves.
pub struct Watcher(pub jam_session::Session);

impl Watcher {
    /// Joins the room of `invite` as "Watcher".
    pub async fn join(invite: &str) -> Watcher {
        Watcher::join_as(invite, "Watcher").await
    }

    /// Joins the room of `invite` as `name`.
    pub async fn join_as(invite: &str, name: &str) -> Watcher {
        let invite = jam_session::Invite::parse(invite).unwrap_or_else(|e| panic!("{e}"));
        let session =
            jam_session::Session::connect(jam_session::SessionConfig::join(&invite, name))
                .await
                .unwrap_or_else(|e| panic!("the watcher joins: {e}"));
        Watcher(session)
    }

    /// Events until `stop` says so (bounded); gives them all.
    pub async fn until(
        &mut self,
        what: &str,
        mut stop: impl FnMut(&jam_session::SessionEvent) -> bool,
    ) -> Vec<jam_session::SessionEvent> {
        let mut seen = Vec::new();
        tokio::time::timeout(PATIENCE, async {
            while let Some(event) = self.0.next_event().await {
                let done = stop(&event);
                seen.push(event);
                if done {
                    return;
                }
            }
            panic!("the session ended waiting for {what}");
        })
        .await
        .unwrap_or_else(|_| panic!("gave up waiting for {what}"));
        seen
    }
}
