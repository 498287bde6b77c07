//! The jam's lifecycle: joining one, entering it (the room task starts), leaving it (as its
//! host, ending it for everyone), and what a UI asks of it meanwhile. Hosting is `host`.
//!
//! The jam's lock is async: it is held across the network while hosting, joining and leaving,
//! and by nothing else. It is taken before the stage's, never after.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use jam_protocol::{MAX_NAME_CHARS, Role};
use jam_relay::RelayHandle;
use jam_session::{Invite, Session, SessionConfig, SessionHandle, Status};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{PlayError, Result};
use crate::lan::Advert;
use crate::portmap::Mapping;
use crate::room::{RoomSink, RoomTask};
use crate::settings::SettingsStore;
use crate::stage::StageHandle;
use crate::views::{JamView, JoinRequest, RelayFiguresView};

/// The jam we are in.
pub(crate) struct Jam {
    /// Sending and the clock.
    pub(crate) session: SessionHandle,
    /// The embedded relay, when we host here.
    pub(crate) relay: Option<RelayHandle>,
    /// The port the router opened for it, when it did.
    pub(crate) mapping: Option<Mapping>,
    /// Its advertisement on the local network, when it has one.
    pub(crate) advert: Option<Arc<Advert>>,
    /// We host (here or on a relay server): leaving ends the jam for everyone.
    pub(crate) host: bool,
    /// Player or listener.
    pub(crate) role: Role,
    /// The invite, for the log.
    pub(crate) invite: String,
    /// The task that reads the room.
    pub(crate) task: JoinHandle<()>,
}

/// The jam part of the core: at most one jam at a time.
pub(crate) struct Jams {
    /// The jam we are in, if any (see the module's lock order).
    pub(crate) jam: tokio::sync::Mutex<Option<Jam>>,
    /// Where the room task runs (and the embedded relay).
    pub(crate) runtime: Handle,
    /// Where the room plays, and where our playing goes.
    pub(crate) stage: StageHandle,
    /// The player's name, playout and saved volumes.
    pub(crate) settings: Arc<SettingsStore>,
    /// When hosting, listen on exactly this address (`jam host --bind`, `JAMWIRE_RELAY_BIND`).
    pub(crate) relay_bind: Option<SocketAddr>,
    /// Certificate authorities trusted for `jams://` relays besides the public ones.
    pub(crate) ca_certs: Vec<PathBuf>,
}

/// A name as the room will show it: trimmed, and refused (with what to do) if it is empty or
/// holds characters the relay refuses.
pub(crate) fn check_name(name: &str) -> Result<String> {
    if name.trim().is_empty() {
        return Err(PlayError::BadInput(
            "Type your name first — it's how the others see you.".into(),
        ));
    }
    let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
    jam_protocol::clean_name(&name)
        .map(str::to_owned)
        .map_err(|e| PlayError::BadInput(format!("That name won't do: {e}.")))
}

impl Jams {
    /// Joins the room of an invite; the room's events go to `sink`.
    pub(crate) async fn join(&self, request: JoinRequest, sink: impl RoomSink) -> Result<JamView> {
        let name = check_name(&request.name)?;
        let invite = Invite::parse(&request.invite)?;
        let mut jam = self.jam.lock().await;
        if jam.is_some() {
            return Err(PlayError::AlreadyInJam);
        }
        let role = if request.listener {
            Role::Listener
        } else {
            Role::Player
        };
        let mut config = SessionConfig::join(&invite, &name);
        config.role = role;
        config.password = request.password.filter(|p| !p.is_empty());
        config.playout = self.settings.get().playout_mode();
        config.ca_certs.clone_from(&self.ca_certs);
        let session = Session::connect(config).await?;
        let browser_link = invite.browser_link();
        let invite = invite.to_string();
        let view = JamView {
            room: session.room().to_string(),
            invite: invite.clone(),
            browser_link,
            addresses: Vec::new(),
            is_host: false,
            listener: request.listener,
            reach: None,
        };
        let _ = self.settings.update(|s| {
            s.name.clone_from(&name);
            s.last_invite.clone_from(&invite);
        });
        *jam = Some(self.enter(session, None, role, invite, sink, None));
        tracing::info!(invite = %view.invite, ?role, "joined");
        Ok(view)
    }

    /// Makes `session` the jam: our playing goes to it, and its room task starts.
    pub(crate) fn enter(
        &self,
        session: Session,
        relay: Option<RelayHandle>,
        role: Role,
        invite: String,
        sink: impl RoomSink,
        advert: Option<Arc<Advert>>,
    ) -> Jam {
        let handle = session.handle();
        {
            let mut stage = self.stage.lock();
            stage.link = Some((handle.clone(), role));
            if let Some(config) = stage.midi_out_config.clone() {
                stage.midi_out = crate::midi_out::MidiOut::start(config)
                    .inspect_err(|e| tracing::warn!(error = %e, "no MIDI out in this jam"))
                    .ok();
            }
            // Before anything we play, so that the room hears our first note in our sound.
            crate::room::tell_our_sound(&mut stage, &self.settings);
        }
        let task = self.runtime.spawn(
            RoomTask {
                stage: self.stage.clone(),
                settings: self.settings.clone(),
                session,
                sink,
                advert: advert.clone(),
                rejoins: 0,
            }
            .run(),
        );
        Jam {
            session: handle,
            host: relay.is_some(),
            relay,
            mapping: None,
            advert,
            role,
            invite,
            task,
        }
    }

    /// Leaves the jam; as its host, ends it for everyone and stops the relay. Returns once
    /// everything has stopped (at once when not in a jam).
    pub(crate) async fn leave(&self) -> Result<()> {
        let Some(jam) = self.jam.lock().await.take() else {
            return Ok(());
        };
        self.stage.lock().link = None;
        if jam.host {
            // End the jam for everyone (`session:end`): the relay tells the guests, so they
            // return to their start screen instead of trying to reconnect to a relay going away.
            jam.session.end_jam().await;
        }
        jam.session.leave().await;
        let _ = jam.task.await;
        if let Some(relay) = jam.relay {
            // The relay has closed the room and queued "ended" for every guest; stopping writes
            // out what is queued before it closes each connection.
            let _ = relay.stop().await;
        }
        if let Some(mapping) = jam.mapping {
            mapping.close().await;
        }
        if let Some(advert) = jam.advert.and_then(Arc::into_inner) {
            advert.stop();
        }
        tracing::info!(invite = %jam.invite, role = ?jam.role, "left the jam");
        Ok(())
    }

    /// The jam's connection status, to await (`None` when not in a jam).
    pub(crate) fn status(&self) -> Option<watch::Receiver<Status>> {
        self.stage.lock().link.as_ref().map(|(s, _)| s.status())
    }

    /// While reconnecting: try again now instead of waiting.
    pub(crate) fn retry_now(&self) {
        if let Some((session, _)) = &self.stage.lock().link {
            session.retry_now();
        }
    }

    /// The embedded relay's figures, while hosting.
    pub(crate) async fn relay_figures(&self) -> Option<RelayFiguresView> {
        let jam = self.jam.lock().await;
        let relay = jam.as_ref()?.relay.as_ref()?;
        let metrics = relay.metrics();
        let s = metrics.stats();
        let recorded = metrics.recorded();
        Some(RelayFiguresView {
            connections: s.connections,
            rooms: s.rooms,
            events_in: s.events_in,
            events_out: s.deliveries,
            slow_consumers: s.slow_consumers,
            rate_limited: s.rate_limited,
            recorded: recorded.map(|r| r.0),
            record_dropped: recorded.map(|r| r.1),
        })
    }
}
