//! Every player's chosen instrument, heard by the others: the relay keeps each member's
//! `instrument`, a listener's `jam` plays their notes with it — switched mid-phrase from the next
//! note, and for a late joiner from the welcome — and `jam play` turns a MIDI file's program
//! changes into the sounds the room hears. What the listeners' speakers play (a recorded
//! PulseAudio sink) is compared with the engine's offline render of every palette instrument.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::process::Command;

use jam_audio::SampleBank;
use jam_midi::{MidiEvent, MidiMessage, Recording};
use jam_tests::groove::{self, Program, SilentHost, audio_env, jam, record_on};
use jam_tests::heard::{Pulse, samples, taken};
use jam_tests::timbre::{self, Print, Verdict};
use jam_tests::{Client, PATIENCE, at};
use serde_json::json;

/// One live check at a time: each wants the machine's two cores (see `groove.rs`).
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The notes the bassist plays, each for [`HELD_MS`], [`GAP_MS`] apart: in every palette
/// instrument's range.
const PHRASE: [u8; 4] = [55, 60, 55, 60];
const HELD_MS: u64 = 400;
const GAP_MS: u64 = 700;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jam-instr-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

fn bank() -> Arc<SampleBank> {
    static BANK: OnceLock<Arc<SampleBank>> = OnceLock::new();
    BANK.get_or_init(|| {
        Arc::new(SampleBank::load(&SampleBank::default_dir()).expect("the samples load"))
    })
    .clone()
}

/// Each palette instrument's print of one note: (note, [(id, print)]).
type NoteRefs = (u8, Vec<(String, Print)>);

/// Every palette instrument's print of each note of the phrase, rendered once.
fn references() -> &'static [NoteRefs] {
    static REFS: OnceLock<Vec<NoteRefs>> = OnceLock::new();
    REFS.get_or_init(|| {
        let bank = bank();
        let mut notes = PHRASE.to_vec();
        notes.sort_unstable();
        notes.dedup();
        let held = HELD_MS as f32 / 1_000.0;
        notes
            .into_iter()
            .map(|n| (n, timbre::references(&bank, n, held)))
            .collect()
    })
}

fn verdict_for(note: u8, print: &Print) -> Verdict {
    let refs = &references()
        .iter()
        .find(|(n, _)| *n == note)
        .expect("a reference for every note")
        .1;
    timbre::verdict(print, refs)
}

/// The measure itself: each instrument's render is nearest its own reference and no other,
/// even at half the level through the engine's limiter — so a
/// recording that matches one instrument is that instrument, not a neighbour.
#[test]
fn the_timbre_measure_tells_every_palette_instrument_apart() {
    let bank = bank();
    for (note, refs) in references() {
        let mut closest = (f64::INFINITY, "", "");
        for (i, (id, print)) in refs.iter().enumerate() {
            for (j, (other, theirs)) in refs.iter().enumerate() {
                if i != j {
                    let d = print.distance(theirs);
                    assert!(
                        d > 1.0,
                        "{id} and {other} print alike on note {note}: {d:.2} dB"
                    );
                    if d < closest.0 {
                        closest = (d, id.as_str(), other.as_str());
                    }
                }
            }
        }
        eprintln!(
            "note {note}: the two nearest instruments, {} and {}, are {:.1} dB apart",
            closest.1, closest.2, closest.0
        );
        // A quieter note through the engine, scaled: still its own instrument.
        let program = bank
            .palette()
            .find(jam_audio::palette::Kind::Melodic, "trumpet")
            .expect("a trumpet");
        let x: Vec<f32> = jam_audio::palette::measure::play(
            &bank,
            jam_audio::palette::Kind::Melodic,
            program,
            &[*note],
            HELD_MS as f32 / 1_000.0,
            1.0,
        )
        .into_iter()
        .map(|v| v * 0.5)
        .collect();
        let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let onset = *timbre::notes(&x, 300.0)
            .first()
            .unwrap_or_else(|| panic!("no onset; peak {peak}"));
        let v = verdict_for(*note, &Print::of(&x, onset).expect("long enough"));
        assert_eq!(v.nearest, "trumpet", "{v:?}");
    }
}

/// A listening `jam` into sink `sink`, joined and playing into the sound server.
async fn ear(jam: &Path, pulse: &Pulse, host: &SilentHost, sink: &str, name: &str) -> Program {
    let before = pulse.sink_inputs().len();
    let mut ear = Command::new(jam);
    ear.args(["join", &host.invite, "--name", name, "--listen"]);
    audio_env(&mut ear, pulse, sink, groove::STEADY_BUFFER);
    let mut ear = Program::start(ear);
    ear.err_line("joined").await;
    tokio::time::timeout(PATIENCE, async {
        while pulse.sink_inputs().len() <= before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the listener plays into the sound server");
    ear
}

/// Waits until the relay has handled everything `client` sent before: it answers a clock ping
/// only after them.
async fn settled(client: &mut Client) {
    client
        .send(json!({"type": "clock:ping", "clientTime": 1.0}))
        .await;
    client.expect_eventually("clock:pong").await;
}

/// The bassist plays the phrase, each note placed by its own timestamp and held [`HELD_MS`].
async fn phrase(bassist: &mut Client) {
    for note in PHRASE {
        bassist
            .broadcast(
                "piano_note",
                json!({"note": note, "velocity": 100, "timestamp": at(0.0), "duration": HELD_MS}),
            )
            .await;
        // The phrase's rhythm (not a wait for anything).
        tokio::time::sleep(Duration::from_millis(GAP_MS)).await;
    }
}

/// What each note of a recording sounded like: (note played, verdict), in order.
fn judged(recording: &Path) -> Vec<(u8, Verdict)> {
    let x = samples(recording);
    let starts = timbre::notes(&x, GAP_MS as f64 * 0.6);
    let played = PHRASE.iter().chain(PHRASE.iter());
    starts
        .iter()
        .zip(played)
        .filter_map(|(&start, &note)| Some((note, verdict_for(note, &Print::of(&x, start)?))))
        .collect()
}

/// The phrase heard as finger bass, then (after the switch) as trumpet, note by note.
fn heard_as(what: &str, judged: &[(u8, Verdict)]) -> Result<(), String> {
    let expected: Vec<&str> = ["finger-bass"; 4]
        .into_iter()
        .chain(["trumpet"; 4])
        .collect();
    let got: Vec<&str> = judged.iter().map(|(_, v)| v.nearest.as_str()).collect();
    if got != expected {
        return Err(format!(
            "{what} heard {got:?}, not {expected:?}: {judged:?}"
        ));
    }
    eprintln!(
        "{what}: every note its instrument; distances {:?} dB, margins {:?} dB",
        judged
            .iter()
            .map(|(_, v)| (v.distance_db * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
        judged
            .iter()
            .map(|(_, v)| (v.margin_db * 10.0).round() / 10.0)
            .collect::<Vec<_>>()
    );
    Ok(())
}

/// A bassist (a protocol client) chooses the finger bass; a listener who was there and one who
/// joins after the choice both hear the phrase as finger bass; the bassist switches to trumpet
/// between two notes and both hear the next notes as trumpet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_hear_each_players_instrument_from_the_next_note_and_late_joiners_too() {
    let _alone = ALONE.lock().await;
    let _ = references();
    taken("a player's chosen instrument", |n| async move {
        let dir = scratch(&format!("heard-{n}"));
        // Built once, before anyone waits on a socket that answers no heartbeat meanwhile.
        let jam = jam();
        let pulse = Pulse::start(&dir.join("pulse"), &["early", "late"]);
        let host = SilentHost::start().await;
        let code = host.code();
        let early = ear(&jam, &pulse, &host, "early", "Early").await;
        let early_rec = dir.join("early.raw");
        let early_recorder = pulse.record("early", &early_rec);
        record_on(&early_rec, 1).await;

        let mut bassist = Client::connect(&format!("ws://{}", host.relay.local_addr())).await;
        bassist.join(&code, "Bassist").await;
        let choose = |keys: &str| json!({"keys": keys, "drums": "standard-kit"});
        bassist.broadcast("instrument", choose("finger-bass")).await;
        settled(&mut bassist).await;

        // Joins after the choice: only the welcome tells it.
        let late = ear(&jam, &pulse, &host, "late", "Late").await;
        let late_rec = dir.join("late.raw");
        let late_recorder = pulse.record("late", &late_rec);
        record_on(&late_rec, 1).await;

        phrase(&mut bassist).await;
        bassist.broadcast("instrument", choose("trumpet")).await;
        phrase(&mut bassist).await;
        record_on(&late_rec, 1).await;
        early_recorder.stop();
        late_recorder.stop();
        for program in [early, late] {
            program.stop().await;
        }
        bassist.close().await;
        host.program.stop().await;
        heard_as("the listener who was there", &judged(&early_rec))?;
        heard_as("the late joiner", &judged(&late_rec))
    })
    .await;
}

/// A browser guest (Chromium) joins after the bassist chose the finger bass, and hears the
/// phrase as the finger bass and, after the switch, as the trumpet: the same measure as the
/// app's listener, against the app engine's renders. The guest fetches only the sounds in use,
/// when they come into use; the time each took to become playable is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and its driver: scripts/test runs it with the browser tests"]
async fn a_browser_guest_hears_each_players_instrument_as_the_app_does() {
    let _alone = ALONE.lock().await;
    let _ = references();
    taken("a player's instrument in the browser", |n| async move {
        let dir = scratch(&format!("browser-{n}"));
        let pulse = Pulse::start(&dir.join("pulse"), &["guest"]);
        let host = SilentHost::start().await;
        let code = host.code();
        let relay = host.relay.local_addr();
        let browser = jam_tests::browser::Browser::start_kind(
            jam_tests::browser::Kind::Chromium,
            &dir.join("browser"),
            pulse.server(),
            "guest",
        )
        .await;
        browser
            .client
            .goto(&format!("http://{relay}/join/{code}"))
            .await
            .expect("the page opens");
        browser.wait_for("body[data-sound-ready-ms]").await;
        // The bassist chooses before the guest joins (and after the browser started: the
        // bassist answers no heartbeat while the test waits).
        let mut bassist = Client::connect(&format!("ws://{relay}")).await;
        bassist.join(&code, "Bassist").await;
        let choose = |keys: &str| json!({"keys": keys, "drums": "standard-kit"});
        bassist.broadcast("instrument", choose("finger-bass")).await;
        settled(&mut bassist).await;
        browser.click("#role-listen").await;
        browser.type_into("#name", "Guest").await;
        browser.click("#join-button").await;
        browser.wait_for("#room:not([hidden])").await;
        let ready_ms = |id: &'static str| {
            let browser = &browser;
            async move {
                let el = browser.wait_for(&format!("body[data-sound-{id}-ms]")).await;
                el.attr(&format!("data-sound-{id}-ms"))
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            }
        };
        let bass_ms = ready_ms("finger-bass").await;
        // The guest shows it in the player list too.
        let script = "const li = [...document.querySelectorAll('#participants li')].find(li => li.querySelector('.pname').textContent === 'Bassist'); return li ? li.querySelector('.sound')?.textContent ?? null : null;";
        let listed = browser
            .client
            .execute(script, vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let recording = dir.join("heard.raw");
        let recorder = pulse.record("guest", &recording);
        record_on(&recording, 1).await;
        phrase(&mut bassist).await;
        bassist.broadcast("instrument", choose("trumpet")).await;
        let trumpet_ms = ready_ms("trumpet").await;
        phrase(&mut bassist).await;
        record_on(&recording, 1).await;
        recorder.stop();
        browser.close().await;
        bassist.close().await;
        host.program.stop().await;
        eprintln!(
            "the browser guest: the finger bass playable {bass_ms} ms after the welcome, the trumpet {trumpet_ms} ms after the switch"
        );
        if listed != "Finger bass" {
            return Err(format!("the guest's player list says {listed:?}"));
        }
        heard_as("the browser guest", &judged(&recording))
    })
    .await;
}

/// `jam play --instrument` tells the room its sound before its first note, and the file's
/// program change switches it between notes (to the palette's nearest: GM 57, trombone, is
/// the trumpet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jam_play_sends_its_instrument_first_and_a_files_program_changes_in_order() {
    let dir = scratch("play");
    let song = dir.join("switch.mid");
    let mut rec = Recording::new();
    let track = rec.track("Keys");
    let mut at_us = 0;
    for (i, note) in [48u8, 50, 52, 53].into_iter().enumerate() {
        if i == 2 {
            let change = MidiMessage::ProgramChange { program: 57 };
            rec.record(
                track,
                at_us,
                MidiEvent {
                    channel: 0,
                    message: change,
                },
            );
        }
        for (dt, velocity) in [(0, 90), (50_000, 0)] {
            let on = MidiMessage::NoteOn { note, velocity };
            rec.record(
                track,
                at_us + dt,
                MidiEvent {
                    channel: 0,
                    message: on,
                },
            );
        }
        at_us += 100_000;
    }
    rec.save(&song).expect("write the song");

    // Built before the room exists: the ear reads nothing (answers no heartbeat) until the
    // player plays.
    let jam = jam();
    let relay = jam_tests::relay(jam_relay::RelayConfig::default()).await;
    let url = format!("ws://{}", relay.local_addr());
    let mut ear = Client::connect(&url).await;
    ear.create("Ear").await;
    let code = ear.room.clone().expect("a room");
    let mut player = Command::new(jam);
    player.args([
        "play",
        song.to_str().expect("a UTF-8 path"),
        "--into",
        &format!("jam://{}/{code}", relay.local_addr()),
        "--instrument",
        "finger-bass",
        "--kit",
        "brush-kit",
        "--no-audio",
    ]);
    let played = groove::Program::start(player).finished();
    let heard = async {
        let mut seen = Vec::new();
        while seen
            .iter()
            .filter(|s: &&String| s.starts_with("piano_note "))
            .count()
            < 4
        {
            let msg = ear.expect_eventually("event:broadcast").await;
            let name = msg["eventName"].as_str().unwrap_or("").to_owned();
            let what = match name.as_str() {
                "instrument" => format!(
                    "instrument {} {}",
                    msg["payload"]["keys"].as_str().unwrap_or("?"),
                    msg["payload"]["drums"].as_str().unwrap_or("?")
                ),
                "piano_note" => format!("piano_note {}", msg["payload"]["note"]),
                _ => continue,
            };
            seen.push(what);
        }
        seen
    };
    let (seen, ()) = tokio::join!(heard, played);
    assert_eq!(
        seen,
        [
            "instrument finger-bass brush-kit",
            "piano_note 48",
            "piano_note 50",
            "instrument trumpet brush-kit",
            "piano_note 52",
            "piano_note 53",
        ]
    );
    // A newcomer now hears nothing of the player, who left; while the ear's own choice stands.
    ear.broadcast(
        "instrument",
        json!({"keys": "warm-pad", "drums": "room-kit"}),
    )
    .await;
    settled(&mut ear).await;
    let mut late = Client::connect(&url).await;
    let welcome = late.join_as(&code, "Late", "listener").await;
    assert_eq!(
        welcome["state"]["instruments"],
        json!([{"userId": ear.id, "keys": "warm-pad", "drums": "room-kit"}])
    );
}

/// A player loads their own SoundFont (`jam play --my-sound`): their speakers play it, and a
/// listener's play the palette's nearest sound (the square lead) — each note measured against
/// the renders of the whole palette and of the player's own sound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_own_sound_is_what_i_hear_and_the_room_hears_the_nearest_palette_sound() {
    let _alone = ALONE.lock().await;
    let dir = scratch("own");
    let font = dir.join("sine.sf2");
    timbre::sine_font(&font);
    let mine = jam_audio::own::load(&font, None, &bank()).expect("the font loads");
    let mut refs: Vec<NoteRefs> = references().to_vec();
    for (note, list) in &mut refs {
        let held = HELD_MS as f32 / 1_000.0;
        list.push((
            "mine".to_owned(),
            timbre::own_reference(&bank(), &mine, *note, held),
        ));
    }
    let judge = |recording: &Path, expected: &str| -> Result<Vec<Verdict>, String> {
        let x = samples(recording);
        let starts = timbre::notes(&x, GAP_MS as f64 * 0.6);
        let verdicts: Vec<Verdict> = starts
            .iter()
            .zip(PHRASE)
            .filter_map(|(&start, note)| {
                let list = &refs.iter().find(|(n, _)| *n == note)?.1;
                Some(timbre::verdict(&Print::of(&x, start)?, list))
            })
            .collect();
        let got: Vec<&str> = verdicts.iter().map(|v| v.nearest.as_str()).collect();
        if got != [expected; 4] {
            return Err(format!(
                "heard {got:?}, not {expected} four times: {verdicts:?}"
            ));
        }
        Ok(verdicts)
    };
    let song = dir.join("phrase.mid");
    let mut rec = Recording::new();
    let track = rec.track("Lead");
    for (i, note) in PHRASE.into_iter().enumerate() {
        let at_us = i as u64 * GAP_MS * 1_000;
        for (dt, velocity) in [(0, 100), (HELD_MS * 1_000, 0)] {
            let on = MidiMessage::NoteOn { note, velocity };
            let event = MidiEvent {
                channel: 0,
                message: on,
            };
            rec.record(track, at_us + dt, event);
        }
    }
    rec.save(&song).expect("write the song");

    taken("my own sound", |n| {
        let (dir, font, song) = (dir.join(format!("take-{n}")), font.clone(), song.clone());
        let judge = &judge;
        async move {
            let jam = jam();
            let pulse = Pulse::start(&dir.join("pulse"), &["me", "ear"]);
            let host = SilentHost::start().await;
            let ear = ear(&jam, &pulse, &host, "ear", "Ear").await;
            let (my_rec, ear_rec) = (dir.join("me.raw"), dir.join("ear.raw"));
            let my_recorder = pulse.record("me", &my_rec);
            let ear_recorder = pulse.record("ear", &ear_rec);
            record_on(&ear_rec, 1).await;
            let mut player = Command::new(&jam);
            player.args([
                "play",
                song.to_str().expect("a UTF-8 path"),
                "--into",
                &host.invite,
                "--my-sound",
                font.to_str().expect("a UTF-8 path"),
            ]);
            audio_env(&mut player, &pulse, "me", groove::STEADY_BUFFER);
            groove::Program::start(player).finished().await;
            record_on(&ear_rec, 1).await;
            my_recorder.stop();
            ear_recorder.stop();
            ear.stop().await;
            host.program.stop().await;
            let mine = judge(&my_rec, "mine").map_err(|e| format!("my speakers: {e}"))?;
            let theirs =
                judge(&ear_rec, "square-lead").map_err(|e| format!("the listener's: {e}"))?;
            for (who, v) in [("mine", mine), ("the listener's", theirs)] {
                eprintln!(
                    "{who}: distances {:?} dB, margins {:?} dB",
                    v.iter()
                        .map(|v| (v.distance_db * 10.0).round() / 10.0)
                        .collect::<Vec<_>>(),
                    v.iter()
                        .map(|v| (v.margin_db * 10.0).round() / 10.0)
                        .collect::<Vec<_>>()
                );
            }
            Ok(())
        }
    })
    .await;
}
