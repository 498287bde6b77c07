//! A player's own sound (a SoundFont or a recording, files a player loads): whatever the
//! bytes, building the sound gives a sound within the palette's bounds or an error — no
//! panic in Jamwire's code, no hang, no allocation the file's size doesn't justify.
//!
//! The input's first byte chooses what it is: the SoundFont as given; a valid one-preset font
//! with the rest of the input XORed over it (mutations that keep most of the structure, so
//! the fuzzer reaches the zone reading quickly); or a recording (WAV, FLAC, Ogg).
//!
//! The parsers (rustysynth, symphonia) may panic on a malformed file: `jam_audio::own::load`
//! catches that (tested in `crates/jam-audio/src/own/tests.rs`), so here a panic whose source
//! is inside them is caught too, and any other panic aborts as libFuzzer expects.
#![no_main]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Once, OnceLock};

use jam_audio::own;
use jam_audio::soundfont::write_sf2;
use libfuzzer_sys::fuzz_target;

fn in_a_parser(file: &str) -> bool {
    file.contains("rustysynth") || file.contains("symphonia")
}

fn seed() -> &'static [u8] {
    static SEED: OnceLock<Vec<u8>> = OnceLock::new();
    SEED.get_or_init(|| {
        let recording: Vec<i16> = (0..2_000)
            .map(|i| ((i * 37) % 2_000 - 1_000) as i16)
            .collect();
        write_sf2("Seed", 0, 0, &recording, 32_000, 60, Some([500, 1_500]))
    })
}

fuzz_target!(|data: &[u8]| {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.location().is_some_and(|l| in_a_parser(l.file())) {
                fuzzer_hook(info);
            }
        }));
    });
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => check_font(rest),
        1 => {
            let mut font = seed().to_vec();
            for (b, x) in font.iter_mut().zip(rest) {
                *b ^= x;
            }
            check_font(&font);
        }
        _ => {
            let _ = catch_unwind(|| own::decode_recording(rest.to_vec(), 1 << 20)).map(|r| {
                if let Ok((data, rate)) = r {
                    assert!((4_000..=192_000).contains(&rate));
                    assert!(data.len() >= 2 && data.len() <= 1 << 20);
                    assert!(data.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
                }
            });
        }
    }
});

fn check_font(bytes: &[u8]) {
    let _ = own::font_presets_of(bytes);
    if let Ok(Ok(sound)) = catch_unwind(AssertUnwindSafe(|| {
        own::from_font_bytes(bytes, "fuzz.sf2", None)
    })) {
        assert!(sound.zone_count() >= 1 && sound.zone_count() <= jam_audio::palette::MAX_ZONES);
        assert!(sound.program <= 127);
        assert!(sound.name.chars().count() <= 64);
    }
}
