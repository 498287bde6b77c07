// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::process::ExitCode;

fn main() -> ExitCode {
    // `jamwire --version` / `--help` answer in the terminal without opening a window; anything
    // else (nothing, or an invite link the desktop passes) starts the app.
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version" | "-V") => {
            println!(
                "Jamwire {} (protocol {})",
                env!("CARGO_PKG_VERSION"),
                jam_protocol::PROTOCOL_VERSION
            );
            ExitCode::SUCCESS
        }
        Some("--help" | "-h") => {
            println!(
                "Jamwire {}: play piano and drums together over a network.\n\n\
                 Usage: jamwire [INVITE]\n\n\
                 INVITE  a jam:// or jams:// invite (jam://192.168.1.20:7878/K7M2QXH4): opens the\n        \
                 Join form with it filled in, in the Jamwire already running if there is one.\n\n\
                 -V, --version  the version and the protocol version\n\
                 -h, --help     this help\n\n\
                 Headless hosting, joining and relaying: the jam and jam-relay tools.",
                env!("CARGO_PKG_VERSION")
            );
            ExitCode::SUCCESS
        }
        _ => {
            if jamwire_app::run() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
