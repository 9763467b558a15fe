#!/usr/bin/env bash
# Build the Linux installers and test them the way a user meets them, on this machine (Debian 12, as root):
#   1. bash packaging/build_installers.sh (clean build: bundle, .deb, .tar.gz)
#   2. install the .deb's dependencies with apt-get and the .deb with dpkg; check the launcher, menu entry, icon
#   3. as an unprivileged user (nobody): `pconv-studio --selftest`, `pconv-studio inpaint`, then under Xvfb
#      `pconv-studio --demo --run --screenshot PNG --quit`, and check the screenshot is a real, non-blank image
#   4. start-up times and sizes (bench/frozen_start.py prints the table)
#   5. the .tar.gz: unpack to a temporary folder, run its --selftest
#   6. dpkg -r, dpkg -P, and check that nothing is left behind
# Exits non-zero on the first failure; the package is purged and Xvfb stopped however it ends.
# Usage: bash packaging/test_installers.sh     (CI: skipped when PCONV_SKIP_PACKAGING=1, see .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
say() { printf '[test_installers] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

unset PCONV_STUDIO_DATA  # the installed app must find its own weights and resources
[ "$(id -u)" = 0 ] || fail "run as root (it installs and removes a .deb)"
command -v apt-get >/dev/null && command -v dpkg >/dev/null || fail "needs a Debian-based system (apt-get, dpkg)"

package=pconv-studio
installed_paths=(/opt/pconv-studio /usr/bin/pconv-studio /usr/share/applications/pconv-studio.desktop
    /usr/share/icons/hicolor/256x256/apps/pconv-studio.png)
tmp=$(mktemp -d /tmp/pconv-test-installers.XXXXXX)
chmod 755 "$tmp"
xvfb_pid=
known_to_dpkg() { dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -qv 'not-installed$'; }
cleanup() {
    [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
    if known_to_dpkg; then
        say "purging $package after a failure"
        dpkg -P "$package" >/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# --- 0. what the build and the test need: binutils (PyInstaller, strip), desktop-file-validate, Xvfb and the
# libraries Qt's xcb platform loads
test_packages=(binutils desktop-file-utils xvfb xauth libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4
    libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libegl1
    libgl1 libfontconfig1 libdbus-1-3 fonts-dejavu-core)
apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >"$tmp/apt.log" 2>&1 ||
        { DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$tmp/apt.log" 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$tmp/apt.log" 2>&1; } ||
        { tail -20 "$tmp/apt.log" >&2; fail "apt-get install $*"; }
}
if known_to_dpkg; then
    say "$package is installed already: purging it first, the test needs a clean system"
    dpkg -P "$package" >/dev/null
fi
for path in "${installed_paths[@]}"; do
    [ ! -e "$path" ] && [ ! -L "$path" ] || fail "$path exists but belongs to no package: remove it first"
done
say "installing binutils, desktop-file-utils, Xvfb and Qt's xcb libraries"
apt_install "${test_packages[@]}"

# --- 1. build -------------------------------------------------------------------------------------------------
bash packaging/build_installers.sh
version=$(.venv/bin/python -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
deb=dist/${package}_${version}_amd64.deb
tarball=dist/$package-$version-linux-x86_64.tar.gz
[ -f "$deb" ] && [ -f "$tarball" ] || fail "build_installers.sh did not produce $deb and $tarball"

# --- 2. install -----------------------------------------------------------------------------------------------
depends=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*)//; s/ //g' | grep -v '^$')
say "installing the .deb's dependencies: $(echo $depends)"
# shellcheck disable=SC2086  # one package per word
apt_install $depends
say "dpkg -i $deb"
dpkg -i "$deb" >"$tmp/dpkg-install.log" 2>&1 || { cat "$tmp/dpkg-install.log" >&2; fail "dpkg -i"; }
for path in "${installed_paths[@]}"; do
    [ -e "$path" ] || fail "the package did not install $path"
done
[ "$(command -v pconv-studio)" = /usr/bin/pconv-studio ] || fail "pconv-studio is not on PATH as /usr/bin/pconv-studio"
desktop-file-validate /usr/share/applications/pconv-studio.desktop || fail "the menu entry is not valid"
grep -q '^Exec=pconv-studio' /usr/share/applications/pconv-studio.desktop ||
    fail "the menu entry does not start pconv-studio"
.venv/bin/python - /usr/share/icons/hicolor/256x256/apps/pconv-studio.png <<'EOF' || fail "icon"
import sys
from PIL import Image

with Image.open(sys.argv[1]) as icon:
    assert icon.size == (256, 256), f"the hicolor 256x256 icon is {icon.size}"
EOF
dpkg -V "$package" || fail "dpkg -V: installed files differ from the package's md5sums"

# --- 3. run it as a user would: not root, its own home, on a display -------------------------------------------
mkdir -p "$tmp/home" "$tmp/out" "$tmp/run"
chown nobody "$tmp/home" "$tmp/out" "$tmp/run"
chmod 700 "$tmp/run"
as_user() { runuser -u nobody -- env -i PATH=/usr/bin:/bin HOME="$tmp/home" XDG_RUNTIME_DIR="$tmp/run" \
    LANG=C.UTF-8 ${DISPLAY:+DISPLAY=$DISPLAY} "$@"; }

say "pconv-studio --selftest (as nobody, no display)"
as_user pconv-studio --selftest >"$tmp/selftest.log" 2>&1 ||
    { cat "$tmp/selftest.log" >&2; fail "installed --selftest"; }
grep -q '^device:' "$tmp/selftest.log" && grep -q 'selftest passed' "$tmp/selftest.log" || fail "selftest report"
sed 's/^/    /' "$tmp/selftest.log" >&2

say "pconv-studio inpaint (as nobody): the headless subcommand; train says it is not included"
as_user pconv-studio inpaint /opt/pconv-studio/_internal/resources/sample.jpg \
    /opt/pconv-studio/_internal/resources/sample_mask.png -o "$tmp/out/filled.png" >"$tmp/inpaint.log" 2>&1 ||
    { cat "$tmp/inpaint.log" >&2; fail "installed pconv-studio inpaint"; }
[ -s "$tmp/out/filled.png" ] || fail "pconv-studio inpaint wrote nothing"
code=0
as_user pconv-studio train /tmp >"$tmp/train.log" 2>&1 || code=$?
[ "$code" = 2 ] && grep -q "training is not part of the installed app" "$tmp/train.log" ||
    { cat "$tmp/train.log" >&2; fail "pconv-studio train should exit 2 with the reason, got $code"; }

# Xvfb picks a free display itself (-displayfd) and lets local clients in (-ac), so `nobody` can connect.
Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp -ac 3>"$tmp/display" >"$tmp/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 300); do
    [ -s "$tmp/display" ] && break
    kill -0 "$xvfb_pid" 2>/dev/null || fail "Xvfb did not start: $(cat "$tmp/xvfb.log")"
    sleep 0.1
done
display=$(tr -d '[:space:]' <"$tmp/display")
[ -n "$display" ] || fail "Xvfb did not report its display"
export DISPLAY=:$display
say "pconv-studio --demo --run --screenshot --quit (as nobody, Xvfb $DISPLAY)"
shot=$tmp/out/demo.png
as_user timeout 300 pconv-studio --demo --run --screenshot "$shot" --quit >"$tmp/demo.log" 2>&1 ||
    { cat "$tmp/demo.log" >&2; fail "installed --demo --run --screenshot --quit"; }
.venv/bin/python - "$shot" <<'EOF' || fail "the screenshot is not a real window image"
import sys

import numpy as np
from PIL import Image

with Image.open(sys.argv[1]) as shot:
    pixels = np.asarray(shot.convert("RGB"))
height, width, _ = pixels.shape
colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
spread = float(pixels.std())
print(f"    screenshot {width}x{height}, {colours} colours, std {spread:.1f}", file=sys.stderr)
assert width >= 600 and height >= 400, "smaller than the sample photo it shows"
assert colours >= 256 and spread >= 10, "blank or nearly uniform"
EOF
cp "$shot" "$root/build/packaging/demo-screenshot.png"

# --- 4. numbers -----------------------------------------------------------------------------------------------
say "start-up times and sizes"
HOME=$tmp/home XDG_RUNTIME_DIR=$tmp/run .venv/bin/python bench/frozen_start.py /usr/bin/pconv-studio \
    --deb "$deb" --tarball "$tarball" | tee "$root/build/packaging/frozen-start.txt" || fail "bench/frozen_start.py"

# --- 5. the .tar.gz ---------------------------------------------------------------------------------------------
say "the .tar.gz: unpack, --selftest"
mkdir -p "$tmp/tar"
tar -xzf "$tarball" -C "$tmp/tar"
"$tmp/tar/$package-$version/pconv-studio" --selftest >"$tmp/tar-selftest.log" 2>&1 ||
    { cat "$tmp/tar-selftest.log" >&2; fail "--selftest from the .tar.gz"; }
grep -q "_internal/weights" "$tmp/tar-selftest.log" || fail "the .tar.gz selftest did not use its own weights"
rm -rf "$tmp/tar"

# --- 6. remove, purge, nothing left ---------------------------------------------------------------------------
say "dpkg -r, dpkg -P"
# (dpkg warns that /opt is not empty, and -P that nothing is left to purge: the package has no conffiles)
dpkg -r "$package" >"$tmp/dpkg-remove.log" 2>&1 || { cat "$tmp/dpkg-remove.log" >&2; fail "dpkg -r"; }
for path in "${installed_paths[@]}"; do
    [ ! -e "$path" ] && [ ! -L "$path" ] || fail "dpkg -r left $path behind"
done
dpkg -P "$package" >>"$tmp/dpkg-remove.log" 2>&1 || { cat "$tmp/dpkg-remove.log" >&2; fail "dpkg -P"; }
! known_to_dpkg || fail "dpkg still knows $package after the purge"
leftovers=$(find /opt /usr/bin /usr/share/applications /usr/share/icons -name '*pconv*' 2>/dev/null)
[ -z "$leftovers" ] || fail "left behind: $leftovers"
say "all installer checks passed"
