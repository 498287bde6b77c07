//! Hosting a jam: on the relay embedded in this app (and, when it listens on every interface,
//! with a port opened on the home router), or on a relay server. Either way the host's own
//! session creates the room; if any step fails, whatever was started is stopped again.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use jam_protocol::{MusicalEvent, Role};
use jam_relay::{RelayConfig, RelayError, RelayHandle};
use jam_session::{Invite, Session, SessionConfig};

use crate::address::reachable_addresses;
use crate::error::{PlayError, Result};
use crate::jam::{Jams, check_name};
use crate::lan::Advert;
use crate::portmap::{self, Mapping};
use crate::room::RoomSink;
use crate::takes::Takes;
use crate::views::{HostRequest, JamView, ReachScope, ReachView};

/// What Windows asks the first time a program waits for guests on the network (its firewall's
/// "allow access" prompt), and what to answer; said after who can join.
#[cfg(windows)]
const FIREWALL_NOTE: &str = " If Windows asks whether Jamwire may use networks, allow it: otherwise nobody else can connect.";
#[cfg(not(windows))]
const FIREWALL_NOTE: &str = "";

/// What a hosted jam is made of, before it is entered.
struct Hosting {
    session: Session,
    relay: Option<RelayHandle>,
    mapping: Option<Mapping>,
    advert: Option<Advert>,
    invite: Invite,
    addresses: Vec<String>,
    reach: ReachView,
}

/// Why hosting on `bind` failed, in words that say what to do.
fn host_error(bind: SocketAddr, e: &RelayError) -> PlayError {
    let detail = match e {
        RelayError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            format!(
                "port {} is already in use — is Jamwire already hosting? Pick another port.",
                bind.port()
            )
        }
        other => other.to_string(),
    };
    PlayError::Host {
        address: bind.to_string(),
        detail,
    }
}

/// A relay server's address from what a host typed: `wss://HOST[:PORT][/]`, `jams://…`,
/// `ws://HOST:PORT`, `jam://…`, or a bare `HOST[:PORT]` (TLS on 443).
pub fn relay_server(text: &str) -> Result<(String, bool)> {
    jam_session::parse_relay(text, Some(true)).ok_or_else(|| {
        PlayError::BadInput(format!(
            "\"{}\" isn't a relay server's address — it looks like wss://relay.example.org",
            text.trim()
        ))
    })
}

impl Jams {
    /// Hosts a jam — here, or on the relay server `request.relay` names — as its host; the
    /// room's events go to `sink`; `takes` records it when asked to. If anything fails, nothing
    /// is left running.
    pub(crate) async fn host(
        &self,
        request: HostRequest,
        takes: Option<&Takes>,
        sink: impl RoomSink,
    ) -> Result<JamView> {
        let name = check_name(&request.name)?;
        let mut jam = self.jam.lock().await;
        if jam.is_some() {
            return Err(PlayError::AlreadyInJam);
        }
        let server = request
            .relay
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let hosting = match server {
            Some(server) => self.host_on_server(server, &request, &name).await?,
            None => self.host_here(&request, &name, takes).await?,
        };
        let Hosting {
            session,
            relay,
            mapping,
            advert,
            invite,
            addresses,
            reach,
        } = hosting;
        let browser_link = invite.browser_link();
        let invite = invite.to_string();
        let view = JamView {
            room: session.room().to_string(),
            invite: invite.clone(),
            browser_link,
            addresses,
            is_host: true,
            listener: false,
            reach: Some(reach),
        };
        let chosen_port = self.relay_bind.is_none() && relay.is_some();
        let port = relay.as_ref().map(|r| r.local_addr().port());
        let _ = self.settings.update(|s| {
            s.name.clone_from(&name);
            s.record_takes = request.record;
            s.port_mapping = request.port_mapping;
            match server {
                Some(server) => server.clone_into(&mut s.relay_server),
                None => {
                    if let (true, Some(port)) = (chosen_port, port) {
                        s.host_port = port;
                    }
                }
            }
            s.host_on_relay = server.is_some();
        });
        let advert = advert.map(std::sync::Arc::new);
        let mut entered = self.enter(session, relay, Role::Player, invite, sink, advert);
        entered.host = true;
        entered.mapping = mapping;
        *jam = Some(entered);
        // The room starts with the tempo and pattern this player set up alone: the same beat
        // grid, anchored at its next beat (an anchor far in the past is out of the protocol's
        // bounds).
        let mut stage = self.stage.lock();
        let now = stage.now_ms();
        let tempo = stage.groove.tempo;
        stage.groove.tempo = tempo.changed_at(now, tempo.bpm, tempo.beats_per_bar);
        let _ = stage.share(&MusicalEvent::TempoChange(stage.groove.tempo.to_change()));
        let _ = stage.share(&MusicalEvent::PatternChange(
            stage.groove.pattern.to_change(now),
        ));
        drop(stage);
        tracing::info!(invite = %view.invite, reach = %view.reach.as_ref().map_or("", |r| r.message.as_str()), "hosting");
        Ok(view)
    }

    /// The relay embedded in this app, and a port on the router when it listens everywhere.
    async fn host_here(
        &self,
        request: &HostRequest,
        name: &str,
        takes: Option<&Takes>,
    ) -> Result<Hosting> {
        let bind = self.relay_bind.unwrap_or(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            request.port,
        ));
        let recorder = if request.record {
            let takes = takes
                .ok_or_else(|| PlayError::TakesUnavailable("this face keeps no takes".into()))?;
            Some(takes.recorder()?)
        } else {
            None
        };
        // The embedded relay serves this one room: only this process knows its creation key.
        // Guests' samples from the folder this app plays them from (the app doesn't carry them
        // twice; `jam` has them built in too, for when it has no samples folder).
        let samples = jam_audio::SampleBank::default_dir();
        let relay_config = RelayConfig {
            samples_dir: samples.join("palette").is_dir().then_some(samples),
            ..RelayConfig::embedded()
        };
        let create_key = relay_config.create_key.clone();
        let relay = jam_relay::start_recording(bind, relay_config, recorder)
            .await
            .map_err(|e| host_error(bind, &e))?;
        let port = relay.local_addr().port();
        let everywhere = bind.ip().is_unspecified();
        let local = if everywhere {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
        } else {
            relay.local_addr()
        };
        let mut config = SessionConfig::host(&local.to_string(), name);
        config.password = request.password.clone().filter(|p| !p.is_empty());
        config.create_key = create_key;
        config.playout = self.settings.get().playout_mode();
        // Ask the router while the room is being created.
        let asking = everywhere && request.port_mapping;
        let (session, mapping) = tokio::join!(Session::connect(config), async {
            if asking {
                Some(portmap::open(port).await)
            } else {
                None
            }
        });
        let session = match session {
            Ok(session) => session,
            Err(e) => {
                if let Some(Ok(mapping)) = mapping {
                    mapping.close().await;
                }
                let _ = relay.stop().await;
                return Err(e.into());
            }
        };
        let lan: Vec<String> = reachable_addresses(bind.ip(), port)
            .iter()
            .map(ToString::to_string)
            .collect();
        let (mapping, reach) = match mapping {
            _ if !everywhere => (
                None,
                ReachView {
                    scope: if bind.ip().is_loopback() {
                        ReachScope::ThisComputer
                    } else {
                        ReachScope::Network
                    },
                    message: if bind.ip().is_loopback() {
                        format!("Only this computer can join (hosting on {}).", relay.local_addr())
                    } else {
                        format!("Only people who can reach {} can join.", relay.local_addr())
                    },
                },
            ),
            None => (
                None,
                ReachView {
                    scope: ReachScope::Network,
                    message: "Only people on your network can join — opening a port on your router is off in Settings. Turn it on, or host on a relay server.".into(),
                },
            ),
            Some(Err(failure)) => (
                None,
                ReachView {
                    scope: ReachScope::Network,
                    message: format!(
                        "Only people on your network can join — your router did not open a port ({failure}). Host on a relay server instead."
                    ),
                },
            ),
            Some(Ok(mapping)) => {
                let reach = ReachView {
                    scope: ReachScope::Anyone,
                    message: format!(
                        "Anyone with the invite can join: your router opened port {} at {}.",
                        mapping.external.port(),
                        mapping.external.ip()
                    ),
                };
                (Some(mapping), reach)
            }
        };
        let mut reach = reach;
        if reach.scope != ReachScope::ThisComputer {
            reach.message.push_str(FIREWALL_NOTE);
        }
        // The internet address first (the invite's), then this computer's own addresses for
        // guests at home.
        let mut addresses: Vec<String> = mapping.iter().map(|m| m.external.to_string()).collect();
        addresses.extend(lan);
        let invite = Invite {
            address: addresses
                .first()
                .cloned()
                .unwrap_or_else(|| local.to_string()),
            room: session.room().clone(),
            tls: false,
        };
        // Guests on this network find the jam without typing (not for a relay only this
        // computer can reach).
        let advert = if bind.ip().is_loopback() {
            None
        } else {
            let password = request.password.as_deref().is_some_and(|p| !p.is_empty());
            Advert::start(name, session.room(), port, password)
                .inspect_err(
                    |e| tracing::info!(error = %e, "the jam isn't advertised on the network"),
                )
                .ok()
        };
        Ok(Hosting {
            session,
            relay: Some(relay),
            mapping,
            advert,
            invite,
            addresses,
            reach,
        })
    }

    /// A room on a relay server: no relay here, no port to open; guests reach the server.
    async fn host_on_server(
        &self,
        server: &str,
        request: &HostRequest,
        name: &str,
    ) -> Result<Hosting> {
        let (address, tls) = relay_server(server)?;
        let mut config = SessionConfig::host(&address, name);
        config.tls = tls;
        config.ca_certs.clone_from(&self.ca_certs);
        config.password = request.password.clone().filter(|p| !p.is_empty());
        config.create_key = request.relay_key.clone().filter(|k| !k.is_empty());
        config.playout = self.settings.get().playout_mode();
        let session = Session::connect(config).await?;
        let invite = Invite {
            address: address.clone(),
            room: session.room().clone(),
            tls,
        };
        let host = address
            .rsplit_once(':')
            .map_or(address.as_str(), |(h, _)| h)
            .to_owned();
        Ok(Hosting {
            session,
            relay: None,
            mapping: None,
            advert: None,
            invite,
            addresses: vec![address],
            reach: ReachView {
                scope: ReachScope::Anyone,
                message: format!(
                    "Anyone with the invite can join, through the relay server {host}."
                ),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_servers_are_read_in_every_form_a_host_might_type() {
        assert_eq!(
            relay_server("wss://relay.example.org").unwrap(),
            ("relay.example.org:443".into(), true)
        );
        assert_eq!(
            relay_server("relay.example.org/").unwrap(),
            ("relay.example.org:443".into(), true)
        );
        assert_eq!(
            relay_server("jams://relay.example.org:8443").unwrap(),
            ("relay.example.org:8443".into(), true)
        );
        assert_eq!(
            relay_server(" ws://192.168.1.5:7878/ ").unwrap(),
            ("192.168.1.5:7878".into(), false)
        );
        for bad in [
            "",
            "ws://host",
            "wss://",
            "wss://a b",
            "wss://host/path",
            "wss://host:port",
        ] {
            assert!(relay_server(bad).is_err(), "{bad}");
        }
    }
}
