//! Invites: `jam://HOST:PORT/ROOMCODE` (a relay speaking plain WebSocket, like the one in the
//! host's app) and `jams://HOST[:PORT]/ROOMCODE` (a relay server over TLS; the port defaults to
//! 443). `ws://` and `wss://` URLs with a room code are read as the same.

use jam_protocol::RoomCode;

use crate::SessionError;

/// The port of a `jams://` invite that names none.
pub const TLS_PORT: u16 = 443;

/// Where a jam is: the relay's address and the room's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// `HOST:PORT` of the relay.
    pub address: String,
    /// The room.
    pub room: RoomCode,
    /// The relay speaks TLS (`jams://`).
    pub tls: bool,
}

/// A relay's address from text: `SCHEME://HOST[:PORT]` with `jams://`/`wss://` (TLS, port 443
/// by default) or `jam://`/`ws://` (plain, port required); without a scheme, `default_tls`
/// says which (`None`: a scheme is required). Gives `(HOST:PORT, tls)`.
pub fn parse_relay(text: &str, default_tls: Option<bool>) -> Option<(String, bool)> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let (address, tls) = [
        ("jams://", true),
        ("wss://", true),
        ("jam://", false),
        ("ws://", false),
    ]
    .iter()
    .find_map(|(scheme, tls)| {
        lower
            .starts_with(scheme)
            .then(|| (&text[scheme.len()..], *tls))
    })
    .or_else(|| default_tls.map(|tls| (text, tls)))?;
    let address = address.trim_end_matches('/');
    if address.is_empty()
        || address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '@')
    {
        return None;
    }
    let address = match address.rsplit_once(':') {
        // An IPv6 address's colons are inside brackets: `[::1]` has no port.
        Some((host, port)) if !port.ends_with(']') => {
            if host.is_empty() || port.parse::<u16>().is_err() {
                return None;
            }
            address.to_owned()
        }
        _ if tls => format!("{address}:{TLS_PORT}"),
        _ => return None,
    };
    Some((address, tls))
}

impl Invite {
    /// Reads an invite (spaces and the code's case forgiven).
    pub fn parse(text: &str) -> Result<Invite, SessionError> {
        let bad = || SessionError::BadInvite(text.trim().to_owned());
        let (relay, code) = text
            .trim()
            .trim_end_matches('/')
            .rsplit_once('/')
            .ok_or_else(bad)?;
        let (address, tls) = parse_relay(relay, None).ok_or_else(bad)?;
        let room = RoomCode::parse(code).ok_or_else(bad)?;
        Ok(Invite { address, room, tls })
    }

    /// The relay's WebSocket URL, `ws://HOST:PORT/` or `wss://HOST:PORT/`.
    pub fn relay_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/", self.address)
    }
}

impl Invite {
    /// The relay's address as an invite or link writes it: over TLS without the default port.
    fn written_address(&self) -> &str {
        let default_port = format!(":{TLS_PORT}");
        match self.address.strip_suffix(&default_port) {
            Some(host) if self.tls => host,
            _ => &self.address,
        }
    }

    /// The link a friend without the app opens in a browser: the relay serves its guest page
    /// (`http://HOST:PORT/join/CODE`, `https://HOST[:PORT]/join/CODE` over TLS).
    pub fn browser_link(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/join/{}", self.written_address(), self.room)
    }
}

impl std::fmt::Display for Invite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "jams" } else { "jam" };
        write!(f, "{scheme}://{}/{}", self.written_address(), self.room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_link_points_at_the_relays_page() {
        let plain =
            Invite::parse("jam://192.168.1.20:7878/K7M2QXH4").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plain.browser_link(),
            "http://192.168.1.20:7878/join/K7M2QXH4"
        );
        let tls =
            Invite::parse("jams://relay.example.org/K7M2QXH4").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            tls.browser_link(),
            "https://relay.example.org/join/K7M2QXH4"
        );
        let port = Invite::parse("jams://relay.example.org:8443/K7M2QXH4")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            port.browser_link(),
            "https://relay.example.org:8443/join/K7M2QXH4"
        );
    }

    #[test]
    fn reads_and_writes_invites() {
        let invite = Invite::parse(" jam://192.168.1.20:7878/k7m2qxh4 ").unwrap();
        assert_eq!(invite.address, "192.168.1.20:7878");
        assert_eq!(invite.room.as_str(), "K7M2QXH4");
        assert!(!invite.tls);
        assert_eq!(invite.to_string(), "jam://192.168.1.20:7878/K7M2QXH4");
        assert_eq!(invite.relay_url(), "ws://192.168.1.20:7878/");
        assert_eq!(
            Invite::parse("ws://[::1]:9000/K7M2QXH4/").unwrap().address,
            "[::1]:9000"
        );
        for bad in [
            "",
            "jam://host/K7M2QXH4",
            "jam://host:port/K7M2QXH4",
            "http://h:1/K7M2QXH4",
            "jam://h:1/K7M2Q0",
            "jam://h:1",
            "jam://[::1]/K7M2QXH4",
            "jam://user@h:1/K7M2QXH4",
            "jams:///K7M2QXH4",
        ] {
            assert!(Invite::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tls_invites_default_to_port_443_and_say_so_briefly() {
        let invite = Invite::parse("jams://relay.example.org/K7M2QXH4").unwrap();
        assert_eq!(invite.address, "relay.example.org:443");
        assert!(invite.tls);
        assert_eq!(invite.relay_url(), "wss://relay.example.org:443/");
        assert_eq!(invite.to_string(), "jams://relay.example.org/K7M2QXH4");
        let other = Invite::parse("JAMS://relay.example.org:8443/k7m2qxh4").unwrap();
        assert_eq!(other.to_string(), "jams://relay.example.org:8443/K7M2QXH4");
        let url = Invite::parse("wss://relay.example.org/K7M2QXH4").unwrap();
        assert_eq!(url, invite);
    }
}
