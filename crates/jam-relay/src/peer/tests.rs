//! A connection served over in-memory pipes, on paused time.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jam_protocol::{ClientMsg, CreateRoom, JoinRoom, ServerMsg};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::connection::{TAIL_PROBE_AFTER, serve};
use crate::RelayConfig;
use crate::outlet::{Offered, Outbound, Outlet, OutletTx, PeerControl};
use crate::shared::Shared;
use crate::stats::RelayStats;
use crate::stream::Wired;
use crate::wire::Frame;
use tokio::io::DuplexStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;

type TestWs = WebSocketStream<DuplexStream>;

/// A connection to `shared` over an in-memory pipe: the relay serves one end, the test
/// holds the other as a WebSocket client. No sockets, so paused time is exact.
async fn connect(shared: &Arc<Shared>) -> TestWs {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = WebSocketStream::from_raw_socket(Wired::new(server_io), Role::Server, None).await;
    tokio::spawn(serve(server, "pipe".into(), None, shared.clone(), false));
    WebSocketStream::from_raw_socket(client_io, Role::Client, None).await
}

async fn recv(ws: &mut TestWs) -> ServerMsg {
    loop {
        match ws.next().await.expect("open").expect("readable") {
            Message::Text(t) => return ServerMsg::parse(t.as_str()).expect("valid"),
            _ => continue,
        }
    }
}

async fn send(ws: &mut TestWs, msg: &ClientMsg) {
    ws.send(Message::text(msg.to_json()))
        .await
        .expect("writable");
}

/// Creates a room as `name` on a connection that has been greeted.
async fn create(ws: &mut TestWs, name: &str) -> jam_protocol::RoomWelcome {
    let create = CreateRoom {
        name: name.into(),
        password: None,
        room_code: None,
        create_key: None,
        link: None,
    };
    send(ws, &ClientMsg::Create(create)).await;
    match recv(ws).await {
        ServerMsg::Created(room) => room,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn members_link_figures_reach_the_room_and_figures_out_of_bounds_are_dropped() {
    let shared = Shared::new(RelayConfig::default(), None, None);
    let quiet = jam_protocol::LinkFigures {
        rtt_us: 240,
        spread_us: 90,
        samples: 8,
    };
    let mut host = connect(&shared).await;
    recv(&mut host).await;
    send(
        &mut host,
        &ClientMsg::Create(CreateRoom {
            name: "Host".into(),
            password: None,
            room_code: None,
            create_key: None,
            link: Some(quiet),
        }),
    )
    .await;
    let ServerMsg::Created(room) = recv(&mut host).await else {
        panic!("created")
    };
    assert_eq!(room.participants[0].link, Some(quiet), "{room:?}");
    // A joiner whose figures are out of bounds joins all the same; its figures are dropped.
    let mut guests = Vec::new();
    for (name, link) in [
        (
            "Liar",
            Some(jam_protocol::LinkFigures {
                samples: 0,
                ..quiet
            }),
        ),
        (
            "Slow",
            Some(jam_protocol::LinkFigures {
                spread_us: jam_protocol::LinkFigures::MAX_US + 1,
                ..quiet
            }),
        ),
        ("Old", None),
    ] {
        let mut guest = connect(&shared).await;
        recv(&mut guest).await;
        send(
            &mut guest,
            &ClientMsg::Join(JoinRoom {
                room_code: room.room_code.clone(),
                name: name.into(),
                role: Default::default(),
                password: None,
                host_token: None,
                link,
            }),
        )
        .await;
        let ServerMsg::Joined(welcome) = recv(&mut guest).await else {
            panic!("joined")
        };
        let host_seen = welcome.participants.iter().find(|p| p.is_host);
        assert_eq!(host_seen.and_then(|p| p.link), Some(quiet), "{welcome:?}");
        let ServerMsg::UserJoined(joined) = recv(&mut host).await else {
            panic!("user-joined")
        };
        assert_eq!(joined.user.name, name);
        assert_eq!(joined.user.link, None, "{name}'s figures are no figures");
        guests.push(guest);
    }
    // Raw JSON with a negative or fractional figure is no figure either: not a join.
    let mut raw = connect(&shared).await;
    recv(&mut raw).await;
    raw.send(tokio_tungstenite::tungstenite::Message::text(format!(
        r#"{{"type":"session:join","roomCode":"{}","name":"Neg","link":{{"rttUs":-1,"spreadUs":0.5,"samples":8}}}}"#,
        room.room_code
    )))
    .await
    .unwrap();
    assert!(matches!(recv(&mut raw).await, ServerMsg::Error(_)));
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_dropped_after_the_heartbeat_timeout_and_an_active_one_stays() {
    let config = RelayConfig {
        heartbeat_interval_ms: 5_000,
        heartbeat_timeout_ms: 15_000,
        ..RelayConfig::default()
    };
    let shared = Shared::new(config, None, None);
    let started = Instant::now();

    let mut silent = connect(&shared).await;
    let ServerMsg::Connected(hello) = recv(&mut silent).await else {
        panic!("greeting")
    };
    let room = create(&mut silent, "Quiet").await;

    let mut active = connect(&shared).await;
    recv(&mut active).await;
    let join = JoinRoom {
        room_code: room.room_code.clone(),
        name: "Awake".into(),
        role: Default::default(),
        password: None,
        host_token: None,
        link: None,
    };
    send(&mut active, &ClientMsg::Join(join)).await;
    assert!(matches!(recv(&mut active).await, ServerMsg::Joined(_)));
    // From here on the silent peer never reads (so never answers a ping) and never writes.
    // The active peer keeps reading, which answers the relay's pings with pongs.
    let ServerMsg::UserLeft(left) = recv(&mut active).await else {
        panic!("user-left")
    };
    assert_eq!(left.user_id, hello.client_id);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(15) && waited <= Duration::from_secs(20),
        "{waited:?}"
    );

    // Long after, the active peer is still connected and served.
    let until = Instant::now() + Duration::from_secs(120);
    while Instant::now() < until {
        send(
            &mut active,
            &ClientMsg::ClockPing(jam_protocol::ClockPing { client_time: 1.0 }),
        )
        .await;
        assert!(matches!(recv(&mut active).await, ServerMsg::ClockPong(_)));
        tokio::time::sleep(Duration::from_secs(3)).await; // paused clock: advances instantly
    }
    assert_eq!(shared.stats.snapshot().members, 1);
    assert_eq!(shared.rooms.len(), 1);
}

/// What tungstenite writes by itself still goes out through the relay's outlet: a ping is
/// answered with its pong, and a client's close is answered with the same close, once.
#[tokio::test]
async fn pings_are_answered_and_a_clients_close_is_echoed_once() {
    let shared = Shared::new(RelayConfig::default(), None, None);
    let mut ws = connect(&shared).await;
    assert!(matches!(recv(&mut ws).await, ServerMsg::Connected(_)));
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = loop {
        match ws.next().await.expect("open").expect("readable") {
            Message::Pong(p) => break p,
            Message::Ping(_) => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(&pong[..], b"are you there");
    let bye = CloseFrame {
        code: CloseCode::Away,
        reason: "bye".into(),
    };
    ws.close(Some(bye)).await.unwrap();
    let mut closes = Vec::new();
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Close(frame) = msg {
            closes.push(frame);
        }
    }
    assert_eq!(closes.len(), 1, "{closes:?}");
    let echoed = closes[0].as_ref().expect("a status");
    assert_eq!(echoed.code, CloseCode::Away);
}

/// A client that pings without end and never reads gets one pong per ping only while its
/// queue has room; then tungstenite's pong waits, and the first thing the relay has for it
/// (here the rate limiter's notice) finds the queue full: it is cut off (4008), and its room
/// plays on.
#[tokio::test]
async fn a_client_that_pings_and_never_reads_is_cut_off_and_the_room_plays_on() {
    let config = RelayConfig {
        outbound_queue: 16,
        ..RelayConfig::default()
    };
    let shared = Shared::new(config, None, None);
    let mut host = connect(&shared).await;
    recv(&mut host).await;
    let room = create(&mut host, "Host").await;
    // The flooder's pipe holds 2 KiB: it fills with pongs at once.
    let (client_io, server_io) = tokio::io::duplex(2 * 1024);
    let server = WebSocketStream::from_raw_socket(Wired::new(server_io), Role::Server, None).await;
    tokio::spawn(serve(server, "pipe".into(), None, shared.clone(), false));
    let mut flooder = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
    let join = JoinRoom {
        room_code: room.room_code.clone(),
        name: "Flood".into(),
        role: Default::default(),
        password: None,
        host_token: None,
        link: None,
    };
    send(&mut flooder, &ClientMsg::Join(join)).await;
    let ServerMsg::UserJoined(joined) = recv(&mut host).await else {
        panic!("user-joined")
    };
    let flood = tokio::spawn(async move {
        let mut sent = 0u32;
        while flooder
            .send(Message::Ping(vec![7; 125].into()))
            .await
            .is_ok()
        {
            sent += 1;
        }
        sent
    });
    let left = loop {
        if let ServerMsg::UserLeft(left) = recv(&mut host).await {
            break left;
        }
    };
    assert_eq!(left.user_id, joined.user.id);
    assert_eq!(shared.stats.snapshot().slow_consumers, 1);
    // The room still serves its host.
    send(
        &mut host,
        &ClientMsg::ClockPing(jam_protocol::ClockPing { client_time: 1.0 }),
    )
    .await;
    assert!(matches!(recv(&mut host).await, ServerMsg::ClockPong(_)));
    let sent = flood.await.unwrap();
    assert!(sent > 16, "{sent} pings");
}

/// An outlet over an in-memory socket (a `Vec` of the bytes written), with its first sender.
fn outlet(inline: bool) -> (Arc<Outlet<Vec<u8>>>, OutletTx) {
    let control = Arc::new(PeerControl::new(CancellationToken::new()));
    let outlet = Arc::new(Outlet::new(Vec::new(), control, 8, usize::MAX, inline));
    let tx = OutletTx::new(outlet.clone());
    (outlet, tx)
}

fn written(outlet: &Outlet<Vec<u8>>) -> Vec<Message> {
    outlet.with_io(|bytes| crate::wire::decode(bytes))
}

#[tokio::test(start_paused = true)]
async fn stale_note_ons_are_dropped_at_dequeue_but_releases_are_not() {
    let stats = RelayStats::default();
    let (outlet, tx) = outlet(true);
    let now = Instant::now();
    let frame = |s: &str| Frame::text(s.to_owned());
    let stale = Some(now + Duration::from_millis(500));
    let queued = |frame, stale_at| tx.offer(Outbound { frame, stale_at });
    // The writer has not run yet, so these queue.
    assert_eq!(queued(frame("old note-on"), stale), Offered::Queued);
    assert_eq!(queued(frame("note-off"), None), Offered::Queued);
    let fresh = Some(now + Duration::from_secs(2));
    assert_eq!(queued(frame("fresh note-on"), fresh), Offered::Queued);
    drop(tx);
    tokio::time::advance(Duration::from_millis(501)).await;
    outlet.pump(&stats, None).await;
    assert_eq!(
        written(&outlet),
        [Message::text("note-off"), Message::text("fresh note-on")]
    );
    assert_eq!(stats.snapshot().stale_dropped, 1);
}

/// Where the socket keeps the 200 ms floor, each burst of frames is followed by one ping
/// once the queue has stayed empty for the probe's delay; other frames (the heartbeat's
/// ping) owe none; without the floor nothing is added.
#[tokio::test(start_paused = true)]
async fn a_burst_is_followed_by_one_tail_probe_where_the_socket_keeps_the_long_floor() {
    for probe in [Some(TAIL_PROBE_AFTER), None] {
        let stats = RelayStats::default();
        let (outlet, tx) = outlet(probe.is_none());
        let out = |frame: Frame| Outbound {
            frame,
            stale_at: None,
        };
        let driver = async {
            tokio::task::yield_now().await;
            tx.offer(out(Frame::text("a".into())));
            tx.offer(out(Frame::text("b".into())));
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.offer(out(Frame::ping()));
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.offer(out(Frame::text("c".into())));
            drop(tx);
        };
        tokio::join!(outlet.pump(&stats, probe), driver);
        let ping = Message::Ping(Default::default());
        let mut expected = vec![Message::text("a"), Message::text("b")];
        if probe.is_some() {
            expected.push(ping.clone());
        }
        // The heartbeat's ping owes no probe; the last text frame is not followed by one
        // because the connection closes at once.
        expected.extend([ping, Message::text("c")]);
        assert_eq!(written(&outlet), expected, "{probe:?}");
    }
}
