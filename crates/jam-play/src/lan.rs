//! Jams on the local network, found with no typing: a hosted jam is advertised over mDNS as a
//! DNS-SD service ([`SERVICE`]), and the start screen (or `jam list`) browses for them.
//!
//! The advertisement's TXT record carries what a guest's list shows and needs to join: the
//! host's name, the protocol version, the room code, whether a password is needed (never the
//! password) and how many are in the room. It is withdrawn when the jam ends.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use serde::Serialize;

use jam_protocol::{PROTOCOL_VERSION, RoomCode};

/// The DNS-SD service type of a Jamwire jam.
pub const SERVICE: &str = "_jamwire._tcp.local.";
/// How long `jam list` listens for advertisements by default.
pub const LIST_FOR: Duration = Duration::from_secs(3);
/// Most jams a list keeps (a busy network can't grow it without bound).
pub const MAX_LISTED: usize = 64;

/// A jam found on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct LanJamView {
    /// The host's name.
    pub host: String,
    /// The room's code.
    pub room: String,
    /// The invite to join it (its first IPv4 address).
    pub invite: String,
    /// It needs a password.
    pub password: bool,
    /// How many are in the room.
    pub players: u32,
}

/// A jam's advertisement, withdrawn by [`Advert::stop`] (or when dropped).
pub struct Advert {
    daemon: ServiceDaemon,
    info: ServiceInfo,
    instance: String,
    hostname: String,
    port: u16,
    host: String,
    room: RoomCode,
    password: bool,
}

impl std::fmt::Debug for Advert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advert")
            .field("name", &self.info.get_fullname())
            .finish()
    }
}

fn properties(
    host: &str,
    room: &RoomCode,
    password: bool,
    players: usize,
) -> Vec<(String, String)> {
    vec![
        ("v".into(), PROTOCOL_VERSION.to_string()),
        ("name".into(), host.to_owned()),
        ("room".into(), room.to_string()),
        ("pw".into(), if password { "1" } else { "0" }.into()),
        ("players".into(), players.to_string()),
    ]
}

fn service(
    instance: &str,
    hostname: &str,
    port: u16,
    properties: Vec<(String, String)>,
) -> Result<ServiceInfo, String> {
    Ok(
        ServiceInfo::new(SERVICE, instance, hostname, "", port, properties.as_slice())
            .map_err(|e| e.to_string())?
            .enable_addr_auto(),
    )
}

impl Advert {
    /// Advertises `host`'s jam in `room`, on this computer's relay at `port`, on every network
    /// interface.
    pub fn start(host: &str, room: &RoomCode, port: u16, password: bool) -> Result<Advert, String> {
        let daemon = ServiceDaemon::new().map_err(|e| e.to_string())?;
        let instance = format!("{host}'s jam {room}");
        let hostname = format!("jamwire-{}.local.", room.as_str().to_ascii_lowercase());
        let info = service(
            &instance,
            &hostname,
            port,
            properties(host, room, password, 1),
        )?;
        daemon.register(info.clone()).map_err(|e| e.to_string())?;
        tracing::info!(%instance, port, "jam advertised on the network");
        Ok(Advert {
            daemon,
            info,
            instance,
            hostname,
            port,
            host: host.to_owned(),
            room: room.clone(),
            password,
        })
    }

    /// Says how many are in the room now.
    pub fn set_players(&self, players: usize) {
        let updated = service(
            &self.instance,
            &self.hostname,
            self.port,
            properties(&self.host, &self.room, self.password, players),
        )
        .and_then(|info| self.daemon.register(info).map_err(|e| e.to_string()));
        if let Err(e) = updated {
            tracing::debug!(error = %e, "couldn't update the jam's advertisement");
        }
    }

    /// Withdraws the advertisement (goodbye packets) and stops the daemon.
    pub fn stop(self) {
        if let Ok(done) = self.daemon.unregister(self.info.get_fullname()) {
            let _ = done.recv_timeout(Duration::from_secs(1));
        }
        let _ = self.daemon.shutdown();
    }
}

/// Browses the network for jams; `on_change` gets the whole list whenever it changes. Runs
/// until the runtime stops; returns at once if mDNS can't be used here (said in the log).
pub async fn browse(on_change: impl Fn(Vec<LanJamView>) + Send + 'static) {
    let daemon = match ServiceDaemon::new() {
        Ok(daemon) => daemon,
        Err(e) => {
            tracing::info!(error = %e, "no mDNS: jams on the network won't be listed");
            return;
        }
    };
    let receiver = match daemon.browse(SERVICE) {
        Ok(receiver) => receiver,
        Err(e) => {
            tracing::info!(error = %e, "no mDNS browsing");
            return;
        }
    };
    let mut jams: BTreeMap<String, LanJamView> = BTreeMap::new();
    while let Ok(event) = receiver.recv_async().await {
        let changed = match event {
            ServiceEvent::ServiceResolved(service) => {
                let Some(jam) = read(&service) else { continue };
                if jams.len() >= MAX_LISTED && !jams.contains_key(service.get_fullname()) {
                    continue;
                }
                let old = jams.insert(service.get_fullname().to_owned(), jam.clone());
                old.as_ref() != Some(&jam)
            }
            ServiceEvent::ServiceRemoved(_, fullname) => jams.remove(&fullname).is_some(),
            _ => false,
        };
        if changed {
            on_change(jams.values().cloned().collect());
        }
    }
}

/// Lists the jams advertised on the network within `within`.
pub async fn list(within: Duration) -> Vec<LanJamView> {
    let (tx, mut rx) = tokio::sync::watch::channel(Vec::new());
    let browsing = tokio::spawn(browse(move |jams| {
        let _ = tx.send(jams);
    }));
    let _ = tokio::time::timeout(within, async { while rx.changed().await.is_ok() {} }).await;
    browsing.abort();
    rx.borrow().clone()
}

/// A jam from its advertisement; `None` for anything that isn't one we can join.
fn read(service: &mdns_sd::ResolvedService) -> Option<LanJamView> {
    let version: u32 = service.get_property_val_str("v")?.parse().ok()?;
    if version != PROTOCOL_VERSION {
        return None;
    }
    let room = RoomCode::parse(service.get_property_val_str("room")?)?;
    let host = jam_protocol::clean_name(service.get_property_val_str("name")?).ok()?;
    let mut addresses: Vec<IpAddr> = service
        .get_addresses_v4()
        .into_iter()
        .map(IpAddr::V4)
        .filter(|ip| !ip.is_loopback())
        .collect();
    addresses.sort();
    let address = addresses.first()?;
    let players = service
        .get_property_val_str("players")
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1)
        .min(1_000);
    Some(LanJamView {
        host: host.to_owned(),
        invite: format!("jam://{address}:{}/{room}", service.get_port()),
        room: room.to_string(),
        password: service.get_property_val_str("pw") == Some("1"),
        players,
    })
}
