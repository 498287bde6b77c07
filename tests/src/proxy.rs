//! A TCP proxy for tests: delays what flows towards the client by a random 0..max per chunk
//! (keeping order, as TCP does), and can cut every connection on demand.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy. Dropping it stops accepting and cuts every connection.
pub struct Proxy {
    addr: SocketAddr,
    /// Bumped to cut the connections open at that moment.
    cut: Arc<watch::Sender<u64>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`, delaying each chunk from the
    /// upstream by a random time in `0..max_delay` (never reordering). The delays are the same
    /// from run to run (a test's network is reproducible); see [`Proxy::start_seeded`].
    pub async fn start(upstream: SocketAddr, max_delay: Duration) -> Proxy {
        Proxy::start_seeded(upstream, max_delay, 0).await
    }

    /// [`Proxy::start`] with another sequence of delays for each `run` (0 is `start`'s): a
    /// benchmark's runs then sample the jitter instead of repeating one sequence.
    pub async fn start_seeded(upstream: SocketAddr, max_delay: Duration, run: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("bound");
        let (cut, _) = watch::channel(0u64);
        let cut = Arc::new(cut);
        let cut_for_accept = cut.clone();
        let accept = tokio::spawn(async move {
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ run.wrapping_mul(0xD6E8_FEB8_6659_FD93);
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                seed = seed.wrapping_add(0x1234_5678_9ABC_DEF1);
                let mut cut_rx = cut_for_accept.subscribe();
                cut_rx.mark_unchanged();
                tokio::spawn(async move {
                    tokio::select! {
                        () = pipe(client, server, max_delay, seed) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Proxy { addr, cut, accept }
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts every connection open now (the client sees its connection drop); new ones work.
    pub fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_all();
    }
}

async fn pipe(client: TcpStream, server: TcpStream, max_delay: Duration, mut seed: u64) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = client_rx.read(&mut buf).await {
            if n == 0 || server_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    let downstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut release = tokio::time::Instant::now();
        while let Ok(n) = server_rx.read(&mut buf).await {
            if n == 0 {
                break;
            }
            // xorshift: a repeatable random delay for this chunk.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let delay = max_delay.mul_f64((seed % 10_000) as f64 / 10_000.0);
            release = release.max(tokio::time::Instant::now() + delay);
            tokio::time::sleep_until(release).await;
            if client_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}
