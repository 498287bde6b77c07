//! The browser guest in real browsers: a relay's browser link is opened, the guest joins, hears
//! a drummer's groove through WebAudio (recorded from the browser's own PulseAudio sink, every
//! note from the first), and plays keys that reach a native client — in Chromium, Firefox and
//! WebKitGTK (Safari's engine). Chromium also listens without being able to play, hears the
//! room's sequencer, rejoins after a drop, and a page of another origin cannot open the relay's
//! WebSocket; a phone (Chromium's touch emulation) gets the touch layout and plays by tapping;
//! a drummer's own speaker and a guest's, recorded in one file, both hear every hit.
//! Needs the browsers, their WebDriver servers, Xvfb and PulseAudio; `scripts/test` runs it
//! (`--ignored`).

use std::time::Duration;

use jam_session::{Invite, SessionEvent};
use jam_tests::PATIENCE;
use jam_tests::browser::{Browser, Kind, Watcher};
use jam_tests::groove::{Program, SilentHost, jam, play_through, record_on};
use jam_tests::heard::{Heard, Pulse, groove_file, samples};
use tokio::process::Command;

/// One browser test at a time: each records a browser's audio in real time, and two at once on
/// a 2-core machine make it drop out.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A page of another origin: a bare HTTP server on a free port answering every request with a
/// page titled "waiting" (and no Content-Security-Policy to stop its script).
async fn other_origin() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head).await;
                let page = "<!doctype html><title>waiting</title>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jam-browser-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// A jam hosted by `jam host` with a browser guest in it, and a native client watching.
struct Jam {
    dir: std::path::PathBuf,
    pulse: Pulse,
    relay: jam_relay::RelayHandle,
    host: Program,
    invite: String,
    code: String,
    watcher: Watcher,
    browser: Browser,
    /// The guest's participant id.
    guest: String,
    /// `data-sound-ready-ms`: from opening the link to the samples being ready to sound.
    sound_ready_ms: String,
    /// From opening the link to being in the room.
    joined_after: Duration,
}

impl Jam {
    /// `jam host` hosts; a browser of `kind` opens the invite's browser link, checks that hosting
    /// is absent, and joins as `name`, who appears in the watcher's player list.
    async fn join(kind: Kind, label: &str, name: &str) -> Jam {
        let dir = scratch(label);
        let pulse = Pulse::start(&dir.join("pulse"), &[label]);
        let SilentHost {
            relay,
            program: host,
            invite,
        } = SilentHost::start().await;
        let code = invite.rsplit('/').next().expect("a code").to_owned();
        let mut watcher = Watcher::join(&invite).await;

        // The friend opens the link the host's invite screen shows, types a name, joins.
        let link = Invite::parse(&invite)
            .unwrap_or_else(|e| panic!("{e}"))
            .browser_link();
        assert_eq!(link, format!("http://{}/join/{code}", relay.local_addr()));
        let browser = Browser::start_kind(kind, &dir.join(label), pulse.server(), label).await;
        let opened = std::time::Instant::now();
        browser.client.goto(&link).await.expect("the page opens");
        browser.wait_for("body.guest").await;
        assert!(
            browser.text("#host-title").await.is_empty(),
            "hosting is the app's: absent in the browser"
        );
        let ready = browser.wait_for("body[data-sound-ready-ms]").await;
        let sound_ready_ms = ready
            .attr("data-sound-ready-ms")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        browser.type_into("#name", name).await;
        browser.click("#join-button").await;
        browser.wait_for("#room:not([hidden])").await;
        let joined_after = opened.elapsed();
        assert_eq!(browser.text("#room-code").await, code);
        let seen = watcher
            .until(
                "the browser guest in the player list",
                |e| matches!(e, SessionEvent::UserJoined(p) if p.name == name),
            )
            .await;
        let Some(SessionEvent::UserJoined(guest)) = seen.last() else {
            unreachable!()
        };
        let guest = guest.id.clone();
        Jam {
            dir,
            pulse,
            relay,
            host,
            invite,
            code,
            watcher,
            browser,
            guest,
            sound_ready_ms,
            joined_after,
        }
    }

    /// A drummer `jam play`s a 32-note groove into the room; the browser's speakers are
    /// recorded: every note is heard once, from the first (an accent, as loud as the others)
    /// to the last (played just before the drummer leaves), in order. Prints the figures.
    async fn hears_a_groove(&self, label: &str) {
        let notes = 32;
        let song = self.dir.join("groove.mid");
        groove_file(&song, notes, jam_tests::groove::LEAD_IN_MS);
        let recording = self.dir.join(format!("{label}.raw"));
        let recorder = self.pulse.record(label, &recording);
        record_on(&recording, 1).await;
        play_through(Command::new(jam()), &song, &self.invite, &[]).await;
        record_on(&recording, 2).await;
        recorder.stop();
        let heard = Heard::of(&samples(&recording));
        assert_eq!(
            heard.onsets.len(),
            notes,
            "every note heard once in {label}: {:?}",
            heard.onsets
        );
        assert!(
            heard.accents_in_place,
            "in order, nothing lost or doubled, the first accent as loud as the rest: {:?}",
            heard.onsets
        );
        assert_eq!(heard.doubled, 0);
        let (p50, p99) = (
            Heard::quantile(&heard.errors, 0.5),
            Heard::quantile(&heard.errors, 0.99),
        );
        eprintln!(
            "{label} guest: samples decoded and ready to sound {} ms after opening the link; joined {:.2} s after opening it; {} of {notes} notes heard; inter-onset error p50 {p50:.2} ms, p99 {p99:.2} ms, max {:.2} ms",
            self.sound_ready_ms,
            self.joined_after.as_secs_f64(),
            heard.onsets.len(),
            heard.errors.iter().copied().fold(0.0, f64::max)
        );
    }

    /// The browser's own keys reach the native client: A, S, D are C, D, E of the piano.
    async fn keys_reach_the_room(&mut self) {
        self.browser.press("asd").await;
        let guest = self.guest.clone();
        let mut notes_from_guest = Vec::new();
        self.watcher
            .until("the browser's three notes", |e| {
                if let SessionEvent::Remote(r) = e
                    && r.sender_id == guest
                    && r.event_name == "piano_note"
                {
                    notes_from_guest.push(r.event.clone());
                }
                notes_from_guest.len() == 3
            })
            .await;
    }

    async fn end(self) {
        self.browser.close().await;
        let host = self.host;
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium, chromium-driver and pulseaudio: ./scripts/test runs it"]
async fn a_browser_guest_joins_hears_plays_and_listens() {
    let _alone = ALONE.lock().await;
    let mut jam = Jam::join(Kind::Chromium, "chromium", "Browser").await;
    jam.hears_a_groove("chromium").await;
    // The room's sequencer plays in the browser too, on the room's grid: a kick on every beat
    // (120 BPM) from a pattern another player starts.
    let kicks = jam.dir.join("sequencer.raw");
    let recorder = jam.pulse.record("chromium", &kicks);
    record_on(&kicks, 1).await;
    let pattern = |running| jam_protocol::Pattern {
        running,
        rows: vec![jam_protocol::Row {
            note: 36,
            on: "x...x...x...x...".into(),
        }],
    };
    let start = jam_protocol::MusicalEvent::PatternChange(
        pattern(true).to_change(jam.watcher.0.relay_now_ms()),
    );
    jam.watcher.0.send(&start).expect("the pattern is sent");
    record_on(&kicks, 3).await;
    let stop = jam_protocol::MusicalEvent::PatternChange(
        pattern(false).to_change(jam.watcher.0.relay_now_ms()),
    );
    jam.watcher.0.send(&stop).expect("the pattern stops");
    record_on(&kicks, 1).await;
    recorder.stop();
    let onsets = jam_tests::heard::onsets(&samples(&kicks));
    assert!(
        onsets.len() >= 4,
        "the sequencer's kicks are heard in the browser: {onsets:?}"
    );
    // Every interval is whole beats (a beat a starved page skipped would be two): the grid's.
    let off_grid = |gap: f64| {
        let beats = (gap / 500.0).round();
        if beats < 1.0 {
            gap
        } else {
            (gap - beats * 500.0).abs()
        }
    };
    let worst = onsets
        .windows(2)
        .map(|w| off_grid(w[1].at_ms - w[0].at_ms))
        .fold(0.0, f64::max);
    eprintln!(
        "browser guest: the room's sequencer, {} kicks, worst off the beat grid {worst:.2} ms",
        onsets.len()
    );
    assert!(worst < 20.0, "on the beat grid: {onsets:?}");

    jam.keys_reach_the_room().await;

    // Leave, and come back only to listen: the keys sound at home, nothing reaches the room.
    let before = jam.relay.stats();
    jam.browser.click("#leave-button").await;
    jam.browser.wait_for("#start:not([hidden])").await;
    jam.browser.click("#role-listen").await;
    jam.browser.type_into("#name", "Quiet").await;
    jam.browser.click("#join-button").await;
    jam.browser.wait_for("#room:not([hidden])").await;
    let seen = jam
        .watcher
        .until(
            "the listener",
            |e| matches!(e, SessionEvent::UserJoined(p) if p.name == "Quiet"),
        )
        .await;
    let Some(SessionEvent::UserJoined(quiet)) = seen.last() else {
        unreachable!()
    };
    let quiet_id = quiet.id.clone();
    jam.browser.wait_for("#listener-banner:not([hidden])").await;
    jam.browser.press("asdfgh").await;
    jam.browser.click("#leave-button").await;
    // The relay handles one connection's frames in order: when its leaving reaches us, any
    // note it had sent before would have reached us first.
    let seen = jam
        .watcher
        .until(
            "the listener leaving",
            |e| matches!(e, SessionEvent::UserLeft(id) if *id == quiet_id),
        )
        .await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, SessionEvent::Remote(r) if r.sender_id == quiet_id)),
        "a listener's keys never reach the room"
    );
    assert_eq!(
        jam.relay.stats().refusals,
        before.refusals,
        "and the page never even tried"
    );

    // A page of another origin (another port of this machine) cannot open the relay's WebSocket.
    let refused_before = jam.relay.stats().refused_origins;
    let elsewhere = other_origin().await;
    jam.browser
        .client
        .goto(&format!("http://{elsewhere}/"))
        .await
        .expect("the other page opens");
    let socket = format!(
        "const ws = new WebSocket('ws://{}/'); ws.onopen = () => document.title = 'opened'; ws.onclose = () => {{ if (document.title !== 'opened') document.title = 'refused'; }};",
        jam.relay.local_addr()
    );
    jam.browser.eval(&socket).await;
    let title = tokio::time::timeout(PATIENCE, async {
        loop {
            let title = jam.browser.client.title().await.unwrap_or_default();
            if title != "waiting" {
                return title;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the socket opens or is refused");
    assert_eq!(title, "refused");
    assert_eq!(jam.relay.stats().refused_origins, refused_before + 1);

    // The link drops under a guest (here a proxy between the page and the relay cuts it): the
    // page gets back in by itself, under the same name.
    let proxy = jam_tests::proxy::Proxy::start(jam.relay.local_addr(), Duration::ZERO).await;
    jam.browser
        .client
        .goto(&format!("http://{}/join/{}", proxy.addr(), jam.code))
        .await
        .expect("the page opens through the proxy");
    jam.browser.click("#role-play").await;
    jam.browser.type_into("#name", "Roamer").await;
    jam.browser.click("#join-button").await;
    jam.browser.wait_for("#room:not([hidden])").await;
    let seen = jam
        .watcher
        .until(
            "the roamer",
            |e| matches!(e, SessionEvent::UserJoined(p) if p.name == "Roamer"),
        )
        .await;
    let Some(SessionEvent::UserJoined(roamer)) = seen.last() else {
        unreachable!()
    };
    let roamer_id = roamer.id.clone();
    proxy.cut_all();
    jam.watcher
        .until(
            "the roamer dropping",
            |e| matches!(e, SessionEvent::UserLeft(id) if *id == roamer_id),
        )
        .await;
    jam.watcher
        .until(
            "the roamer back",
            |e| matches!(e, SessionEvent::UserJoined(p) if p.name == "Roamer"),
        )
        .await;
    jam.browser
        .wait_for("#status[data-state='connected']")
        .await;

    jam.end().await;
}

/// The same guest page in Firefox (Gecko): it joins from the link, hears every note of a groove,
/// and its keys reach the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs firefox-esr, geckodriver and pulseaudio: ./scripts/test runs it"]
async fn a_firefox_guest_joins_hears_and_plays() {
    let _alone = ALONE.lock().await;
    let mut jam = Jam::join(Kind::Firefox, "firefox", "Fox").await;
    jam.hears_a_groove("firefox").await;
    jam.keys_reach_the_room().await;
    jam.end().await;
}

/// The same guest page in WebKit — WebKitGTK's MiniBrowser, the engine of Safari: it joins,
/// hears every note of a groove, and its keys reach the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs webkit2gtk-driver, xvfb and pulseaudio: ./scripts/test runs it"]
async fn a_webkit_guest_joins_hears_and_plays() {
    let _alone = ALONE.lock().await;
    let mut jam = Jam::join(Kind::WebKit, "webkit", "Safari").await;
    jam.hears_a_groove("webkit").await;
    jam.keys_reach_the_room().await;
    jam.end().await;
}

/// On a phone (Chromium emulating a 390 px touch screen): the page fits the screen in one
/// column with a one-octave piano and finger-sized pads, hears the groove, and a tap on a pad
/// plays a drum in the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium, chromium-driver and pulseaudio: ./scripts/test runs it"]
async fn a_phone_guest_gets_the_touch_layout_and_plays_by_tapping() {
    let _alone = ALONE.lock().await;
    let mut jam = Jam::join(Kind::Phone, "phone", "Phone").await;
    let layout = jam
        .browser
        .eval(
            "const pad = document.querySelector('#drums button').getBoundingClientRect();
             return {
               width: innerWidth,
               overflow: document.documentElement.scrollWidth - innerWidth,
               columns: getComputedStyle(document.querySelector('.room-body')).gridTemplateColumns.split(' ').length,
               keys: document.querySelectorAll('#piano button').length,
               padHeight: pad.height,
               coarse: matchMedia('(pointer: coarse)').matches,
             };",
        )
        .await;
    eprintln!("phone guest: layout {layout}");
    assert_eq!(layout["width"], jam_tests::browser::PHONE_WIDTH);
    assert_eq!(layout["overflow"], 0, "nothing wider than the screen");
    assert_eq!(layout["columns"], 1, "one column");
    assert_eq!(layout["keys"], 13, "one octave and its top C");
    assert_eq!(layout["coarse"], true, "a touch screen");
    assert!(
        layout["padHeight"].as_f64().unwrap_or_default() >= 44.0,
        "pads a finger can hit: {layout}"
    );
    jam.hears_a_groove("phone").await;
    jam.browser.tap("#drums button").await;
    let guest = jam.guest.clone();
    jam.watcher
        .until("the tapped drum", |e| {
            matches!(e, SessionEvent::Remote(r) if r.sender_id == guest && r.event_name == "drum_hit")
        })
        .await;
    jam.end().await;
}

/// Both ends in one recording with the listener a browser guest (Chromium, WebAudio): the
/// drummer's own speaker in the left channel, the guest's in the right. Every hit is heard at
/// both ends, once, in order, and each pairs with its echo at the other end; how long after
/// the drummer's the guest's speaker played each is the `delay` bench's figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium, chromium-driver and pulseaudio: ./scripts/test runs it"]
async fn a_browser_guest_and_the_drummer_both_hear_every_hit() {
    let _alone = ALONE.lock().await;
    let notes = 24;
    let dir = scratch("browser-both-ends");
    let both = jam_tests::groove::browser_through_jitter(
        &dir,
        notes,
        Duration::ZERO,
        Kind::Chromium,
        0,
        jam_tests::groove::STEADY_BUFFER,
    )
    .await;
    for (who, heard) in [
        ("the drummer", &both.drummer),
        ("the guest", &both.listener),
    ] {
        assert!(
            heard.onsets.len() == notes && heard.accents_in_place && heard.doubled == 0,
            "{who} heard every hit once, in order: {} onsets of {notes}, accents in place {}, {} doubled",
            heard.onsets.len(),
            heard.accents_in_place,
            heard.doubled
        );
    }
    assert_eq!(
        both.delays.len(),
        notes,
        "each hit paired across the two ends: {:?}",
        both.delays
    );
}
