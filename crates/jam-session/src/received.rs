//! What a client re-checks in what the relay sends, whatever the relay is: names made safe to
//! show, a welcome's room state within the protocol's bounds. Pure functions, shared by the
//! native session and the browser guest (`jam-web`, WebAssembly).

use jam_protocol::event::names;
use jam_protocol::{MusicalEvent, Participant, RoomWelcome};
use serde_json::value::RawValue;

/// A participant as the relay announced it, with a name that is safe to show: a name the
/// relay should have refused (control or invisible characters, too long) is shown as "?"; link
/// figures out of bounds are dropped.
pub fn sanitize_participant(mut participant: Participant) -> Participant {
    if jam_protocol::clean_name(&participant.name).is_err() {
        participant.name = "?".to_owned();
    }
    participant.link = participant
        .link
        .and_then(jam_protocol::LinkFigures::checked);
    participant
}

/// The room state of a welcome, re-checked against `relay_now` (relay time, ms): a tempo or
/// pattern out of bounds is dropped (the room then runs at the defaults), held notes out of
/// range are ignored, names made safe.
pub fn sanitize_welcome(mut welcome: RoomWelcome, relay_now: f64) -> RoomWelcome {
    let state = &mut welcome.state;
    for (name, slot) in [
        (names::TEMPO_CHANGE, &mut state.tempo),
        (names::PATTERN_CHANGE, &mut state.pattern),
    ] {
        let valid =
            |raw: &RawValue| matches!(MusicalEvent::parse_at(name, raw, relay_now), Ok(Some(_)));
        if slot.as_deref().is_some_and(|raw| !valid(raw)) {
            tracing::debug!(event = name, "ignoring the room's state: out of bounds");
            *slot = None;
        }
    }
    state
        .held_notes
        .retain(|h| h.note <= jam_protocol::event::MAX_NOTE && (1..=127).contains(&h.velocity));
    // One choice per member in the room, of known sounds; the rest play the defaults.
    let members = &welcome.participants;
    let mut seen = std::collections::HashSet::new();
    state.instruments.retain(|i| {
        let known = jam_protocol::instrument::melodic(&i.keys).is_some()
            && jam_protocol::instrument::kit(&i.drums).is_some();
        known && members.iter().any(|p| p.id == i.user_id) && seen.insert(i.user_id.clone())
    });
    welcome.participants = welcome
        .participants
        .into_iter()
        .map(sanitize_participant)
        .collect();
    welcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use jam_protocol::{MemberInstrument, Role, RoomState};

    fn member(id: &str) -> Participant {
        Participant {
            id: id.into(),
            name: id.into(),
            role: Role::Player,
            is_host: false,
            link: None,
        }
    }

    fn chose(user: &str, keys: &str, drums: &str) -> MemberInstrument {
        MemberInstrument {
            user_id: user.into(),
            keys: keys.into(),
            drums: drums.into(),
        }
    }

    #[test]
    fn a_welcome_keeps_one_known_instrument_per_member() {
        let welcome = RoomWelcome {
            room_code: "K7M2QXH4".into(),
            user_id: "A".into(),
            participants: vec![member("A"), member("B"), member("C")],
            state: RoomState {
                instruments: vec![
                    chose("B", "finger-bass", "room-kit"),
                    chose("B", "trumpet", "room-kit"),
                    chose("C", "kazoo", "room-kit"),
                    chose("C", "trumpet", "grand-piano"),
                    chose("Z", "trumpet", "room-kit"),
                    chose("A", "warm-pad", "brush-kit"),
                ],
                ..RoomState::default()
            },
            server_time: 1.0,
            recording: false,
            host_token: None,
            lane_token: None,
        };
        let kept = sanitize_welcome(welcome, 1.0).state.instruments;
        assert_eq!(
            kept,
            vec![
                chose("B", "finger-bass", "room-kit"),
                chose("A", "warm-pad", "brush-kit")
            ]
        );
    }
}
