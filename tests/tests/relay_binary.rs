//! The `jam-relay` binary as an operator runs it: prints its URL, relays, stops on SIGTERM.

use jam_tests::{Client, PATIENCE, drum_hit};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn the_binary_prints_its_url_relays_and_stops_cleanly_on_sigterm() {
    let mut relay =
        jam_tests::RelayProcess::spawn(["--bind", "127.0.0.1:0", "--max-room-size", "8"]);
    let (url, line) = relay.next_url().await;
    let url = url.as_str();
    let child = &mut relay.child;
    assert!(
        url.starts_with("ws://127.0.0.1:") && url.ends_with('/'),
        "{line}"
    );

    let mut a = Client::connect(url).await;
    let mut b = Client::connect(url).await;
    let code = a.create("Alice").await["roomCode"]
        .as_str()
        .unwrap()
        .to_owned();
    b.join(&code, "Bob").await;
    a.expect("session:user-joined").await;
    a.broadcast("drum_hit", drum_hit(38, 100)).await;
    assert_eq!(b.expect("event:broadcast").await["senderId"], a.id.as_str());

    jam_tests::sigterm(child.id().expect("running"));
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        a.ending().await,
        jam_tests::Ending::Closed(1001, "the relay is shutting down".into())
    );

    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    while let Ok(Some(l)) = stderr.next_line().await {
        log.push_str(&l);
        log.push('\n');
    }
    assert!(
        log.contains("joined room") && log.contains("SIGTERM"),
        "{log}"
    );
    assert!(
        !log.contains("drum_hit"),
        "no per-event lines at info level:\n{log}"
    );
}
