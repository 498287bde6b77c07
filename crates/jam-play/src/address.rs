//! Where guests can reach a relay this machine runs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Every address guests can use to reach a relay listening on `bind` (with its real `port`):
/// that address if it is a specific one; otherwise every IPv4 address of this machine's network
/// interfaces (not loopback, not link-local: those reach nobody else), then loopback last, for
/// a guest on this same machine. The first is the one an invite names.
pub fn reachable_addresses(bind: IpAddr, port: u16) -> Vec<SocketAddr> {
    if !bind.is_unspecified() {
        return vec![SocketAddr::new(bind, port)];
    }
    let mut addresses: Vec<SocketAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback() && !i.is_link_local())
        .map(|i| i.ip())
        .filter(IpAddr::is_ipv4)
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    addresses.dedup();
    addresses.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    addresses
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specific_address_is_the_only_one_and_any_address_ends_with_loopback() {
        let one = reachable_addresses(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20)), 7878);
        assert_eq!(one, vec!["192.168.1.20:7878".parse().unwrap()]);
        let all = reachable_addresses(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7878);
        assert_eq!(all.last(), Some(&"127.0.0.1:7878".parse().unwrap()));
        assert!(all.iter().all(|a| a.port() == 7878 && a.is_ipv4()));
        assert_eq!(all.iter().filter(|a| a.ip().is_loopback()).count(), 1);
    }
}
