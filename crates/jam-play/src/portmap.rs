//! Asking the home router to open a port, so guests at other homes reach the relay in this
//! app: UPnP IGD (`igd-next`) and PCP / NAT-PMP (`crab_nat`), asked at the same time; the first
//! that answers wins (the other's mapping, if any, is removed). The mapping is renewed at half
//! its lease while the jam lasts and removed when it ends.
//!
//! Nothing here is required: a router that answers neither, or a mapping that gives an address
//! still inside a private or carrier-grade NAT, just means only the home network can join, and
//! [`Failure`] says why in words.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::num::NonZeroU16;
use std::time::Duration;

use tokio::task::JoinHandle;

/// How long the router has to answer, each protocol (they are asked at the same time).
pub const ASK_WITHIN: Duration = Duration::from_secs(2);
/// The lease asked for; renewed at half of what the router grants.
pub const LEASE: Duration = Duration::from_secs(3_600);
/// What the mapping is called on the router's status page.
const DESCRIPTION: &str = "Jamwire jam";

/// Why no port was opened, for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Failure(pub String);

/// How the port was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// UPnP Internet Gateway Device.
    Upnp,
    /// PCP, or NAT-PMP.
    Pmp,
}

/// An open port on the router, renewed until [`Mapping::close`].
#[derive(Debug)]
pub struct Mapping {
    /// Where guests on the internet reach us.
    pub external: SocketAddr,
    /// Which protocol opened it.
    pub protocol: Protocol,
    renewal: JoinHandle<()>,
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Upnp {
        gateway: igd_next::aio::Gateway<igd_next::aio::tokio::Tokio>,
        external_port: u16,
    },
    Pmp(crab_nat::PortMapping),
}

impl Mapping {
    /// Removes the mapping from the router (best effort, bounded in time).
    pub async fn close(self) {
        self.renewal.abort();
        let removed = tokio::time::timeout(ASK_WITHIN, self.inner.remove()).await;
        match removed {
            Ok(Ok(())) => tracing::info!(external = %self.external, "port mapping removed"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "couldn't remove the port mapping; it lapses with its lease")
            }
            Err(_) => {
                tracing::warn!("the router didn't answer; the port mapping lapses with its lease")
            }
        }
    }
}

impl Inner {
    async fn remove(self) -> Result<(), String> {
        match self {
            Inner::Upnp {
                gateway,
                external_port,
            } => gateway
                .remove_port(igd_next::PortMappingProtocol::TCP, external_port)
                .await
                .map_err(|e| e.to_string()),
            Inner::Pmp(mapping) => mapping.try_drop().await.map_err(|(e, _)| e.to_string()),
        }
    }
}

/// The default IPv4 gateway, as the system's routing table has it (`netdev`: netlink on
/// Linux, the routing socket on macOS, the IP Helper API on Windows). Asked off the runtime's
/// threads: listing the interfaces is a blocking system call.
async fn default_gateway() -> Option<Ipv4Addr> {
    let found = tokio::task::spawn_blocking(netdev::get_default_gateway)
        .await
        .ok()?;
    match found {
        Ok(gateway) => gateway.ipv4.first().copied(),
        Err(error) => {
            tracing::debug!(%error, "no default gateway");
            None
        }
    }
}

/// This machine's address towards `gateway` (the one a mapping must point at).
async fn local_ip_towards(gateway: Ipv4Addr) -> Option<Ipv4Addr> {
    let socket = tokio::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .await
        .ok()?;
    socket.connect((gateway, 5351)).await.ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

/// True for an address guests on the internet can't reach: private, carrier-grade NAT,
/// loopback, link-local, unspecified.
pub fn is_internal(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || (a == 100 && (64..128).contains(&b))
}

/// Asks the router to forward TCP port `port` (on its outside, the same port if it can) to
/// this machine's `port`.
pub async fn open(port: u16) -> Result<Mapping, Failure> {
    let Some(gateway) = default_gateway().await else {
        return Err(Failure(
            "this computer has no default route to a router".into(),
        ));
    };
    let Some(local) = local_ip_towards(gateway).await else {
        return Err(Failure(format!(
            "no address of this computer faces the router {gateway}"
        )));
    };
    let Some(internal) = NonZeroU16::new(port) else {
        return Err(Failure("the relay has no port yet".into()));
    };
    let (upnp, pmp) = tokio::join!(
        tokio::time::timeout(ASK_WITHIN, upnp(local, port)),
        tokio::time::timeout(ASK_WITHIN + ASK_WITHIN, pmp(gateway, local, internal)),
    );
    let upnp = upnp.unwrap_or_else(|_| Err("no UPnP answer".into()));
    let pmp = pmp.unwrap_or_else(|_| Err("no PCP/NAT-PMP answer".into()));
    let (chosen, other, upnp_error, pmp_error) = match (upnp, pmp) {
        (Ok(u), Ok(p)) => (u, Some(p), None, None),
        (Ok(u), Err(e)) => (u, None, None, Some(e)),
        (Err(e), Ok(p)) => (p, None, Some(e), None),
        (Err(u), Err(p)) => {
            return Err(Failure(format!(
                "the router answered neither UPnP ({u}) nor NAT-PMP/PCP ({p})"
            )));
        }
    };
    // Both answered: remove the second mapping — unless it is the same one (one router
    // speaking both protocols keeps one rule per port, which removing would take away).
    if let Some((external, inner)) = other
        && external != chosen.0
    {
        let _ = tokio::time::timeout(ASK_WITHIN, inner.remove()).await;
    }
    tracing::debug!(
        ?upnp_error,
        ?pmp_error,
        "the protocol that didn't open the port"
    );
    let (external, inner) = chosen;
    if let IpAddr::V4(ip) = external.ip()
        && is_internal(ip)
    {
        let _ = tokio::time::timeout(ASK_WITHIN, inner.clone().remove()).await;
        return Err(Failure(format!(
            "the router's own address {ip} is not on the internet (it is behind another router, or your provider's carrier-grade NAT)"
        )));
    }
    let protocol = match inner {
        Inner::Upnp { .. } => Protocol::Upnp,
        Inner::Pmp(_) => Protocol::Pmp,
    };
    tracing::info!(%external, ?protocol, "router opened a port");
    let renewal = tokio::spawn(renew(inner.clone(), local, port));
    Ok(Mapping {
        external,
        protocol,
        renewal,
        inner,
    })
}

async fn upnp(local: Ipv4Addr, port: u16) -> Result<(SocketAddr, Inner), String> {
    let mut options = igd_next::SearchOptions::default();
    options.timeout = Some(ASK_WITHIN);
    options.single_search_timeout = Some(ASK_WITHIN);
    let gateway = igd_next::aio::tokio::search_gateway(options)
        .await
        .map_err(|e| format!("no UPnP router found: {e}"))?;
    let external_ip = gateway
        .get_external_ip()
        .await
        .map_err(|e| format!("the UPnP router has no outside address: {e}"))?;
    let target = SocketAddr::V4(SocketAddrV4::new(local, port));
    let lease = u32::try_from(LEASE.as_secs()).unwrap_or(u32::MAX);
    let protocol = igd_next::PortMappingProtocol::TCP;
    let external_port = match gateway
        .add_port(protocol, port, target, lease, DESCRIPTION)
        .await
    {
        Ok(()) => port,
        // That outside port is taken (another computer's): let the router choose one.
        Err(_) => gateway
            .add_any_port(protocol, target, lease, DESCRIPTION)
            .await
            .map_err(|e| format!("the UPnP router refused a mapping: {e}"))?,
    };
    Ok((
        SocketAddr::new(external_ip, external_port),
        Inner::Upnp {
            gateway,
            external_port,
        },
    ))
}

async fn pmp(
    gateway: Ipv4Addr,
    local: Ipv4Addr,
    internal: NonZeroU16,
) -> Result<(SocketAddr, Inner), String> {
    let timeouts = crab_nat::TimeoutConfig {
        initial_timeout: Duration::from_millis(250),
        max_retries: 2,
        max_retry_timeout: Some(Duration::from_secs(1)),
    };
    let options = crab_nat::PortMappingOptions {
        external_port: Some(internal),
        lifetime_seconds: u32::try_from(LEASE.as_secs()).ok(),
        timeout_config: Some(timeouts),
    };
    let mapping = crab_nat::PortMapping::new(
        gateway.into(),
        IpAddr::V4(local),
        crab_nat::InternetProtocol::Tcp,
        internal,
        options,
    )
    .await
    .map_err(|e| format!("no PCP/NAT-PMP mapping: {e}"))?;
    let external_ip = match mapping.mapping_type() {
        crab_nat::PortMappingType::Pcp { external_ip, .. } => external_ip,
        crab_nat::PortMappingType::NatPmp => {
            crab_nat::natpmp::external_address(gateway.into(), Some(timeouts))
                .await
                .map(IpAddr::V4)
                .map_err(|e| format!("the NAT-PMP router has no outside address: {e}"))?
        }
    };
    let external = SocketAddr::new(external_ip, mapping.external_port().get());
    Ok((external, Inner::Pmp(mapping)))
}

/// Renews the mapping at half its lease, for as long as the jam lasts (aborted by `close`).
async fn renew(mut inner: Inner, local: Ipv4Addr, port: u16) {
    loop {
        let wait = match &inner {
            Inner::Upnp { .. } => LEASE / 2,
            Inner::Pmp(m) => Duration::from_secs(u64::from(m.lifetime().max(60)) / 2),
        };
        tokio::time::sleep(wait).await;
        let renewed = match &mut inner {
            Inner::Upnp {
                gateway,
                external_port,
            } => {
                let target = SocketAddr::V4(SocketAddrV4::new(local, port));
                let lease = u32::try_from(LEASE.as_secs()).unwrap_or(u32::MAX);
                gateway
                    .add_port(
                        igd_next::PortMappingProtocol::TCP,
                        *external_port,
                        target,
                        lease,
                        DESCRIPTION,
                    )
                    .await
                    .map_err(|e| e.to_string())
            }
            Inner::Pmp(mapping) => mapping.renew().await.map_err(|e| e.to_string()),
        };
        match renewed {
            Ok(()) => tracing::debug!("port mapping renewed"),
            Err(e) => {
                tracing::warn!(error = %e, "couldn't renew the port mapping; trying again later")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_behind_another_nat_are_not_on_the_internet() {
        for internal in [
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.1.1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["11.71.0.2", "203.0.113.5", "100.128.0.1", "8.8.8.8"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }
}
