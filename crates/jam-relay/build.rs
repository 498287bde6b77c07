//! Embeds the browser guest's page (the UI build, `ui/dist`) and the instrument samples
//! (`assets/`: the piano, the kit and the palette) in the relay, so any relay — in the app, `jam host`, `jam-relay` — serves them.
//! Without a UI build (`npm run build` in `ui/`, done by the scripts) the relay still builds and
//! answers the page's routes with a message saying so.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The largest file embedded (a bigger one is a build mistake, not a page).
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("../..");
    let dist = std::env::var_os("JAM_WEB_DIST").map_or_else(|| root.join("ui/dist"), PathBuf::from);
    let assets = root.join("assets");
    println!("cargo:rerun-if-env-changed=JAM_WEB_DIST");
    println!("cargo:rerun-if-changed={}", dist.display());
    for sub in ["drums", "piano", "palette"] {
        println!("cargo:rerun-if-changed={}", assets.join(sub).display());
    }

    let mut files = Vec::new();
    let page = dist.join("index.html").is_file();
    if page {
        collect(&dist, &dist, "", &mut files);
    } else {
        println!(
            "cargo:warning=no UI build in {} (run `npm run build` in ui/): the relay serves no guest page",
            dist.display()
        );
    }
    // The palette (21 MB) too: a browser guest fetches only the instruments in use in its room.
    // Not with the `embedded-samples` feature off (the app serves its own from disk).
    let samples = std::env::var_os("CARGO_FEATURE_EMBEDDED_SAMPLES").is_some();
    for sub in ["drums", "piano", "palette"]
        .into_iter()
        .filter(|_| samples)
    {
        let dir = assets.join(sub);
        collect(&dir, &dir, &format!("/samples/{sub}"), &mut files);
    }
    files.sort();

    let mut out = String::from(
        "/// Files the relay serves, sorted by path.\npub(crate) static FILES: &[WebFile] = &[\n",
    );
    for (path, file) in &files {
        let file = file.canonicalize().expect("an embedded file");
        writeln!(
            out,
            "    WebFile {{ path: {path:?}, body: include_bytes!({:?}) }},",
            file.display()
        )
        .expect("writing to a string");
    }
    out.push_str("];\n");
    writeln!(
        out,
        "/// True if the UI build was embedded.\npub(crate) const HAS_PAGE: bool = {page};"
    )
    .expect("writing to a string");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("web_files.rs"), out).expect("writing web_files.rs");
}

fn collect(base: &Path, dir: &Path, prefix: &str, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            collect(base, &path, prefix, files);
            continue;
        }
        let name = path.to_string_lossy();
        let wanted = [
            ".html", ".js", ".css", ".wasm", ".flac", ".svg", ".png", ".ico", ".json",
        ]
        .iter()
        .any(|ext| name.ends_with(ext));
        if !wanted {
            continue;
        }
        assert!(
            meta.len() <= MAX_FILE_BYTES,
            "{} is larger than {MAX_FILE_BYTES} bytes",
            path.display()
        );
        let rel = path.strip_prefix(base).expect("under its base");
        let rel: Vec<_> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        files.push((format!("{prefix}/{}", rel.join("/")), path));
    }
}
