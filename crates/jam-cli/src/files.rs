//! `jam`'s subcommands that need no network: render a MIDI file to audio, export a take.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use jam_audio::{SampleBank, offline};
use jam_midi::{Router, Song};
use jam_play::Takes;

/// `jam render`: bounces a MIDI file to a WAV through the audio engine, offline.
pub(crate) fn render(input: &Path, output: &Path, sample_rate: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        (8_000..=192_000).contains(&sample_rate),
        "--sample-rate must be between 8000 and 192000 Hz"
    );
    let song = Song::load(input)?;
    let bank = Arc::new(
        SampleBank::load(&SampleBank::default_dir()).context("loading the instrument samples")?,
    );
    let audio = jam_midi::render_song(&song, bank, sample_rate, &Router::default());
    offline::write_wav(output, &audio, sample_rate)?;
    eprintln!(
        "rendered {} notes, {:.2} s, to {}",
        song.note_count(),
        audio.len() as f64 / 2.0 / f64::from(sample_rate),
        output.display()
    );
    Ok(())
}

/// `jam export`: lists a session log's takes, or writes one as a multitrack MIDI file.
pub(crate) fn export(
    log: &Path,
    output: Option<&Path>,
    session: &str,
    list: bool,
) -> anyhow::Result<()> {
    let takes = read_log(log)?;
    if list {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{:>5}  {:<20}  {:>8}  {:>7}  players",
            "id", "started", "length", "events"
        )?;
        for take in takes.list()? {
            writeln!(
                out,
                "{:>5}  {:<20}  {:>8}  {:>7}  {}",
                take.id,
                utc(take.started_ms),
                clock(take.duration_ms),
                take.event_count,
                take.participants.join(", ")
            )?;
        }
        return Ok(());
    }
    let id = take_id(&takes, session)?;
    let output = output.context("give the MIDI file to write, or --list")?;
    let take = takes.export_to(id, output)?;
    eprintln!(
        "jam: take {id} ({}, {} events, {}) written to {}",
        clock(take.duration_ms),
        take.event_count,
        take.participants.join(", "),
        output.display()
    );
    Ok(())
}

/// `jam export --stems DIR`: a take as one WAV per player, the mix and the MIDI file.
pub(crate) fn export_stems(
    log: &Path,
    session: &str,
    dir: &Path,
    sample_rate: u32,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        (8_000..=192_000).contains(&sample_rate),
        "--sample-rate must be between 8000 and 192000 Hz"
    );
    let takes = read_log(log)?;
    let id = take_id(&takes, session)?;
    let bank = Arc::new(
        SampleBank::load(&SampleBank::default_dir()).context("loading the instrument samples")?,
    );
    let started = std::time::Instant::now();
    let written = takes.export_stems(id, &bank, sample_rate, dir)?;
    eprintln!(
        "jam: take {id} as {} files in {} ({:.1} s)",
        written.len(),
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

/// The session log at `log`, which must be there.
fn read_log(log: &Path) -> anyhow::Result<Takes> {
    anyhow::ensure!(
        log.exists(),
        "there is no session log at {} — record one with `jam-relay --log {}`",
        log.display(),
        log.display()
    );
    Ok(Takes::read(log))
}

/// The take `session` names: an id, or `latest`.
fn take_id(takes: &Takes, session: &str) -> anyhow::Result<i64> {
    Ok(match session {
        "latest" => takes.latest()?,
        id => id.parse().map_err(|_| {
            anyhow::anyhow!("--session takes a take's id (see --list) or `latest`, not {id:?}")
        })?,
    })
}

/// `M:SS` (or `H:MM:SS`).
fn clock(ms: f64) -> String {
    let s = (ms / 1_000.0).round() as u64;
    if s >= 3_600 {
        format!("{}:{:02}:{:02}", s / 3_600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// RFC 3339 in UTC, to the second, from ms since the Unix epoch.
fn utc(ms: f64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0.0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}
