"""`pconv-studio`: with no subcommand it opens the app; `inpaint`, `upscale`, `train` and `evaluate` work headless.

Errors are translated here, in one place: a `PConvError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import ModuleType
from typing import Sequence

from .. import __version__
from ..errors import PConvError
from . import app_options

SUBCOMMANDS = ("inpaint", "upscale", "train", "evaluate")


def _subcommand(name: str) -> ModuleType:
    """Each subcommand module defines `add_parser(subparsers)` and `run(args) -> int`."""
    return importlib.import_module(f"{__package__}.{name}")


def _configure_logging(verbose: bool) -> None:
    """The package's log goes to this run's stderr; calling again (tests, the app) replaces, never duplicates."""
    logger = logging.getLogger("pconv_studio")
    for handler in [h for h in logger.handlers if getattr(h, "pconv_cli", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.pconv_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pconv-studio",
        description="Fill holes in photos with a partial-convolution U-Net. Without a subcommand, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="{inpaint,upscale,train,evaluate}")
    for name in SUBCOMMANDS:
        _subcommand(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        if command in SUBCOMMANDS:
            args = build_parser().parse_args(argv)
            _configure_logging(args.verbose)
            return int(args.func(args))
        args = app_options.build_parser().parse_args(argv)
        _configure_logging(args.verbose)
        return app_options.run(args)
    except PConvError as error:
        print(f"pconv-studio: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pconv-studio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
