//! Opening the connection to a relay: name lookup, TCP, TLS for `wss://` relays, the WebSocket
//! handshake — each step bounded in time, and each failure told apart ([`SessionError`]'s
//! `UnknownHost`, `TimedOut`, `Refused`, `Tls`), because a guest who can't get in has only
//! this message to go on.
//!
//! TLS uses rustls with the Mozilla roots (`webpki-roots`), plus any certificate authorities
//! named in `SessionConfig::ca_certs` or the `JAMWIRE_CA_CERT` environment variable (a PEM
//! file, for a private relay).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::SessionError;

/// How long each step of connecting may take: the name lookup, the TCP connection (long enough
/// for two retransmissions of a lost SYN), the TLS and WebSocket handshakes.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// A PEM file of certificate authorities to trust besides the public ones.
pub const CA_CERT_ENV: &str = "JAMWIRE_CA_CERT";

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The TLS client configuration: the public roots and `extra` authorities (PEM files).
pub fn tls_config(extra: &[PathBuf]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let from_env = std::env::var_os(CA_CERT_ENV).map(PathBuf::from);
    for path in extra.iter().chain(from_env.as_ref()) {
        for cert in read_certs(path)? {
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("couldn't read certificates from {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(certs)
}

/// `HOST` of `HOST:PORT` (without an IPv6 address's brackets).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Connects to the relay at `address` (`HOST:PORT`) and opens the WebSocket, over TLS when
/// `tls` is given. Also says whether this end repairs lost retransmissions quickly
/// (`jam_protocol::transport::retransmit_quickly` took).
pub(crate) async fn open(
    address: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
    ws_config: WebSocketConfig,
) -> Result<(Ws, bool), SessionError> {
    let secs = CONNECT_WITHIN.as_secs();
    let timed_out = || SessionError::TimedOut {
        address: address.to_owned(),
        secs,
    };
    let unknown = || SessionError::UnknownHost {
        host: host_of(address).to_owned(),
    };
    let targets: Vec<std::net::SocketAddr> =
        tokio::time::timeout(CONNECT_WITHIN, tokio::net::lookup_host(address))
            .await
            .map_err(|_| unknown())?
            .map_err(|_| unknown())?
            .collect();
    if targets.is_empty() {
        return Err(unknown());
    }
    let tcp = tokio::time::timeout(CONNECT_WITHIN, TcpStream::connect(&targets[..]))
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => SessionError::Refused {
                address: address.to_owned(),
            },
            std::io::ErrorKind::TimedOut => timed_out(),
            _ => SessionError::Unreachable {
                address: address.to_owned(),
                detail: e.to_string(),
            },
        })?;
    let _ = tcp.set_nodelay(true);
    // A lost note and its lost retransmission cost 20 ms, not 200 (see the module's docs).
    let quick = jam_protocol::transport::retransmit_quickly(&tcp).unwrap_or(false);
    if !quick {
        tracing::debug!("this system keeps TCP's 200 ms retransmission floor");
    }
    let (stream, scheme) = match tls {
        None => (MaybeTlsStream::Plain(tcp), "ws"),
        Some(config) => {
            let tls_error = |detail: String| SessionError::Tls {
                address: address.to_owned(),
                detail,
            };
            let name = ServerName::try_from(host_of(address).to_owned())
                .map_err(|e| tls_error(e.to_string()))?;
            let connector = tokio_rustls::TlsConnector::from(config.clone());
            let stream = tokio::time::timeout(CONNECT_WITHIN, connector.connect(name, tcp))
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| tls_error(e.to_string()))?;
            (MaybeTlsStream::Rustls(stream), "wss")
        }
    };
    let url = format!("{scheme}://{address}/");
    let handshake = tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config));
    let (ws, _) = tokio::time::timeout(CONNECT_WITHIN, handshake)
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| SessionError::Unreachable {
            address: address.to_owned(),
            detail: e.to_string(),
        })?;
    Ok((ws, quick))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_from_addresses_of_every_form() {
        assert_eq!(host_of("relay.example.org:443"), "relay.example.org");
        assert_eq!(host_of("192.168.1.20:7878"), "192.168.1.20");
        assert_eq!(host_of("[::1]:9000"), "::1");
    }

    #[test]
    fn the_public_roots_load_and_a_missing_authority_file_is_named() {
        assert!(tls_config(&[]).is_ok());
        let missing = tls_config(&[PathBuf::from("/nonexistent/ca.pem")]).unwrap_err();
        assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
    }
}
