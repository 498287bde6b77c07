//! Builds Jamwire's instrument palette (`assets/palette/`) from a General MIDI SoundFont.
//!
//! ```text
//! apt-get install fluid-soundfont-gm
//! cargo run -p jam-audio --release --example extract_palette -- \
//!     /usr/share/sounds/sf2/FluidR3_GM.sf2 assets/palette
//! ```
//!
//! For each instrument of [`CHOICES`] it takes the SoundFont preset's zones that play at
//! velocity [`soundfont::LAYER_VELOCITY`] (one velocity layer keeps the palette small), the left (or mono)
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
use jam_audio::soundfont;
use rustysynth::SoundFont;

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

/// The zones of one preset at [`soundfont::LAYER_VELOCITY`] ([`soundfont::preset_zones`]), their
/// recordings written to `out/samples/` (a recording two instruments use is written once).
fn extract(
    font: &SoundFont,
    out: &Path,
    written: &mut BTreeMap<(usize, i32, i32), String>,
    id: &str,
    kind: Kind,
    bank: i32,
    program: i32,
) -> Result<Vec<ManifestZone>, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out.join("samples"))?;
    let zones =
        soundfont::preset_zones(font, bank, program, kind).map_err(|e| format!("{id}: {e}"))?;
    let mut manifest_zones = Vec::new();
    for z in zones {
        let file = match written.get(&z.key) {
            Some(file) => file.clone(),
            None => {
                // Shared between instruments that use the same recording (the two string
                // sections, the kits' cymbals).
                let file = format!("samples/{:04}.flac", written.len());
                write_flac(&out.join(&file), &z.frames, z.rate)?;
                written.insert(z.key, file.clone());
                file
            }
        };
        manifest_zones.push(ManifestZone {
            sample: file,
            ..z.zone
        });
    }
    manifest_zones.sort_by_key(|z| z.keys);
    Ok(manifest_zones)
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
