//! The protocol decoder and validation, both directions: any text a peer sends is either a
//! message or a `ParseError`, and an event that passes validation is within every bound; any
//! text as an invite link is an invite or a clear refusal.
#![no_main]

use jam_protocol::event::{MAX_DURATION_MS, MAX_TIMESTAMP_SKEW_MS};
use jam_protocol::{ClientFrame, ClientMsg, MusicalEvent, ServerMsg};
use libfuzzer_sys::fuzz_target;

/// Relay time the checks are made against (any fixed value: the bound is relative).
const NOW: f64 = 1.8e12;

fn check_event(name: &str, payload: &serde_json::value::RawValue) {
    let Ok(Some(event)) = MusicalEvent::parse_at(name, payload, NOW) else {
        return;
    };
    assert!(event.validate().is_ok());
    if let Some(t) = event.timestamp() {
        assert!((t - NOW).abs() <= MAX_TIMESTAMP_SKEW_MS, "{t}");
    }
    if let MusicalEvent::PianoNote(n) = &event {
        assert!(
            n.duration
                .is_none_or(|d| (0.0..=MAX_DURATION_MS).contains(&d))
        );
    }
    // What a client re-encodes reads back as the same event, to the last bit of every number
    // (the workspace's serde_json parses floats correctly rounded).
    let again = MusicalEvent::parse_at(name, &event.to_payload(), NOW);
    assert_eq!(again.ok().flatten(), Some(event));
}

/// The bytes as sequence numbers (eight per number, big-endian), as a peer could send them in
/// `seq` or `clientSeq`: the window keeps exactly the first copy of each number within its
/// reach, and counts anything further behind the newest as seen.
fn check_seq_window(data: &[u8]) {
    let mut window = jam_protocol::SeqWindow::new();
    let mut seen = std::collections::HashSet::new();
    let mut newest: Option<u64> = None;
    for chunk in data.chunks_exact(8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        // Small steps too, so that numbers repeat and reorder within the window.
        let seq = u64::from_be_bytes(bytes) >> (bytes[7] % 64);
        let expected = match newest {
            Some(n) if seq <= n => n - seq < jam_protocol::lane::SEQ_WINDOW && !seen.contains(&seq),
            _ => true,
        };
        assert_eq!(window.first_time(seq), expected, "{seq}");
        seen.insert(seq);
        newest = Some(newest.map_or(seq, |n| n.max(seq)));
    }
}

fuzz_target!(|data: &[u8]| {
    check_seq_window(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = ClientMsg::parse(text);
    // The relay's one-pass parse must answer what the full parse does, errors included.
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", ClientMsg::parse_in_full(text))
    );
    // The relay reads broadcasts borrowed from the text: the same answer as the owned parse.
    match (ClientMsg::parse_frame(text), &parsed) {
        (Ok(ClientFrame::Broadcast(borrowed)), Ok(ClientMsg::Broadcast(owned))) => {
            let owned = owned.as_borrowed();
            assert_eq!(borrowed.room_code, owned.room_code);
            assert_eq!(borrowed.event_name, owned.event_name);
            assert_eq!(borrowed.payload.get(), owned.payload.get());
            assert_eq!(borrowed.client_seq, owned.client_seq);
        }
        (Ok(ClientFrame::Msg(frame)), Ok(msg)) => {
            assert_eq!(format!("{frame:?}"), format!("{msg:?}"))
        }
        (Err(frame), Err(msg)) => assert_eq!(&frame, msg),
        (frame, msg) => panic!("parse_frame gave {frame:?}, parse {msg:?}"),
    }
    if let Ok(ClientMsg::Broadcast(b)) = parsed {
        check_event(&b.event_name, &b.payload);
    }
    match ServerMsg::parse(text) {
        Ok(ServerMsg::Event(e)) => {
            check_event(&e.event_name, &e.payload);
            // The relay writes events field by field: the bytes must be serde's.
            let msg = ServerMsg::Event(e);
            let mut written = Vec::new();
            msg.write_json(&mut written);
            assert_eq!(
                Ok(written),
                serde_json::to_vec(&msg).map_err(|e| e.to_string())
            );
        }
        Ok(ServerMsg::Joined(w) | ServerMsg::Created(w)) => {
            for p in &w.participants {
                let _ = jam_protocol::clean_name(&p.name);
            }
        }
        _ => {}
    }
    // The text as a payload of each event of the vocabulary.
    if let Ok(raw) = serde_json::value::RawValue::from_string(text.to_owned()) {
        for name in [
            "drum_hit",
            "piano_note",
            "piano_note_off",
            "sustain",
            "tempo_change",
            "pattern_change",
            "chat",
            "cursor",
            "instrument",
            "pitch_bend",
            "modulation",
            "anything",
        ] {
            check_event(name, &raw);
        }
    }
    // The text as a link from outside the app (a clicked invite): an invite, or a message
    // without control characters; an invite it gives reads back as itself.
    let opened = jam_play::link::read(text);
    match (&opened.invite, &opened.problem) {
        (Some(invite), None) => assert_eq!(jam_play::link::read(invite), opened),
        (None, Some(problem)) => assert!(!problem.chars().any(char::is_control), "{problem:?}"),
        _ => panic!("{opened:?}"),
    }
    let _ = jam_protocol::clean_name(text);
    let _ = jam_protocol::event::json_depth(text);
});
