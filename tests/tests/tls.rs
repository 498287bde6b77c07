//! A relay server over TLS, as a musician uses one: `jam-relay --tls-cert --tls-key` (a
//! certificate from a CA made here), clients on `jams://` invites trusting that CA, and the
//! messages a guest gets when it can't get in: an untrusted certificate, nothing listening, an
//! unknown name.

use jam_protocol::MusicalEvent;
use jam_protocol::event::DrumHit;
use jam_session::{Invite, Session, SessionConfig, SessionError, SessionEvent};
use jam_tests::pki::TestPki;
use jam_tests::{PATIENCE, RelayProcess};

fn dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("jamwire-tls-{name}-{}", std::process::id()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_jam_through_a_tls_relay_that_trusts_a_private_ca() {
    let pki = TestPki::create(&dir("ok"), &["localhost", "127.0.0.1"]);
    let mut relay = RelayProcess::spawn([
        "--bind",
        "127.0.0.1:0",
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    let (url, _) = relay.next_url().await;
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    let port = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();

    let mut host_config = SessionConfig::host(&format!("localhost:{port}"), "Ann");
    host_config.tls = true;
    host_config.ca_certs = vec![pki.ca.clone()];
    let host = Session::connect(host_config)
        .await
        .expect("the host gets in");
    let invite = Invite {
        address: format!("localhost:{port}"),
        room: host.room().clone(),
        tls: true,
    };
    let text = invite.to_string();
    assert!(text.starts_with("jams://localhost:"), "{text}");

    let mut guest_config = SessionConfig::join(&Invite::parse(&text).unwrap(), "Ben");
    guest_config.ca_certs = vec![pki.ca.clone()];
    let mut guest = Session::connect(guest_config)
        .await
        .expect("the guest gets in");
    let hit = MusicalEvent::DrumHit(DrumHit {
        note: 38,
        velocity: 100,
        timestamp: host.relay_now_ms(),
    });
    host.send(&hit).unwrap();
    let heard = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(SessionEvent::Remote(e)) = guest.next_event().await {
                return e.event;
            }
        }
    })
    .await
    .expect("the hit arrives over TLS");
    assert_eq!(heard, Some(hit));

    // The browser link of a TLS relay is https, and the relay serves the guest page over TLS
    // on the same port, with the page's own socket (wss) in its policy.
    let link = invite.browser_link();
    assert_eq!(
        link,
        format!("https://localhost:{port}/join/{}", host.room())
    );
    let page = https_get(
        &pki.ca,
        &format!("localhost:{port}"),
        &format!("/join/{}", host.room()),
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page:.200}");
    assert!(
        page.contains(&format!("wss://localhost:{port}")),
        "{page:.600}"
    );
    assert!(page.contains("<title>Jamwire</title>"));

    // Without the private CA, the certificate isn't trusted: a TLS error that says what to do.
    let untrusted = Session::connect(SessionConfig::join(&Invite::parse(&text).unwrap(), "Eve"))
        .await
        .unwrap_err();
    assert!(
        matches!(untrusted, SessionError::Tls { .. }),
        "{untrusted:?}"
    );
    assert!(
        untrusted.to_string().contains("JAMWIRE_CA_CERT"),
        "{untrusted}"
    );
    // A plain-WebSocket invite to a TLS relay doesn't get in either.
    let plain = format!("jam://localhost:{port}/{}", host.room());
    assert!(
        Session::connect(SessionConfig::join(&Invite::parse(&plain).unwrap(), "Eve"))
            .await
            .is_err()
    );

    guest.leave().await;
    host.leave().await;
    drop(relay);
    let _ = std::fs::remove_dir_all(dir("ok"));
}

#[tokio::test]
async fn a_guest_is_told_whether_nothing_listens_or_the_name_is_unknown() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let refused = Invite::parse(&format!("jam://127.0.0.1:{port}/K7M2QXH4")).unwrap();
    let e = Session::connect(SessionConfig::join(&refused, "Ben"))
        .await
        .unwrap_err();
    assert!(matches!(e, SessionError::Refused { .. }), "{e:?}");
    assert!(e.to_string().contains("ended the jam"), "{e}");

    let unknown = Invite::parse("jam://no-such-host.invalid:7878/K7M2QXH4").unwrap();
    let e = Session::connect(SessionConfig::join(&unknown, "Ben"))
        .await
        .unwrap_err();
    assert!(matches!(e, SessionError::UnknownHost { .. }), "{e:?}");
    assert!(e.to_string().contains("no-such-host.invalid"), "{e}");
}

/// `GET path` over TLS to `authority` (trusting `ca`), the whole answer as text.
async fn https_get(ca: &std::path::Path, authority: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = jam_session::tls_config(&[ca.to_path_buf()]).expect("the CA loads");
    let (host, port) = authority.rsplit_once(':').expect("host:port");
    let tcp = tokio::net::TcpStream::connect((host, port.parse::<u16>().expect("a port")))
        .await
        .expect("the relay accepts");
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).expect("a name");
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("the TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.expect("sent");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}
