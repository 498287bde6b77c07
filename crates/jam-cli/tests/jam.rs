//! The `jam` tool as people run it: a host, a recorder and a MIDI player, three processes
//! talking through the host's relay on loopback.

use std::process::Stdio;

use jam_midi::{MidiEvent, MidiMessage, Recording, Song};
use jam_tests::PATIENCE;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

fn jam(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_jam"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("jam starts")
}

/// `jam host` on loopback, silent, as "Keys".
fn host_here() -> Child {
    jam(&[
        "host",
        "--bind",
        "127.0.0.1:0",
        "--name",
        "Keys",
        "--no-audio",
    ])
}

/// Reads lines until one contains `needle`, returning it.
async fn line_with(lines: &mut Lines<BufReader<ChildStderr>>, needle: &str) -> String {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("ended before \"{needle}\""));
            if line.contains(needle) {
                return line;
            }
        }
    })
    .await
    .expect("in time")
}

fn sigterm(child: &Child) {
    jam_tests::sigterm(child.id().expect("running"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_played_into_a_hosted_room_is_recorded_per_player() {
    let dir = std::env::temp_dir().join(format!("jam-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut host = host_here();
    let mut host_out = BufReader::new(host.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(PATIENCE, host_out.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let invite = line
        .split_whitespace()
        .find(|w| w.starts_with("jam://"))
        .expect("an invite")
        .to_owned();
    assert!(invite.starts_with("jam://127.0.0.1:"), "{line}");
    // The browser link the app shows beside the invite, for a friend without the app.
    let link = tokio::time::timeout(PATIENCE, host_out.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let code = invite.rsplit('/').next().expect("a room code");
    let address = invite
        .trim_start_matches("jam://")
        .split('/')
        .next()
        .expect("an address");
    assert_eq!(
        link,
        format!("jam: browser link http://{address}/join/{code}"),
        "the host prints the browser link after the invite"
    );

    let out = dir.join("session.mid");
    let mut recorder = jam(&[
        "record",
        out.to_str().unwrap(),
        "--from",
        &invite,
        "--no-audio",
    ]);
    let mut recorder_err = BufReader::new(recorder.stderr.take().unwrap()).lines();
    line_with(&mut recorder_err, "joined").await;

    // A short performance: a C major arpeggio on piano and a kick/snare pattern on channel 10.
    let mut rec = Recording::new();
    let t = rec.track("Bot");
    for (i, note) in [60u8, 64, 67, 72].iter().enumerate() {
        let at = i as u64 * 150_000;
        rec.record(
            t,
            at,
            MidiEvent {
                channel: 0,
                message: MidiMessage::NoteOn {
                    note: *note,
                    velocity: 90,
                },
            },
        );
        rec.record(
            t,
            at + 120_000,
            MidiEvent {
                channel: 0,
                message: MidiMessage::NoteOff {
                    note: *note,
                    velocity: 0,
                },
            },
        );
        let drum = if i % 2 == 0 { 36 } else { 38 };
        rec.record(
            t,
            at,
            MidiEvent {
                channel: 9,
                message: MidiMessage::NoteOn {
                    note: drum,
                    velocity: 110,
                },
            },
        );
    }
    let song_path = dir.join("song.mid");
    rec.save(&song_path).unwrap();

    let played = jam(&[
        "play",
        song_path.to_str().unwrap(),
        "--into",
        &invite,
        "--name",
        "Bot",
        "--no-audio",
    ])
    .wait_with_output()
    .await
    .unwrap();
    assert!(
        played.status.success(),
        "{}",
        String::from_utf8_lossy(&played.stderr)
    );
    // The relay sends a player's events before announcing that they left.
    line_with(&mut recorder_err, "Bot left").await;
    sigterm(&recorder);
    assert!(recorder.wait().await.unwrap().success());

    let song = Song::load(&out).unwrap();
    assert!(
        song.track_names.iter().any(|n| n == "Bot"),
        "{:?}",
        song.track_names
    );
    let ons: Vec<(u64, u8, u8)> = song
        .events
        .iter()
        .filter_map(|e| match e.event.message {
            MidiMessage::NoteOn { note, .. } => Some((e.time_us, e.event.channel, note)),
            _ => None,
        })
        .collect();
    assert_eq!(ons.len(), 8, "{ons:?}");
    let piano: Vec<u8> = ons.iter().filter(|o| o.1 == 0).map(|o| o.2).collect();
    assert_eq!(piano, [60, 64, 67, 72]);
    let drums: Vec<u8> = ons.iter().filter(|o| o.1 == 9).map(|o| o.2).collect();
    assert_eq!(drums, [36, 38, 36, 38], "drums on channel 10");
    // The arpeggio keeps its 150 ms spacing (the player paces it in real time).
    let piano_times: Vec<u64> = ons.iter().filter(|o| o.1 == 0).map(|o| o.0).collect();
    for w in piano_times.windows(2) {
        let gap = (w[1] - w[0]) as i64;
        assert!((gap - 150_000).abs() < 50_000, "gap {gap} µs");
    }

    sigterm(&host);
    assert!(host.wait().await.unwrap().success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn joining_a_room_that_does_not_exist_fails_clearly() {
    let relay = jam_tests::relay(jam_relay::RelayConfig::default()).await;
    let invite = format!("jam://{}/ZZZZZZZZ", relay.local_addr());
    let out = jam(&["join", &invite, "--name", "Lost", "--no-audio"])
        .wait_with_output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("there is no room \"ZZZZZZZZ\""), "{stderr}");
    let out = jam(&["join", "not-an-invite", "--name", "Lost", "--no-audio"])
        .wait_with_output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("isn't an invite"));
}

#[tokio::test]
async fn an_audio_buffer_out_of_range_is_refused_before_anything_starts() {
    for frames in ["16", "8192", "lots"] {
        let out = jam(&[
            "join",
            "jam://127.0.0.1:9/ABCDEFGH",
            "--name",
            "Ear",
            "--buffer",
            frames,
        ])
        .wait_with_output()
        .await
        .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--buffer") && !stderr.contains("couldn't reach"),
            "{frames}: {stderr}"
        );
    }
}

/// A script that reads the invite and closes the pipe (or starts `jam host` with its output
/// going nowhere) must not end the jam. Here stdout is closed before the host prints anything;
/// the reach line on stderr comes after the invite, so by then the invite went into the closed
/// pipe, and the host must still be hosting (with `println!` it died there, before the reach
/// line).
#[tokio::test]
async fn a_host_whose_output_nobody_reads_keeps_hosting() {
    let mut host = host_here();
    drop(host.stdout.take());
    let mut err = BufReader::new(host.stderr.take().unwrap()).lines();
    line_with(&mut err, "Only this computer can join").await;
    assert!(
        host.try_wait().unwrap().is_none(),
        "the host is still running after printing its invite into a closed pipe"
    );
    host.kill().await.unwrap();
}
