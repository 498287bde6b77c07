//! The desktop app's TypeScript types and protocol constants are generated from Rust: this test
//! writes them afresh and fails if `ui/src/bindings/` differs, so CI catches stale bindings.
//! After changing a view, run `JAM_BLESS_BINDINGS=1 cargo test -p jam-play --test bindings`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jam_play::settings::MAX_FIXED_DELAY_MS;
use jam_play::views::{
    AudioView, ClockView, ErrorView, FontPresetView, HostRequest, InstrumentView, JamView,
    JoinRequest, MidiView, OwnSoundView, RelayFiguresView, StartupView, TakePlayerView, TakeView,
};
use jam_play::{PlayInput, RoomEvent, Settings, Tempo, Timing};
use jam_protocol::event::{MAX_BEATS_PER_BAR, MAX_BPM, MAX_CHAT_CHARS, MIN_BPM};
use jam_protocol::pattern::{MAX_ROWS, STEPS, STEPS_PER_BEAT};
use jam_protocol::{MAX_NAME_CHARS, Pattern, RoomCode};
use ts_rs::{Config, TS};

fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings")
}

/// The protocol's limits and alphabets, for the UI to import instead of retyping.
fn protocol_ts() -> String {
    let alphabet = std::str::from_utf8(RoomCode::ALPHABET).expect("ASCII");
    [
        "// Generated from jam-protocol by crates/jam-play/tests/bindings.rs. Do not edit."
            .to_owned(),
        String::new(),
        "import type { InstrumentView } from \"./InstrumentView\";".to_owned(),
        String::new(),
        "/** Longest display name, in characters. */".to_owned(),
        format!("export const MAX_NAME_CHARS = {MAX_NAME_CHARS};"),
        "/** Longest chat line, in characters. */".to_owned(),
        format!("export const MAX_CHAT_CHARS = {MAX_CHAT_CHARS};"),
        "/** The symbols a room code is made of. */".to_owned(),
        format!("export const ROOM_CODE_ALPHABET = \"{alphabet}\";"),
        "/** Symbols in a room code. */".to_owned(),
        format!("export const ROOM_CODE_LEN = {};", RoomCode::LEN),
        "/** Slowest and fastest tempo, BPM. */".to_owned(),
        format!("export const MIN_BPM = {MIN_BPM};"),
        format!("export const MAX_BPM = {MAX_BPM};"),
        "/** Most beats in a bar. */".to_owned(),
        format!("export const MAX_BEATS_PER_BAR = {MAX_BEATS_PER_BAR};"),
        "/** Steps in a sequencer pattern, steps per beat, most rows. */".to_owned(),
        format!("export const STEPS = {STEPS};"),
        format!("export const STEPS_PER_BEAT = {STEPS_PER_BEAT};"),
        format!("export const MAX_ROWS = {MAX_ROWS};"),
        "/** The longest fixed playout delay, ms. */".to_owned(),
        format!("export const MAX_FIXED_DELAY_MS = {MAX_FIXED_DELAY_MS};"),
        "/** The sounds a player can choose (ids on the wire), keys sounds first, then kits. */"
            .to_owned(),
        format!(
            "export const INSTRUMENTS: readonly InstrumentView[] = {};",
            serde_json::to_string_pretty(&InstrumentView::all()).expect("JSON")
        ),
        String::new(),
    ]
    .join("\n")
}

fn generate(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let cfg = Config::new().with_out_dir(dir).with_large_int("number");
    StartupView::export_all(&cfg).unwrap();
    JamView::export_all(&cfg).unwrap();
    HostRequest::export_all(&cfg).unwrap();
    JoinRequest::export_all(&cfg).unwrap();
    RoomEvent::export_all(&cfg).unwrap();
    ClockView::export_all(&cfg).unwrap();
    AudioView::export_all(&cfg).unwrap();
    MidiView::export_all(&cfg).unwrap();
    TakeView::export_all(&cfg).unwrap();
    TakePlayerView::export_all(&cfg).unwrap();
    RelayFiguresView::export_all(&cfg).unwrap();
    ErrorView::export_all(&cfg).unwrap();
    InstrumentView::export_all(&cfg).unwrap();
    OwnSoundView::export_all(&cfg).unwrap();
    FontPresetView::export_all(&cfg).unwrap();
    PlayInput::export_all(&cfg).unwrap();
    Timing::export_all(&cfg).unwrap();
    Tempo::export_all(&cfg).unwrap();
    Pattern::export_all(&cfg).unwrap();
    Settings::export_all(&cfg).unwrap();
    jam_play::lan::LanJamView::export_all(&cfg).unwrap();
    jam_play::link::OpenedInvite::export_all(&cfg).unwrap();
    std::fs::write(dir.join("protocol.ts"), protocol_ts()).unwrap();
}

fn files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "ts"))
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(e.path()).unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_ui_bindings_are_generated_from_rust_and_up_to_date() {
    let fresh = std::env::temp_dir().join(format!("jamwire-bindings-{}", std::process::id()));
    generate(&fresh);
    let generated = files(&fresh);
    assert!(generated.contains_key("RoomEvent.ts") && generated.contains_key("protocol.ts"));
    if std::env::var_os("JAM_BLESS_BINDINGS").is_some() {
        generate(&committed());
    }
    let on_disk = files(&committed());
    let _ = std::fs::remove_dir_all(&fresh);
    let stale: Vec<&String> = generated
        .keys()
        .chain(on_disk.keys())
        .filter(|name| generated.get(*name) != on_disk.get(*name))
        .collect();
    assert!(
        stale.is_empty(),
        "ui/src/bindings is stale ({stale:?}): run JAM_BLESS_BINDINGS=1 cargo test -p jam-play --test bindings"
    );
}
