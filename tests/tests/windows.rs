//! Jamwire's Windows binaries under Wine: `jam-relay.exe` serves a room; a Linux `jam` hosts
//! in it; `jam.exe play` streams a groove into it and `jam.exe join --listen` hears it through
//! WASAPI (Wine's PulseAudio driver into a null sink this test records): every note once, in
//! order — through an output device chosen by the name `jam.exe devices` lists, not the
//! default. Needs wine64 and mingw-w64 (`scripts/test` installs them and runs it, `--ignored`).

use std::path::Path;

use jam_tests::groove::{LEAD_IN_MS, Program, invite_in, jam, record_on};
use jam_tests::heard::{Heard, Pulse, groove_file, samples, wav_mono};
use jam_tests::windows::{self, Wine};
use tokio::process::Command;

/// One at a time: one records a Windows listener in real time, the other builds the installer
/// and packs it, which on a 2-core machine would make the listener drop out.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A path of this machine as a Windows program under Wine sees it (`Z:` is `/`).
fn on_z(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs wine64 and mingw-w64: ./scripts/test runs it"]
async fn windows_binaries_jam_with_a_linux_host_and_the_windows_listener_hears_every_note() {
    let _alone = ALONE.lock().await;
    let dir = std::env::temp_dir().join(format!("jam-windows-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let built = windows::binaries();
    let (relay_exe, jam_exe) = (built.join("jam-relay.exe"), built.join("jam.exe"));
    let wine = Wine::prefix(&dir.join("wine")).await;
    let notes = 16;
    let song = dir.join("groove.mid");
    groove_file(&song, notes, LEAD_IN_MS);
    // Two outputs; the system's default is the decoy: the listener is heard on "ear" only if
    // it opened the device by the name WASAPI gives it.
    let pulse = Pulse::start(&dir.join("pulse"), &["decoy", "ear"]);
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");

    let mut relay = wine.command(&relay_exe);
    relay.args(["--bind", "127.0.0.1:0"]);
    let mut relay = Program::start(relay);
    let line = relay.out_line("listening on ws://").await;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .expect("the relay's address")
        .to_owned();
    relay.log_to(&dir.join("relay.log"));

    let mut host = Command::new(jam());
    host.args(["host", "--relay", &url, "--name", "Host", "--no-audio"]);
    let mut host = Program::start(host);
    let invite = invite_in(&host.out_line("jam://").await);
    host.log_to(&dir.join("host.log"));

    // Into a file, not a pipe: the Wine processes it starts (wineserver, services) would hold
    // a pipe open after jam.exe ends.
    let listing = dir.join("devices.txt");
    let mut devices = wine.command(&jam_exe);
    devices
        .arg("devices")
        .env("PULSE_SERVER", pulse.server())
        .env("PULSE_SINK", "decoy")
        .stdout(std::fs::File::create(&listing).expect("a file for the listing"))
        .stderr(std::process::Stdio::null());
    let status = tokio::time::timeout(jam_tests::PATIENCE * 3, devices.status())
        .await
        .expect("jam.exe devices answers in time")
        .expect("jam.exe devices runs");
    assert!(status.success(), "jam.exe devices: {status}");
    let listed = std::fs::read_to_string(&listing).unwrap_or_default();
    assert!(
        listed.lines().any(|l| l == "ear") && listed.lines().any(|l| l.ends_with("(default)")),
        "jam.exe devices lists the WASAPI outputs by name, the default marked: {listed:?}"
    );

    let mut ear = wine.command(&jam_exe);
    // The live tests' steady buffer: a busy machine (and Wine's audio thread) must not make the
    // listener underrun (`groove::STEADY_BUFFER`).
    ear.args([
        "join", &invite, "--name", "Ear", "--listen", "--buffer", "1024", "--device", "ear",
    ])
    .env("JAM_ASSETS", on_z(&assets))
    .env("PULSE_SERVER", pulse.server())
    .env("PULSE_SINK", "decoy")
    .env("RUST_LOG", "warn,jam_play=info");
    let mut ear = Program::start(ear);
    ear.err_line("joined").await;
    ear.log_to(&dir.join("ear.log"));

    let recording = dir.join("heard.raw");
    let recorder = pulse.record("ear", &recording);
    record_on(&recording, 1).await;
    let mut drummer = wine.command(&jam_exe);
    drummer.args([
        "play",
        &on_z(&song),
        "--into",
        &invite,
        "--name",
        "Drummer",
        "--no-audio",
    ]);
    Program::start(drummer).finished().await;
    record_on(&recording, 2).await;
    recorder.stop();
    ear.stop().await;
    host.stop().await;
    relay.stop().await;

    let heard = Heard::of(&samples(&recording));
    assert!(
        heard.onsets.len() == notes && heard.accents_in_place && heard.doubled == 0,
        "the Windows listener heard every note once, in order: {} onsets of {notes}, accents in place {}, {} doubled (logs in {})",
        heard.onsets.len(),
        heard.accents_in_place,
        heard.doubled,
        dir.display()
    );
    let said = std::fs::read_to_string(dir.join("ear.log")).unwrap_or_default();
    assert!(
        !said.contains("ERROR"),
        "the Windows listener reported no error: {said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rest` in the Wine user's own folder under `drive_c` (Wine names it after the Unix user;
/// `Public` is not it).
fn in_user_folder(drive_c: &Path, rest: &str) -> std::path::PathBuf {
    let users = std::fs::read_dir(drive_c.join("users")).expect("Wine's users folder");
    users
        .filter_map(Result::ok)
        .map(|user| user.path())
        .find(|user| user.join("AppData/Roaming").is_dir())
        .map(|user| user.join(rest))
        .expect("a user folder with AppData")
}

/// `reg query KEY /ve` in the prefix: the key's default value, or `None` if it isn't there.
async fn registry_default(wine: &Wine, key: &str) -> Option<String> {
    let out = wine
        .command(Path::new("reg"))
        .args(["query", key, "/ve"])
        .output()
        .await
        .expect("reg runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The installer `scripts/package --windows` builds, silently installed into a fresh prefix:
/// the files, the Start-menu entry, the invite links and the Apps entry are there; the
/// installed `jam-relay.exe` serves; `jamwire.exe`, with no WebView2 runtime (Wine has none),
/// says what is missing and where to get it, in a message box (a screenshot is kept) and on
/// stderr, and exits with a failure instead of vanishing; the silent uninstaller removes
/// everything it installed and leaves the musician's settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs wine64, mingw-w64, nsis, xvfb and xdotool: ./scripts/test runs it"]
async fn the_installer_installs_for_this_user_and_the_uninstaller_leaves_only_the_settings() {
    let _alone = ALONE.lock().await;
    let dir = std::env::temp_dir().join(format!("jam-windows-setup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    windows::binaries();
    let setup = windows::installer();
    let setup_mb = std::fs::metadata(&setup).map_or(0, |m| m.len()) / 1_000_000;
    let wine = Wine::prefix(&dir.join("wine")).await;

    let started = std::time::Instant::now();
    let status = wine
        .command(&setup)
        .arg("/S")
        .status()
        .await
        .expect("the installer runs");
    wine.wait().await;
    let install_s = started.elapsed().as_secs_f64();
    assert!(status.success(), "the silent install succeeded: {status}");

    let drive_c = wine.drive_c();
    let home = in_user_folder(&drive_c, "AppData/Local/Programs/Jamwire");
    for file in [
        "jamwire.exe",
        "WebView2Loader.dll",
        "jam.exe",
        "jam-relay.exe",
        "uninstall.exe",
        "assets/drums",
        "assets/piano",
        "assets/palette/palette.json",
    ] {
        assert!(
            home.join(file).exists(),
            "{file} is installed in {}",
            home.display()
        );
    }
    let shortcut = in_user_folder(
        &drive_c,
        "AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Jamwire.lnk",
    );
    assert!(shortcut.exists(), "a Start-menu entry");
    for scheme in ["jam", "jams"] {
        let command = registry_default(
            &wine,
            &format!("HKCU\\Software\\Classes\\{scheme}\\shell\\open\\command"),
        )
        .await
        .unwrap_or_default();
        assert!(
            command.contains("jamwire.exe\" \"%1\""),
            "{scheme}:// links open Jamwire: {command}"
        );
    }
    let apps = wine
        .command(Path::new("reg"))
        .args([
            "query",
            "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Jamwire",
            "/v",
            "DisplayVersion",
        ])
        .output()
        .await
        .expect("reg runs");
    assert!(
        String::from_utf8_lossy(&apps.stdout).contains(env!("CARGO_PKG_VERSION")),
        "Settings → Apps lists Jamwire {}",
        env!("CARGO_PKG_VERSION")
    );

    // The installed jam finds the installed samples (no JAM_ASSETS): a groove rendered
    // through the engine has every hit.
    let song = dir.join("groove.mid");
    groove_file(&song, 8, LEAD_IN_MS);
    let wav = dir.join("rendered.wav");
    let status = wine
        .command(&home.join("jam.exe"))
        .args(["render", &on_z(&song), &on_z(&wav)])
        .env_remove("JAM_ASSETS")
        .status()
        .await
        .expect("jam.exe runs");
    assert!(status.success(), "the installed jam.exe renders: {status}");
    let rendered = Heard::of(&wav_mono(&wav));
    assert_eq!(
        rendered.onsets.len(),
        8,
        "the installed samples play every hit"
    );

    // The installed relay serves.
    let mut relay = wine.command(&home.join("jam-relay.exe"));
    relay.args(["--bind", "127.0.0.1:0"]);
    let mut relay = Program::start(relay);
    relay.out_line("listening on ws://").await;
    relay.stop().await;

    // The app without WebView2: a message, not a silent exit.
    let (mut screen, display) = jam_tests::browser::xvfb().await;
    let mut app = wine.command(&home.join("jamwire.exe"));
    app.env("DISPLAY", &display);
    let mut app = Program::start(app);
    let said = app.err_line("WebView2 Runtime").await;
    assert!(
        said.contains("developer.microsoft.com/microsoft-edge/webview2"),
        "it says where to get it: {said}"
    );
    let found = Command::new(jam_tests::heard::tool("xdotool"))
        .args(["search", "--sync", "--name", "^Jamwire$"])
        .env("DISPLAY", &display)
        .output();
    let found = tokio::time::timeout(jam_tests::PATIENCE, found)
        .await
        .expect("the message box appears")
        .expect("xdotool runs");
    let window = String::from_utf8_lossy(&found.stdout)
        .lines()
        .next()
        .expect("a window named Jamwire")
        .to_owned();
    let shot = dir.join("no-webview2.png");
    let _ = Command::new(jam_tests::heard::tool("import"))
        .args(["-window", "root"])
        .arg(&shot)
        .env("DISPLAY", &display)
        .status()
        .await;
    if let Some(keep) = std::env::var_os("JAM_SCREENSHOTS") {
        let _ = std::fs::copy(&shot, Path::new(&keep).join("windows-no-webview2.png"));
    }
    let _ = Command::new(jam_tests::heard::tool("xdotool"))
        .args(["key", "--window", &window, "Return"])
        .env("DISPLAY", &display)
        .status()
        .await;
    let exit = app.exit().await;
    assert!(!exit.success(), "it exits with a failure: {exit}");
    let _ = screen.kill().await;

    // Uninstall; the musician's settings stay.
    let settings = in_user_folder(
        &drive_c,
        "AppData/Roaming/app.jamwire.desktop/settings.json",
    );
    std::fs::create_dir_all(settings.parent().expect("a folder")).expect("a settings folder");
    std::fs::write(&settings, "{}").expect("settings");
    let started = std::time::Instant::now();
    let status = wine
        .command(&home.join("uninstall.exe"))
        .arg("/S")
        .status()
        .await
        .expect("the uninstaller runs");
    // (It copies itself away and runs from there: done when the prefix's programs are.)
    wine.wait().await;
    let uninstall_s = started.elapsed().as_secs_f64();
    assert!(status.success(), "the silent uninstall succeeded: {status}");
    assert!(!home.exists(), "{} is gone", home.display());
    assert!(!shortcut.exists(), "the Start-menu entry is gone");
    for scheme in ["jam", "jams"] {
        assert_eq!(
            registry_default(&wine, &format!("HKCU\\Software\\Classes\\{scheme}")).await,
            None,
            "the {scheme}:// handler is gone"
        );
    }
    assert!(settings.exists(), "the settings stay");
    eprintln!(
        "windows installer: {setup_mb} MB; silent install {install_s:.1} s, uninstall {uninstall_s:.1} s under Wine"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
