//! The relay's figures for monitoring: Prometheus text over HTTP (`jam-relay --metrics ADDR`).

use std::convert::Infallible;
use std::fmt::Write;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Metrics, StatsSnapshot};

/// Renders the figures in the Prometheus text exposition format (version 0.0.4).
pub fn prometheus_text(stats: &StatsSnapshot, recorded: Option<(u64, u64)>) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "jam_relay_connections",
        "gauge",
        "Open WebSocket connections.",
        stats.connections,
    );
    metric("jam_relay_rooms", "gauge", "Rooms that exist.", stats.rooms);
    metric(
        "jam_relay_members",
        "gauge",
        "Room memberships.",
        stats.members,
    );
    metric(
        "jam_relay_events_in_total",
        "counter",
        "Events accepted from clients.",
        stats.events_in,
    );
    metric(
        "jam_relay_events_out_total",
        "counter",
        "Event frames queued to receivers (one per receiver).",
        stats.deliveries,
    );
    metric(
        "jam_relay_slow_consumers_total",
        "counter",
        "Members disconnected because they could not keep up.",
        stats.slow_consumers,
    );
    metric(
        "jam_relay_rate_limited_total",
        "counter",
        "Client messages dropped by the rate limiter.",
        stats.rate_limited,
    );
    metric(
        "jam_relay_stale_dropped_total",
        "counter",
        "Note-ons dropped because they waited too long to be sent.",
        stats.stale_dropped,
    );
    metric(
        "jam_relay_bad_messages_total",
        "counter",
        "Frames refused as malformed or too large.",
        stats.bad_messages,
    );
    if let Some((written, dropped)) = recorded {
        metric(
            "jam_relay_log_written_total",
            "counter",
            "Records stored in the session log.",
            written,
        );
        metric(
            "jam_relay_log_dropped_total",
            "counter",
            "Records the session log could not keep.",
            dropped,
        );
    }
    out
}

/// Serves `GET /metrics` on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, metrics: Metrics, shutdown: CancellationToken) {
    loop {
        let (stream, _) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept failed");
                    continue;
                }
            },
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(respond(&req, &metrics)) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "metrics connection ended");
            }
        });
    }
}

fn respond(req: &Request<hyper::body::Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.prometheus(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "Jamwire relay: the figures are at /metrics\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
