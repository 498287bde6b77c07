//! Accessibility of the browser guest's page (the same front end as the app's window), in
//! headless Chromium: axe-core (`ui/node_modules/axe-core`) over the start screen, the room
//! (with players, chat, the sequencer) and the settings; no violation of impact serious or
//! critical may be there. Needs Chromium and chromedriver; `scripts/test` runs it
//! (`--ignored`).

use std::path::Path;

use jam_session::SessionEvent;
use jam_tests::browser::{Browser, Kind, Watcher};
use jam_tests::groove::SilentHost;
use jam_tests::heard::Pulse;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jam-a11y-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// axe-core's script, as npm installed it for the UI.
fn axe_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} (npm install in ui/): {e}", path.display()))
}

/// Runs axe-core over the page as it is now; gives the serious and critical violations, each
/// as "rule (impact): help — the first elements". The moderate and minor ones are printed (they
/// are explained in ui/README.md, not gated).
async fn serious_violations(browser: &Browser, axe: &str) -> Vec<String> {
    browser.eval(axe).await;
    let found = browser
        .eval(
            "return axe.run(document, { resultTypes: ['violations'] }).then((r) => \
             r.violations.map((v) => [v.impact, `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 4) \
             .map((n) => n.target.join(' ')).join(', ')}${v.nodes.length > 4 ? ` and ${v.nodes.length - 4} more` : ''}`]));",
        )
        .await;
    let found: Vec<(String, String)> = serde_json::from_value(found).expect("a list of violations");
    let (serious, lesser): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|(impact, _)| impact == "serious" || impact == "critical");
    for (_, v) in lesser {
        eprintln!("axe, not gated: {v}");
    }
    serious.into_iter().map(|(_, v)| v).collect()
}

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const BACKSPACE: &str = "\u{E003}";
const ESCAPE: &str = "\u{E00C}";
const DOWN: &str = "\u{E015}";
const RIGHT: &str = "\u{E014}";

/// Presses Tab until the focus is on an element matching `css` (at most 200 times): it is
/// reachable with the keyboard, in the page's tab order. No mouse.
async fn tab_to(browser: &Browser, css: &str) {
    let check = format!(
        "return document.activeElement !== null && document.activeElement.matches({});",
        serde_json::to_string(css).expect("a string")
    );
    for _ in 0..200 {
        if browser.eval(&check).await == serde_json::Value::Bool(true) {
            return;
        }
        browser.press(TAB).await;
    }
    panic!("Tab never reached {css}");
}

/// `document.querySelector(css)[attribute]`, as JSON.
async fn property(browser: &Browser, css: &str, property: &str) -> serde_json::Value {
    browser
        .eval(&format!(
            "const el = document.querySelector({}); return el ? el[{}] : null;",
            serde_json::to_string(css).expect("a string"),
            serde_json::to_string(property).expect("a string")
        ))
        .await
}

/// The live region's lines.
async fn announced(browser: &Browser) -> Vec<String> {
    let lines = browser
        .eval("return [...document.querySelectorAll('#announcer p')].map((p) => p.textContent);")
        .await;
    serde_json::from_value(lines).expect("a list of lines")
}

/// A whole session with the keyboard alone — type a name, join, change the tempo, program the
/// sequencer, chat, mute a player, open and close the settings, leave — with axe-core run over
/// each screen on the way, and the live region saying that someone joined, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver (scripts/test runs it)"]
async fn a_keyboard_only_guest_jams_and_the_page_has_no_serious_accessibility_violations() {
    let dir = scratch("keyboard");
    let pulse = Pulse::start(&dir.join("pulse"), &["a11y"]);
    let host = SilentHost::start().await;
    let mut watcher = Watcher::join(&host.invite).await;
    let link = jam_session::Invite::parse(&host.invite)
        .unwrap_or_else(|e| panic!("{e}"))
        .browser_link();
    let browser = Browser::start_kind(
        Kind::Chromium,
        &dir.join("chromium"),
        pulse.server(),
        "a11y",
    )
    .await;
    let axe = axe_source();
    let mut report = Vec::new();

    browser.client.goto(&link).await.expect("the page opens");
    browser.wait_for("body.guest").await;
    browser.wait_for("body[data-sound-ready-ms]").await;
    for v in serious_violations(&browser, &axe).await {
        report.push(format!("start screen: {v}"));
    }

    // Name and join, by keyboard.
    tab_to(&browser, "#name").await;
    browser.press("Kim").await;
    tab_to(&browser, "#join-button").await;
    browser.press(ENTER).await;
    browser.wait_for("#room:not([hidden])").await;
    let seen = watcher
        .until(
            "Kim in the room",
            |e| matches!(e, SessionEvent::UserJoined(p) if p.name == "Kim"),
        )
        .await;
    let Some(SessionEvent::UserJoined(kim)) = seen.last() else {
        unreachable!()
    };
    let kim = kim.id.clone();

    // Someone else joins: the live region says so, once.
    let bob = Watcher::join_as(&host.invite, "Bob").await;
    let bob_id = bob.0.user_id().to_owned();
    browser
        .wait_for(&format!("#participants li[data-id='{bob_id}']"))
        .await;
    browser.wait_for("#announcer p").await;
    let lines = announced(&browser).await;
    assert_eq!(
        lines.iter().filter(|l| l.as_str() == "Bob joined").count(),
        1,
        "Bob's arrival said once: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("Watcher") && !l.contains("Host")),
        "those already there when Kim came are not announced: {lines:?}"
    );

    // The tempo, by keyboard.
    tab_to(&browser, "#bpm").await;
    browser.press(&BACKSPACE.repeat(3)).await;
    browser.press("100").await;
    browser.press(ENTER).await;
    watcher
        .until("the tempo change", |e| {
            matches!(e, SessionEvent::Remote(r) if r.sender_id == kim
                && matches!(&r.event, Some(jam_protocol::event::MusicalEvent::TempoChange(t)) if (t.bpm - 100.0).abs() < 1e-9))
        })
        .await;

    // The sequencer: Tab into the grid (one stop), arrows to the kick, Space and Enter toggle.
    tab_to(&browser, "#sequencer button.step").await;
    browser.press(&DOWN.repeat(7)).await;
    browser.press(" ").await;
    browser.press(&RIGHT.repeat(4)).await;
    browser.press(ENTER).await;
    for step in [0, 4] {
        let css = format!("#sequencer button.step[data-note='36'][data-step='{step}']");
        browser
            .wait_for(&format!("{css}[aria-pressed='true']"))
            .await;
    }
    watcher
        .until("the pattern with two kicks", |e| {
            matches!(e, SessionEvent::Remote(r) if r.sender_id == kim && r.event_name == "pattern_change")
        })
        .await;
    assert_eq!(
        browser
            .eval(
                "return document.querySelectorAll(\"#sequencer button.step[tabindex='0']\").length;"
            )
            .await,
        serde_json::json!(1),
        "one step of the grid in the tab order"
    );

    // Chat.
    tab_to(&browser, "#chat-input").await;
    browser.press("hello from the keys").await;
    browser.press(ENTER).await;
    watcher
        .until("Kim's chat", |e| {
            matches!(e, SessionEvent::Remote(r) if r.sender_id == kim
                && matches!(&r.event, Some(jam_protocol::event::MusicalEvent::Chat(c)) if c.text == "hello from the keys"))
        })
        .await;
    browser.wait_for("#chat-log li").await;
    for v in serious_violations(&browser, &axe).await {
        report.push(format!("room: {v}"));
    }

    // Mute Bob.
    let mute = format!("#participants li[data-id='{bob_id}'] button.mute");
    tab_to(&browser, &mute).await;
    browser.press(" ").await;
    browser
        .wait_for(&format!("{mute}[aria-pressed='true']"))
        .await;

    // Settings open and close (Escape).
    tab_to(&browser, "#settings-open-room").await;
    browser.press(ENTER).await;
    browser.wait_for("#settings:not([hidden])").await;
    for v in serious_violations(&browser, &axe).await {
        report.push(format!("settings: {v}"));
    }
    browser.press(ESCAPE).await;
    browser.wait_for("#settings[hidden]").await;
    assert_eq!(
        property(&browser, "#settings-open-room", "id").await,
        serde_json::json!("settings-open-room")
    );
    assert_eq!(
        browser.eval("return document.activeElement.id;").await,
        serde_json::json!("settings-open-room"),
        "closing the settings gives the focus back to what opened them"
    );

    // The keys panel: `?` opens it (modal), Escape closes it.
    browser.press("?").await;
    browser.wait_for("#help[open]").await;
    for v in serious_violations(&browser, &axe).await {
        report.push(format!("keys panel: {v}"));
    }
    browser.press(ESCAPE).await;
    browser.wait_for("#help:not([open])").await;

    // A 360 px phone, and a 1280 × 900 window at 200 % zoom (640 × 450 CSS pixels): the room
    // fits the width (no sideways scrolling), and axe finds nothing new.
    for (width, height, what) in [(360, 780, "360 px wide"), (640, 450, "200 % zoom")] {
        browser
            .client
            .set_window_size(width, height)
            .await
            .expect("the window resizes");
        let overflow = browser
            .eval(
                "const s = document.querySelector('.scroll'); \
                 return Math.max(s.scrollWidth - s.clientWidth, \
                 document.documentElement.scrollWidth - document.documentElement.clientWidth);",
            )
            .await;
        if overflow.as_i64().is_none_or(|o| o > 0) {
            let wide = browser
                .eval(
                    "return [...document.querySelectorAll('#room *')].filter((e) => \
                     e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 \
                     && e.getClientRects().length > 0).slice(0, 8).map((e) => \
                     `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${e.className} \
                     (right ${Math.round(e.getBoundingClientRect().right)})`);",
                )
                .await;
            panic!("{what}: the room is {overflow} px wider than the window: {wide}");
        }
        for v in serious_violations(&browser, &axe).await {
            report.push(format!("room, {what}: {v}"));
        }
    }
    browser
        .client
        .set_window_size(1280, 900)
        .await
        .expect("the window resizes");

    // Leave.
    tab_to(&browser, "#leave-button").await;
    browser.press(ENTER).await;
    browser.wait_for("#start:not([hidden])").await;
    watcher
        .until(
            "Kim leaves",
            |e| matches!(e, SessionEvent::UserLeft(id) if *id == kim),
        )
        .await;

    assert!(
        report.is_empty(),
        "serious or critical accessibility violations:\n{}",
        report.join("\n")
    );
    browser.close().await;
    drop((bob, host));
}
