//! `jam-relay`: the Jamwire room relay as a headless server.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use jam_relay::RelayConfig;
use jam_takes::Recorder;
use std::path::PathBuf;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Jamwire's room relay: musicians connect over WebSocket, create or join rooms, and every
/// event one of them plays is forwarded to everyone else in the room.
///
/// Prints one line `jam-relay listening on ws://ADDR:PORT/` (`wss://` with --tls-cert) on stdout
/// once it accepts
/// connections (and, with --metrics, a second: `jam-relay metrics on http://ADDR/metrics`).
/// Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=jam_relay=debug) for more.
/// Stops cleanly on Ctrl-C or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "jam-relay", version)]
struct Cli {
    /// Address to listen on: 127.0.0.1:PORT for this machine only, 0.0.0.0:PORT for the
    /// network. Port 0 picks a free port.
    #[arg(long, default_value = "0.0.0.0:7878", value_name = "ADDR:PORT")]
    bind: SocketAddr,

    /// Serve TLS (`wss://`) with this certificate chain (PEM, the server's certificate first),
    /// e.g. Let's Encrypt's fullchain.pem. Invites to rooms here are `jams://HOST[:PORT]/CODE`.
    /// Without it the relay speaks plain WebSocket, for a reverse proxy that terminates TLS.
    #[arg(long, value_name = "CERT.pem", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Worker threads for the relay. One (tokio's current-thread scheduler) is plenty for
    /// hundreds of jam rooms and costs the least CPU per delivery (see docs/PERFORMANCE.md).
    #[arg(long, default_value_t = 1, value_name = "N")]
    threads: usize,

    /// Record every room into this SQLite session log (created if missing). Export a take with
    /// `jam export PATH --session latest OUT.mid`; list them with `jam export PATH --list`.
    #[arg(long, value_name = "PATH.sqlite")]
    log: Option<PathBuf>,

    /// Serve the relay's figures as Prometheus text at http://ADDR/metrics. A port alone (9187)
    /// listens on loopback only; give an address (0.0.0.0:9187) to serve them to the network.
    /// Off unless given.
    #[arg(long, value_name = "[ADDR:]PORT", value_parser = jam_relay::metrics::metrics_addr)]
    metrics: Option<SocketAddr>,

    #[command(flatten)]
    config: RelayConfig,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: tokio's current-thread scheduler, which runs every task on this thread
    // (no hand-offs between a worker and the thread that waits for the relay to stop).
    let mut runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(cli.threads);
        builder
    };
    runtime
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(cli))
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some(jam_relay::Tls::from_pem_files(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let listener = TcpListener::bind(cli.bind)
        .await
        .with_context(|| format!("couldn't listen on {} — is another relay using that port? Use --bind with another port, or port 0 for any free one", cli.bind))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "jam-relay listening on {scheme}://{addr}/")?;
        out.flush()?;
    }
    tracing::info!(%addr, limits = ?cli.config, "relay listening");
    let (recorder, writer) = match &cli.log {
        Some(path) => {
            let (recorder, writer) = Recorder::start(path, jam_takes::DEFAULT_QUEUE)?;
            tracing::info!(path = %path.display(), "recording every room");
            (Some(recorder), Some(writer))
        }
        None => (None, None),
    };
    let relay = jam_relay::from_listener_with(listener, cli.config, recorder, tls)?;
    let stop_metrics = CancellationToken::new();
    if let Some(metrics_addr) = cli.metrics {
        let metrics_listener = TcpListener::bind(metrics_addr).await.with_context(|| {
            format!("couldn't serve metrics on {metrics_addr} — is that port in use?")
        })?;
        let bound = metrics_listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "jam-relay metrics on http://{bound}/metrics")?;
            out.flush()?;
        }
        tokio::spawn(jam_relay::metrics::serve(
            metrics_listener,
            relay.metrics(),
            stop_metrics.clone(),
        ));
    }
    shutdown_signal().await;
    stop_metrics.cancel();
    relay.stop().await?;
    if let Some(writer) = writer {
        // Every room has closed and every record is queued: wait until they are stored.
        writer.finish();
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "couldn't listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "couldn't listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
}
