//! Reading a SoundFont (SF2) preset into the sampler's zones: what `extract_palette` does at
//! build time for the palette, and what "my sound" does when a player loads their own font.
//!
//! A SoundFont is hostile input when a player loads it: [`check_riff`] walks its chunk
//! structure before the parser (`rustysynth`) sees it, so that no chunk claims more bytes than
//! the file has (the parser allocates what a chunk claims), and an SF3 (compressed samples,
//! which the parser would read as noise) is refused with a clear error. Every index and
//! number taken from the font is checked here; the caller runs the parser under
//! `catch_unwind` (see [`crate::own`]).

use rustysynth::{LoopMode, SoundFont};

use super::palette::{Kind, MAX_ZONES, ManifestZone};

/// The velocity whose layer is taken (one velocity layer per preset).
pub const LAYER_VELOCITY: i32 = 100;
/// Longest recording kept for an unlooped zone, in seconds: a cymbal has fallen 40 dB by then,
/// and the engine fades the last 50 ms.
pub const MAX_ONE_SHOT_SECONDS: i32 = 4;
/// Longest looped recording (attack and loop), in seconds.
pub const MAX_LOOPED_SECONDS: i32 = 60;

/// One zone of a preset: its recording (16-bit mono, cut to what is played) and how it plays
/// (`zone`, whose `sample` is empty: the caller names or holds the recording).
#[derive(Debug, Clone, PartialEq)]
pub struct FontZone {
    /// Which stretch of the font's sample data the recording is (sample id, start, end):
    /// zones with the same key share a recording.
    pub key: (usize, i32, i32),
    /// The recording, mono 16-bit.
    pub frames: Vec<i16>,
    /// Its sample rate.
    pub rate: u32,
    /// Keys, root, tuning, loop (in frames of `frames`), envelope, level, pan, choke group.
    pub zone: ManifestZone,
}

/// A preset of a font, as a picker lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PresetInfo {
    /// Bank (128 = drum kits).
    pub bank: u16,
    /// Program 0–127.
    pub program: u8,
    /// The font's name for it.
    pub name: String,
}

/// The presets of a font, sorted by bank and program.
pub fn presets(font: &SoundFont) -> Vec<PresetInfo> {
    let mut list: Vec<PresetInfo> = font
        .get_presets()
        .iter()
        .filter_map(|p| {
            Some(PresetInfo {
                bank: u16::try_from(p.get_bank_number()).ok()?,
                program: u8::try_from(p.get_patch_number())
                    .ok()
                    .filter(|p| *p <= 127)?,
                name: p.get_name().chars().take(64).collect(),
            })
        })
        .collect();
    list.sort_by_key(|p| (p.bank, p.program));
    list.dedup_by_key(|p| (p.bank, p.program));
    list
}

/// What is wrong with a font's structure, before the parser reads it.
pub fn check_riff(bytes: &[u8]) -> Result<(), String> {
    let u32_at = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at.checked_add(4)?)?;
        usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok()
    };
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"sfbk") {
        return Err("not a SoundFont (SF2) file".into());
    }
    let riff_end = u32_at(4)
        .and_then(|n| n.checked_add(8))
        .ok_or("the file is cut short")?;
    if riff_end > bytes.len() {
        return Err(format!(
            "the file is cut short: it says {riff_end} bytes, it has {}",
            bytes.len()
        ));
    }
    // Top-level chunks are LISTs (INFO, sdta, pdta) whose sub-chunks must fit inside them.
    let mut at = 12;
    let mut lists = 0;
    while at + 8 <= riff_end {
        let size = u32_at(at + 4).ok_or("a chunk header is cut short")?;
        let end = (at + 8)
            .checked_add(size)
            .filter(|end| *end <= riff_end)
            .ok_or("a chunk is longer than the file")?;
        if bytes.get(at..at + 4) == Some(b"LIST") {
            lists += 1;
            let list_type = bytes.get(at + 8..at + 12).ok_or("a list is cut short")?;
            let mut sub = at + 12;
            while sub + 8 <= end {
                let sub_size = u32_at(sub + 4).ok_or("a chunk header is cut short")?;
                let sub_end = (sub + 8)
                    .checked_add(sub_size)
                    .filter(|e| *e <= end)
                    .ok_or("a chunk is longer than its list")?;
                if list_type == b"INFO" && bytes.get(sub..sub + 4) == Some(b"ifil") {
                    let major = bytes
                        .get(sub + 8..sub + 10)
                        .ok_or("the version is cut short")?;
                    if u16::from_le_bytes([major[0], major[1]]) >= 3 {
                        return Err("it is an SF3 (compressed) SoundFont, which Jamwire can't read yet: convert it to SF2 (Polyphone does) and load that".into());
                    }
                }
                if list_type == b"sdta" && bytes.get(sub..sub + 4) == Some(b"sm24") {
                    // 24-bit extension: the parser reads only the 16-bit part, which is fine.
                }
                // Chunks are padded to an even length.
                sub = sub_end + (sub_size & 1);
            }
        }
        at = end + (size & 1);
    }
    if lists < 3 {
        return Err("the file lacks the INFO, sample or preset lists of a SoundFont".into());
    }
    Ok(())
}

/// The zones of preset `bank:program` at [`LAYER_VELOCITY`]: the left (or mono) recording of
/// each, cut to what is played (up to the loop's end plus one frame, or
/// [`MAX_ONE_SHOT_SECONDS`] when unlooped), with the preset's and instrument's generators
/// combined. Kits never loop. Not carried over: filters, LFOs, modulators, the modulation
/// envelope and the other velocity layers. In the font's order (callers sort by key).
pub fn preset_zones(
    font: &SoundFont,
    bank: i32,
    program: i32,
    kind: Kind,
) -> Result<Vec<FontZone>, String> {
    let preset = font
        .get_presets()
        .iter()
        .find(|p| p.get_bank_number() == bank && p.get_patch_number() == program)
        .ok_or_else(|| format!("the font has no preset {bank}:{program}"))?;
    let headers = font.get_sample_headers();
    let wave = font.get_wave_data();
    let in_layer = |lo: i32, hi: i32| (lo..=hi).contains(&LAYER_VELOCITY);
    let mut zones = Vec::new();
    for pr in preset.get_regions() {
        if !in_layer(pr.get_velocity_range_start(), pr.get_velocity_range_end()) {
            continue;
        }
        let Some(inst) = font.get_instruments().get(pr.get_instrument_id()) else {
            continue;
        };
        for ir in inst.get_regions() {
            if !in_layer(ir.get_velocity_range_start(), ir.get_velocity_range_end()) {
                continue;
            }
            let Some(header) = headers.get(ir.get_sample_id()) else {
                continue;
            };
            // Stereo pairs: keep the left (type 4) or mono (1) one.
            if header.get_sample_type() & 0x2 != 0 {
                continue;
            }
            let lo = pr.get_key_range_start().max(ir.get_key_range_start());
            let hi = pr.get_key_range_end().min(ir.get_key_range_end());
            let (Ok(lo), Ok(hi)) = (u8::try_from(lo), u8::try_from(hi)) else {
                continue;
            };
            if lo > hi || hi > 127 {
                continue;
            }
            let rate = header.get_sample_rate();
            let Ok(rate_u) = u32::try_from(rate) else {
                continue;
            };
            if !(4_000..=192_000).contains(&rate_u) {
                continue;
            }
            let start = ir.get_sample_start();
            let (loop_start, loop_end) = (ir.get_sample_start_loop(), ir.get_sample_end_loop());
            let sample_end = ir.get_sample_end();
            let looped = kind == Kind::Melodic
                && ir.get_sample_modes() != LoopMode::NoLoop
                && start <= loop_start
                && loop_start.saturating_add(4) < loop_end
                && loop_end <= sample_end
                && loop_end
                    .checked_sub(start)
                    .is_some_and(|n| n <= MAX_LOOPED_SECONDS * rate);
            let end = if looped {
                loop_end
            } else {
                sample_end.min(start.saturating_add(MAX_ONE_SHOT_SECONDS * rate))
            };
            let (Ok(from), Ok(to)) = (usize::try_from(start), usize::try_from(end)) else {
                continue;
            };
            let Some(recording) = wave.get(from..to).filter(|r| r.len() >= 2) else {
                continue;
            };
            let mut frames = recording.to_vec();
            let mut r#loop = None;
            if looped {
                let (Ok(ls), Ok(le)) = (
                    usize::try_from(loop_start - start),
                    usize::try_from(loop_end - start),
                ) else {
                    continue;
                };
                smooth_seam(&mut frames, ls, le);
                // One frame past the loop's end: the loop's first, so interpolation across
                // the seam reads what is played next.
                frames.push(frames[ls]);
                r#loop = Some([
                    u32::try_from(ls).map_err(|e| e.to_string())?,
                    u32::try_from(le).map_err(|e| e.to_string())?,
                ]);
            } else {
                fade_out(&mut frames, usize::try_from(rate / 20).unwrap_or(0));
            }
            let seconds = |inst: f32, preset: f32| {
                let s = inst * preset;
                if s.is_finite() {
                    s.clamp(0.0, 100.0)
                } else {
                    0.0
                }
            };
            let db = |v: f32| {
                if v.is_finite() {
                    v.clamp(0.0, 144.0)
                } else {
                    0.0
                }
            };
            let sustain_db =
                db(ir.get_sustain_volume_envelope() + pr.get_sustain_volume_envelope());
            let attenuation = db(ir.get_initial_attenuation() + pr.get_initial_attenuation());
            let pan = (ir.get_pan() + pr.get_pan()) / 50.0;
            let pan = if pan.is_finite() {
                pan.clamp(-1.0, 1.0)
            } else {
                0.0
            };
            let cents = |coarse: i32, fine: i32| {
                (coarse.clamp(-120, 120) * 100 + fine.clamp(-1_200, 1_200)) as f32
            };
            zones.push(FontZone {
                key: (ir.get_sample_id(), start, end),
                frames,
                rate: rate_u,
                zone: ManifestZone {
                    sample: String::new(),
                    keys: [lo, hi],
                    root: u8::try_from(ir.get_root_key().clamp(0, 127)).unwrap_or(60),
                    tune: cents(
                        ir.get_coarse_tune().saturating_add(pr.get_coarse_tune()),
                        ir.get_fine_tune().saturating_add(pr.get_fine_tune()),
                    )
                    .clamp(-12_000.0, 12_000.0),
                    tracking: ir
                        .get_scale_tuning()
                        .saturating_add(pr.get_scale_tuning())
                        .clamp(0, 200) as f32,
                    r#loop,
                    attack: seconds(
                        ir.get_attack_volume_envelope(),
                        pr.get_attack_volume_envelope(),
                    ),
                    hold: seconds(ir.get_hold_volume_envelope(), pr.get_hold_volume_envelope()),
                    decay: seconds(
                        ir.get_decay_volume_envelope(),
                        pr.get_decay_volume_envelope(),
                    ),
                    sustain: 10f32.powf(-sustain_db / 20.0).clamp(0.0, 1.0),
                    release: seconds(
                        ir.get_release_volume_envelope(),
                        pr.get_release_volume_envelope(),
                    ),
                    // SoundFont attenuation is applied at 0.4 of its nominal dB by FluidSynth and
                    // most players (the EMU hardware did); do the same so layers keep their balance.
                    level: 10f32.powf(-0.4 * attenuation / 20.0).clamp(0.0, 1.0),
                    pan: (pan * 100.0).round() / 100.0,
                    exclusive: u8::try_from(ir.get_exclusive_class().clamp(0, 127)).unwrap_or(0),
                },
            });
            if zones.len() > MAX_ZONES {
                return Err(format!(
                    "preset {bank}:{program} has more than {MAX_ZONES} zones"
                ));
            }
        }
    }
    if zones.is_empty() {
        return Err(format!(
            "preset {bank}:{program} has no playable zone at velocity {LAYER_VELOCITY}"
        ));
    }
    Ok(zones)
}

/// Where a loop's seam (its last frame to its first) steps further than any two neighbouring
/// frames inside the loop, it clicks once per pass: crossfade the loop's last quarter (at most
/// 1,024 frames) into the frames before its start, so the end runs into the start as the
/// recording itself runs into it. Returns whether it did.
pub fn smooth_seam(samples: &mut [i16], ls: usize, le: usize) -> bool {
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
pub fn fade_out(samples: &mut [i16], frames: usize) {
    let n = samples.len().min(frames);
    let from = samples.len() - n;
    for (k, s) in samples[from..].iter_mut().enumerate() {
        *s = (f32::from(*s) * (n - k) as f32 / n as f32) as i16;
    }
}

/// A minimal SoundFont with one preset playing one mono recording over every key: what the
/// tests, the fuzz target's seeds and a bug report need (`name` up to 19 bytes).
pub fn write_sf2(
    name: &str,
    bank: u16,
    program: u16,
    recording: &[i16],
    rate: u32,
    root: u8,
    r#loop: Option<[u32; 2]>,
) -> Vec<u8> {
    // SoundFont chunks have even sizes (strings are padded with a zero, counted).
    fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let padded = body.len() + body.len() % 2;
        let mut out = id.to_vec();
        out.extend_from_slice(&u32::try_from(padded).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(body);
        out.resize(8 + padded, 0);
        out
    }
    fn list(kind: &[u8; 4], chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut body = kind.to_vec();
        for c in chunks {
            body.extend_from_slice(c);
        }
        chunk(b"LIST", &body)
    }
    fn name20(name: &str) -> [u8; 20] {
        let mut out = [0u8; 20];
        for (o, b) in out.iter_mut().zip(name.bytes().take(19)) {
            *o = b;
        }
        out
    }
    let u16le = |v: u16| v.to_le_bytes();
    let u32le = |v: u32| v.to_le_bytes();
    let generator =
        |oper: u16, amount: [u8; 2]| [u16le(oper)[0], u16le(oper)[1], amount[0], amount[1]];
    let frames = u32::try_from(recording.len()).unwrap_or(0);
    // The recording, then the 46 silent frames the format asks for after each.
    let mut smpl = Vec::new();
    for s in recording.iter().copied().chain(std::iter::repeat_n(0, 46)) {
        smpl.extend_from_slice(&s.to_le_bytes());
    }
    let mut phdr = Vec::new();
    for (n, p, b, bag) in [(name, program, bank, 0u16), ("EOP", 0, 0, 1)] {
        phdr.extend_from_slice(&name20(n));
        phdr.extend_from_slice(&u16le(p));
        phdr.extend_from_slice(&u16le(b));
        phdr.extend_from_slice(&u16le(bag));
        phdr.extend_from_slice(&[0; 12]);
    }
    let bags = |gens: [u16; 2]| {
        let mut out = Vec::new();
        for g in gens {
            out.extend_from_slice(&u16le(g));
            out.extend_from_slice(&u16le(0));
        }
        out
    };
    // Preset zone: key range, then the instrument.
    let mut pgen = Vec::new();
    pgen.extend_from_slice(&generator(43, [0, 127]));
    pgen.extend_from_slice(&generator(41, u16le(0)));
    pgen.extend_from_slice(&[0; 4]);
    let mut inst = Vec::new();
    for (n, bag) in [(name, 0u16), ("EOI", 1)] {
        inst.extend_from_slice(&name20(n));
        inst.extend_from_slice(&u16le(bag));
    }
    // Instrument zone: key range, loop mode, release 0.3 s (timecents), then the recording.
    let mut igen = Vec::new();
    igen.extend_from_slice(&generator(43, [0, 127]));
    igen.extend_from_slice(&generator(54, u16le(u16::from(r#loop.is_some()))));
    igen.extend_from_slice(&generator(38, (-2_084i16).to_le_bytes()));
    igen.extend_from_slice(&generator(53, u16le(0)));
    igen.extend_from_slice(&[0; 4]);
    let [loop_start, loop_end] = r#loop.unwrap_or([0, frames.saturating_sub(1)]);
    let mut shdr = Vec::new();
    shdr.extend_from_slice(&name20(name));
    for v in [0, frames, loop_start, loop_end, rate] {
        shdr.extend_from_slice(&u32le(v));
    }
    shdr.extend_from_slice(&[root, 0]);
    shdr.extend_from_slice(&u16le(0));
    shdr.extend_from_slice(&u16le(1)); // mono
    shdr.extend_from_slice(&name20("EOS"));
    shdr.extend_from_slice(&[0; 26]);
    let info = list(
        b"INFO",
        &[
            chunk(b"ifil", &[2, 0, 1, 0]),
            chunk(b"isng", b"EMU8000\0"),
            chunk(b"INAM", b"Jamwire test\0"),
        ],
    );
    let sdta = list(b"sdta", &[chunk(b"smpl", &smpl)]);
    let pdta = list(
        b"pdta",
        &[
            chunk(b"phdr", &phdr),
            chunk(b"pbag", &bags([0, 2])),
            chunk(b"pmod", &[0; 10]),
            chunk(b"pgen", &pgen),
            chunk(b"inst", &inst),
            chunk(b"ibag", &bags([0, 4])),
            chunk(b"imod", &[0; 10]),
            chunk(b"igen", &igen),
            chunk(b"shdr", &shdr),
        ],
    );
    let mut body = b"sfbk".to_vec();
    body.extend_from_slice(&info);
    body.extend_from_slice(&sdta);
    body.extend_from_slice(&pdta);
    chunk(b"RIFF", &body)
}
