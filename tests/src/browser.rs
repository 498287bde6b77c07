//! A real browser for the browser guest's tests: Debian's headless Chromium driven by
//! `chromedriver`, or Firefox ESR driven by `geckodriver` (WebDriver, with fantoccini), playing
//! into a PulseAudio null sink that the test records. Needs `chromium` and `chromium-driver`,
//! `firefox-esr` and `geckodriver` (`scripts/test` installs them: geckodriver with cargo).

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
}

/// A headless browser under its WebDriver server; both are killed when this is dropped.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    _driver: Child,
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
        let (driver, port_arg) = match kind {
            Kind::Chromium => ("chromedriver", format!("--port={port}")),
            Kind::Firefox => ("geckodriver", format!("--port={port}")),
        };
        let driver = Command::new(tool(driver))
            .arg(port_arg)
            .env("MOZ_HEADLESS", "1")
            .env("PULSE_SERVER", pulse)
            .env("PULSE_SINK", sink)
            .env("HOME", dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("chromedriver.log")).expect("a log file"))
            // Its own process group: the browser it starts is in it too, and dropping this
            // kills the whole group (killing the driver alone leaves the browser running).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let profile = dir.join("profile");
        let caps = match kind {
            Kind::Chromium => json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": tool("chromium"),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
                    "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
                ],
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
        Browser {
            client,
            _driver: driver,
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
