//! Invite links from outside the app (a `jam://` link clicked in a chat, `jamwire jam://…`):
//! read as hostile text — bounded, parsed, and answered with a message a musician can act on.

use jam_session::Invite;
use serde::Serialize;

/// The longest link read: an invite is `jams://` + a host name (at most 253) + a port + a code.
pub const MAX_LINK_CHARS: usize = 300;

/// What the UI is told of an opened link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct OpenedInvite {
    /// The invite, as the Join field should hold it (`None` if the link wasn't one).
    pub invite: Option<String>,
    /// Why the link can't be joined, for the musician.
    pub problem: Option<String>,
}

/// Reads a link as an invite. Never fails: a bad link gives a message and changes nothing.
pub fn read(link: &str) -> OpenedInvite {
    let problem = |why: String| OpenedInvite {
        invite: None,
        problem: Some(why),
    };
    if link.chars().count() > MAX_LINK_CHARS {
        return problem(format!(
            "That link is too long to be a Jamwire invite (over {MAX_LINK_CHARS} characters)."
        ));
    }
    match Invite::parse(link) {
        Ok(invite) => OpenedInvite {
            invite: Some(invite.to_string()),
            problem: None,
        },
        Err(_) => {
            let shown: String = link.chars().filter(|c| !c.is_control()).take(80).collect();
            problem(format!(
                "“{shown}” isn't a Jamwire invite. An invite looks like jam://192.168.1.20:7878/K7M2QXH4 — ask the host to copy it again."
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_link_is_read_as_the_join_field_holds_it() {
        let opened = read("jam://192.168.1.20:7878/k7m2qxh4");
        assert_eq!(
            opened.invite.as_deref(),
            Some("jam://192.168.1.20:7878/K7M2QXH4")
        );
        assert_eq!(opened.problem, None);
        let tls = read("jams://relay.example.org/K7M2QXH4/");
        assert_eq!(
            tls.invite.as_deref(),
            Some("jams://relay.example.org/K7M2QXH4")
        );
    }

    #[test]
    fn anything_else_gets_a_message_and_no_invite() {
        for link in [
            "jam://",
            "jam://host/K7M2QXH4",
            "jam://host:99999/K7M2QXH4",
            "jam://host:7878/not a code",
            "jam://user@host:7878/K7M2QXH4",
            "http://example.org/",
            "jam://\u{7}\u{1b}[31mhost:1/K7M2QXH4",
        ] {
            let opened = read(link);
            assert_eq!(opened.invite, None, "{link}");
            let problem = opened.problem.unwrap();
            assert!(problem.contains("isn't a Jamwire invite"), "{problem}");
            assert!(!problem.chars().any(char::is_control), "{problem:?}");
        }
        let long = format!("jam://{}:1/K7M2QXH4", "h".repeat(400));
        assert!(read(&long).problem.unwrap().contains("too long"));
    }
}
