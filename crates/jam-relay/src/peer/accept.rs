//! A fresh connection up to its WebSocket: TLS when the relay serves `wss://`, the request head
//! telling a WebSocket upgrade from the guest page's HTTP, the `Origin` check and tungstenite's
//! handshake, each within the handshake timeout; and a full relay's one-line refusal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use jam_protocol::{ErrorCode, ServerMsg};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

use super::connection::serve;
use super::writer::CLOSE_TIMEOUT;
use crate::ips::IpSlot;
use crate::shared::Shared;
use crate::stats::RelayStats;
use crate::stream::{Split, Wired};

/// How long a client has to complete the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How much one read from a client's socket takes at most, bytes. tungstenite zero-fills this
/// much before every read, whatever arrives (its default, 128 KiB, cost 7 % of the relay's CPU;
/// 8 KiB still 15 % of its instructions). A musical event is a few hundred bytes, so 2 KiB
/// holds a chord's worth in one read; a frame up to the message limit simply takes more reads
/// (figures in docs/PERFORMANCE.md).
const READ_BUFFER_BYTES: usize = 2 * 1024;

/// The relay's limits for the WebSocket layer.
pub(super) fn ws_config(shared: &Shared) -> WebSocketConfig {
    let limit = shared.config.hard_frame_limit();
    WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
        .read_buffer_size(READ_BUFFER_BYTES)
}

/// A fresh TCP connection: the TLS handshake first when the relay serves `wss://` (within the
/// handshake timeout), then [`serve_tcp`]. `quick` tells whether the socket got the short
/// retransmission floor (`jam_protocol::transport`).
pub(crate) async fn serve_accepted(
    stream: TcpStream,
    addr: SocketAddr,
    shared: Arc<Shared>,
    slots: (OwnedSemaphorePermit, IpSlot),
    quick: bool,
) {
    match shared.tls.clone() {
        None => serve_tcp(stream, addr, shared, slots, quick).await,
        Some(tls) => match timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => serve_tcp(stream, addr, shared, slots, quick).await,
            Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
        },
    }
}

/// [`refuse_full`] on a fresh TCP connection, through TLS when the relay serves `wss://`.
pub(crate) async fn refuse_full_tcp(
    stream: TcpStream,
    addr: SocketAddr,
    shared: Arc<Shared>,
    notice: OwnedSemaphorePermit,
) {
    match shared.tls.clone() {
        None => refuse_full(stream, addr, shared, notice).await,
        Some(tls) => {
            if let Ok(Ok(stream)) = timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream)).await {
                refuse_full(stream, addr, shared, notice).await;
            }
        }
    }
}

/// Accepts the WebSocket handshake on a fresh connection, then serves it. `slots` are the
/// connection's place in the relay and in its IP address's count, held until it ends.
async fn serve_tcp<S>(
    mut stream: S,
    addr: SocketAddr,
    shared: Arc<Shared>,
    slots: (OwnedSemaphorePermit, IpSlot),
    quick: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    crate::web::Rewind<S>: Split,
{
    // One port for both: a WebSocket upgrade goes on below, any other request is the page's.
    let mut head = Vec::new();
    match timeout(HANDSHAKE_TIMEOUT, crate::web::sniff(&mut stream, &mut head)).await {
        Ok(Ok(crate::web::Asked::WebSocket)) => {}
        Ok(Ok(crate::web::Asked::Http)) => {
            RelayStats::add(&shared.stats.web_requests, 1);
            let stream = crate::web::Rewind::new(head, stream);
            let samples = shared.config.samples_dir.clone().map(std::sync::Arc::from);
            crate::web::serve_http(
                stream,
                shared.tls.is_some(),
                samples,
                shared.shutdown.clone(),
            )
            .await;
            drop(slots);
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "connection ended before its request");
            return;
        }
        Err(_) => {
            tracing::debug!(%addr, "no request within the handshake timeout");
            return;
        }
    }
    let stream = Wired::new(crate::web::Rewind::new(head, stream));
    // The signature is tungstenite's `Callback`; its error type is an HTTP response.
    #[allow(clippy::result_large_err)]
    let origin_ok = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .map(|o| o.to_str().unwrap_or("(not text)"));
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        // The relay's own page (the browser guest), and the origins the operator listed.
        if shared.config.origin_allowed(origin)
            || origin.is_some_and(|o| crate::web::same_origin(o, host))
        {
            return Ok(response);
        }
        RelayStats::add(&shared.stats.refused_origins, 1);
        tracing::debug!(%addr, origin = ?origin, "refusing a handshake from a web page");
        let mut refusal = ErrorResponse::new(Some(
            "this relay does not accept connections from web pages of that origin\n".to_owned(),
        ));
        *refusal.status_mut() = StatusCode::FORBIDDEN;
        Err(refusal)
    };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        origin_ok,
        Some(ws_config(&shared)),
    );
    match timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(ws)) => {
            let ip = slots.1.ip();
            serve(ws, addr.to_string(), Some(ip), shared, quick).await;
        }
        Ok(Err(e)) => tracing::debug!(%addr, error = %e, "websocket handshake failed"),
        Err(_) => tracing::debug!(%addr, "websocket handshake timed out"),
    }
    drop(slots);
}

/// Tells a connection the relay is full, then closes it. `_notice` is one of the few slots for
/// doing so; past them, sockets are closed unanswered.
async fn refuse_full<S>(
    stream: S,
    addr: SocketAddr,
    shared: Arc<Shared>,
    _notice: OwnedSemaphorePermit,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tracing::warn!(%addr, "refusing a connection: the relay is full");
    let handshake = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config(&shared)));
    let Ok(Ok(mut ws)) = timeout(HANDSHAKE_TIMEOUT, handshake).await else {
        return;
    };
    let full = ServerMsg::error(
        ErrorCode::ServerFull,
        "this relay is full right now; try again in a minute",
    );
    let close = CloseFrame {
        code: CloseCode::Again,
        reason: "relay full".into(),
    };
    let _ = timeout(CLOSE_TIMEOUT, async {
        ws.send(Message::text(full.to_json())).await?;
        ws.send(Message::Close(Some(close))).await
    })
    .await;
}
