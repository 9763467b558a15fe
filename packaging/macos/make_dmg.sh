#!/usr/bin/env bash
# macOS: build "dist/PConv Studio.app" with build.spec (its BUNDLE step) and wrap it in a drag-to-Applications
# disk image, dist/pconv-studio-<version>-macos-<arm64|x86_64>.dmg.
# NOT built or tested in this project's CI (Linux only); kept consistent with build.spec and the Linux build:
# same bundle contents, same version (pyproject.toml), the same --selftest as a gate before packing.
#
#   bash packaging/macos/make_dmg.sh
#
# Needs macOS 11+, Xcode command line tools (codesign, hdiutil), and the project's .venv with Python 3.11+
# (`bash scripts/dev.sh test` makes it). torch on macOS is the PyPI build: CPU + Apple GPU (MPS), which the app
# picks automatically. Signing: ad hoc by default (runs on the machine that built it, and elsewhere after the
# user allows it in System Settings > Privacy & Security); set MACOS_SIGN_IDENTITY="Developer ID Application: ..."
# to sign for distribution, then notarize the .dmg (docs/packaging.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { printf '[make_dmg] %s\n' "$*" >&2; }

[ "$(uname -s)" = Darwin ] || { say "runs on macOS only (hdiutil, codesign)"; exit 1; }
python=.venv/bin/python
[ -x "$python" ] || { say "no .venv: run bash scripts/dev.sh test first"; exit 1; }
"$python" -c "import PyInstaller" 2>/dev/null || "$python" -m pip install -q -e ".[package]"

version=$("$python" -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
app="dist/PConv Studio.app"
dmg="dist/pconv-studio-$version-macos-$(uname -m).dmg"
export PYTHONHASHSEED=0

rm -rf build/pyinstaller dist/pconv-studio "$app" "$dmg"
say "PyInstaller: build.spec -> $app"
"$python" -m PyInstaller --noconfirm --clean --log-level WARN --workpath build/pyinstaller --distpath dist build.spec
"$app/Contents/MacOS/pconv-studio" --selftest

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
    # Hardened runtime (needed for notarization) with what torch and the Python runtime need: see entitlements.plist
    sign=(--sign "$MACOS_SIGN_IDENTITY" --options runtime --timestamp --entitlements packaging/macos/entitlements.plist)
else
    sign=(--sign -)
fi
codesign --force --deep "${sign[@]}" "$app"
codesign --verify --deep --strict "$app"

stage=build/packaging/dmg
rm -rf "$stage"
mkdir -p "$stage"
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
say "hdiutil: $dmg"
hdiutil create -volname "PConv Studio $version" -srcfolder "$stage" -fs HFS+ -format UDZO -ov "$dmg" >/dev/null
rm -rf "$stage"
du -sh "$app" "$dmg" >&2
