//! Builds Jamwire's instrument palette (`assets/palette/`) from a General MIDI SoundFont.
//!
//! ```text
//! apt-get install fluid-soundfont-gm
//! cargo run -p jam-audio --release --example extract_palette -- \
//!     /usr/share/sounds/sf2/FluidR3_GM.sf2 assets/palette
//! ```
//!
//! For each instrument of [`CHOICES`] it takes the SoundFont preset's zones that play at
//! velocity [`LAYER_VELOCITY`] (one velocity layer keeps the palette small), the left (or mono)
//! recording of each, cut to what is played (up to the loop's end plus the 8 guard frames the
//! SoundFont format keeps after it), with the preset's and instrument's generators combined (a recording two
//! instruments use is written once):
//! key range, root key and tuning, loop points, volume envelope, attenuation, pan, exclusive
//! class. Recordings are written as 16-bit mono FLAC at the SoundFont's own rate (resampling
//! would move the loop points off whole frames). Not carried over: filters, LFOs, modulators,
//! the modulation envelope and the other velocity layers (ARCHITECTURE.md says why).
//!
//! Then it plays the result with Jamwire's own engine: it tunes every melodic zone to equal
//! temperament (measured at the zone's own key; a SoundFont's stereo or chorus layers are often
//! detuned against each other, and one layer alone plays sharp or flat), and sets each
//! instrument's `gain` so that a C-major chord (the kits: kick, snare and hat) is as loud as on
//! the grand piano: switching instruments never jumps in level (`palette::measure`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jam_audio::SampleBank;
use jam_audio::palette::{Kind, Manifest, ManifestInstrument, ManifestZone, measure};
use rustysynth::{LoopMode, SoundFont};

/// The velocity whose layer is extracted.
const LAYER_VELOCITY: i32 = 100;
/// Longest recording kept for an unlooped zone, in seconds: a cymbal has fallen 40 dB by then,
/// and the engine fades the last 50 ms.
const MAX_ONE_SHOT_SECONDS: i32 = 4;

/// (id, name, family, kind, bank, program). The built-in grand piano and standard kit come
/// first and have no zones: they play the `piano/` and `drums/` folders.
#[rustfmt::skip]
const CHOICES: &[(&str, &str, &str, Kind, i32, i32)] = &[
    ("grand-piano", "Grand piano", "Piano", Kind::Melodic, 0, 0),
    ("bright-piano", "Bright piano", "Piano", Kind::Melodic, 0, 1),
    ("tine-piano", "Electric piano (tine)", "Piano", Kind::Melodic, 0, 4),
    ("fm-piano", "Electric piano (FM)", "Piano", Kind::Melodic, 0, 5),
    ("vibraphone", "Vibraphone", "Mallets", Kind::Melodic, 0, 11),
    ("marimba", "Marimba", "Mallets", Kind::Melodic, 0, 12),
    ("drawbar-organ", "Drawbar organ", "Organ", Kind::Melodic, 0, 16),
    ("church-organ", "Church organ", "Organ", Kind::Melodic, 0, 19),
    ("nylon-guitar", "Nylon guitar", "Guitar", Kind::Melodic, 0, 24),
    ("steel-guitar", "Steel guitar", "Guitar", Kind::Melodic, 0, 25),
    ("clean-guitar", "Clean electric guitar", "Guitar", Kind::Melodic, 0, 27),
    ("overdriven-guitar", "Overdriven guitar", "Guitar", Kind::Melodic, 0, 29),
    ("finger-bass", "Finger bass", "Bass", Kind::Melodic, 0, 33),
    ("picked-bass", "Picked bass", "Bass", Kind::Melodic, 0, 34),
    ("fretless-bass", "Fretless bass", "Bass", Kind::Melodic, 0, 35),
    ("synth-bass", "Synth bass", "Bass", Kind::Melodic, 0, 38),
    ("strings", "String ensemble", "Strings", Kind::Melodic, 0, 48),
    ("slow-strings", "Slow strings", "Strings", Kind::Melodic, 0, 49),
    ("choir", "Choir", "Voices", Kind::Melodic, 0, 52),
    ("trumpet", "Trumpet", "Brass & wind", Kind::Melodic, 0, 56),
    ("brass", "Brass section", "Brass & wind", Kind::Melodic, 0, 61),
    ("alto-sax", "Alto sax", "Brass & wind", Kind::Melodic, 0, 65),
    ("flute", "Flute", "Brass & wind", Kind::Melodic, 0, 73),
    ("square-lead", "Square lead", "Synth", Kind::Melodic, 0, 80),
    ("saw-lead", "Saw lead", "Synth", Kind::Melodic, 0, 81),
    ("warm-pad", "Warm pad", "Synth", Kind::Melodic, 0, 89),
    ("standard-kit", "Standard kit", "Drums", Kind::Kit, 128, 0),
    ("room-kit", "Room kit", "Drums", Kind::Kit, 128, 8),
    ("electronic-kit", "Electronic kit", "Drums", Kind::Kit, 128, 24),
    ("brush-kit", "Brush kit", "Drums", Kind::Kit, 128, 40),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(font_path), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: extract_palette FONT.sf2 OUT_DIR".into());
    };
    let out = PathBuf::from(out);
    let font = SoundFont::new(&mut std::fs::File::open(&font_path)?)?;
    let mut written = BTreeMap::new();
    let mut manifest = Manifest {
        source: format!(
            "{} (MIT licence, see assets/README.md), by crates/jam-audio/examples/extract_palette.rs",
            Path::new(&font_path)
                .file_name()
                .map_or_else(|| font_path.clone(), |n| n.to_string_lossy().into_owned())
        ),
        instruments: Vec::new(),
    };
    for &(id, name, family, kind, bank, program) in CHOICES {
        let zones = if id == "grand-piano" || id == "standard-kit" {
            Vec::new()
        } else {
            extract(&font, &out, &mut written, id, kind, bank, program)?
        };
        manifest.instruments.push(ManifestInstrument {
            id: id.to_owned(),
            name: name.to_owned(),
            family: family.to_owned(),
            kind,
            program: u8::try_from(program)?,
            gain: 1.0,
            zones,
        });
    }
    // Each step plays the palette as written so far with the engine.
    write(&out, &manifest)?;
    // Twice: a correction moves what the measure hears a little.
    for _ in 0..2 {
        tune(&out, &mut manifest)?;
        write(&out, &manifest)?;
    }
    level(&out, &mut manifest)?;
    write(&out, &manifest)?;
    Ok(())
}

fn write(out: &Path, manifest: &Manifest) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::write(
        out.join("palette.json"),
        serde_json::to_string_pretty(manifest)? + "\n",
    )?;
    Ok(())
}

/// The zones of one preset at [`LAYER_VELOCITY`], their recordings written to `out/id/`.
fn extract(
    font: &SoundFont,
    out: &Path,
    written: &mut BTreeMap<(usize, i32, i32), String>,
    id: &str,
    kind: Kind,
    bank: i32,
    program: i32,
) -> Result<Vec<ManifestZone>, Box<dyn std::error::Error>> {
    let preset = font
        .get_presets()
        .iter()
        .find(|p| p.get_bank_number() == bank && p.get_patch_number() == program)
        .ok_or_else(|| format!("{id}: no preset {bank}:{program} in the font"))?;
    std::fs::create_dir_all(out.join("samples"))?;
    let headers = font.get_sample_headers();
    let wave = font.get_wave_data();
    let mut zones = Vec::new();
    for pr in preset.get_regions() {
        if !(pr.get_velocity_range_start()..=pr.get_velocity_range_end()).contains(&LAYER_VELOCITY)
        {
            continue;
        }
        let inst = &font.get_instruments()[pr.get_instrument_id()];
        for ir in inst.get_regions() {
            if !(ir.get_velocity_range_start()..=ir.get_velocity_range_end())
                .contains(&LAYER_VELOCITY)
            {
                continue;
            }
            let header = &headers[ir.get_sample_id()];
            // Stereo pairs: keep the left (type 4) or mono (1) one.
            if header.get_sample_type() & 0x2 != 0 {
                continue;
            }
            let lo = pr.get_key_range_start().max(ir.get_key_range_start());
            let hi = pr.get_key_range_end().min(ir.get_key_range_end());
            if lo > hi {
                continue;
            }
            let looped = kind == Kind::Melodic && ir.get_sample_modes() != LoopMode::NoLoop;
            let start = ir.get_sample_start();
            let (loop_start, loop_end) = (ir.get_sample_start_loop(), ir.get_sample_end_loop());
            let rate = header.get_sample_rate();
            let end = if looped {
                loop_end
            } else {
                ir.get_sample_end().min(start + MAX_ONE_SHOT_SECONDS * rate)
            };
            let key = (ir.get_sample_id(), start, end);
            let file = match written.get(&key) {
                Some(file) => file.clone(),
                None => {
                    // Shared between instruments that use the same recording (the two string
                    // sections, the kits' cymbals).
                    let file = format!("samples/{:04}.flac", written.len());
                    let mut frames = wave[usize::try_from(start)?..usize::try_from(end)?].to_vec();
                    if looped {
                        let (ls, le) = (
                            usize::try_from(loop_start - start)?,
                            usize::try_from(loop_end - start)?,
                        );
                        if smooth_seam(&mut frames, ls, le) {
                            eprintln!("{id}: crossfaded the loop of {}", header.get_name());
                        }
                        // One frame past the loop's end: the loop's first, so interpolation
                        // across the seam reads what is played next.
                        frames.push(frames[ls]);
                    } else {
                        fade_out(&mut frames, usize::try_from(rate / 20)?);
                    }
                    write_flac(&out.join(&file), &frames, u32::try_from(rate)?)?;
                    written.insert(key, file.clone());
                    file
                }
            };
            let seconds = |inst: f32, preset: f32| (inst * preset).clamp(0.0, 100.0);
            let sustain_db = (ir.get_sustain_volume_envelope() + pr.get_sustain_volume_envelope())
                .clamp(0.0, 144.0);
            let attenuation =
                (ir.get_initial_attenuation() + pr.get_initial_attenuation()).clamp(0.0, 144.0);
            let pan = ((ir.get_pan() + pr.get_pan()) / 50.0).clamp(-1.0, 1.0);
            zones.push(ManifestZone {
                sample: file,
                keys: [u8::try_from(lo)?, u8::try_from(hi)?],
                root: u8::try_from(ir.get_root_key().clamp(0, 127))?,
                tune: (ir.get_coarse_tune() + pr.get_coarse_tune()) as f32 * 100.0
                    + (ir.get_fine_tune() + pr.get_fine_tune()) as f32,
                tracking: (ir.get_scale_tuning() + pr.get_scale_tuning()) as f32,
                r#loop: looped.then(|| {
                    [
                        u32::try_from(loop_start - start).unwrap_or(0),
                        u32::try_from(loop_end - start).unwrap_or(0),
                    ]
                }),
                attack: seconds(
                    ir.get_attack_volume_envelope(),
                    pr.get_attack_volume_envelope(),
                ),
                hold: seconds(ir.get_hold_volume_envelope(), pr.get_hold_volume_envelope()),
                decay: seconds(
                    ir.get_decay_volume_envelope(),
                    pr.get_decay_volume_envelope(),
                ),
                sustain: 10f32.powf(-sustain_db / 20.0),
                release: seconds(
                    ir.get_release_volume_envelope(),
                    pr.get_release_volume_envelope(),
                ),
                // SoundFont attenuation is applied at 0.4 of its nominal dB by FluidSynth and
                // most players (the EMU hardware did); do the same so layers keep their balance.
                level: 10f32.powf(-0.4 * attenuation / 20.0),
                pan: (pan * 100.0).round() / 100.0,
                exclusive: u8::try_from(ir.get_exclusive_class().clamp(0, 127))?,
            });
        }
    }
    if zones.is_empty() {
        return Err(format!(
            "{id}: preset {bank}:{program} has no zone at velocity {LAYER_VELOCITY}"
        )
        .into());
    }
    zones.sort_by_key(|z| z.keys);
    Ok(zones)
}

/// Where a loop's seam (its last frame to its first) steps further than any two neighbouring
/// frames inside the loop, it clicks once per pass: crossfade the loop's last quarter (at most
/// 1,024 frames) into the frames before its start, so the end runs into the start as the
/// recording itself runs into it. Returns whether it did.
fn smooth_seam(samples: &mut [i16], ls: usize, le: usize) -> bool {
    if ls == 0 || le <= ls + 4 || le > samples.len() {
        return false;
    }
    let step = |a: i16, b: i16| (i32::from(a) - i32::from(b)).abs();
    let body = samples[ls..le]
        .windows(2)
        .map(|w| step(w[0], w[1]))
        .max()
        .unwrap_or(0);
    if step(samples[le - 1], samples[ls]) <= body {
        return false;
    }
    let n = ((le - ls) / 4).min(ls).min(1_024);
    for k in 0..n {
        let t = (k + 1) as f32 / n as f32;
        let (mine, theirs) = (samples[le - n + k], samples[ls - n + k]);
        // Equal power, so the level holds through the fade.
        let (a, b) = (
            (t * std::f32::consts::FRAC_PI_2).cos(),
            (t * std::f32::consts::FRAC_PI_2).sin(),
        );
        samples[le - n + k] = (f32::from(mine) * a + f32::from(theirs) * b) as i16;
    }
    true
}

/// A linear fade over the last `frames`, so a shortened recording ends without a click.
fn fade_out(samples: &mut [i16], frames: usize) {
    let n = samples.len().min(frames);
    let from = samples.len() - n;
    for (k, s) in samples[from..].iter_mut().enumerate() {
        *s = (f32::from(*s) * (n - k) as f32 / n as f32) as i16;
    }
}

fn write_flac(path: &Path, frames: &[i16], rate: u32) -> Result<(), Box<dyn std::error::Error>> {
    use flacenc::component::BitRepr;
    use flacenc::error::Verify;
    let samples: Vec<i32> = frames.iter().map(|&s| i32::from(s)).collect();
    let source = flacenc::source::MemSource::from_samples(&samples, 1, 16, usize::try_from(rate)?);
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|(_, e)| format!("{e:?}"))?;
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| format!("{e:?}"))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(|e| format!("{e:?}"))?;
    std::fs::write(path, sink.as_slice())?;
    Ok(())
}

/// Tunes every melodic zone to equal temperament ([`measure::zone_pitch`]): a SoundFont's
/// layers are often detuned against each other for a chorus effect, and one layer alone then
/// plays sharp or flat.
fn tune(out: &Path, manifest: &mut Manifest) -> Result<(), Box<dyn std::error::Error>> {
    let bank = Arc::new(SampleBank::load(out.parent().ok_or("no assets folder")?)?);
    let mut program = 0u16;
    for entry in &mut manifest.instruments {
        if entry.kind != Kind::Melodic {
            continue;
        }
        if entry.zones.is_empty() {
            continue; // the built-in piano: program 0
        }
        program += 1;
        for (i, zone) in entry.zones.iter_mut().enumerate() {
            match measure::zone_pitch(&bank, program, i) {
                Some((_, cents)) if cents.abs() > 1.0 => {
                    zone.tune = ((zone.tune - cents as f32) * 10.0).round() / 10.0;
                }
                Some(_) => {}
                None => eprintln!(
                    "{}: zone {i} has no clear pitch; left as the font has it",
                    entry.id
                ),
            }
        }
    }
    Ok(())
}

/// Sets each instrument's gain so that [`measure::chord_level`] matches the grand piano's (the
/// kits: the standard kit's).
fn level(out: &Path, manifest: &mut Manifest) -> Result<(), Box<dyn std::error::Error>> {
    let bank = Arc::new(SampleBank::load(out.parent().ok_or("no assets folder")?)?);
    let reference = [
        measure::chord_level(&bank, Kind::Melodic, 0),
        measure::chord_level(&bank, Kind::Kit, 0),
    ];
    let (mut melodic, mut kits) = (0u16, 0u16);
    for entry in &mut manifest.instruments {
        let (index, target) = match entry.kind {
            Kind::Melodic => (&mut melodic, reference[0]),
            Kind::Kit => (&mut kits, reference[1]),
        };
        if !entry.zones.is_empty() {
            *index += 1;
            let now = measure::chord_level(&bank, entry.kind, *index);
            entry.gain = if now > 0.0 { target / now } else { 1.0 };
            entry.gain = (entry.gain * 1000.0).round() / 1000.0;
        }
    }
    Ok(())
}
