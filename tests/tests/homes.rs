//! Two homes behind real NAT routers (network namespaces, nftables; router A with a real UPnP
//! IGD and NAT-PMP/PCP server, miniupnpd; router B with none), and a relay server on the
//! "internet" between them — the `jam` tool run on each machine as a musician would:
//!
//! 1. Ann hosts at home A: her router opens the port, the invite carries the internet address,
//!    Bob at home B joins with it as printed and plays, and Ann's housemate hears him (she
//!    found the jam over mDNS; Bob's home doesn't see it). The mapping is gone after the jam.
//!    Again with the router answering only NAT-PMP/PCP.
//! 2. Bea hosts at home B: her router opens nothing, and she is told only her network can
//!    join; a guest pointed at her router's address is told, within the documented 5 s, that
//!    nothing answered and why that is likely.
//! 3. Bea hosts on a TLS relay server instead (a certificate from a CA made here): guests at
//!    both homes join and hear each other.
//!
//! Needs root and the tools of [`jam_tests::homes`]; `scripts/test` runs it with `--ignored`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use jam_midi::{MidiEvent, MidiMessage, Recording, Song};
use jam_tests::homes::{Homes, Host};
use jam_tests::pki::TestPki;
use jam_tests::{PATIENCE, sigterm, workspace_binary};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout};

/// A process on one machine of the homes, with its output read line by line.
struct Proc {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<ChildStderr>>,
}

fn spawn(homes: &Homes, host: Host, program: &Path, args: &[&str], ca: Option<&Path>) -> Proc {
    let mut command = homes.command(host, program);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(ca) = ca {
        command.env("JAMWIRE_CA_CERT", ca);
    }
    let mut child = command
        .spawn()
        .expect("the program starts in its namespace");
    let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
    let stderr = BufReader::new(child.stderr.take().expect("piped")).lines();
    Proc {
        child,
        stdout,
        stderr,
    }
}

/// `jam host` on `host`, listening on every interface at 7878, as a musician's would.
fn host_here(homes: &Homes, host: Host, jam: &Path, name: &str) -> Proc {
    let args = [
        "host",
        "--bind",
        "0.0.0.0:7878",
        "--name",
        name,
        "--no-audio",
    ];
    spawn(homes, host, jam, &args, None)
}

/// `jam play SONG --into INVITE` on `host`, as `name`.
fn play(
    homes: &Homes,
    host: Host,
    jam: &Path,
    song: &Path,
    invite: &str,
    name: &str,
    ca: Option<&Path>,
) -> Proc {
    let args = [
        "play",
        song.to_str().unwrap_or_default(),
        "--into",
        invite,
        "--name",
        name,
        "--no-audio",
    ];
    spawn(homes, host, jam, &args, ca)
}

/// `jam record FILE --from INVITE` on `host`.
fn record(
    homes: &Homes,
    host: Host,
    jam: &Path,
    file: &Path,
    invite: &str,
    ca: Option<&Path>,
) -> Proc {
    let args = [
        "record",
        file.to_str().unwrap_or_default(),
        "--from",
        invite,
        "--no-audio",
    ];
    spawn(homes, host, jam, &args, ca)
}

impl Proc {
    /// The first stdout line holding `needle`.
    async fn out_line(&mut self, needle: &str) -> String {
        wait_line(&mut self.stdout, needle).await
    }

    /// The first stderr line holding `needle`.
    async fn err_line(&mut self, needle: &str) -> String {
        wait_line(&mut self.stderr, needle).await
    }

    /// Stops it as Ctrl-C would, and requires a clean exit.
    async fn stop(mut self) {
        sigterm(self.child.id().expect("running"));
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("it stops in time")
            .expect("exit status");
        assert!(status.success(), "{status}");
    }

    /// Everything it prints on stdout, once it has ended (successfully).
    async fn printed(mut self) -> String {
        let mut all = String::new();
        while let Ok(Ok(Some(line))) = tokio::time::timeout(PATIENCE, self.stdout.next_line()).await
        {
            all.push_str(&line);
            all.push('\n');
        }
        let (ok, rest) = self.finish().await;
        assert!(ok, "{rest}");
        all
    }

    /// Waits for it to end; returns whether it succeeded and everything left on stderr.
    async fn finish(mut self) -> (bool, String) {
        let mut rest = String::new();
        while let Ok(Ok(Some(line))) = tokio::time::timeout(PATIENCE, self.stderr.next_line()).await
        {
            rest.push_str(&line);
            rest.push('\n');
        }
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("it ends in time")
            .expect("exit status");
        (status.success(), rest)
    }
}

async fn wait_line<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut Lines<R>,
    needle: &str,
) -> String {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match lines.next_line().await {
                Ok(Some(line)) if line.contains(needle) => return line,
                Ok(Some(_)) => {}
                _ => panic!("ended before a line with {needle:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no line with {needle:?} in time"))
}

/// The first `jam://` or `jams://` invite in a line.
fn invite_in(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("jam://") || w.starts_with("jams://"))
        .unwrap_or_else(|| panic!("an invite in {line:?}"))
        .to_owned()
}

/// A short song: C, E, G on the piano, 150 ms apart.
fn song(dir: &Path) -> PathBuf {
    let mut rec = Recording::new();
    let t = rec.track("Song");
    for (i, note) in [60u8, 64, 67].iter().enumerate() {
        let at = i as u64 * 150_000;
        let on = MidiMessage::NoteOn {
            note: *note,
            velocity: 90,
        };
        let off = MidiMessage::NoteOff {
            note: *note,
            velocity: 0,
        };
        rec.record(
            t,
            at,
            MidiEvent {
                channel: 0,
                message: on,
            },
        );
        rec.record(
            t,
            at + 100_000,
            MidiEvent {
                channel: 0,
                message: off,
            },
        );
    }
    let path = dir.join("song.mid");
    rec.save(&path).expect("write the song");
    path
}

/// The piano notes a recording holds on `player`'s track.
fn notes_of(path: &Path, player: &str) -> Vec<u8> {
    let song = Song::load(path).expect("a MIDI file");
    let track = song
        .track_names
        .iter()
        .position(|n| n == player)
        .unwrap_or_else(|| panic!("{player} in {:?}", song.track_names));
    song.events
        .iter()
        .filter(|e| usize::from(e.track) == track)
        .filter_map(|e| match e.event.message {
            MidiMessage::NoteOn { note, velocity } if velocity > 0 => Some(note),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root and network namespaces: scripts/test runs it"]
async fn two_homes_jam_the_ways_their_routers_allow() {
    let dir = std::env::temp_dir().join(format!("jamwire-homes-{}", std::process::id()));
    let mut homes = Homes::build(&dir);
    homes.start_port_mapping();
    let jam = workspace_binary("jam", "jam");
    let relay = workspace_binary("jam-relay", "jam-relay");
    let song = song(&dir);

    // 1. Ann hosts at home A; her router opens the port.
    let pressed = Instant::now();
    let mut ann = host_here(&homes, Host::A1, &jam, "Ann");
    let invite = invite_in(&ann.out_line("hosting").await);
    let to_invite = pressed.elapsed();
    assert!(
        invite.starts_with("jam://11.71.0.2:"),
        "the invite carries the internet address: {invite}"
    );
    let reach = ann.err_line("can join").await;
    assert!(reach.contains("Anyone with the invite can join"), "{reach}");
    let also = ann.err_line("also reachable").await;
    assert!(
        also.contains("10.1.0.11:7878"),
        "the LAN address is shown too: {also}"
    );
    let port = invite
        .rsplit_once(':')
        .unwrap()
        .1
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        homes.mappings().contains(&format!("dport {port}")),
        "router A maps the port: {}",
        homes.mappings()
    );
    let code = invite.rsplit('/').next().unwrap().to_owned();

    // Ann's housemate finds the jam on the network; Bob's home, behind its own router, doesn't.
    let (a2_list, b1_list) = tokio::join!(
        spawn(&homes, Host::A2, &jam, &["list", "--wait", "3"], None).printed(),
        spawn(&homes, Host::B1, &jam, &["list", "--wait", "3"], None).printed(),
    );
    let lan_invite = format!("jam://10.1.0.11:7878/{code}");
    assert!(
        a2_list.contains(&lan_invite) && a2_list.contains("Ann's jam"),
        "{a2_list:?}"
    );
    assert!(
        !b1_list.contains(&code),
        "home B must not see home A's jam: {b1_list:?}"
    );

    // She listens (and records) through the LAN address; Bob plays from home B.
    let heard = dir.join("heard-a.mid");
    let mut housemate = record(&homes, Host::A2, &jam, &heard, &lan_invite, None);
    housemate.err_line("joined").await;
    let joining = Instant::now();
    let mut bob = play(&homes, Host::B1, &jam, &song, &invite, "Bob", None);
    bob.err_line("joined").await;
    let join_through_mapping = joining.elapsed();
    let (ok, rest) = bob.finish().await;
    assert!(ok && rest.contains("played 6 events"), "{rest}");
    housemate.err_line("Bob left").await;
    housemate.stop().await;
    assert_eq!(
        notes_of(&heard, "Bob"),
        [60, 64, 67],
        "Ann's housemate heard Bob"
    );
    ann.stop().await;
    assert!(
        !homes.mappings().contains(&format!("dport {port}")),
        "the mapping is gone after the jam: {}",
        homes.mappings()
    );

    // 1b. A router that answers only NAT-PMP/PCP (UPnP off) opens the port just as well.
    homes.start_port_mapping_with(false);
    let mut ann = host_here(&homes, Host::A1, &jam, "Ann");
    let pmp_invite = invite_in(&ann.out_line("hosting").await);
    assert!(
        pmp_invite.starts_with("jam://11.71.0.2:7878/"),
        "{pmp_invite}"
    );
    assert!(
        ann.err_line("can join")
            .await
            .contains("Anyone with the invite can join")
    );
    let mut bob = play(&homes, Host::B1, &jam, &song, &pmp_invite, "Bob", None);
    bob.err_line("joined").await;
    let (ok, rest) = bob.finish().await;
    assert!(ok, "{rest}");
    ann.stop().await;
    assert!(
        !homes.mappings().contains("dport 7878"),
        "the NAT-PMP/PCP mapping is gone after the jam: {}",
        homes.mappings()
    );

    // 2. Bea hosts at home B, whose router opens nothing.
    let mut bea = host_here(&homes, Host::B1, &jam, "Bea");
    let bea_invite = invite_in(&bea.out_line("hosting").await);
    assert!(
        bea_invite.starts_with("jam://10.2.0.11:7878/"),
        "only a LAN invite: {bea_invite}"
    );
    let reach = bea.err_line("can join").await;
    assert!(
        reach.contains("Only people on your network can join — your router did not open a port"),
        "{reach}"
    );
    // A guest sent her router's public address gets no answer: told so, and what to try.
    let bea_code = bea_invite.rsplit('/').next().unwrap().to_owned();
    let dead = format!("jam://11.71.0.3:7878/{bea_code}");
    let tried = Instant::now();
    let (ok, said) = spawn(
        &homes,
        Host::A1,
        &jam,
        &["join", &dead, "--name", "Al", "--no-audio"],
        None,
    )
    .finish()
    .await;
    let gave_up_after = tried.elapsed();
    assert!(!ok, "{said}");
    assert!(
        said.contains("no answer from 11.71.0.3:7878 within 5 s"),
        "{said}"
    );
    assert!(said.contains("relay server"), "it says what to try: {said}");
    bea.stop().await;

    // 3. A relay server on the internet, over TLS: Bea hosts there; guests at both homes.
    let pki = TestPki::create(&dir.join("pki"), &["11.71.0.10"]);
    let mut server = spawn(
        &homes,
        Host::Server,
        &relay,
        &[
            "--bind",
            "0.0.0.0:8443",
            "--tls-cert",
            pki.cert.to_str().unwrap(),
            "--tls-key",
            pki.key.to_str().unwrap(),
        ],
        None,
    );
    server.out_line("listening on wss://").await;
    let pressed = Instant::now();
    let mut bea = spawn(
        &homes,
        Host::B1,
        &jam,
        &[
            "host",
            "--relay",
            "wss://11.71.0.10:8443",
            "--name",
            "Bea",
            "--no-audio",
        ],
        Some(&pki.ca),
    );
    let tls_invite = invite_in(&bea.out_line("hosting").await);
    let to_tls_invite = pressed.elapsed();
    assert!(
        tls_invite.starts_with("jams://11.71.0.10:8443/"),
        "{tls_invite}"
    );
    assert!(
        bea.err_line("can join")
            .await
            .contains("through the relay server 11.71.0.10")
    );
    let heard_b = dir.join("heard-b.mid");
    let heard_a = dir.join("heard-a2.mid");
    let mut at_b = record(&homes, Host::B1, &jam, &heard_b, &tls_invite, Some(&pki.ca));
    let mut at_a = record(&homes, Host::A2, &jam, &heard_a, &tls_invite, Some(&pki.ca));
    at_b.err_line("joined").await;
    at_a.err_line("joined").await;
    let joining = Instant::now();
    let mut al = play(
        &homes,
        Host::A1,
        &jam,
        &song,
        &tls_invite,
        "Al",
        Some(&pki.ca),
    );
    al.err_line("joined").await;
    let join_through_tls = joining.elapsed();
    let (ok, rest) = al.finish().await;
    assert!(ok, "{rest}");
    at_b.err_line("Al left").await;
    at_a.err_line("Al left").await;
    at_b.stop().await;
    at_a.stop().await;
    assert_eq!(
        notes_of(&heard_b, "Al"),
        [60, 64, 67],
        "home B heard home A through the relay server"
    );
    assert_eq!(notes_of(&heard_a, "Al"), [60, 64, 67], "and so did home A");
    bea.stop().await;
    server.stop().await;

    eprintln!(
        "figures: Host → internet invite {:.0} ms; join through the mapping {:.0} ms; Host on the TLS relay → invite {:.0} ms; join through the TLS relay {:.0} ms; dead address reported after {:.1} s",
        to_invite.as_secs_f64() * 1e3,
        join_through_mapping.as_secs_f64() * 1e3,
        to_tls_invite.as_secs_f64() * 1e3,
        join_through_tls.as_secs_f64() * 1e3,
        gave_up_after.as_secs_f64()
    );
    drop(homes);
    let _ = std::fs::remove_dir_all(&dir);
}
