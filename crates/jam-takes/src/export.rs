//! A take as a Standard MIDI File: one named track per player in order of arrival, the tempo
//! map from the take's `tempo_change`s, drums on channel 10 and piano on channel 1, at 960 PPQ.

use jam_midi::Recording;

use crate::{Result, TakeStore};

/// The take `id` as the bytes of a format-1 `.mid` file.
pub fn to_smf(store: &TakeStore, id: i64) -> Result<Vec<u8>> {
    let mut recording = Recording::new();
    for p in store.participants(id)? {
        if p.role == "player" {
            recording.track(&p.name);
        }
    }
    for e in store.timeline(id)? {
        let track = recording.track(&e.sender_name);
        recording.record_musical(track, e.offset_us(), &e.event);
    }
    Ok(recording.to_smf_bytes())
}
