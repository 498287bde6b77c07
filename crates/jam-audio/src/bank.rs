//! Decoded samples, loaded off the audio thread and shared immutably with the renderer.

use std::path::{Path, PathBuf};

use crate::{AudioError, Result};

/// The two instruments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Instrument {
    /// Acoustic piano, all 88 keys (notes outside A0–C8 are played from the nearest sample).
    Piano,
    /// General MIDI drum kit: `note` is a GM drum number (36 kick, 38 snare, 42 closed hat, …).
    Drums,
}

/// Where an installed Jamwire keeps its samples, relative to the folder of the running program:
/// the desktop package's resources (`/usr/lib/Jamwire/assets`, Tauri's layout for
/// `/usr/bin/jamwire`), the usual `share` folder, the Windows install folder (the samples beside
/// `jamwire.exe`) and a macOS bundle's `Resources`.
pub const INSTALLED_DIRS: [&str; 4] = [
    "../lib/Jamwire/assets",
    "../share/jamwire/assets",
    // Windows: beside the program, as the installer lays it out.
    "assets",
    // macOS: the app bundle's resources.
    "../Resources/assets",
];

/// One mono recording.
#[derive(Debug)]
pub(crate) struct Sample {
    /// Mono samples, −1..1.
    pub(crate) data: Box<[f32]>,
    /// Sample rate of `data` in Hz.
    pub(crate) rate: u32,
}

/// A piano recording and the note it was played at, in two velocity layers.
#[derive(Debug)]
pub(crate) struct PianoZone {
    /// MIDI note of the recordings.
    pub(crate) root: u8,
    /// Recorded at [`SOFT_VELOCITY`].
    pub(crate) soft: Sample,
    /// Recorded at [`HARD_VELOCITY`].
    pub(crate) hard: Sample,
}

/// Velocity the soft piano layer was recorded at.
pub(crate) const SOFT_VELOCITY: u8 = 48;
/// Velocity the hard piano layer was recorded at.
pub(crate) const HARD_VELOCITY: u8 = 112;

/// Every sample the instruments play, decoded to `f32`.
#[derive(Debug)]
pub struct SampleBank {
    /// Piano zones in ascending `root` order.
    pub(crate) piano: Vec<PianoZone>,
    /// Drum samples by General MIDI note.
    pub(crate) drums: Vec<Option<Sample>>,
    /// The instruments and kits a player can choose (index 0 of each: the two above).
    pub(crate) palette: crate::palette::Palette,
}

impl SampleBank {
    /// Loads `piano/NNN-soft.flac`, `piano/NNN-hard.flac` and `drums/NNN.flac` from an assets folder.
    pub fn load(dir: &Path) -> Result<SampleBank> {
        // The palette decodes beside the piano and the kit (see `Palette::load`).
        std::thread::scope(|scope| {
            let palette = scope.spawn(|| SampleBank::load_palette(dir));
            let (piano, drums) = SampleBank::load_piano_and_kit(dir)?;
            let palette = palette.join().unwrap_or_else(|_| {
                tracing::error!(
                    "decoding the palette panicked: only the grand piano and the standard kit"
                );
                Ok(crate::palette::Palette::builtin())
            })?;
            tracing::debug!(piano_zones = piano.len(), drums = drums.iter().flatten().count(), melodic = palette.melodic().len(), kits = palette.kits().len(), dir = %dir.display(), "samples loaded");
            Ok(SampleBank {
                piano,
                drums,
                palette,
            })
        })
    }

    /// The palette in `dir/palette`; without one, or with a broken one (said in the log), the
    /// grand piano and the standard kit alone: a bad palette never silences the app.
    fn load_palette(dir: &Path) -> Result<crate::palette::Palette> {
        let palette_dir = dir.join("palette");
        if palette_dir.join("palette.json").exists() {
            Ok(crate::palette::Palette::load(&palette_dir).unwrap_or_else(|e| {
                tracing::error!(error = %e, "the instrument palette is unusable: only the grand piano and the standard kit");
                crate::palette::Palette::builtin()
            }))
        } else {
            tracing::warn!(dir = %palette_dir.display(), "no instrument palette: only the grand piano and the standard kit");
            Ok(crate::palette::Palette::builtin())
        }
    }

    #[allow(clippy::type_complexity)]
    fn load_piano_and_kit(dir: &Path) -> Result<(Vec<PianoZone>, Vec<Option<Sample>>)> {
        let mut piano = Vec::new();
        for note in 0..=127u8 {
            let soft = dir.join("piano").join(format!("{note:03}-soft.flac"));
            let hard = dir.join("piano").join(format!("{note:03}-hard.flac"));
            if soft.exists() && hard.exists() {
                piano.push(PianoZone {
                    root: note,
                    soft: decode_flac(&soft)?,
                    hard: decode_flac(&hard)?,
                });
            }
        }
        if piano.is_empty() {
            return Err(AudioError::SamplesMissing {
                what: "piano",
                dir: dir.to_owned(),
            });
        }
        let mut drums: Vec<Option<Sample>> = (0..128).map(|_| None).collect();
        for (note, slot) in drums.iter_mut().enumerate() {
            let path = dir.join("drums").join(format!("{note:03}.flac"));
            if path.exists() {
                *slot = Some(decode_flac(&path)?);
            }
        }
        if drums.iter().all(Option::is_none) {
            return Err(AudioError::SamplesMissing {
                what: "drum",
                dir: dir.to_owned(),
            });
        }
        Ok((piano, drums))
    }

    /// The assets folder: `$JAM_ASSETS` if set; else the installed one next to the running
    /// program ([`INSTALLED_DIRS`], e.g. `/usr/lib/Jamwire/assets` for `/usr/bin/jam`); else
    /// the source tree's `assets/` (a developer's build).
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("JAM_ASSETS") {
            return PathBuf::from(dir);
        }
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_owned));
        exe_dir
            .and_then(|bin| {
                INSTALLED_DIRS
                    .iter()
                    .map(|rel| bin.join(rel))
                    .find(|dir| dir.join("drums").is_dir())
                    .map(|dir| dir.canonicalize().unwrap_or(dir))
            })
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets"))
    }

    /// Index of the piano zone whose root is nearest to `note` (ties go to the lower zone).
    pub(crate) fn piano_zone(&self, note: u8) -> usize {
        let i = self.piano.partition_point(|z| z.root <= note);
        match (i.checked_sub(1), self.piano.get(i)) {
            (Some(j), Some(above)) if above.root - note < note - self.piano[j].root => i,
            (Some(j), _) => j,
            (None, _) => 0,
        }
    }

    /// The drum sample for a GM drum note, if the kit has one.
    pub(crate) fn drum(&self, note: u8) -> Option<&Sample> {
        self.drums.get(usize::from(note)).and_then(Option::as_ref)
    }

    /// The instruments and kits a player can choose.
    pub fn palette(&self) -> &crate::palette::Palette {
        &self.palette
    }

    /// GM drum notes the kit can play.
    pub fn drum_notes(&self) -> impl Iterator<Item = u8> + '_ {
        self.drums
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(n, _)| n as u8)
    }
}

pub(crate) fn decode_flac(path: &Path) -> Result<Sample> {
    let invalid = |detail: String| AudioError::SampleInvalid {
        path: path.to_owned(),
        detail,
    };
    let mut reader = claxon::FlacReader::open(path).map_err(|e| match e {
        claxon::Error::IoError(source) => AudioError::SampleUnreadable {
            path: path.to_owned(),
            source,
        },
        other => invalid(other.to_string()),
    })?;
    let info = reader.streaminfo();
    let channels = info.channels as usize;
    let scale = 1.0 / (1u64 << (info.bits_per_sample - 1)) as f32;
    let mut interleaved = Vec::with_capacity(info.samples.unwrap_or(0) as usize * channels);
    for s in reader.samples() {
        interleaved.push(s.map_err(|e| invalid(e.to_string()))? as f32 * scale);
    }
    // Mix down to mono.
    let data: Box<[f32]> = interleaved
        .chunks_exact(channels.max(1))
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok(Sample {
        data,
        rate: info.sample_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_zone_is_chosen() {
        let zone = |root| PianoZone {
            root,
            soft: Sample {
                data: Box::new([]),
                rate: 1,
            },
            hard: Sample {
                data: Box::new([]),
                rate: 1,
            },
        };
        let bank = SampleBank {
            piano: vec![zone(21), zone(24), zone(27)],
            drums: vec![],
            palette: crate::palette::Palette::builtin(),
        };
        let roots: Vec<u8> = [0, 21, 22, 23, 24, 25, 26, 27, 127]
            .iter()
            .map(|&n| bank.piano[bank.piano_zone(n)].root)
            .collect();
        assert_eq!(roots, [21, 21, 21, 24, 24, 24, 27, 27, 27]);
    }
}
