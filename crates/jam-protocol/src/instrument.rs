//! The instruments a player can choose: one sound for the keys part and one drum kit, each an
//! id from the fixed lists below. A player's choice is part of the room (the `instrument`
//! event, kept by the relay for late joiners in [`crate::RoomState::instruments`]); the relay
//! refuses an id it does not list, and clients ignore one. The ids are those of the app's
//! palette (`assets/palette/palette.json`, checked against these lists by `jam-audio`'s tests).

use serde::{Deserialize, Serialize};

/// One instrument of the palette, as players see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Voice {
    /// Stable id on the wire, e.g. `finger-bass`.
    pub id: &'static str,
    /// What players read, e.g. "Finger bass".
    pub name: &'static str,
    /// The picker's group, e.g. "Bass".
    pub family: &'static str,
    /// Its General MIDI program (a kit's: the GM2/GS drum-set number), 0–127.
    pub program: u8,
    /// How far a full pitch-wheel throw bends it, semitones (General MIDI's default: 2).
    pub bend_range: u8,
}

const fn voice(id: &'static str, name: &'static str, family: &'static str, program: u8) -> Voice {
    Voice {
        id,
        name,
        family,
        program,
        bend_range: 2,
    }
}

/// The bend range of keys sound `id`, semitones; an unknown id has the default, 2.
pub fn bend_range(id: &str) -> f32 {
    f32::from(melodic(id).map_or(2, |v| v.bend_range))
}

/// The keys part's sounds, grouped by family in the order a picker shows them. The first is
/// the default (and what a client that knows no instruments plays).
pub const MELODIC: &[Voice] = &[
    voice("grand-piano", "Grand piano", "Piano", 0),
    voice("bright-piano", "Bright piano", "Piano", 1),
    voice("tine-piano", "Electric piano (tine)", "Piano", 4),
    voice("fm-piano", "Electric piano (FM)", "Piano", 5),
    voice("vibraphone", "Vibraphone", "Mallets", 11),
    voice("marimba", "Marimba", "Mallets", 12),
    voice("drawbar-organ", "Drawbar organ", "Organ", 16),
    voice("church-organ", "Church organ", "Organ", 19),
    voice("nylon-guitar", "Nylon guitar", "Guitar", 24),
    voice("steel-guitar", "Steel guitar", "Guitar", 25),
    voice("clean-guitar", "Clean electric guitar", "Guitar", 27),
    voice("overdriven-guitar", "Overdriven guitar", "Guitar", 29),
    voice("finger-bass", "Finger bass", "Bass", 33),
    voice("picked-bass", "Picked bass", "Bass", 34),
    voice("fretless-bass", "Fretless bass", "Bass", 35),
    voice("synth-bass", "Synth bass", "Bass", 38),
    voice("strings", "String ensemble", "Strings", 48),
    voice("slow-strings", "Slow strings", "Strings", 49),
    voice("choir", "Choir", "Voices", 52),
    voice("trumpet", "Trumpet", "Brass & wind", 56),
    voice("brass", "Brass section", "Brass & wind", 61),
    voice("alto-sax", "Alto sax", "Brass & wind", 65),
    voice("flute", "Flute", "Brass & wind", 73),
    voice("square-lead", "Square lead", "Synth", 80),
    voice("saw-lead", "Saw lead", "Synth", 81),
    voice("warm-pad", "Warm pad", "Synth", 89),
];

/// The drum kits. The first is the default.
pub const KITS: &[Voice] = &[
    voice("standard-kit", "Standard kit", "Drums", 0),
    voice("room-kit", "Room kit", "Drums", 8),
    voice("electronic-kit", "Electronic kit", "Drums", 24),
    voice("brush-kit", "Brush kit", "Drums", 40),
];

/// The default keys sound.
pub const DEFAULT_MELODIC: &str = "grand-piano";
/// The default kit.
pub const DEFAULT_KIT: &str = "standard-kit";

/// The keys sound with this id.
pub fn melodic(id: &str) -> Option<&'static Voice> {
    MELODIC.iter().find(|v| v.id == id)
}

/// The kit with this id.
pub fn kit(id: &str) -> Option<&'static Voice> {
    KITS.iter().find(|v| v.id == id)
}

/// The palette's keys sound nearest General MIDI program `program` (0–127): the same program,
/// else the closest one below it in the same GM family of eight, else the closest above it in
/// that family, else the grand piano. What `jam play` plays a GM file's channel with.
pub fn nearest_melodic(program: u8) -> &'static Voice {
    let family = program / 8;
    MELODIC
        .iter()
        .filter(|v| v.program / 8 == family)
        .min_by_key(|v| (v.program > program, v.program.abs_diff(program)))
        .unwrap_or(&MELODIC[0])
}

/// The kit nearest GM2/GS drum-set `program`: the highest listed at or below it.
pub fn nearest_kit(program: u8) -> &'static Voice {
    KITS.iter()
        .rev()
        .find(|v| v.program <= program)
        .unwrap_or(&KITS[0])
}

/// A member's choice as the room keeps it (see [`crate::RoomState::instruments`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MemberInstrument {
    /// The member.
    pub user_id: String,
    /// Their keys sound, an id from [`MELODIC`].
    pub keys: String,
    /// Their kit, an id from [`KITS`].
    pub drums: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_defaults_come_first() {
        for list in [MELODIC, KITS] {
            let mut ids: Vec<&str> = list.iter().map(|v| v.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), list.len());
        }
        assert_eq!(MELODIC[0].id, DEFAULT_MELODIC);
        assert_eq!(KITS[0].id, DEFAULT_KIT);
        assert!(MELODIC.len() >= 24 && KITS.len() >= 4);
    }

    #[test]
    fn every_gm_program_has_a_nearest_sound() {
        assert_eq!(nearest_melodic(33).id, "finger-bass");
        assert_eq!(
            nearest_melodic(36).id,
            "fretless-bass",
            "slap bass: same family, below"
        );
        assert_eq!(
            nearest_melodic(32).id,
            "finger-bass",
            "acoustic bass: same family, above"
        );
        assert_eq!(nearest_melodic(57).id, "trumpet", "trombone");
        assert_eq!(
            nearest_melodic(120).id,
            "grand-piano",
            "sound effects: none of them"
        );
        assert_eq!(nearest_kit(0).id, "standard-kit");
        assert_eq!(nearest_kit(16).id, "room-kit", "power kit");
        assert_eq!(nearest_kit(127).id, "brush-kit");
        for p in 0..=127 {
            assert!(melodic(nearest_melodic(p).id).is_some());
        }
    }
}
