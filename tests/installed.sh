#!/usr/bin/env bash
# Jamwire as a musician installs it: builds the packages (scripts/package --debug), installs them
# with apt, checks what they contain and declare, runs the desktop app's end-to-end tests against
# the installed /usr/bin/jamwire (its own samples, not the source tree's), opens invite links the
# way the desktop does, and removes the packages again: nothing of theirs may be left (a user's
# settings and takes live in their home folder, which packages never touch).
# Needs root (it installs packages); scripts/test runs it as root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

fail() { echo "installed package: $*" >&2; exit 1; }

./scripts/package --debug
version=$(dpkg-deb -f target/packages/jamwire_*_amd64.deb Version)
app_deb=target/packages/jamwire_${version}_amd64.deb
relay_deb=$(ls target/packages/jamwire-relay_*_amd64.deb)

jam_log "installed package: what the packages declare and contain"
depends=$(dpkg-deb -f "$app_deb" Depends)
for dep in libwebkit2gtk-4.1-0 libgtk-3-0 libasound2; do
  [[ "$depends" == *"$dep"* ]] || fail "jamwire doesn't depend on $dep: $depends"
done
contents=$(dpkg-deb -c "$app_deb")
for path in ./usr/bin/jamwire ./usr/share/applications/Jamwire.desktop \
  ./usr/share/metainfo/app.jamwire.desktop.metainfo.xml ./usr/lib/Jamwire/assets/drums/038.flac \
  ./usr/lib/Jamwire/assets/palette/palette.json ./usr/lib/Jamwire/assets/palette/samples/0000.flac \
  ./usr/share/icons/hicolor/32x32/apps/jamwire.png ./usr/share/icons/hicolor/256x256/apps/jamwire.png; do
  grep -q " ${path#./}\$\| $path\$" <<<"$contents" || fail "jamwire lacks $path"
done
relay_contents=$(dpkg-deb -c "$relay_deb")
for path in ./usr/bin/jam-relay ./usr/bin/jam ./usr/lib/systemd/system/jamwire-relay.service \
  ./etc/default/jamwire-relay; do
  grep -q " $path\$" <<<"$relay_contents" || fail "jamwire-relay lacks $path"
done

jam_log "installed package: apt-get install"
# A previous run's packages go first, so this run installs (and tests) its own.
apt-get remove -y -q jamwire jamwire-relay >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "./$app_deb" "./$relay_deb" >/dev/null
[ -x /usr/bin/jamwire ] || fail "no /usr/bin/jamwire after installing"
desktop-file-validate /usr/share/applications/Jamwire.desktop
appstreamcli validate --no-net --pedantic /usr/share/metainfo/app.jamwire.desktop.metainfo.xml >/dev/null ||
  appstreamcli validate --no-net /usr/share/metainfo/app.jamwire.desktop.metainfo.xml
# The desktop's handler for invite links (desktop-file-utils' trigger builds the cache).
grep -q '^x-scheme-handler/jam=.*Jamwire.desktop' /usr/share/applications/mimeinfo.cache ||
  fail "Jamwire isn't registered for jam:// links"
systemd-analyze verify /usr/lib/systemd/system/jamwire-relay.service
[ ! -e /etc/systemd/system/multi-user.target.wants/jamwire-relay.service ] ||
  fail "the relay service is enabled on install; it should wait for its options"
getent passwd jamwire >/dev/null || fail "no jamwire system user for the relay service"
for tool in jamwire jam jam-relay; do
  "/usr/bin/$tool" --version | grep -q "$version" || fail "$tool --version doesn't say $version"
done

jam_log "installed package: the app end to end (two instances, invite links)"
export JAMWIRE_APP=/usr/bin/jamwire
unset JAM_ASSETS
cargo test --workspace --locked --test e2e -- two_apps_host_join
cargo test --workspace --locked --test e2e -- --ignored the_installed_app_opens_invite_links

jam_log "installed package: apt-get remove"
files=$(dpkg -L jamwire jamwire-relay | sort -u)
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q jamwire jamwire-relay >/dev/null
left=()
while IFS= read -r path; do
  # Directories the system shares (/usr/bin, …) stay; the packages' own files must be gone,
  # apart from the relay's conffile, which dpkg keeps until a purge.
  [ -d "$path" ] && continue
  [ "$path" = /etc/default/jamwire-relay ] && continue
  [ -e "$path" ] && left+=("$path")
done <<<"$files"
[ "${#left[@]}" -eq 0 ] || fail "apt-get remove left: ${left[*]}"
[ ! -e /usr/lib/Jamwire ] || fail "apt-get remove left /usr/lib/Jamwire"
jam_log "installed package: all good"
