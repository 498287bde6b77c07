//! The app core as both faces use it: a host core with its embedded relay and guest cores
//! joining it over real loopback sockets, each with a silent speaker. What the host plays and
//! changes reaches the guests as typed room events; refusals are typed and change nothing.

use jam_play::room::{self, RoomEvent};
use jam_play::views::{ConnectionState, HostRequest, JoinRequest};
use jam_play::{
    Core, CoreConfig, InstrumentName, MidiTake, PlayError, PlayInput, RoomSink, Speaker,
};
use jam_protocol::pattern::{Pattern, Row};
use jam_tests::PATIENCE;
use tokio::sync::mpsc::Receiver;

fn core() -> Core {
    Core::start(CoreConfig {
        runtime: tokio::runtime::Handle::current(),
        speaker: Speaker::silent("test"),
        settings_path: None,
        takes: None,
        relay_bind: Some("127.0.0.1:0".parse().unwrap()),
        midi_inputs: None,
        ca_certs: Vec::new(),
    })
}

/// The next event that `pick` accepts, skipping the others (figures, status, …).
async fn next<T>(
    events: &mut Receiver<RoomEvent>,
    mut pick: impl FnMut(RoomEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let event = events.recv().await.expect("the room task is running");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
    .expect("the event arrives in time")
}

/// Hosting here (on loopback: the core is bound there), no router, no relay server.
fn here(name: &str, record: bool) -> HostRequest {
    HostRequest {
        name: name.into(),
        password: None,
        port: 0,
        record,
        port_mapping: false,
        relay: None,
        relay_key: None,
    }
}

fn join(invite: &str, name: &str, listener: bool) -> JoinRequest {
    JoinRequest {
        name: name.into(),
        invite: invite.into(),
        listener,
        password: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_host_plays_and_changes_reaches_a_guest_as_typed_events() {
    let host = core();
    let jam = host
        .host(here("Ann", false), |_: RoomEvent| {})
        .await
        .unwrap();
    assert!(
        jam.is_host && jam.invite.starts_with("jam://127.0.0.1:"),
        "{jam:?}"
    );
    assert_eq!(jam.addresses.len(), 1, "one address when bound to one");

    let guest = core();
    let (sink, mut events) = room::channel(256);
    let take = std::sync::Arc::new(MidiTake::new(guest.clock().now_ms));
    let take_sink = take.clone();
    guest
        .join(join(&jam.invite, "Ben", false), move |e: RoomEvent| {
            take_sink.send(e.clone());
            sink.send(e);
        })
        .await
        .unwrap();
    let (ann, tempo) = next(&mut events, |e| match e {
        RoomEvent::Joined {
            participants,
            tempo,
            ..
        } => Some((participants[0].id.clone(), tempo)),
        _ => None,
    })
    .await;
    // The host's tempo reached the late joiner: 120 BPM, anchored near now (not at 0).
    assert_eq!(tempo.bpm, 120.0);
    assert!(
        (tempo.anchor_ms - guest.clock().now_ms).abs() < 60_000.0,
        "{tempo:?}"
    );

    let snare = PlayInput::NoteOn {
        instrument: InstrumentName::Drums,
        note: 38,
        velocity: 100,
    };
    host.perform(snare).unwrap();
    let (sender, input) = next(&mut events, |e| match e {
        RoomEvent::Played {
            sender_id, input, ..
        } => Some((sender_id, input)),
        _ => None,
    })
    .await;
    assert_eq!((sender.as_str(), input), (ann.as_str(), snare));

    let pattern = Pattern {
        running: true,
        rows: vec![Row {
            note: 36,
            on: "x...x...x...x...".into(),
        }],
    };
    host.set_pattern(pattern.clone()).unwrap();
    let heard = next(&mut events, |e| match e {
        RoomEvent::PatternChanged { pattern, .. } => Some(pattern),
        _ => None,
    })
    .await;
    assert_eq!(heard, pattern);
    let tempo = host.set_tempo(90.0, 3).unwrap();
    let heard = next(&mut events, |e| match e {
        RoomEvent::TempoChanged { tempo, .. } => Some(tempo),
        _ => None,
    })
    .await;
    assert_eq!(heard, tempo);
    assert_eq!(guest.clock().tempo, tempo, "the guest's groove follows");
    host.send_chat(" hi ").unwrap();
    let text = next(&mut events, |e| match e {
        RoomEvent::Chat { text, .. } => Some(text),
        _ => None,
    })
    .await;
    assert_eq!(text, "hi");

    // Refusals are typed and change nothing.
    assert!(matches!(
        host.set_tempo(1_000.0, 4),
        Err(PlayError::BadInput(_))
    ));
    assert_eq!(host.clock().tempo, tempo);
    let again = host.host(here("Ann", false), |_: RoomEvent| {}).await;
    assert!(matches!(again, Err(PlayError::AlreadyInJam)));

    // A listener hears but can't play.
    let listener = core();
    listener
        .join(join(&jam.invite, "Lis", true), |_: RoomEvent| {})
        .await
        .unwrap();
    assert!(matches!(listener.perform(snare), Err(PlayError::Listener)));

    // The host ends the jam: the guest is told why, and its playing stays local.
    host.leave().await.unwrap();
    let status = next(&mut events, |e| match e {
        RoomEvent::Status { status } if status.state == ConnectionState::Ended => Some(status),
        _ => None,
    })
    .await;
    assert!(status.jam_ended, "{status:?}");
    assert_eq!(status.reason.as_deref(), Some("Ann ended the jam."));
    guest.perform(snare).unwrap();
    guest.leave().await.unwrap();
    listener.leave().await.unwrap();

    // What the guest heard, as a MIDI take: the snare on Ann's track.
    let dir = std::env::temp_dir().join(format!("jam-play-core-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("heard.mid");
    take.save(&path).unwrap();
    assert_eq!(take.counts(), (1, 1));
    let song = jam_midi::Song::load(&path).unwrap();
    assert_eq!(song.note_count(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_host_leaves_nothing_running_and_a_bad_name_is_refused_first() {
    let host = core();
    let nameless = host
        .host(here(" \u{202E} ", false), |_: RoomEvent| {})
        .await;
    assert!(
        matches!(nameless, Err(PlayError::BadInput(_))),
        "{nameless:?}"
    );
    // Takes were asked for but this core keeps none: refused before any relay starts.
    let no_takes = host.host(here("Ann", true), |_: RoomEvent| {}).await;
    assert!(
        matches!(no_takes, Err(PlayError::TakesUnavailable(_))),
        "{no_takes:?}"
    );
    assert!(host.status().is_none(), "not in a jam");
    // Not in a jam, everything plays locally, on this machine's epoch clock.
    host.perform(PlayInput::Sustain { on: true }).unwrap();
    let now = host.clock().now_ms;
    assert!((now - jam_protocol::EpochClock::process().now_ms()).abs() < 1_000.0);
}

/// A core that has the samples (no audio device needed) and remembers its settings in `path`.
fn core_with_samples(path: &std::path::Path) -> Core {
    Core::start(CoreConfig {
        runtime: tokio::runtime::Handle::current(),
        speaker: Speaker::open(&jam_audio::output::OutputConfig {
            device: Some("no such device".into()),
            ..Default::default()
        }),
        settings_path: Some(path.to_owned()),
        takes: None,
        relay_bind: Some("127.0.0.1:0".parse().unwrap()),
        midi_inputs: None,
        ca_certs: Vec::new(),
    })
}

/// A player's own sound: loading it tells the room the palette's nearest sound (and only
/// that), a broken file changes nothing, switching is remembered, and a new start loads it
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_own_sound_plays_here_and_the_room_hears_the_sound_i_pick_for_it() {
    let dir = std::env::temp_dir().join(format!("jam-play-own-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let font = dir.join("lead.sf2");
    let recording: Vec<i16> = (0..8_000)
        .map(|i| ((i % 80) * 400 - 16_000) as i16)
        .collect();
    std::fs::write(
        &font,
        jam_audio::soundfont::write_sf2("Saw", 0, 81, &recording, 32_000, 69, Some([4_000, 4_800])),
    )
    .unwrap();
    let settings = dir.join("settings.json");
    let host = core_with_samples(&settings);
    let jam = host
        .host(here("Ann", false), |_: RoomEvent| {})
        .await
        .unwrap();
    let ear = core();
    let (sink, mut events) = room::channel(256);
    ear.join(join(&jam.invite, "Ear", true), move |e: RoomEvent| {
        sink.send(e)
    })
    .await
    .unwrap();
    let heard = async |events: &mut Receiver<RoomEvent>| {
        next(events, |e| match e {
            RoomEvent::InstrumentChanged { keys, .. } => Some(keys),
            _ => None,
        })
        .await
    };

    // General MIDI 81 is the saw lead.
    let own = host
        .load_own_sound(font.to_str().unwrap(), None, None)
        .await
        .unwrap();
    assert_eq!(
        (
            own.name.as_str(),
            own.zones,
            own.heard_as.as_str(),
            own.playing
        ),
        ("Saw (lead.sf2)", 1, "saw-lead", true)
    );
    assert_eq!(heard(&mut events).await, "saw-lead");
    let saved = host.settings();
    assert!(saved.play_own_sound);
    assert_eq!(
        saved.own_sound.as_ref().map(|s| s.path.as_str()),
        font.to_str()
    );

    // A broken file: a clear error naming it, and nothing else changes.
    let broken = dir.join("broken.sf2");
    std::fs::write(&broken, b"RIFF\x10\0\0\0sfbkLIST").unwrap();
    let e = host
        .load_own_sound(broken.to_str().unwrap(), None, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("broken.sf2"), "{e}");
    assert_eq!(host.settings(), saved);
    assert_eq!(
        host.own_sound_view().map(|v| v.name),
        Some("Saw (lead.sf2)".into())
    );

    // What the others hear, changed while my keys keep my sound.
    let s = host.play_own_sound(true, Some("warm-pad")).unwrap();
    assert_eq!(
        (s.instrument.as_str(), s.play_own_sound),
        ("warm-pad", true)
    );
    assert_eq!(heard(&mut events).await, "warm-pad");
    // Choosing from the palette switches my keys back to it.
    let s = host.set_instrument("strings", "standard-kit").unwrap();
    assert!(!s.play_own_sound);
    assert_eq!(heard(&mut events).await, "strings");
    assert!(host.own_sound_view().is_some_and(|v| !v.playing));
    host.play_own_sound(true, None).unwrap();
    host.leave().await.unwrap();
    drop(host);

    // The next start loads it again, in the background.
    let again = core_with_samples(&settings);
    let view = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(view) = again.own_sound_view() {
                return view;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("my sound loads again at start");
    assert_eq!((view.name.as_str(), view.playing), ("Saw (lead.sf2)", true));
    // Without a sound loaded, playing it is refused.
    let fresh = core();
    assert!(fresh.play_own_sound(true, None).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn midi_out_choices_are_checked_and_remembered() {
    let core = core();
    let refused = core.choose_midi_out(true, "", 5_000.0, true).unwrap_err();
    assert_eq!(refused.kind(), "badInput", "{refused}");
    let settings = core.settings();
    assert!(
        !settings.midi_out && settings.midi_out_offset_ms == 0.0 && !settings.midi_clock,
        "a refused offset changes nothing: {settings:?}"
    );
    assert!(
        settings.midi_out_config().is_none(),
        "MIDI out goes nowhere by default"
    );

    // Nowhere, 20 ms early: remembered; the view says what this machine can do.
    let view = core.choose_midi_out(false, "", -20.0, false).unwrap();
    assert_eq!(view.virtual_ports, cfg!(unix));
    let settings = core.settings();
    assert_eq!(settings.midi_out_offset_ms, -20.0);
    assert!(settings.midi_out_config().is_none());
    // To an output: remembered as chosen even where it isn't there now (the next jam opens
    // it, or says why it can't).
    core.choose_midi_out(false, "My synth", 0.0, false).unwrap();
    let config = core
        .settings()
        .midi_out_config()
        .expect("MIDI out goes somewhere");
    assert_eq!(config.port.as_deref(), Some("My synth"));
    assert!(!config.virtual_ports && !config.clock);
    // The clock alone: no player ports, the clock on its own port.
    core.choose_midi_out(false, "", 0.0, true).unwrap();
    let config = core
        .settings()
        .midi_out_config()
        .expect("the clock goes somewhere");
    assert!(config.clock && !config.virtual_ports && config.port.is_none());

    // Where there is no MIDI system (the test machines have no ALSA sequencer device and,
    // in this build, no JACK), Settings says so and a jam with MIDI out chosen still works.
    if cfg!(target_os = "linux") && !std::path::Path::new("/dev/snd/seq").exists() {
        let view = core.choose_midi_out(true, "", 0.0, true).unwrap();
        let error = view.error.expect("Settings says MIDI out can't work here");
        assert!(error.contains("MIDI"), "{error}");
        let jam = core
            .host(here("Ann", false), |_: jam_play::room::RoomEvent| {})
            .await
            .expect("the jam starts without MIDI out");
        core.perform(jam_play::PlayInput::NoteOn {
            instrument: jam_play::InstrumentName::Piano,
            note: 60,
            velocity: 100,
        })
        .unwrap();
        assert!(!jam.invite.is_empty());
        core.leave().await.unwrap();
    }
}
