//! Jamwire's Windows binaries, cross-built here (`x86_64-pc-windows-gnu`, linked by mingw-w64)
//! and run under Wine in a prefix of the test's own. Wine 8 (Debian 12) lacks
//! `bcryptprimitives.dll`, whose `ProcessPrng` Rust's standard library imports: each prefix
//! gets a shim built from `tests/windows/bcryptprimitives.c` (test-only, never shipped).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use crate::heard::tool;

/// The Rust target the Windows binaries are built for.
pub const TARGET: &str = "x86_64-pc-windows-gnu";

/// The folder of the Windows binaries — `jamwire.exe`, `jam.exe`, `jam-relay.exe` — built for
/// the caller's profile with exactly the command `scripts/package --windows` uses, so that the
/// tests and the installer share one build (cargo skips what is up to date).
pub fn binaries() -> PathBuf {
    let test_exe = std::env::current_exe().expect("test executable path");
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let profile = profile_dir.file_name().expect("a profile folder");
    let target_dir = profile_dir.parent().expect("the target folder");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args([
        "build",
        "--quiet",
        "--locked",
        "--target",
        TARGET,
        "-p",
        "jamwire",
        "-p",
        "jam",
        "-p",
        "jam-relay",
        "--bins",
    ]);
    if profile == "release" {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building the Windows binaries failed");
    target_dir.join(TARGET).join(profile)
}

/// The installer `scripts/package --windows --debug` builds (from [`binaries`]' build), for
/// the workspace's version.
pub fn installer() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = std::process::Command::new("bash")
        .arg(root.join("scripts/package"))
        .args(["--windows", "--debug"])
        .status()
        .expect("scripts/package runs");
    assert!(status.success(), "scripts/package --windows --debug failed");
    let setup = root
        .join("target/packages")
        .join(format!("jamwire-{}-setup.exe", env!("CARGO_PKG_VERSION")));
    assert!(setup.exists(), "{} exists", setup.display());
    setup
}

/// A Wine prefix of a test's own; its wine server is stopped when dropped.
pub struct Wine {
    prefix: PathBuf,
    loader: PathBuf,
}

impl Wine {
    /// Makes a fresh prefix in `dir` (`wineboot --init`) with the `ProcessPrng` shim.
    pub async fn prefix(dir: &Path) -> Wine {
        std::fs::create_dir_all(dir).expect("a folder for Wine");
        let wine = Wine {
            prefix: dir.join("prefix"),
            loader: loader(),
        };
        let status = wine
            .command(Path::new("wineboot"))
            .arg("--init")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .expect("wineboot runs");
        assert!(status.success(), "wineboot --init: {status}");
        wine.server(&["-w"]).await;
        let shim = dir.join("bcryptprimitives.dll");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("windows/bcryptprimitives.c");
        let status = Command::new(tool("x86_64-w64-mingw32-gcc"))
            .args(["-shared", "-O2", "-o"])
            .arg(&shim)
            .arg(&source)
            .arg("-ladvapi32")
            .status()
            .await
            .expect("mingw's gcc runs");
        assert!(status.success(), "building the ProcessPrng shim: {status}");
        std::fs::copy(
            &shim,
            wine.prefix
                .join("drive_c/windows/system32/bcryptprimitives.dll"),
        )
        .expect("the shim goes into the prefix");
        wine
    }

    /// `program` (a Windows executable, or one of Wine's own by name) under this prefix, with
    /// Wine's own chatter off.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(&self.loader);
        command
            .arg(program)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            // No desktop integration or Mono/Gecko prompts in a test prefix.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml,winemenubuilder.exe=");
        command
    }

    /// The prefix's `C:` drive, as this machine sees it.
    pub fn drive_c(&self) -> PathBuf {
        self.prefix.join("drive_c")
    }

    /// Waits until every program of this prefix has ended (`wineserver -w`), bounded.
    pub async fn wait(&self) {
        tokio::time::timeout(crate::PATIENCE * 3, self.server(&["-w"]))
            .await
            .expect("the prefix's programs end in time");
    }

    async fn server(&self, args: &[&str]) {
        let _ = Command::new(server())
            .args(args)
            .env("WINEPREFIX", &self.prefix)
            .status()
            .await;
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        let _ = std::process::Command::new(server())
            .arg("-k")
            .env("WINEPREFIX", &self.prefix)
            .status();
    }
}

/// Wine's 64-bit loader: Debian installs it outside `PATH`.
fn loader() -> PathBuf {
    wine_program("wine64", "wine64")
}

/// The prefix's server.
fn server() -> PathBuf {
    wine_program("wineserver64", "wineserver")
}

/// `/usr/lib/wine/debian` (Debian's layout), else `elsewhere` on `PATH`.
fn wine_program(debian: &str, elsewhere: &str) -> PathBuf {
    let path = Path::new("/usr/lib/wine").join(debian);
    if path.is_file() {
        path
    } else {
        tool(elsewhere)
    }
}
