//! Invites: `jam://HOST:PORT/ROOMCODE`.

use jam_protocol::RoomCode;

use crate::SessionError;

/// Where a jam is: the relay's address and the room's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// `HOST:PORT` of the relay.
    pub address: String,
    /// The room.
    pub room: RoomCode,
}

impl Invite {
    /// Reads `jam://HOST:PORT/CODE` (also `ws://HOST:PORT/CODE`, spaces and case forgiven).
    pub fn parse(text: &str) -> Result<Invite, SessionError> {
        let bad = || SessionError::BadInvite(text.trim().to_owned());
        let text = text.trim();
        let rest = text
            .strip_prefix("jam://")
            .or_else(|| text.strip_prefix("ws://"))
            .ok_or_else(bad)?;
        let (address, code) = rest
            .trim_end_matches('/')
            .rsplit_once('/')
            .ok_or_else(bad)?;
        let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(bad());
        }
        let room = RoomCode::parse(code).ok_or_else(bad)?;
        Ok(Invite {
            address: address.to_owned(),
            room,
        })
    }

    /// The relay's WebSocket URL, `ws://HOST:PORT/`.
    pub fn relay_url(&self) -> String {
        format!("ws://{}/", self.address)
    }
}

impl std::fmt::Display for Invite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "jam://{}/{}", self.address, self.room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_invites() {
        let invite = Invite::parse(" jam://192.168.1.20:7878/k7m2qxh4 ").unwrap();
        assert_eq!(invite.address, "192.168.1.20:7878");
        assert_eq!(invite.room.as_str(), "K7M2QXH4");
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
        ] {
            assert!(Invite::parse(bad).is_err(), "{bad}");
        }
    }
}
