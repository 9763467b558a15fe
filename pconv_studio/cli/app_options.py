"""Options of the app itself (`pconv-studio [IMAGE] [--demo] ...`): parsed here, the app lives in `ui/`."""

from __future__ import annotations

import argparse
import importlib.util
import sys

from .. import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pconv-studio",
        description="Open PConv Studio. Subcommands for headless work: inpaint, upscale, train, evaluate "
        "(see `pconv-studio inpaint --help`).",
    )
    parser.add_argument("image", nargs="?", help="a photo to open")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    parser.add_argument("--device", default=None, help="auto, cuda, cuda:N, mps or cpu (default: last used, else auto)")
    parser.add_argument("--weights", default=None, help="a weights file instead of the shipped model")
    parser.add_argument("--upscale-weights", default=None, metavar="FILE",
                        help="a weights file for Image → Upscale… instead of the shipped upscaling model")
    parser.add_argument("--demo", action="store_true", help="open the bundled sample photo with a sample mask")
    parser.add_argument("--run", action="store_true", help="fill the hole as soon as the photo is open")
    parser.add_argument("--screenshot", metavar="PATH", help="after --run finishes, save a screenshot of the window")
    parser.add_argument("--quit", action="store_true", help="exit once --run (and --screenshot) are done")
    parser.add_argument("--selftest", action="store_true", help="fill a bundled sample headless, check it, exit")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.selftest:
        from ..selftest import run_selftest

        return run_selftest(device=args.device or "auto", weights=args.weights)
    if importlib.util.find_spec("PySide6") is None:
        print("pconv-studio: the desktop app needs PySide6 (pip install PySide6-Essentials); "
              "the subcommands inpaint, train and evaluate work without it", file=sys.stderr)
        return 1
    from ..ui.app import run_app

    return run_app(args)
