//! The relay's own web page: the browser guest. One port answers both: a WebSocket upgrade goes
//! to the relay as always; any other HTTP request is served from the files embedded at build
//! time (the UI build and the instrument samples, see `build.rs`), with hyper.
//!
//! Routes (`docs/PROTOCOL.md`, "HTTP"): `GET /` and `GET /join/CODE` → the page;
//! `/assets/…` → its scripts, styles and WebAssembly (content-hashed names, cached for a year);
//! `/samples/index.json` and `/samples/{drums,piano}/…` → the samples; `/samples/palette/…` the
//! palette's manifest and recordings. `HEAD` too; any other
//! method is 405, any other path 404. Every answer carries a strict Content-Security-Policy.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// One embedded file.
pub(crate) struct WebFile {
    /// Its path in the URL, from `/`.
    pub(crate) path: &'static str,
    /// Its bytes.
    pub(crate) body: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/web_files.rs"));

/// The longest request head read to tell a WebSocket upgrade from a page request; a longer one
/// is answered by hyper (431) or refused.
pub(crate) const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long an HTTP connection may stay open, requests and keep-alive together.
pub(crate) const HTTP_CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// How long a client may take to send a request's head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection's first bytes asked for.
pub(crate) enum Asked {
    /// A WebSocket upgrade.
    WebSocket,
    /// Anything else: HTTP.
    Http,
}

/// Reads the start of a connection until its request head is complete (at most
/// [`MAX_HEAD_BYTES`]) and says what it asks for. The bytes read are kept in `head` to be
/// replayed ([`Rewind`]). `Err` when the connection ends or fails first.
pub(crate) async fn sniff<S: AsyncRead + Unpin>(
    stream: &mut S,
    head: &mut Vec<u8>,
) -> std::io::Result<Asked> {
    let mut chunk = [0u8; 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(head) {
            Ok(httparse::Status::Complete(_)) => {
                let upgrade = request.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("upgrade")
                        && std::str::from_utf8(h.value).is_ok_and(|v| {
                            v.split(',')
                                .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
                        })
                });
                return Ok(if upgrade {
                    Asked::WebSocket
                } else {
                    Asked::Http
                });
            }
            // Too many headers or not HTTP at all: let hyper answer it.
            Err(_) => return Ok(Asked::Http),
            Ok(httparse::Status::Partial) if head.len() >= MAX_HEAD_BYTES => {
                return Ok(Asked::Http);
            }
            Ok(httparse::Status::Partial) => {}
        }
        let room = MAX_HEAD_BYTES.saturating_sub(head.len()).min(chunk.len());
        let n = stream.read(&mut chunk[..room]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// A stream that first yields bytes already read from it.
pub(crate) struct Rewind<S> {
    head: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Rewind<S> {
    pub(crate) fn new(head: Vec<u8>, inner: S) -> Rewind<S> {
        Rewind { head, at: 0, inner }
    }

    /// What is left of the head, and the stream, to rebuild around another stream.
    pub(crate) fn into_parts(self) -> (Vec<u8>, S) {
        let mut head = self.head;
        head.drain(..self.at.min(head.len()));
        (head, self.inner)
    }

    /// [`Rewind::new`], from [`Rewind::into_parts`].
    pub(crate) fn from_parts(head: Vec<u8>, inner: S) -> Rewind<S> {
        Rewind::new(head, inner)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if let Some(rest) = this.head.get(this.at..)
            && !rest.is_empty()
        {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(rest.get(..n).unwrap_or_default());
            this.at += n;
            if this.at == this.head.len() {
                this.head = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves HTTP requests on one connection until it closes, [`HTTP_CONNECTION_LIFETIME`]
/// passes or `shutdown` is cancelled. `tls`: the relay serves `https`/`wss`.
pub(crate) async fn serve_http<S>(
    stream: S,
    tls: bool,
    samples: Option<std::sync::Arc<std::path::Path>>,
    shutdown: tokio_util::sync::CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let samples = samples.clone();
        async move {
            let (method, path) = (req.method(), req.uri().path());
            if let Some(dir) = samples.as_deref()
                && (method == Method::GET || method == Method::HEAD)
                && let Some(rel) = path.strip_prefix("/samples/")
            {
                return Ok::<_, Infallible>(
                    respond_sample(method, rel, dir, host_of(&req), tls).await,
                );
            }
            Ok::<_, Infallible>(respond(method, path, host_of(&req), tls))
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = &mut connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "web connection ended");
            }
        }
        () = tokio::time::sleep(HTTP_CONNECTION_LIFETIME) => {}
        () = shutdown.cancelled() => {}
    }
}

/// The request's `Host`, if it is a plausible host (letters, digits, `.-:[]`), for the page's
/// own WebSocket address in the Content-Security-Policy.
fn host_of(req: &Request<hyper::body::Incoming>) -> Option<String> {
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    plausible_host(host).then(|| host.to_ascii_lowercase())
}

/// Letters, digits and `.-:[]`, 1–255 characters.
pub(crate) fn plausible_host(host: &str) -> bool {
    (1..=255).contains(&host.len())
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// The Content-Security-Policy of every answer: our own scripts and WebAssembly only, no inline
/// script, no frames, network only to this relay.
pub(crate) fn content_security_policy(host: Option<&str>, tls: bool) -> String {
    let socket = host
        .map(|h| format!(" {}://{h}", if tls { "wss" } else { "ws" }))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; media-src 'self'; connect-src 'self'{socket}; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// The MIME type of a path, by its extension.
pub(crate) fn mime(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("flac") => "audio/flac",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn file(path: &str) -> Option<&'static WebFile> {
    FILES
        .binary_search_by(|f| f.path.cmp(path))
        .ok()
        .and_then(|i| FILES.get(i))
}

/// The samples the relay has, as `{"drums": [...], "piano": [...]}` (file names).
fn samples_index() -> String {
    let list = |kind: &str| -> Vec<&str> {
        let prefix = format!("/samples/{kind}/");
        FILES
            .iter()
            .filter_map(|f| f.path.strip_prefix(prefix.as_str()))
            .collect()
    };
    serde_json::json!({ "drums": list("drums"), "piano": list("piano") }).to_string()
}

/// The answer to one request.
pub(crate) fn respond(
    method: &Method,
    path: &str,
    host: Option<String>,
    tls: bool,
) -> Response<Full<Bytes>> {
    let head_only = method == Method::HEAD;
    let (status, content_type, cache, body): (StatusCode, &str, &str, Bytes) = if method
        != Method::GET
        && !head_only
    {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "no-store",
            Bytes::from_static(b"Jamwire relay: only GET and HEAD here\n"),
        )
    } else if path == "/" || is_join_path(path) {
        match file("/index.html") {
                Some(f) => (
                    StatusCode::OK,
                    mime(f.path),
                    "no-cache",
                    Bytes::from_static(f.body),
                ),
                None if !HAS_PAGE => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "no-store",
                    Bytes::from_static(
                        b"This Jamwire relay was built without its browser page (the UI build). Join with the Jamwire app instead.\n",
                    ),
                ),
                None => not_found(),
            }
    } else if path == "/samples/index.json" {
        (
            StatusCode::OK,
            mime(path),
            "no-cache",
            Bytes::from(samples_index()),
        )
    } else {
        match file(path).filter(|f| f.path != "/index.html") {
            Some(f) => {
                let cache = if f.path.starts_with("/assets/") {
                    "public, max-age=31536000, immutable"
                } else {
                    "public, max-age=86400"
                };
                (
                    StatusCode::OK,
                    mime(f.path),
                    cache,
                    Bytes::from_static(f.body),
                )
            }
            None => not_found(),
        }
    };
    finish(status, content_type, cache, body, head_only, host, tls)
}

/// Largest sample file served from disk (the palette's largest is 1.6 MB).
const MAX_SAMPLE_BYTES: u64 = 8 * 1024 * 1024;

/// The part of a path under `/samples/` that names a file in a samples folder: one of its
/// three kinds, then names of letters, digits, `-`, `_` and `.` (never `..`), `.flac` or
/// `.json` at the end. Anything else is not served.
fn sample_path(rel: &str) -> Option<std::path::PathBuf> {
    let mut parts = rel.split('/');
    let kind = parts.next()?;
    if !matches!(kind, "drums" | "piano" | "palette") {
        return None;
    }
    let mut path = std::path::PathBuf::from(kind);
    let mut depth = 0;
    for part in parts {
        let ok = !part.is_empty()
            && part.len() <= 64
            && !part.starts_with('.')
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        depth += 1;
        if !ok || depth > 2 {
            return None;
        }
        path.push(part);
    }
    let name = path.to_str()?;
    (depth > 0 && (name.ends_with(".flac") || name.ends_with(".json"))).then_some(path)
}

/// A sample from the samples folder `dir` (`RelayConfig::samples_dir`), or the index of its
/// piano and drum recordings.
async fn respond_sample(
    method: &Method,
    rel: &str,
    dir: &std::path::Path,
    host: Option<String>,
    tls: bool,
) -> Response<Full<Bytes>> {
    let head_only = method == Method::HEAD;
    if rel == "index.json" {
        let list = |kind: &str| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir.join(kind))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".flac"))
                .collect();
            names.sort();
            names
        };
        let index = serde_json::json!({ "drums": list("drums"), "piano": list("piano") });
        let body = Bytes::from(index.to_string());
        return finish(
            StatusCode::OK,
            mime(".json"),
            "no-cache",
            body,
            head_only,
            host,
            tls,
        );
    }
    let Some(path) = sample_path(rel) else {
        let (status, content_type, cache, body) = not_found();
        return finish(status, content_type, cache, body, head_only, host, tls);
    };
    let full = dir.join(&path);
    let read = async {
        let meta = tokio::fs::metadata(&full).await.ok()?;
        if !meta.is_file() || meta.len() > MAX_SAMPLE_BYTES {
            return None;
        }
        tokio::fs::read(&full).await.ok()
    };
    match read.await {
        Some(bytes) => finish(
            StatusCode::OK,
            mime(rel),
            "public, max-age=86400",
            Bytes::from(bytes),
            head_only,
            host,
            tls,
        ),
        None => {
            let (status, content_type, cache, body) = not_found();
            finish(status, content_type, cache, body, head_only, host, tls)
        }
    }
}

/// The response: `body` (none for `HEAD`) with the headers every answer carries.
fn finish(
    status: StatusCode,
    content_type: &str,
    cache: &str,
    body: Bytes,
    head_only: bool,
    host: Option<String>,
    tls: bool,
) -> Response<Full<Bytes>> {
    let length = body.len();
    let mut response = Response::new(Full::new(if head_only { Bytes::new() } else { body }));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, content_type);
    set(header::CACHE_CONTROL, cache);
    set(header::CONTENT_LENGTH, &length.to_string());
    set(
        header::CONTENT_SECURITY_POLICY,
        &content_security_policy(host.as_deref(), tls),
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::X_FRAME_OPTIONS, "DENY");
    if status == StatusCode::METHOD_NOT_ALLOWED {
        set(header::ALLOW, "GET, HEAD");
    }
    response
}

fn not_found() -> (StatusCode, &'static str, &'static str, Bytes) {
    (
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        "no-store",
        Bytes::from_static(b"Jamwire relay: nothing here. Open the link from your invite.\n"),
    )
}

/// `/join/CODE` with a plausible code (letters and digits, at most 16).
fn is_join_path(path: &str) -> bool {
    path.strip_prefix("/join/").is_some_and(|code| {
        (1..=16).contains(&code.len()) && code.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

/// True if a WebSocket handshake's `Origin` is this relay's own page: its host and port are the
/// `Host` the handshake was sent to (the scheme is not compared: a TLS proxy in front of a plain
/// relay serves the page over https).
pub(crate) fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host) && plausible_host(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_request_and_an_upgrade_are_told_apart_and_replayed_whole() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(async {
            let upgrade = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\nrest";
            let mut head = Vec::new();
            let mut stream = &upgrade[..];
            assert!(matches!(sniff(&mut stream, &mut head).await, Ok(Asked::WebSocket)));
            let mut rewound = Rewind::new(head, stream);
            let mut all = Vec::new();
            rewound.read_to_end(&mut all).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(all, upgrade, "every byte read while sniffing is replayed");

            let mut head = Vec::new();
            let mut page = &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..];
            assert!(matches!(sniff(&mut page, &mut head).await, Ok(Asked::Http)));
            let mut head = Vec::new();
            let mut cut = &b"GET / HTTP/1.1\r\nHo"[..];
            assert!(sniff(&mut cut, &mut head).await.is_err(), "a head cut short ends it");
            let huge = vec![b'a'; MAX_HEAD_BYTES * 2];
            let mut head = Vec::new();
            let mut huge = &huge[..];
            assert!(matches!(sniff(&mut huge, &mut head).await, Ok(Asked::Http)));
            assert!(head.len() <= MAX_HEAD_BYTES, "never reads more than the bound");
        });
    }

    #[test]
    fn a_rewind_rebuilt_from_its_parts_replays_only_what_is_left() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(async {
            let mut rewound = Rewind::new(b"head".to_vec(), &b"tail"[..]);
            let mut two = [0u8; 2];
            rewound
                .read_exact(&mut two)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&two, b"he");
            let (head, stream) = rewound.into_parts();
            let mut all = Vec::new();
            let mut rebuilt = Rewind::from_parts(head, stream);
            rebuilt
                .read_to_end(&mut all)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(all, b"adtail", "nothing read twice, nothing lost");
        });
    }

    #[test]
    fn only_the_relays_own_page_is_its_origin() {
        assert!(same_origin(
            "http://192.168.1.20:7878",
            Some("192.168.1.20:7878")
        ));
        assert!(same_origin(
            "https://Relay.Example.org",
            Some("relay.example.org")
        ));
        assert!(!same_origin(
            "http://evil.example",
            Some("192.168.1.20:7878")
        ));
        assert!(!same_origin(
            "http://192.168.1.20:7878.evil",
            Some("192.168.1.20:7878")
        ));
        assert!(!same_origin("null", Some("a")));
        assert!(!same_origin("http://a", None));
        assert!(!same_origin("http://a b", Some("a b")));
    }

    #[test]
    fn routes_methods_and_headers() {
        let r = respond(&Method::POST, "/", None, false);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            respond(&Method::GET, "/nothing", None, false).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&Method::GET, "/join/../../etc", None, false).status(),
            StatusCode::NOT_FOUND
        );
        let index = respond(
            &Method::GET,
            "/samples/index.json",
            Some("h:1".into()),
            false,
        );
        assert_eq!(index.status(), StatusCode::OK);
        let csp = index
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(csp.contains("connect-src 'self' ws://h:1;"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(mime("/assets/a-1.wasm"), "application/wasm");
        assert!(
            FILES.windows(2).all(|w| w[0].path < w[1].path),
            "sorted for lookup"
        );
        if cfg!(feature = "embedded-samples") {
            assert!(FILES.iter().any(|f| f.path.starts_with("/samples/piano/")));
            let manifest = respond(&Method::GET, "/samples/palette/palette.json", None, false);
            assert_eq!(manifest.status(), StatusCode::OK);
            assert!(file("/samples/palette/samples/0000.flac").is_some());
        }
    }

    /// A relay given a samples folder serves its files, byte for byte, with the headers of
    /// every answer, and nothing outside it: no `..`, no hidden or other files, no folder.
    #[tokio::test]
    async fn samples_from_a_folder_are_served_and_nothing_else() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets");
        let body = |r: Response<Full<Bytes>>| async move {
            use http_body_util::BodyExt;
            let status = r.status();
            let bytes = r.into_body().collect().await.map(|b| b.to_bytes());
            (status, bytes.unwrap_or_default())
        };
        for rel in [
            "palette/palette.json",
            "palette/samples/0000.flac",
            "piano/060-soft.flac",
            "drums/038.flac",
        ] {
            let r = respond_sample(&Method::GET, rel, &dir, Some("h:1".into()), false).await;
            assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
            let (status, bytes) = body(r).await;
            assert_eq!(status, StatusCode::OK, "{rel}");
            assert_eq!(
                bytes.as_ref(),
                std::fs::read(dir.join(rel)).unwrap(),
                "{rel}"
            );
        }
        let head = respond_sample(&Method::HEAD, "drums/038.flac", &dir, None, false).await;
        let (status, bytes) = body(head).await;
        assert_eq!((status, bytes.len()), (StatusCode::OK, 0));
        let (status, index) =
            body(respond_sample(&Method::GET, "index.json", &dir, None, false).await).await;
        assert_eq!(status, StatusCode::OK);
        let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
        assert!(
            index["piano"]
                .as_array()
                .is_some_and(|p| p.iter().any(|n| n == "060-soft.flac"))
        );
        for rel in [
            "../Cargo.toml",
            "palette/../../Cargo.toml",
            "palette/..",
            "palette/.hidden.json",
            "palette",
            "palette/samples",
            "README.md",
            "tools/render_samples.py",
            "palette/samples/0000.flac/x.flac",
            "palette//palette.json",
            "palette/nothing.json",
        ] {
            let (status, _) =
                body(respond_sample(&Method::GET, rel, &dir, None, false).await).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{rel}");
        }
    }
}
