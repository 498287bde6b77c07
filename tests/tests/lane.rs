//! The spare lane (`jam_protocol::lane`) over real sockets: a member's second connection gets a
//! copy of every event relayed to the member, a copy sent on both is relayed once, and a lane
//! token is a secret that opens only its own member's lane.

use jam_relay::RelayConfig;
use jam_tests::{Client, Ending, drum_hit, relay};
use serde_json::{Value, json};

/// Opens `member`'s spare lane on a fresh connection with `welcome`'s token.
async fn open_lane(url: &str, member: &Client, welcome: &Value) -> Client {
    let mut lane = Client::connect(url).await;
    lane.send(json!({
        "type": "lane:open",
        "roomCode": welcome["roomCode"],
        "userId": member.id,
        "laneToken": welcome["laneToken"],
    }))
    .await;
    lane.expect("lane:opened").await;
    lane.room = member.room.clone();
    lane
}

fn event(room: &str, note: u8, client_seq: Option<u64>) -> Value {
    let mut msg = json!({"type": "event:broadcast", "roomCode": room, "eventName": "drum_hit", "payload": drum_hit(note, 90)});
    if let Some(seq) = client_seq {
        msg["clientSeq"] = json!(seq);
    }
    msg
}

#[tokio::test]
async fn a_lane_gets_a_copy_of_every_event_and_a_copy_sent_twice_is_relayed_once() {
    let relay = relay(RelayConfig::default()).await;
    let url = relay.url();
    let mut drums = Client::connect(&url).await;
    let created = drums.create("Drums").await;
    assert!(
        created["laneToken"].as_str().is_some_and(|t| t.len() >= 20),
        "{created}"
    );
    let room = drums.room.clone().unwrap();
    let mut keys = Client::connect(&url).await;
    let joined = keys.join(&room, "Keys").await;
    assert_ne!(joined["laneToken"], created["laneToken"]);
    drums.expect("session:user-joined").await;
    let mut drums_lane = open_lane(&url, &drums, &created).await;
    let mut keys_lane = open_lane(&url, &keys, &joined).await;
    assert_eq!(relay.stats().lanes, 2);

    // The drummer sends one event on both connections, with the same clientSeq.
    drums.send(event(&room, 36, Some(1))).await;
    drums_lane.send(event(&room, 36, Some(1))).await;
    // The relay handles each connection's messages in order: both copies are in once these
    // pongs are back.
    drums.expect_nothing_pending().await;
    drums_lane.expect_nothing_pending().await;
    let first = keys.expect("event:broadcast").await;
    let copy = keys_lane.expect("event:broadcast").await;
    assert_eq!(first, copy, "the lane gets the same frame");
    assert_eq!(
        first["senderId"],
        drums.id.as_str(),
        "the lane's copy is the member's"
    );
    assert_eq!(first["payload"]["note"], 36);
    assert!(first.get("clientSeq").is_none(), "{first}");
    keys.expect_nothing_pending().await;
    keys_lane.expect_nothing_pending().await;
    let stats = relay.stats();
    assert_eq!((stats.events_in, stats.lane_copies), (1, 1));

    // A copy that arrives first on the lane is the one relayed; events without a clientSeq
    // (older clients) are all relayed; the receiver's own events never come back to it.
    drums_lane.send(event(&room, 38, Some(2))).await;
    drums_lane.expect_nothing_pending().await;
    drums.send(event(&room, 38, Some(2))).await;
    drums.send(event(&room, 40, None)).await;
    drums.send(event(&room, 40, None)).await;
    keys.send(event(&room, 50, Some(1))).await;
    drums.expect_nothing_pending().await;
    for receiver in [&mut keys, &mut keys_lane] {
        let mut heard = Vec::new();
        for _ in 0..3 {
            heard.push(receiver.expect("event:broadcast").await["payload"]["note"].clone());
        }
        assert_eq!(heard, [38, 40, 40]);
    }
    keys.expect_nothing_pending().await;
    keys_lane.expect_nothing_pending().await;
    assert_eq!(drums.expect("event:broadcast").await["payload"]["note"], 50);
    drums.expect_nothing_pending().await;
    drums_lane.expect("event:broadcast").await;
    let stats = relay.stats();
    assert_eq!((stats.events_in, stats.lane_copies), (5, 2));

    // A lane can't leave for its member, nor join anything; its member leaving closes it.
    keys_lane.send(json!({"type": "session:leave"})).await;
    keys_lane.expect_error("BAD_MESSAGE").await;
    keys_lane
        .send(json!({"type": "session:join", "roomCode": room, "name": "Twin"}))
        .await;
    keys_lane.expect_error("ALREADY_IN_ROOM").await;
    keys.send(json!({"type": "session:leave"})).await;
    assert!(matches!(keys_lane.ending().await, Ending::Closed(1000, _)));
    drums.expect("session:user-left").await;
    assert_eq!(relay.stats().members, 1);
    // And a lane that closes is simply forgotten; its member plays on.
    drums_lane.close().await;
    drums.broadcast("drum_hit", drum_hit(42, 1)).await;
    drums.expect_nothing_pending().await;
    assert_eq!(relay.stats().lanes, 0);
}

#[tokio::test]
async fn a_lane_token_opens_only_its_own_members_lane() {
    let relay = relay(RelayConfig::default()).await;
    let url = relay.url();
    let mut drums = Client::connect(&url).await;
    let created = drums.create("Drums").await;
    let room = drums.room.clone().unwrap();
    let mut keys = Client::connect(&url).await;
    let joined = keys.join_as(&room, "Keys", "listener").await;
    let mut stranger = Client::connect(&url).await;
    let attempts = [
        (
            json!(room),
            json!(drums.id),
            json!("WRONGWRONGWRONGWRONG"),
            "FORBIDDEN",
        ),
        (
            json!(room),
            json!(keys.id),
            created["laneToken"].clone(),
            "FORBIDDEN",
        ),
        (
            json!("ZZZZZZZZ"),
            json!(drums.id),
            created["laneToken"].clone(),
            "FORBIDDEN",
        ),
        (
            json!(room),
            json!(drums.id),
            json!("x".repeat(65)),
            "BAD_MESSAGE",
        ),
        (
            json!(room),
            json!("u".repeat(65)),
            created["laneToken"].clone(),
            "BAD_MESSAGE",
        ),
    ];
    let failures = relay.stats().join_failures;
    for (room_code, user_id, token, code) in attempts {
        stranger
            .send(json!({"type": "lane:open", "roomCode": room_code, "userId": user_id, "laneToken": token}))
            .await;
        let refusal = stranger.expect_error(code).await;
        assert!(
            !refusal
                .to_string()
                .contains(created["laneToken"].as_str().unwrap()),
            "{refusal}"
        );
    }
    assert_eq!(
        relay.stats().join_failures,
        failures + 3,
        "a wrong token is a failed join"
    );
    assert_eq!(relay.stats().lanes, 0);
    stranger
        .send(json!({"type": "lane:open", "roomCode": room, "userId": drums.id}))
        .await;
    stranger.expect_error("BAD_MESSAGE").await;
    // A listener's lane hears, and can't play any more than its member can.
    let mut listener_lane = open_lane(&url, &keys, &joined).await;
    listener_lane.send(event(&room, 36, Some(1))).await;
    listener_lane.expect_error("FORBIDDEN").await;
    drums.expect("session:user-joined").await;
    drums.broadcast("drum_hit", drum_hit(36, 1)).await;
    keys.expect("event:broadcast").await;
    listener_lane.expect("event:broadcast").await;
    // Opening a second lane for the same member closes the first.
    let mut again = open_lane(&url, &keys, &joined).await;
    assert!(matches!(
        listener_lane.ending().await,
        Ending::Closed(1000, _)
    ));
    again.expect_nothing_pending().await;
    assert_eq!(relay.stats().lanes, 1);
}

#[tokio::test]
async fn a_lane_spends_its_members_budget() {
    let config = RelayConfig {
        // No refill: the test's figures hold however slowly it runs.
        rate_per_sec: 0,
        rate_burst: 7,
        ..RelayConfig::default()
    };
    let relay = relay(config).await;
    let url = relay.url();
    let mut drums = Client::connect(&url).await;
    let created = drums.create("Drums").await;
    let room = drums.room.clone().unwrap();
    let mut lane = open_lane(&url, &drums, &created).await;
    // The create took one; four distinct events, on either connection, take four more. A copy
    // of an event already relayed is dropped before it is charged: the pong comes with no
    // refusal before it, and takes the last token.
    for seq in 1..=2 {
        drums.send(event(&room, 36, Some(seq))).await;
        lane.send(event(&room, 36, Some(seq + 2))).await;
    }
    lane.expect_nothing_pending().await;
    drums.send(event(&room, 36, Some(1))).await;
    drums.expect_nothing_pending().await;
    // The budget is spent, whichever connection asks.
    lane.send(event(&room, 36, Some(9))).await;
    lane.expect_error("RATE_LIMITED").await;
    assert_eq!(relay.stats().lane_copies, 1);
    assert_eq!(relay.stats().events_in, 4);
}
