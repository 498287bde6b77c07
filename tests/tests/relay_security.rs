//! The relay is safe to expose: web pages, strangers, guessers and floods get refusals, and
//! the honest members of a room notice nothing. Real relays on loopback, real sockets.

use jam_relay::RelayConfig;
use jam_tests::{Client, Ending, at, drum_hit, relay};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Proves a room still works: `from` plays a drum hit and `to` hears exactly it.
async fn still_works(from: &mut Client, to: &mut Client) {
    let hit = drum_hit(38, 77);
    from.broadcast("drum_hit", hit.clone()).await;
    let msg = to.expect("event:broadcast").await;
    assert_eq!(msg["payload"], hit);
    assert_eq!(msg["senderId"], from.id.as_str());
}

/// Keys creates a room with the password "tuesday"; returns Keys and the room's code.
async fn private_room(url: &str) -> (Client, String) {
    let mut host = Client::connect(url).await;
    host.send(json!({"type": "session:create", "name": "Keys", "password": "tuesday"}))
        .await;
    let code = host.expect("session:created").await["roomCode"]
        .as_str()
        .unwrap()
        .to_owned();
    (host, code)
}

#[tokio::test]
async fn a_web_page_cannot_connect_but_native_clients_and_allowed_origins_can() {
    let relay = relay(RelayConfig {
        allowed_origins: vec!["https://jam.example.org".into()],
        ..RelayConfig::default()
    })
    .await;
    let url = relay.url();
    let refused = Client::connect_from_origin(&url, "http://example.com").await;
    let Err(why) = refused else {
        panic!("a page from example.com got in")
    };
    assert!(why.contains("403"), "{why}");
    assert!(
        Client::connect_from_origin(&url, "null").await.is_err(),
        "sandboxed frames send Origin: null"
    );
    let mut page = Client::connect_from_origin(&url, "https://jam.example.org")
        .await
        .expect("an allowed origin gets in");
    page.create("Page").await;
    let mut native = Client::connect(&url).await; // no Origin header at all
    native.create("Native").await;
    assert_eq!(relay.stats().refused_origins, 2);
    assert_eq!(relay.room_count(), 2);
}

#[tokio::test]
async fn an_embedded_relay_serves_its_own_room_only() {
    let config = RelayConfig::embedded();
    let key = config.create_key.clone().expect("a creation key");
    assert_eq!(config.max_rooms, 1);
    let relay = relay(config).await;
    let mut stranger = Client::connect(&relay.url()).await;
    stranger
        .send(json!({"type": "session:create", "name": "Squatter"}))
        .await;
    stranger.expect_error("FORBIDDEN").await;
    stranger
        .send(json!({"type": "session:create", "name": "Squatter", "createKey": "guess"}))
        .await;
    stranger.expect_error("FORBIDDEN").await;
    assert_eq!(relay.room_count(), 0);

    let mut host = Client::connect(&relay.url()).await;
    host.send(json!({"type": "session:create", "name": "Keys", "createKey": key}))
        .await;
    let created = host.expect("session:created").await;
    let code = created["roomCode"].as_str().unwrap().to_owned();
    // Even with the key, there is one room.
    let mut second = Client::connect(&relay.url()).await;
    second
        .send(json!({"type": "session:create", "name": "Again", "createKey": key}))
        .await;
    second.expect_error("TOO_MANY_ROOMS").await;
    // The stranger can still join the host's room with its code, as any guest.
    stranger.join(&code, "Guest").await;
    host.expect("session:user-joined").await;
    still_works(&mut stranger, &mut host).await;
}

#[tokio::test]
async fn only_the_host_ends_the_jam_and_everyone_is_told_who_did() {
    let relay = relay(RelayConfig::default()).await;
    let url = relay.url();
    let mut host = Client::connect(&url).await;
    let created = host.create("Keys").await;
    let code = created["roomCode"].as_str().unwrap().to_owned();
    assert!(created["hostToken"].as_str().is_some_and(|t| t.len() >= 16));
    let mut guest = Client::connect(&url).await;
    let joined = guest.join(&code, "Mallory").await;
    assert!(joined.get("hostToken").is_none(), "only the host gets it");
    let mut other = Client::connect(&url).await;
    other.join(&code, "Ben").await;
    host.expect("session:user-joined").await;
    host.expect("session:user-joined").await;
    guest.expect("session:user-joined").await;

    // A guest can neither end the jam nor make others believe it ended.
    guest.send(json!({"type": "session:end"})).await;
    assert!(
        guest.expect_error("FORBIDDEN").await["message"]
            .as_str()
            .unwrap()
            .contains("only the host")
    );
    guest.broadcast("jam_ended", json!({})).await;
    let fake = other.expect("event:broadcast").await;
    assert_eq!(fake["eventName"], "jam_ended", "just an unknown event");
    host.expect("event:broadcast").await;
    still_works(&mut other, &mut host).await;
    guest.expect("event:broadcast").await;
    assert_eq!(relay.room_count(), 1);

    // The host ends it: everyone hears who, the guests are closed, the room is gone.
    host.send(json!({"type": "session:end"})).await;
    let ended = host.expect("session:ended").await;
    assert_eq!(ended["name"], "Keys");
    for guest in [&mut guest, &mut other] {
        let msg = guest.expect("session:ended").await;
        assert_eq!(msg["name"], "Keys");
        assert_eq!(msg["userId"], host.id.as_str());
        assert_eq!(
            guest.ending().await,
            Ending::Closed(4000, "the host ended the jam".into())
        );
    }
    assert_eq!(relay.room_count(), 0);
    assert_eq!(relay.stats().rooms_ended, 1);
    let mut late = Client::connect(&url).await;
    late.send(json!({"type": "session:join", "roomCode": code, "name": "Late"}))
        .await;
    late.expect_error("ROOM_NOT_FOUND").await;
    host.expect_nothing_pending().await;
}

#[tokio::test]
async fn a_host_that_drops_comes_back_as_host_with_its_token_and_nobody_else_can() {
    let relay = relay(RelayConfig::default()).await;
    let url = relay.url();
    let mut host = Client::connect(&url).await;
    let created = host.create("Keys").await;
    let code = created["roomCode"].as_str().unwrap().to_owned();
    let token = created["hostToken"].as_str().unwrap().to_owned();
    let mut guest = Client::connect(&url).await;
    guest.join(&code, "Ben").await;
    host.close().await;
    guest.expect("session:user-left").await;

    // A guess is an ordinary member, with the name "Keys" or not.
    let mut impostor = Client::connect(&url).await;
    impostor
        .send(json!({"type": "session:join", "roomCode": code, "name": "Keys", "hostToken": "AAAAAAAAAAAAAAAAAAAA"}))
        .await;
    let joined = impostor.expect("session:joined").await;
    assert!(joined.get("hostToken").is_none());
    let me = |w: &Value, id: &str| {
        w["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(me(&joined, &impostor.id)["isHost"], false);
    impostor.send(json!({"type": "session:end"})).await;
    impostor.expect_error("FORBIDDEN").await;

    let mut back = Client::connect(&url).await;
    back.send(json!({"type": "session:join", "roomCode": code, "name": "Keys", "hostToken": token, "role": "listener"}))
        .await;
    let rejoined = back.expect("session:joined").await;
    assert_eq!(me(&rejoined, &back.id)["isHost"], true);
    assert_eq!(
        me(&rejoined, &back.id)["role"],
        "player",
        "the host always plays"
    );
    assert_eq!(rejoined["hostToken"], token.as_str());
    let announced = guest.expect("session:user-joined").await;
    assert_eq!(announced["user"]["isHost"], false, "the impostor");
    let announced = guest.expect("session:user-joined").await;
    assert_eq!(announced["user"]["isHost"], true, "the host, back");
    assert!(announced.get("hostToken").is_none() && announced["user"].get("hostToken").is_none());
    back.send(json!({"type": "session:end"})).await;
    back.expect("session:ended").await;
    guest.expect("session:ended").await;
}

#[tokio::test]
async fn a_connection_that_joins_nothing_is_closed_after_the_join_timeout() {
    let relay = relay(RelayConfig {
        join_timeout_ms: 200,
        ..RelayConfig::default()
    })
    .await;
    let mut idle = Client::connect(&relay.url()).await;
    let mut member = Client::connect(&relay.url()).await;
    member.create("Keys").await;
    assert_eq!(
        idle.ending().await,
        Ending::Closed(4002, "join a room within 30 s".into())
    );
    assert_eq!(relay.stats().join_timeouts, 1);
    member.expect_nothing_pending().await;
    // Leaving a room starts the clock again.
    member.send(json!({"type": "session:leave"})).await;
    assert!(matches!(member.ending().await, Ending::Closed(4002, _)));
}

#[tokio::test]
async fn one_address_gets_a_limited_number_of_connections() {
    let relay = relay(RelayConfig {
        max_connections_per_ip: 2,
        ..RelayConfig::default()
    })
    .await;
    let url = relay.url();
    let a = Client::connect(&url).await;
    let _b = Client::connect(&url).await;
    let refused = Client::try_connect(url.as_str()).await;
    assert!(refused.is_err(), "a third connection from 127.0.0.1");
    assert!(relay.stats().refused_connections >= 1);
    a.close().await;
    // A slot is free again once a connection is gone.
    let mut again = None;
    for _ in 0..100 {
        if let Ok(c) = Client::try_connect(url.as_str()).await {
            again = Some(c);
            break;
        }
        tokio::task::yield_now().await;
    }
    again.expect("a connection once another closed");
}

#[tokio::test]
async fn guessing_room_codes_and_passwords_is_cut_short() {
    let relay = relay(RelayConfig {
        join_failures_per_connection: 3,
        join_failures_per_ip: 5,
        join_failure_refill_ms: 3_600_000,
        ..RelayConfig::default()
    })
    .await;
    let url = relay.url();
    let (mut host, code) = private_room(&url).await;
    // One connection: three failures, then it is closed.
    let mut guesser = Client::connect(&url).await;
    for guess in ["AAAAAAAA", "BBBBBBBB", code.as_str()] {
        guesser
            .send(json!({"type": "session:join", "roomCode": guess, "name": "G", "password": "monday"}))
            .await;
        guesser.expect_error("ROOM_NOT_FOUND").await;
    }
    assert_eq!(
        guesser.ending().await,
        Ending::Closed(4003, "too many failed joins".into())
    );
    // The same address on new connections: two more failures, then its joins are refused
    // outright, even with the right password.
    let mut guesser = Client::connect(&url).await;
    for guess in ["CCCCCCCC", "DDDDDDDD"] {
        guesser
            .send(json!({"type": "session:join", "roomCode": guess, "name": "G"}))
            .await;
        guesser.expect_error("ROOM_NOT_FOUND").await;
    }
    let mut guesser = Client::connect(&url).await;
    guesser
        .send(json!({"type": "session:join", "roomCode": code, "name": "G", "password": "tuesday"}))
        .await;
    guesser.expect_error("RATE_LIMITED").await;
    assert_eq!(relay.stats().join_failures, 5);
    host.expect_nothing_pending().await;
}

#[tokio::test]
async fn a_room_pauses_password_joins_after_many_wrong_passwords_from_anywhere() {
    let relay = relay(RelayConfig {
        join_failures_per_room: 3,
        join_failures_per_ip: 100,
        join_failure_refill_ms: 3_600_000,
        ..RelayConfig::default()
    })
    .await;
    let url = relay.url();
    let (mut host, code) = private_room(&url).await;
    for _ in 0..3 {
        let mut guesser = Client::connect(&url).await;
        guesser
            .send(
                json!({"type": "session:join", "roomCode": code, "name": "G", "password": "nope"}),
            )
            .await;
        guesser.expect_error("ROOM_NOT_FOUND").await;
    }
    let mut friend = Client::connect(&url).await;
    friend
        .send(
            json!({"type": "session:join", "roomCode": code, "name": "Ben", "password": "tuesday"}),
        )
        .await;
    assert!(
        friend.expect_error("RATE_LIMITED").await["message"]
            .as_str()
            .unwrap()
            .contains("too many wrong passwords")
    );
    host.expect_nothing_pending().await;
}

#[tokio::test]
async fn floods_and_oversized_text_are_refused_briefly_and_change_nothing() {
    let relay = relay(RelayConfig::default()).await;
    let url = relay.url();
    let mut ann = Client::connect(&url).await;
    let code = ann.create("Ann").await["roomCode"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut mal = Client::connect(&url).await;
    mal.join(&code, "Mal").await;
    ann.expect("session:user-joined").await;

    // Events outside the vocabulary get 1 KiB.
    mal.broadcast("blob", json!({"x": "y".repeat(1_100)})).await;
    mal.expect_error("PAYLOAD_TOO_LARGE").await;
    // Whatever is echoed in an error is cut short.
    let long_type = "t".repeat(12_000);
    mal.send(json!({"type": long_type})).await;
    let err = mal.expect_error("BAD_MESSAGE").await;
    assert!(err["message"].as_str().unwrap().len() <= 200, "{err}");
    // Names that hide or reverse text.
    for name in ["evil\u{202E}nimda", "Ann\u{200B}", "\u{2066}Ann"] {
        let mut c = Client::connect(&url).await;
        c.send(json!({"type": "session:join", "roomCode": code, "name": name}))
            .await;
        c.expect_error("BAD_MESSAGE").await;
    }
    // Timestamps a day away from relay time, durations over a minute.
    for (name, payload) in [
        (
            "drum_hit",
            json!({"note": 36, "velocity": 9, "timestamp": at(-86_500_000.0)}),
        ),
        (
            "piano_note",
            json!({"note": 60, "velocity": 9, "timestamp": at(0.0), "duration": 1e300}),
        ),
        (
            "tempo_change",
            json!({"bpm": 120, "beatsPerBar": 4, "timestamp": -1e300}),
        ),
    ] {
        mal.broadcast(name, payload).await;
        mal.expect_error("BAD_MESSAGE").await;
    }
    ann.expect_nothing_pending().await;
    // Mal holds a note, then floods: far more frames than the budget, dropped unread, with one
    // notice a second. The release of the held note still goes through.
    mal.broadcast("piano_note", jam_tests::piano_note(60, 90))
        .await;
    ann.expect("event:broadcast").await;
    let junk = format!(
        r#"{{"type":"event:broadcast","roomCode":"{code}","eventName":"x","payload":"{}"}}"#,
        "z".repeat(900)
    );
    for _ in 0..3_000 {
        mal.send_frame(Message::text(junk.clone())).await;
    }
    mal.broadcast("piano_note_off", jam_tests::piano_note_off(60))
        .await;
    let mut received = 0u64;
    loop {
        let msg = ann.expect("event:broadcast").await;
        if msg["eventName"] == "piano_note_off" {
            break;
        }
        assert_eq!(msg["eventName"], "x");
        received += 1;
    }
    let stats = relay.stats();
    assert!(stats.rate_limited > 0, "{stats:?}");
    assert!(received < 3_000, "{stats:?}");
    assert_eq!(received, stats.events_in - 2, "every accepted event, once");
    // Mal was told, briefly; Ann plays on and Mal hears her.
    let hit = drum_hit(38, 77);
    ann.broadcast("drum_hit", hit.clone()).await;
    let mut notices = 0;
    loop {
        let msg = mal.recv().await;
        if msg["type"] == "error" {
            assert_eq!(msg["code"], "RATE_LIMITED", "{msg}");
            notices += 1;
            continue;
        }
        assert_eq!(msg["payload"], hit, "nothing else was queued for Mal");
        break;
    }
    assert!(
        (1..=5).contains(&notices),
        "one notice a second, not one a frame: {notices}"
    );
}
