#!/usr/bin/env bash
# Build the Linux installers of PConv Studio from this checkout, in one command:
#     bash packaging/build_installers.sh
# -> dist/pconv-studio/                             the one-dir bundle (PyInstaller, build.spec)
#    dist/pconv-studio_<version>_amd64.deb          installs to /opt/pconv-studio, /usr/bin/pconv-studio, menu entry
#    dist/pconv-studio-<version>-linux-x86_64.tar.gz  the bundle to unpack anywhere
#    build/packaging/build-times.json               how long each step took (bench/frozen_start.py reports it)
# With a CUDA build of torch in the environment the package is pconv-studio-cuda (files named so; it replaces
# pconv-studio, same paths).
#
# Needs: the project's .venv (`bash scripts/dev.sh test` makes it; created here the same way if missing), dpkg-deb,
# binutils (strip, readelf), gzip. Installs PyInstaller into the venv (the `package` extra) when it is missing.
# Every run starts clean (no PyInstaller cache, no old outputs).
# Environment: PCONV_VENV=DIR builds from another virtual environment (e.g. one with CUDA torch; default .venv);
# PCONV_BUNDLE_WEIGHTS: see build.spec (packaging tests only).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$(realpath -m "${PCONV_VENV:-$root/.venv}")
python=$venv/bin/python
work=$root/build/packaging
say() { printf '[build_installers] %s\n' "$*" >&2; }
now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

for tool in dpkg-deb strip readelf gzip; do
    command -v "$tool" >/dev/null || { say "missing tool: $tool (apt-get install dpkg binutils gzip)"; exit 1; }
done

started=$(now)
if [ ! -x "$python" ]; then
    say "no $venv: creating it as scripts/dev.sh does (CPU torch first, then the project)"
    python3 -m venv "$venv"
    "$python" -m pip install -q --upgrade pip
    "$python" -m pip install -q "torch==2.13.0"
    "$python" -m pip install -q -e "."
fi
if ! "$python" -c "import PyInstaller" 2>/dev/null; then
    say "installing PyInstaller (the project's 'package' extra) into $venv"
    "$python" -m pip install -q -e ".[package]"
fi

project() { "$python" -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['$1'])"; }
version=$(project version)
# Reproducible metadata: file times from the last commit (a fixed date before the first one), fixed hash seed.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 315532800)
export SOURCE_DATE_EPOCH PYTHONHASHSEED=0
# The package follows the torch in the environment (torch/version.py, read without importing torch).
torch_cuda=$("$python" - <<'EOF'
import importlib.util, pathlib, runpy
print(runpy.run_path(str(pathlib.Path(importlib.util.find_spec("torch").origin).with_name("version.py")))["cuda"] or "")
EOF
)
if [ -n "$torch_cuda" ]; then
    package=pconv-studio-cuda other=pconv-studio torch_build="torch for CUDA $torch_cuda; needs the NVIDIA driver"
else
    package=pconv-studio other=pconv-studio-cuda torch_build="CPU build of torch"
fi
say "$package $version, torch $("$python" -c "import importlib.metadata as m; print(m.version('torch'))")"

rm -rf "$work" build/pyinstaller dist/pconv-studio dist/pconv-studio*_amd64.deb dist/pconv-studio*-linux-x86_64.tar.gz
mkdir -p "$work" dist

# --- 1. the bundle ---------------------------------------------------------------------------------------------
t0=$(now)
say "PyInstaller: build.spec -> dist/pconv-studio (about a minute on 2 cores)"
if ! "$python" -W ignore::DeprecationWarning -m PyInstaller --noconfirm --clean --log-level WARN \
        --workpath build/pyinstaller --distpath dist build.spec >"$work/pyinstaller.log" 2>&1; then
    tail -40 "$work/pyinstaller.log" >&2
    say "PyInstaller failed (full log: $work/pyinstaller.log)"
    exit 1
fi
t_pyinstaller=$(seconds "$t0" "$(now)")
bundle=dist/pconv-studio
say "bundle: $(du -sh "$bundle" | cut -f1) in ${t_pyinstaller} s; checking it with --selftest"
env -u PCONV_STUDIO_DATA "$bundle/pconv-studio" --selftest >"$work/selftest.log" 2>&1 ||
    { cat "$work/selftest.log" >&2; say "the bundle fails its --selftest"; exit 1; }

# --- 2. the .deb (staged in build/packaging/deb) -------------------------------------------------------------
t0=$(now)
stage=$work/deb
mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
    "$stage/usr/share/icons/hicolor/256x256/apps"
cp -al "$bundle" "$stage/opt/pconv-studio"  # hard links: no copy of 700 MB
ln -s /opt/pconv-studio/pconv-studio "$stage/usr/bin/pconv-studio"
install -m 644 packaging/linux/pconv-studio.desktop "$stage/usr/share/applications/pconv-studio.desktop"
icon=$stage/usr/share/icons/hicolor/256x256/apps/pconv-studio.png
"$python" - "$bundle/_internal/resources/icon.png" "$icon" <<'EOF'
import sys
from PIL import Image

with Image.open(sys.argv[1]) as icon:
    icon.convert("RGBA").resize((256, 256), Image.LANCZOS).save(sys.argv[2], optimize=True)
EOF
description=$(project description)
# The bundle carries Python, torch, Qt and OpenCV; the desktop libraries below come from the system (build.spec).
cat >"$stage/DEBIAN/control" <<EOF
Package: $package
Version: $version
Architecture: amd64
Maintainer: ${PCONV_DEB_MAINTAINER:-PConv Studio developers <noreply@pconv-studio.invalid>}
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: libc6 (>= 2.36), libgl1, libegl1, libfontconfig1, libfreetype6, libdbus-1-3, libglib2.0-0, libx11-6,
 libx11-xcb1, libxkbcommon0, libxkbcommon-x11-0, libxcb1, libxcb-cursor0, libxcb-icccm4, libxcb-image0,
 libxcb-keysyms1, libxcb-randr0, libxcb-render0, libxcb-render-util0, libxcb-shape0, libxcb-shm0, libxcb-sync1,
 libxcb-util1, libxcb-xfixes0, libxcb-xkb1, libxcb-glx0
Recommends: libwayland-client0, libwayland-cursor0, libwayland-egl1, fonts-dejavu-core
Conflicts: $other
Replaces: $other
Section: graphics
Priority: optional
Description: $description
 PConv Studio fills holes in photos (removed objects, scratches) with a
 partial-convolution U-Net. The model and all its libraries are included
 ($torch_build); nothing is downloaded at run time.
EOF
# Files readable by every user (the engine writes 0600 files), writable by root only, one fixed date (the stage
# shares its files with dist/pconv-studio through hard links, so the bundle gets the same).
chmod -R u=rwX,go=rX "$stage"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 644 "$stage/DEBIAN/md5sums"
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb=dist/${package}_${version}_amd64.deb

# --- 3. the .tar.gz (staged in build/packaging/tar), packed while dpkg-deb compresses the .deb ----------------
top=$package-$version
tarball=dist/$top-linux-x86_64.tar.gz
mkdir -p "$work/tar"
cp -al "$bundle" "$work/tar/$top"
cp "$icon" "$work/tar/$top/pconv-studio.png"
cp packaging/linux/pconv-studio.desktop "$work/tar/$top/pconv-studio.desktop"
cat >"$work/tar/$top/README.txt" <<EOF
PConv Studio $version for Linux x86-64 (glibc 2.36 or newer: Debian 12, Ubuntu 22.10, Fedora 37 or later).

Start it with ./pconv-studio (./pconv-studio --selftest checks the installation without a window).
Everything it needs is in this folder except the desktop libraries every Linux desktop has; if Qt reports
"could not load the Qt platform plugin xcb", install libxcb-cursor0 (Debian/Ubuntu) or xcb-util-cursor (Fedora).
For a menu entry: set Exec= in pconv-studio.desktop to this folder's pconv-studio, then copy it to
~/.local/share/applications/ and pconv-studio.png to ~/.local/share/icons/hicolor/256x256/apps/.
On Debian and Ubuntu the .deb does all of this: sudo apt install ./${package}_${version}_amd64.deb
EOF
chmod -R u=rwX,go=rX "$work/tar"
t_tar0=$(now)
tar -C "$work/tar" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner -cf - "$top" \
    | gzip -n -6 >"$tarball" &
tar_pid=$!
dpkg-deb --root-owner-group -Zzstd -z6 --build "$stage" "$deb" >/dev/null
t_deb=$(seconds "$t0" "$(now)")
wait "$tar_pid"
t_tar=$(seconds "$t_tar0" "$(now)")
rm -rf "$work/deb" "$work/tar"

t_total=$(seconds "$started" "$(now)")
cat >"$work/build-times.json" <<EOF
{"pyinstaller_s": $t_pyinstaller, "deb_s": $t_deb, "tar_s": $t_tar, "total_s": $t_total}
EOF
say "done in ${t_total} s:"
du -sh "$bundle" "$deb" "$tarball" >&2
