//! "My sound": a player's own instrument — a SoundFont (SF2) preset or a folder of
//! recordings (WAV, FLAC, Ogg Vorbis) — played by this app for its own player. The room hears
//! the nearest palette instrument (the sound is not sent anywhere).
//!
//! A file a player loads is hostile input: it is bounded ([`MAX_FONT_BYTES`],
//! [`MAX_FOLDER_FILES`], [`MAX_RECORDING_BYTES`], [`MAX_TOTAL_FRAMES`], and every zone the
//! palette's own checks), its structure is walked before a parser reads it
//! ([`crate::soundfont::check_riff`]), and [`load`] runs the parsers under `catch_unwind`: a
//! parser that panics on a malformed file gives an error, never a crash. Loading is blocking
//! work for an ordinary thread (never the audio thread); the engine receives the finished
//! sound through [`crate::Engine::set_own_sound`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::bank::Sample;
use crate::palette::{Kind, PaletteInstrument, Zone, measure};
use crate::soundfont::{self, FontZone, PresetInfo};
use crate::{Action, AudioError, Command, EngineConfig, Instrument, Result, SampleBank, SourceId};

/// Largest SoundFont that loads (the General MIDI fonts people use are 30–150 MB).
pub const MAX_FONT_BYTES: u64 = 512 * 1024 * 1024;
/// Recordings a folder may hold.
pub const MAX_FOLDER_FILES: usize = 128;
/// Largest single recording file.
pub const MAX_RECORDING_BYTES: u64 = 64 * 1024 * 1024;
/// Longest single recording, in seconds.
pub const MAX_RECORDING_SECONDS: u32 = 60;
/// Frames a folder's recordings may decode to in all (32 M frames: 128 MB as `f32`).
pub const MAX_TOTAL_FRAMES: usize = 32 * 1024 * 1024;

/// The palette index ([`crate::Action::Program`]) that means "this engine's own sound".
pub const OWN_PROGRAM: u16 = u16::MAX;

/// A player's own instrument, ready for [`crate::Engine::set_own_sound`].
#[derive(Debug, Clone)]
pub struct OwnSound {
    /// What the picker shows: the preset's or the folder's name.
    pub name: String,
    /// The General MIDI program it stands for (the font's preset number; 0 for a folder): the
    /// room hears the nearest palette instrument to it unless the player chooses another.
    pub program: u8,
    /// Things the player should know ("two recordings for C4: used C4-a.wav").
    pub notes: Vec<String>,
    /// Shared with the engines playing it (a new output gets the same sound).
    pub(crate) instrument: Arc<PaletteInstrument>,
}

impl OwnSound {
    /// How many zones (recordings by key range) it plays.
    pub fn zone_count(&self) -> usize {
        self.instrument.zones.len()
    }
}

/// The presets of a SoundFont, for the picker (melodic ones: bank below 128).
pub fn font_presets(path: &Path) -> Result<Vec<PresetInfo>> {
    let bytes = read_bounded(path, MAX_FONT_BYTES)?;
    guarded(path, || font_presets_of(&bytes))
}

/// [`font_presets`] of a font's bytes.
pub fn font_presets_of(bytes: &[u8]) -> std::result::Result<Vec<PresetInfo>, String> {
    let font = parse_font(bytes)?;
    Ok(soundfont::presets(&font)
        .into_iter()
        .filter(|p| p.bank < 128)
        .collect())
}

/// Loads a SoundFont preset (`preset` = bank and program; `None` = its first melodic preset)
/// or, when `path` is a folder, its recordings; then levels it to the grand piano in `bank`
/// (a C-major chord as loud), so switching to it never jumps in level.
pub fn load(path: &Path, preset: Option<(u16, u8)>, bank: &Arc<SampleBank>) -> Result<OwnSound> {
    let started = Instant::now();
    let mut sound = if path.is_dir() {
        let folder = read_folder(path)?;
        guarded(path, || from_recordings(&folder, &display_name(path)))?
    } else {
        let bytes = read_bounded(path, MAX_FONT_BYTES)?;
        guarded(path, || {
            from_font_bytes(&bytes, &display_name(path), preset)
        })?
    };
    level(&mut sound, bank);
    tracing::info!(path = %path.display(), name = %sound.name, zones = sound.zone_count(), ms = started.elapsed().as_millis() as u64, "own sound loaded");
    Ok(sound)
}

/// Builds an own sound from a SoundFont's bytes (the fuzz target's entry; no levelling).
pub fn from_font_bytes(
    bytes: &[u8],
    file_name: &str,
    preset: Option<(u16, u8)>,
) -> std::result::Result<OwnSound, String> {
    let font = parse_font(bytes)?;
    let presets = soundfont::presets(&font);
    let chosen = match preset {
        Some((bank, program)) => presets
            .iter()
            .find(|p| p.bank == bank && p.program == program)
            .ok_or_else(|| format!("it has no preset {bank}:{program}"))?,
        None => presets
            .iter()
            .find(|p| p.bank < 128)
            .ok_or("it has no instrument preset (only drum kits)")?,
    };
    let zones = soundfont::preset_zones(
        &font,
        i32::from(chosen.bank),
        i32::from(chosen.program),
        Kind::Melodic,
    )?;
    let name = if chosen.name.trim().is_empty() {
        file_name.to_owned()
    } else {
        format!("{} ({file_name})", chosen.name.trim())
    };
    let mut zones = zones.into_iter().map(font_zone).collect::<Vec<_>>();
    zones.sort_by_key(|z| z.keys);
    check_zones(&zones)?;
    Ok(OwnSound {
        name: clip(&name, 64),
        program: if chosen.bank < 128 { chosen.program } else { 0 },
        notes: Vec::new(),
        instrument: Arc::new(instrument(zones)),
    })
}

/// One decoded recording of a folder and the note it was named after.
#[derive(Debug)]
pub struct Recording {
    /// File name.
    pub file: String,
    /// MIDI note from the name.
    pub note: u8,
    /// Mono, −1..1.
    pub data: Vec<f32>,
    /// Sample rate.
    pub rate: u32,
}

/// Builds an own sound from recordings named by note: each plays from halfway to the
/// neighbouring recordings' notes, once per key press (no loop), with a short release.
pub fn from_recordings(
    recordings: &[Recording],
    name: &str,
) -> std::result::Result<OwnSound, String> {
    let mut notes = Vec::new();
    let mut by_note: Vec<&Recording> = Vec::new();
    for r in recordings {
        if let Some(first) = by_note.iter().find(|f| f.note == r.note) {
            notes.push(format!(
                "{} and {} are both {}: {} plays it",
                first.file,
                r.file,
                note_name(r.note),
                first.file
            ));
        } else if r.data.len() >= 2 && (4_000..=192_000).contains(&r.rate) {
            by_note.push(r);
        } else {
            notes.push(format!("{} is empty or at an unusable rate", r.file));
        }
    }
    if by_note.is_empty() {
        return Err("no usable recording: name each after its note, like C4.wav, F#2.flac or 60.ogg (C4 is middle C, MIDI note 60)".into());
    }
    by_note.sort_by_key(|r| r.note);
    let roots: Vec<u8> = by_note.iter().map(|r| r.note).collect();
    let zones = by_note
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let lo = i.checked_sub(1).map_or(0, |p| {
                (roots[p] / 2 + r.note / 2 + (roots[p] % 2 + r.note % 2) / 2) + 1
            });
            let hi = roots
                .get(i + 1)
                .map_or(127, |n| r.note / 2 + n / 2 + (r.note % 2 + n % 2) / 2);
            Zone {
                keys: [lo.min(r.note), hi.max(r.note)],
                root: r.note,
                tune: 0.0,
                tracking: 100.0,
                sample: Sample {
                    data: r.data.clone().into_boxed_slice(),
                    rate: r.rate,
                },
                r#loop: None,
                attack: 0.002,
                hold: 0.0,
                decay: 100.0,
                sustain: 1.0,
                release: 0.3,
                level: 1.0,
                pan: 0.0,
                exclusive: 0,
            }
        })
        .collect::<Vec<_>>();
    check_zones(&zones)?;
    Ok(OwnSound {
        name: clip(name, 64),
        program: 0,
        notes,
        instrument: Arc::new(instrument(zones)),
    })
}

/// The note a recording's file name stands for: its last word that is a note name (`C4`,
/// `F#2`, `Bb-1`; C4 = 60) or a MIDI number (`60`, `060`).
pub fn note_from_name(stem: &str) -> Option<u8> {
    stem.split(|c: char| !(c.is_ascii_alphanumeric() || c == '#' || c == '-'))
        .flat_map(|w| w.split('_'))
        .rev()
        .find_map(|word| {
            if word.len() <= 3 && !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
                return word.parse::<u8>().ok().filter(|n| *n <= 127);
            }
            let mut chars = word.chars();
            let letter = chars.next()?.to_ascii_uppercase();
            let base: i32 = match letter {
                'C' => 0,
                'D' => 2,
                'E' => 4,
                'F' => 5,
                'G' => 7,
                'A' => 9,
                'B' => 11,
                _ => return None,
            };
            let rest: String = chars.collect();
            let (accidental, octave) = match rest.as_bytes().first() {
                Some(b'#') => (1, &rest[1..]),
                Some(b'b') if rest.len() > 1 => (-1, &rest[1..]),
                _ => (0, rest.as_str()),
            };
            if octave.is_empty() || octave.len() > 2 {
                return None;
            }
            let octave: i32 = octave.parse().ok()?;
            let note = (octave + 1) * 12 + base + accidental;
            u8::try_from(note).ok().filter(|n| *n <= 127)
        })
}

/// "C4", "F#2".
pub fn note_name(note: u8) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    format!(
        "{}{}",
        NAMES[usize::from(note % 12)],
        i32::from(note / 12) - 1
    )
}

/// The bounds the renderer relies on, as the palette's manifest checks hold them: a sound
/// outside them is refused (what a font says is never trusted).
fn check_zones(zones: &[Zone]) -> std::result::Result<(), String> {
    if zones.is_empty() || zones.len() > crate::palette::MAX_ZONES {
        return Err(format!(
            "{} zones (1 to {})",
            zones.len(),
            crate::palette::MAX_ZONES
        ));
    }
    for z in zones {
        let frames = z.sample.data.len();
        let seconds =
            |s: f32| s.is_finite() && (0.0..=crate::palette::MAX_STAGE_SECONDS).contains(&s);
        let ok = z.keys[0] <= z.keys[1]
            && z.keys[1] <= 127
            && z.root <= 127
            && z.tune.is_finite()
            && z.tune.abs() <= 12_000.0
            && z.tracking.is_finite()
            && (0.0..=200.0).contains(&z.tracking)
            && [z.attack, z.hold, z.decay, z.release]
                .into_iter()
                .all(seconds)
            && (0.0..=1.0).contains(&z.sustain)
            && (0.0..=1.0).contains(&z.level)
            && (-1.0..=1.0).contains(&z.pan)
            && (4_000..=192_000).contains(&z.sample.rate)
            && frames >= 2
            && frames <= usize::try_from(z.sample.rate * MAX_RECORDING_SECONDS).unwrap_or(0) + 1
            && z.sample.data.iter().all(|v| v.is_finite())
            && z.r#loop
                .is_none_or(|[a, b]| a < b && usize::try_from(b).is_ok_and(|b| b < frames));
        if !ok {
            return Err("a zone is out of bounds (a damaged file?)".into());
        }
    }
    Ok(())
}

fn instrument(zones: Vec<Zone>) -> PaletteInstrument {
    PaletteInstrument {
        id: "mine".to_owned(),
        name: "My sound".to_owned(),
        family: "Mine".to_owned(),
        kind: Kind::Melodic,
        program: 0,
        gain: 1.0,
        zones,
    }
}

fn font_zone(z: FontZone) -> Zone {
    let data: Box<[f32]> = z.frames.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    Zone::new(&z.zone, Sample { data, rate: z.rate })
}

fn parse_font(bytes: &[u8]) -> std::result::Result<rustysynth::SoundFont, String> {
    soundfont::check_riff(bytes)?;
    rustysynth::SoundFont::new(&mut std::io::Cursor::new(bytes))
        .map_err(|e| format!("the SoundFont is damaged ({e})"))
}

/// Runs a parser, turning its error or its panic into a clear error naming the file.
fn guarded<T>(path: &Path, parse: impl FnOnce() -> std::result::Result<T, String>) -> Result<T> {
    let invalid = |detail: String| AudioError::OwnSoundInvalid {
        path: path.to_owned(),
        detail,
    };
    match catch_unwind(AssertUnwindSafe(parse)) {
        Ok(result) => result.map_err(invalid),
        Err(_) => Err(invalid(
            "it is damaged (the reader gave up on it); nothing was changed".into(),
        )),
    }
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
    let unreadable = |source| AudioError::OwnSoundUnreadable {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(unreadable)?.len();
    if len > max {
        return Err(AudioError::OwnSoundInvalid {
            path: path.to_owned(),
            detail: format!(
                "it is {} MB; Jamwire loads files up to {} MB",
                len / 1_000_000,
                max / 1_000_000
            ),
        });
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(path).map_err(unreadable)?, max),
        &mut bytes,
    )
    .map_err(unreadable)?;
    Ok(bytes)
}

/// The recordings of a folder, decoded (each under `catch_unwind`).
fn read_folder(dir: &Path) -> Result<Vec<Recording>> {
    let unreadable = |source| AudioError::OwnSoundUnreadable {
        path: dir.to_owned(),
        source,
    };
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)?.take(4_096) {
        let path = entry.map_err(unreadable)?.path();
        let audio = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            ["wav", "flac", "ogg", "oga"]
                .iter()
                .any(|x| e.eq_ignore_ascii_case(x))
        });
        if audio && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let invalid = |detail: String| AudioError::OwnSoundInvalid {
        path: dir.to_owned(),
        detail,
    };
    if files.len() > MAX_FOLDER_FILES {
        return Err(invalid(format!(
            "it has {} recordings; a sound may have at most {MAX_FOLDER_FILES}",
            files.len()
        )));
    }
    let mut recordings = Vec::new();
    let mut total = 0usize;
    for path in files {
        let file = display_name(&path);
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let Some(note) = note_from_name(stem) else {
            return Err(invalid(format!(
                "{file} isn't named after a note: name each recording after its note, like C4.wav, F#2.flac or 60.ogg (C4 is middle C, MIDI note 60)"
            )));
        };
        let bytes = read_bounded(&path, MAX_RECORDING_BYTES)?;
        let budget = MAX_TOTAL_FRAMES.saturating_sub(total);
        let (data, rate) = guarded(&path, || decode_recording(bytes, budget))?;
        total += data.len();
        recordings.push(Recording {
            file,
            note,
            data,
            rate,
        });
    }
    Ok(recordings)
}

/// Decodes one recording (WAV, FLAC or Ogg Vorbis) to mono, at most
/// [`MAX_RECORDING_SECONDS`] and `budget` frames.
pub fn decode_recording(
    bytes: Vec<u8>,
    budget: usize,
) -> std::result::Result<(Vec<f32>, u32), String> {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::errors::Error;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::{FormatOptions, TrackType};
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;

    let stream = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
    let mut format = symphonia::default::get_probe()
        .probe(
            &Hint::new(),
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| format!("not a recording Jamwire can read ({e})"))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or("it has no audio")?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or("it has no audio")?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| format!("its audio format isn't supported ({e})"))?;
    let mut mono: Vec<f32> = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut rate = 0u32;
    let mut damaged = 0;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(Error::IoError(_)) if !mono.is_empty() => break,
            Err(e) => return Err(format!("it is damaged ({e})")),
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buffer) => {
                let spec = buffer.spec();
                let channels = spec.channels().count().max(1);
                if rate == 0 {
                    rate = spec.rate();
                    if !(4_000..=192_000).contains(&rate) {
                        return Err(format!("its sample rate {rate} Hz is out of range"));
                    }
                }
                interleaved.resize(buffer.samples_interleaved(), 0.0);
                buffer.copy_to_slice_interleaved(&mut interleaved);
                let limit = budget.min(usize::try_from(rate * MAX_RECORDING_SECONDS).unwrap_or(0));
                for frame in interleaved.chunks_exact(channels) {
                    if mono.len() >= limit {
                        break;
                    }
                    let v = frame.iter().sum::<f32>() / channels as f32;
                    mono.push(if v.is_finite() {
                        v.clamp(-1.0, 1.0)
                    } else {
                        0.0
                    });
                }
                if mono.len() >= limit {
                    break;
                }
            }
            Err(Error::DecodeError(_)) if damaged < 16 => damaged += 1,
            Err(e) => return Err(format!("it is damaged ({e})")),
        }
    }
    if mono.len() < 2 {
        return Err("it holds no sound".into());
    }
    Ok((mono, rate))
}

/// Sets the sound's gain so a C-major chord is as loud as on the grand piano.
fn level(sound: &mut OwnSound, bank: &Arc<SampleBank>) {
    let reference = measure::chord_level(bank, Kind::Melodic, 0);
    let now = chord_level_own(bank, &sound.instrument);
    let gain = if now > 1e-6 && reference > 0.0 {
        (reference / now).clamp(0.01, 100.0)
    } else {
        1.0
    };
    // Nobody else holds it yet: it was just built, and the measure's engine is gone.
    if let Some(instrument) = Arc::get_mut(&mut sound.instrument) {
        instrument.gain = gain;
    }
}

/// [`measure::chord_level`] of an own instrument (rendered offline).
pub(crate) fn chord_level_own(bank: &Arc<SampleBank>, own: &Arc<PaletteInstrument>) -> f32 {
    let (mut engine, mut renderer) = crate::engine(bank.clone(), EngineConfig::default());
    renderer.own = Some(own.clone());
    let me = SourceId::LOCAL;
    let _ = engine.send(Command::now(Action::Program {
        source: me,
        instrument: Instrument::Piano,
        program: OWN_PROGRAM,
    }));
    for note in [60, 64, 67] {
        let _ = engine.send(Command::now(Action::NoteOn {
            source: me,
            instrument: Instrument::Piano,
            note,
            velocity: 100,
        }));
        let _ = engine.send(Command::at(
            u64::from(measure::RATE) * 9 / 10,
            Action::NoteOff {
                source: me,
                instrument: Instrument::Piano,
                note,
            },
        ));
    }
    let mut out = vec![0.0; measure::RATE as usize * 2];
    for block in out.chunks_mut(512) {
        renderer.render(block, 2, Instant::now());
    }
    let mono: Vec<f32> = out.chunks_exact(2).map(|f| 0.5 * (f[0] + f[1])).collect();
    measure::rms(&mono)
}

fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn clip(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests;
