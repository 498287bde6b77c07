//! `jam`: the headless Jamwire tool.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use jam_audio::{SampleBank, offline};
use jam_midi::{Router, Song};
use tracing_subscriber::EnvFilter;

/// The headless Jamwire tool, for dedicated hosts, bots, tests and bouncing MIDI to audio.
#[derive(Debug, Parser)]
#[command(name = "jam", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render a MIDI file to a WAV file through Jamwire's audio engine: channel 10 plays the
    /// drum kit, every other channel the piano. The WAV lasts the file plus the time its last
    /// notes take to fade.
    Render {
        /// The MIDI file to render.
        input: PathBuf,
        /// The WAV file to write (16-bit stereo).
        output: PathBuf,
        /// Sample rate of the WAV, in Hz.
        #[arg(long, default_value_t = 48_000, value_name = "HZ")]
        sample_rate: u32,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match Cli::parse().command {
        Command::Render {
            input,
            output,
            sample_rate,
        } => render(&input, &output, sample_rate),
    }
}

fn render(
    input: &std::path::Path,
    output: &std::path::Path,
    sample_rate: u32,
) -> anyhow::Result<()> {
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
