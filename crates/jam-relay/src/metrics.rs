//! The relay's figures for monitoring: Prometheus text over HTTP (`jam-relay --metrics ADDR`).

use std::convert::Infallible;
use std::fmt::Write;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::shared::Shared;
use crate::stats::StatsSnapshot;

/// The relay's figures, readable from anywhere while it runs.
#[derive(Debug, Clone)]
pub struct Metrics {
    shared: Arc<Shared>,
}

impl Metrics {
    pub(crate) fn new(shared: Arc<Shared>) -> Metrics {
        Metrics { shared }
    }

    /// The relay's counters right now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Session-log records stored and dropped so far, when recording.
    pub fn recorded(&self) -> Option<(u64, u64)> {
        self.shared.recorder.as_ref().map(|r| {
            let stats = r.stats();
            (
                stats.written.load(std::sync::atomic::Ordering::Relaxed),
                stats.dropped.load(std::sync::atomic::Ordering::Relaxed),
            )
        })
    }

    /// Everything in the Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        prometheus_text(&self.stats(), self.recorded())
    }
}

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
        "jam_relay_lanes",
        "gauge",
        "Spare lanes open (second connections carrying a copy of each event).",
        stats.lanes,
    );
    metric(
        "jam_relay_lane_copies_total",
        "counter",
        "Second copies of events dropped, not relayed.",
        stats.lane_copies,
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
    metric(
        "jam_relay_refused_connections_total",
        "counter",
        "Sockets refused before their handshake: the relay or that IP address was full.",
        stats.refused_connections,
    );
    metric(
        "jam_relay_refused_origins_total",
        "counter",
        "WebSocket handshakes refused because their Origin is not allowed.",
        stats.refused_origins,
    );
    metric(
        "jam_relay_web_connections_total",
        "counter",
        "Connections that asked for the browser guest's page or its files.",
        stats.web_requests,
    );
    metric(
        "jam_relay_refusals_total",
        "counter",
        "Client requests answered with an error (every code).",
        stats.refusals,
    );
    metric(
        "jam_relay_join_failures_total",
        "counter",
        "Failed joins: no such room, wrong password, or too many failures.",
        stats.join_failures,
    );
    metric(
        "jam_relay_join_timeouts_total",
        "counter",
        "Connections closed for not joining a room in time.",
        stats.join_timeouts,
    );
    metric(
        "jam_relay_rooms_ended_total",
        "counter",
        "Rooms their host ended with session:end.",
        stats.rooms_ended,
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

/// Most metrics connections served at once; more are closed unanswered.
pub const MAX_METRICS_CONNECTIONS: usize = 16;
/// How long a metrics client has to send its request headers.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the `--metrics` value: `PORT` alone means loopback (`127.0.0.1:PORT`), so the figures
/// are public only when an address says so (`0.0.0.0:9100`).
pub fn metrics_addr(value: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = value.trim().parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    value.trim().parse().map_err(|_| {
        format!("\"{value}\" is neither a port (9100) nor an address (127.0.0.1:9100)")
    })
}

/// Serves `GET /metrics` on `listener` until `shutdown` is cancelled: at most
/// [`MAX_METRICS_CONNECTIONS`] at once, each with [`HEADER_READ_TIMEOUT`] to send its request.
pub async fn serve(listener: TcpListener, metrics: Metrics, shutdown: CancellationToken) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_METRICS_CONNECTIONS));
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
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!("metrics: too many connections; closing one");
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(respond(&req, &metrics)) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_means_loopback() {
        assert_eq!(metrics_addr("9100").unwrap().to_string(), "127.0.0.1:9100");
        assert_eq!(
            metrics_addr("0.0.0.0:9100").unwrap().to_string(),
            "0.0.0.0:9100"
        );
        assert!(metrics_addr("nine").is_err());
    }
}
