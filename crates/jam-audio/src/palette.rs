//! The palette: the instruments and drum kits a player can choose, beyond the built-in grand
//! piano and standard kit.
//!
//! Each is a small SoundFont-style sampler instrument: **zones** by key range, each with a
//! recording, its root key and tuning, optional **loop points** (so organs, strings and pads
//! sustain as long as the key is held), a volume envelope (attack, hold, decay to a sustain
//! level, release) and a level. They are extracted from a General MIDI SoundFont at build time
//! (`cargo run -p jam-audio --example extract_palette`) into `assets/palette/`: one
//! `palette.json` manifest (the [`Manifest`] types below) and mono FLAC recordings, so the app
//! and the browser guest play the same files.
//!
//! The manifest is read as hostile input: every number is checked ([`MAX_ZONES`],
//! [`MAX_SAMPLE_FRAMES`], finite envelope times, loops inside their recording) and a bad entry
//! is a clear error naming the instrument.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bank::{Sample, decode_flac};
use crate::{AudioError, Result};

/// Zones one instrument may have.
pub const MAX_ZONES: usize = 128;
/// Instruments (melodic and kits together) a palette may list.
pub const MAX_INSTRUMENTS: usize = 64;
/// Longest recording a zone may use: 60 s at 48 kHz.
pub const MAX_SAMPLE_FRAMES: usize = 48_000 * 60;
/// Longest envelope stage, in seconds.
pub const MAX_STAGE_SECONDS: f32 = 100.0;

/// `palette.json`: what `extract_palette` writes and [`Palette::load`] reads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Where the recordings came from, and their licence.
    pub source: String,
    /// The instruments, melodic and kits, in the order the picker shows them.
    pub instruments: Vec<ManifestInstrument>,
}

/// Melodic or a drum kit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Plays the keyboard part (what the piano plays by default).
    Melodic,
    /// Plays the drum part (General MIDI drum notes); note-offs are ignored.
    Kit,
}

/// One instrument of the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ManifestInstrument {
    /// Stable id, used on the wire: lowercase letters, digits and `-`, at most 32 bytes.
    pub id: String,
    /// What the picker shows ("Nylon guitar").
    pub name: String,
    /// Family the picker groups by ("Guitar").
    pub family: String,
    /// Melodic or kit.
    pub kind: Kind,
    /// General MIDI program (melodic) or kit number (bank 128) it came from.
    pub program: u8,
    /// Overall level, so that a chord is as loud on every instrument.
    pub gain: f32,
    /// Empty for the built-in piano and kit (they play the `piano/` and `drums/` folders).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<ManifestZone>,
}

/// One zone: a recording, the keys it plays and how.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ManifestZone {
    /// Recording, relative to the palette folder (`samples/0042.flac`).
    pub sample: String,
    /// Lowest and highest MIDI key this zone plays.
    pub keys: [u8; 2],
    /// Key at which the recording plays at its own speed.
    pub root: u8,
    /// Tuning on top of the root, in cents (±12,000: the SoundFont's coarse tune range).
    pub tune: f32,
    /// Cents per key (100 = normal keyboard; 0 = every key the same pitch).
    pub tracking: f32,
    /// Loop start and end (exclusive) in frames of the recording; sounds while held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#loop: Option<[u32; 2]>,
    /// Volume envelope, seconds: attack (linear rise), hold, decay (to `sustain`), release.
    pub attack: f32,
    /// Seconds at full level after the attack.
    pub hold: f32,
    /// Seconds to fall 100 dB (reaching `sustain` sooner).
    pub decay: f32,
    /// Level held after the decay, 0–1.
    pub sustain: f32,
    /// Seconds to fall 100 dB after the key is released.
    pub release: f32,
    /// Level of this zone, 0–1 (the SoundFont's attenuation).
    pub level: f32,
    /// Pan, −1 (left) to 1 (right).
    pub pan: f32,
    /// Zones with the same non-zero class cut each other off (open and closed hi-hat).
    #[serde(default)]
    pub exclusive: u8,
}

/// A zone ready to play.
#[derive(Debug)]
pub(crate) struct Zone {
    pub(crate) keys: [u8; 2],
    pub(crate) root: u8,
    pub(crate) tune: f32,
    pub(crate) tracking: f32,
    pub(crate) sample: Sample,
    /// Loop start and end in frames.
    pub(crate) r#loop: Option<[u32; 2]>,
    pub(crate) attack: f32,
    pub(crate) hold: f32,
    pub(crate) decay: f32,
    pub(crate) sustain: f32,
    pub(crate) release: f32,
    pub(crate) level: f32,
    pub(crate) pan: f32,
    pub(crate) exclusive: u8,
}

impl Zone {
    /// The zone `z` describes, playing `sample`.
    pub(crate) fn new(z: &ManifestZone, sample: Sample) -> Zone {
        Zone {
            keys: z.keys,
            root: z.root,
            tune: z.tune,
            tracking: z.tracking,
            sample,
            r#loop: z.r#loop,
            attack: z.attack,
            hold: z.hold,
            decay: z.decay,
            sustain: z.sustain,
            release: z.release,
            level: z.level,
            pan: z.pan,
            exclusive: z.exclusive,
        }
    }
}

/// One instrument of the palette.
#[derive(Debug)]
pub struct PaletteInstrument {
    /// Stable id ("nylon-guitar").
    pub id: String,
    /// What the picker shows.
    pub name: String,
    /// Family the picker groups by.
    pub family: String,
    /// Melodic or kit.
    pub kind: Kind,
    /// General MIDI program (or kit number) it came from.
    pub program: u8,
    pub(crate) gain: f32,
    /// Empty for the built-in piano and kit.
    pub(crate) zones: Vec<Zone>,
}

impl PaletteInstrument {
    /// The zone for `note`: the one whose keys hold it, else the nearest.
    pub(crate) fn zone(&self, note: u8) -> Option<usize> {
        self.zones
            .iter()
            .position(|z| (z.keys[0]..=z.keys[1]).contains(&note))
            .or_else(|| {
                self.zones
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, z)| {
                        z.keys[0]
                            .saturating_sub(note)
                            .max(note.saturating_sub(z.keys[1]))
                    })
                    .map(|(i, _)| i)
            })
    }

    /// True for the built-in piano and kit (played from `piano/` and `drums/`).
    pub fn is_builtin(&self) -> bool {
        self.zones.is_empty()
    }

    /// How many zones it has (0 for the built-in piano and kit).
    pub fn zone_count(&self) -> usize {
        self.zones.len()
    }
}

/// Every instrument a player can choose: melodic ones and kits, each list starting with the
/// built-in grand piano or standard kit at index 0.
#[derive(Debug)]
pub struct Palette {
    pub(crate) melodic: Vec<PaletteInstrument>,
    pub(crate) kits: Vec<PaletteInstrument>,
}

impl Palette {
    /// Only the built-in piano and kit (when the assets have no palette).
    pub fn builtin() -> Palette {
        let builtin = |id: &str, name: &str, family: &str, kind| PaletteInstrument {
            id: id.to_owned(),
            name: name.to_owned(),
            family: family.to_owned(),
            kind,
            program: 0,
            gain: 1.0,
            zones: Vec::new(),
        };
        Palette {
            melodic: vec![builtin(
                "grand-piano",
                "Grand piano",
                "Piano",
                Kind::Melodic,
            )],
            kits: vec![builtin("standard-kit", "Standard kit", "Drums", Kind::Kit)],
        }
    }

    /// Reads `palette.json` and decodes every recording it names, from `dir`.
    pub fn load(dir: &Path) -> Result<Palette> {
        let path = dir.join("palette.json");
        let text =
            std::fs::read_to_string(&path).map_err(|source| AudioError::SampleUnreadable {
                path: path.clone(),
                source,
            })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| AudioError::PaletteInvalid {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        let mut decoded = decode_all(dir, &manifest);
        Palette::from_manifest(&manifest, |file| {
            decoded
                .remove(file)
                .unwrap_or_else(|| decode_flac(&dir.join(file)))
        })
        .map_err(|e| match e {
            AudioError::PaletteInvalid { detail, .. } => {
                AudioError::PaletteInvalid { path, detail }
            }
            other => other,
        })
    }

    /// Builds a palette from a manifest, reading recordings with `read` (after checking every
    /// field, so a hostile manifest never reaches the decoder with a path outside the folder).
    pub(crate) fn from_manifest(
        manifest: &Manifest,
        mut read: impl FnMut(&str) -> Result<Sample>,
    ) -> Result<Palette> {
        let invalid = |detail: String| AudioError::PaletteInvalid {
            path: Default::default(),
            detail,
        };
        if manifest.instruments.len() > MAX_INSTRUMENTS {
            return Err(invalid(format!(
                "{} instruments (at most {MAX_INSTRUMENTS})",
                manifest.instruments.len()
            )));
        }
        let mut palette = Palette::builtin();
        for entry in &manifest.instruments {
            check_instrument(entry).map_err(|why| invalid(format!("{}: {why}", entry.id)))?;
            let list = match entry.kind {
                Kind::Melodic => &mut palette.melodic,
                Kind::Kit => &mut palette.kits,
            };
            if entry.zones.is_empty() {
                // The built-in one: the manifest names and levels it.
                if let Some(builtin) = list.first_mut() {
                    builtin.id.clone_from(&entry.id);
                    builtin.name.clone_from(&entry.name);
                    builtin.family.clone_from(&entry.family);
                    builtin.program = entry.program;
                }
                continue;
            }
            if list.iter().any(|i| i.id == entry.id) {
                return Err(invalid(format!("{}: listed twice", entry.id)));
            }
            let mut zones = Vec::with_capacity(entry.zones.len());
            for z in &entry.zones {
                let sample = read(&z.sample)?;
                let invalid = |detail: String| invalid(format!("{}: {detail}", entry.id));
                if let Some([start, end]) = z.r#loop {
                    // One frame past the loop is read when interpolating across the seam.
                    let frames = sample.data.len();
                    if usize::try_from(end).map_or(true, |end| end >= frames) || start >= end {
                        return Err(invalid(format!(
                            "{}: loop {start}..{end} is outside its {frames} frames",
                            z.sample
                        )));
                    }
                }
                if sample.data.len() > MAX_SAMPLE_FRAMES || sample.data.len() < 2 {
                    return Err(invalid(format!(
                        "{}: {} frames (2 to {MAX_SAMPLE_FRAMES})",
                        z.sample,
                        sample.data.len()
                    )));
                }
                zones.push(Zone::new(z, sample));
            }
            list.push(PaletteInstrument {
                id: entry.id.clone(),
                name: entry.name.clone(),
                family: entry.family.clone(),
                kind: entry.kind,
                program: entry.program,
                gain: entry.gain,
                zones,
            });
        }
        Ok(palette)
    }

    /// Melodic instruments; index 0 is the built-in grand piano.
    pub fn melodic(&self) -> &[PaletteInstrument] {
        &self.melodic
    }

    /// Drum kits; index 0 is the built-in standard kit.
    pub fn kits(&self) -> &[PaletteInstrument] {
        &self.kits
    }

    /// Index of the melodic instrument or kit with this id.
    pub fn find(&self, kind: Kind, id: &str) -> Option<u16> {
        let list = match kind {
            Kind::Melodic => &self.melodic,
            Kind::Kit => &self.kits,
        };
        list.iter()
            .position(|i| i.id == id)
            .and_then(|i| u16::try_from(i).ok())
    }
}

/// Decodes every recording a valid manifest names, on as many threads as there are cores (a
/// palette is hundreds of files: on two cores this halves the app's start). Nothing is
/// decoded for a manifest that fails its checks: [`Palette::from_manifest`] then says why.
fn decode_all(
    dir: &Path,
    manifest: &Manifest,
) -> std::collections::HashMap<String, Result<Sample>> {
    if manifest.instruments.len() > MAX_INSTRUMENTS
        || manifest
            .instruments
            .iter()
            .any(|i| check_instrument(i).is_err())
    {
        return std::collections::HashMap::new();
    }
    let mut files: Vec<&str> = manifest
        .instruments
        .iter()
        .flat_map(|i| i.zones.iter().map(|z| z.sample.as_str()))
        .collect();
    files.sort_unstable();
    files.dedup();
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let per_thread = files.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|f| ((*f).to_owned(), decode_flac(&dir.join(f))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().ok())
            .flatten()
            .collect()
    })
}

/// True for an id the wire may carry: 1–32 bytes of `a-z`, `0-9` and `-`.
pub fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_instrument(entry: &ManifestInstrument) -> std::result::Result<(), String> {
    if !valid_id(&entry.id) {
        return Err("the id must be 1–32 characters of a-z, 0-9 and -".into());
    }
    if entry.name.is_empty() || entry.name.len() > 64 || entry.family.len() > 32 {
        return Err("name (1–64 bytes) or family (≤ 32) out of bounds".into());
    }
    if !(entry.gain.is_finite() && (0.0..=100.0).contains(&entry.gain)) {
        return Err(format!("gain {} (0 to 100)", entry.gain));
    }
    if entry.zones.len() > MAX_ZONES {
        return Err(format!("{} zones (at most {MAX_ZONES})", entry.zones.len()));
    }
    for z in &entry.zones {
        let file_ok = !z.sample.is_empty()
            && z.sample.len() <= 128
            && z.sample.ends_with(".flac")
            && z.sample
                .split('/')
                .all(|part| !part.is_empty() && part != ".." && part != ".")
            && !z.sample.contains('\\');
        if !file_ok {
            return Err(format!(
                "the recording {:?} must be a .flac inside the palette folder",
                z.sample
            ));
        }
        let stages = [z.attack, z.hold, z.decay, z.release];
        let numbers_ok = z.keys[0] <= z.keys[1]
            && z.keys[1] <= 127
            && z.root <= 127
            && z.tune.is_finite()
            && z.tune.abs() <= 12_000.0
            && z.tracking.is_finite()
            && (0.0..=200.0).contains(&z.tracking)
            && stages
                .iter()
                .all(|s| s.is_finite() && (0.0..=MAX_STAGE_SECONDS).contains(s))
            && (0.0..=1.0).contains(&z.sustain)
            && (0.0..=1.0).contains(&z.level)
            && (-1.0..=1.0).contains(&z.pan);
        if !numbers_ok {
            return Err(format!("a zone of {} is out of bounds", z.sample));
        }
    }
    Ok(())
}

pub mod measure;

#[cfg(test)]
mod tests;
