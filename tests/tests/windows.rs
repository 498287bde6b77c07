//! Jamwire's Windows binaries under Wine: `jam-relay.exe` serves a room; a Linux `jam` hosts
//! in it; `jam.exe play` streams a groove into it and `jam.exe join --listen` hears it through
//! WASAPI (Wine's PulseAudio driver into a null sink this test records): every note once, in
//! order. Needs wine64 and mingw-w64 (`scripts/test` installs them and runs it, `--ignored`).

use std::path::Path;

use jam_tests::groove::{LEAD_IN_MS, Program, invite_in, jam, record_on};
use jam_tests::heard::{Heard, Pulse, groove_file, samples};
use jam_tests::windows::{self, Wine};
use tokio::process::Command;

/// A path of this machine as a Windows program under Wine sees it (`Z:` is `/`).
fn on_z(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs wine64 and mingw-w64: ./scripts/test runs it"]
async fn windows_binaries_jam_with_a_linux_host_and_the_windows_listener_hears_every_note() {
    let dir = std::env::temp_dir().join(format!("jam-windows-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let relay_exe = windows::binary("jam-relay", "jam-relay");
    let jam_exe = windows::binary("jam", "jam");
    let wine = Wine::prefix(&dir.join("wine")).await;
    let notes = 16;
    let song = dir.join("groove.mid");
    groove_file(&song, notes, LEAD_IN_MS);
    let pulse = Pulse::start(&dir.join("pulse"), &["ear"]);
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

    let mut ear = wine.command(&jam_exe);
    // The live tests' steady buffer: a busy machine (and Wine's audio thread) must not make the
    // listener underrun (`groove::STEADY_BUFFER`).
    ear.args(["join", &invite, "--name", "Ear", "--listen", "--buffer", "1024"])
        .env("JAM_ASSETS", on_z(&assets))
        .env("PULSE_SERVER", pulse.server())
        .env("PULSE_SINK", "ear")
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
