//! `jam`: the headless Jamwire tool.

use std::io::IsTerminal;

use clap::Parser;
use jam_play::views::HostRequest;
use tracing_subscriber::EnvFilter;

mod args;
mod files;
mod live;

use args::{Cli, Command};
use files::{export, export_stems, render};
use live::{devices, host, join, lan_invite, list, play, record};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let command = Cli::parse().command;
    if let Command::Render {
        input,
        output,
        sample_rate,
    } = command
    {
        return render(&input, &output, sample_rate);
    }
    if let Command::Devices = command {
        return devices();
    }
    if let Command::MidiOutputs = command {
        for name in jam_midi::output::available_outputs("jam")? {
            println!("{name}");
        }
        return Ok(());
    }
    if let Command::Export {
        log,
        output,
        session,
        list,
        stems,
        sample_rate,
    } = command
    {
        if let Some(dir) = stems {
            return export_stems(&log, &session, &dir, sample_rate);
        }
        return export(&log, output.as_deref(), &session, list);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match command {
            Command::Host {
                bind,
                no_port_mapping,
                relay,
                relay_key,
                ca_cert,
                name,
                password,
                audio,
                sound,
            } => {
                let request = HostRequest {
                    name,
                    password,
                    port: bind.port(),
                    record: false,
                    port_mapping: !no_port_mapping,
                    relay,
                    relay_key,
                };
                host(bind, request, ca_cert, audio, sound).await
            }
            Command::List { wait } => list(std::time::Duration::from_secs(wait)).await,
            Command::Join {
                invite,
                lan,
                name,
                listen,
                ca_cert,
                password,
                audio,
                sound,
                midi_out,
            } => {
                let invite = match (invite, lan) {
                    (Some(invite), _) => invite,
                    (None, _) => lan_invite().await?,
                };
                let request = jam_play::views::JoinRequest {
                    name,
                    invite,
                    listener: listen,
                    password,
                };
                join(request, ca_cert, audio, sound, midi_out).await
            }
            Command::Play {
                file,
                into,
                name,
                password,
                audio,
                sound,
            } => play(&file, into, name, password, audio, sound).await,
            Command::Record {
                output,
                from,
                name,
                password,
                audio,
            } => record(&output, from, name, password, audio).await,
            Command::Render { .. }
            | Command::Export { .. }
            | Command::Devices
            | Command::MidiOutputs => {
                anyhow::bail!("render and export run without a network")
            }
        }
    })
}
