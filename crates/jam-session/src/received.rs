//! What a client re-checks in what the relay sends, whatever the relay is: names made safe to
//! show, a welcome's room state within the protocol's bounds. Pure functions, shared by the
//! native session and the browser guest (`jam-web`, WebAssembly).

use jam_protocol::event::names;
use jam_protocol::{MusicalEvent, Participant, RoomWelcome};
use serde_json::value::RawValue;

/// A participant as the relay announced it, with a name that is safe to show: a name the
/// relay should have refused (control or invisible characters, too long) is shown as "?".
pub fn sanitize_participant(mut participant: Participant) -> Participant {
    if jam_protocol::clean_name(&participant.name).is_err() {
        participant.name = "?".to_owned();
    }
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
    welcome.participants = welcome
        .participants
        .into_iter()
        .map(sanitize_participant)
        .collect();
    welcome
}
