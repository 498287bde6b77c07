//! The relay's own web page over real sockets: one port answers HTTP for the browser guest's
//! page and files and WebSocket for the relay; the page's own origin may open the socket, no
//! other; wrong methods, unknown paths and oversized requests get clear answers.

use jam_relay::RelayConfig;
use jam_tests::{Client, relay};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` raw and reads the whole answer (the request asks to close).
async fn ask(addr: std::net::SocketAddr, request: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.expect("the relay accepts");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("the request is sent");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    (head, answer[split..].to_vec())
}

fn get(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn the_relay_serves_the_guest_page_and_its_files_on_its_own_port() {
    let relay = relay(RelayConfig::default()).await;
    let addr = relay.local_addr();
    let host = addr.to_string();

    let (head, page) = ask(addr, &get("/join/K7M2QXH4", &host)).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(head.contains("cache-control: no-cache"), "{head}");
    assert!(
        head.contains(
            "content-security-policy: default-src 'none'; script-src 'self' 'wasm-unsafe-eval'"
        ),
        "{head}"
    );
    assert!(
        head.contains(&format!("connect-src 'self' ws://{host};")),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    let page = String::from_utf8_lossy(&page).into_owned();
    assert!(
        page.contains("<title>Jamwire</title>"),
        "the app's own page"
    );

    // Every file the page names is there, with its type, cached for good (content-hashed).
    let assets: Vec<&str> = page
        .split('"')
        .filter(|s| s.starts_with("/assets/"))
        .collect();
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{page}");
    for asset in assets {
        let (head, body) = ask(addr, &get(asset, &host)).await;
        assert!(head.starts_with("http/1.1 200"), "{asset}: {head}");
        assert!(head.contains("immutable"), "{asset}: {head}");
        let wanted = if asset.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(head.contains(wanted), "{asset}: {head}");
        assert!(!body.is_empty());
    }

    // The samples, listed and served.
    let (head, index) = ask(addr, &get("/samples/index.json", &host)).await;
    assert!(head.contains("application/json"), "{head}");
    let index: serde_json::Value = serde_json::from_slice(&index).expect("JSON");
    let first = index["piano"][0]
        .as_str()
        .expect("piano samples")
        .to_owned();
    let (head, flac) = ask(addr, &get(&format!("/samples/piano/{first}"), &host)).await;
    assert!(head.contains("audio/flac"), "{head}");
    assert_eq!(&flac[..4], b"fLaC");

    // HEAD has the headers and no body; other methods and paths are refused plainly.
    let (head, body) = ask(
        addr,
        &format!("HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(
        head.starts_with("http/1.1 200") && body.is_empty(),
        "{head}"
    );
    let (head, _) = ask(
        addr,
        &format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(
        head.starts_with("http/1.1 405") && head.contains("allow: get, head"),
        "{head}"
    );
    for path in [
        "/nothing",
        "/index.html",
        "/../Cargo.toml",
        "/join/../../etc/passwd",
        "/samples/../../x",
    ] {
        let (head, _) = ask(addr, &get(path, &host)).await;
        assert!(head.starts_with("http/1.1 404"), "{path}: {head}");
    }
    // A hostile Host header never reaches the policy.
    let (head, _) = ask(addr, &get("/", "evil\"; script-src *")).await;
    assert!(!head.contains("script-src *"), "{head}");
    // A request head past the bound is refused, and the relay goes on.
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let (head, _) = ask(addr, &huge).await;
    assert!(
        head.is_empty() || head.starts_with("http/1.1 431"),
        "{head}"
    );
    assert!(relay.stats().web_requests >= 10);

    // The same port still speaks WebSocket, to native clients and to the page's own origin.
    let url = format!("ws://{host}");
    let mut native = Client::connect(&url).await;
    native.create("Host").await;
    assert!(
        Client::connect_from_origin(&url, &format!("http://{host}"))
            .await
            .is_ok()
    );
    assert!(
        Client::connect_from_origin(&url, "http://evil.example")
            .await
            .is_err()
    );
    assert!(
        Client::connect_from_origin(&url, &format!("http://{host}.evil.example"))
            .await
            .is_err()
    );
    assert_eq!(relay.stats().refused_origins, 2);
}
