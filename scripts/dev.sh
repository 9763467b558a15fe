#!/usr/bin/env bash
# One entry point for people and CI: installs what is missing into .venv, then runs the app or the tests.
#   bash scripts/dev.sh run [ARGS...]    install if needed, then start PConv Studio
#   bash scripts/dev.sh test [PYTEST ARGS...]   install if needed, then run the test suite
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp=$venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)

ensure_env() {
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    if [ ! -f "$stamp" ]; then
        "$venv/bin/python" -m pip install -q --upgrade pip
        # torch first and pinned: the CPU wheel. For CUDA see README.
        "$venv/bin/python" -m pip install -q "torch==2.13.0"
        "$venv/bin/python" -m pip install -q -e ".[dev]"
        rm -f "$venv"/.installed-*
        touch "$stamp"
    fi
}

# Xvfb and the X libraries Qt needs for a real window, and xdotool to drive it with real X events: the
# real-window tests use them.
ensure_xvfb() {
    command -v xvfb-run >/dev/null && command -v xdotool >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xvfb xauth libxcb-cursor0 \
            libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 \
            libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libegl1 libgl1 libfontconfig1 libdbus-1-3 fonts-dejavu-core \
            xdotool >/dev/null || echo "dev.sh: could not install Xvfb; the real-window tests will be skipped" >&2
    else
        echo "dev.sh: Xvfb or xdotool is missing (install xvfb, xdotool); the real-window tests will be skipped" >&2
    fi
}

cmd=${1:-run}
shift || true
ensure_env
case "$cmd" in
    run) exec "$venv/bin/pconv-studio" "$@" ;;
    test) ensure_xvfb; exec "$venv/bin/python" -m pytest "$@" ;;
    *) echo "usage: bash scripts/dev.sh run|test [args]" >&2; exit 2 ;;
esac
