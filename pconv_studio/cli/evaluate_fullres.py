"""`pconv-studio evaluate --full-resolution`: the fill at each photo's own size, per mask kind and method.

Writes `resolution.md` (means per kind and method, and the issue's targets where both `model` and `scaled` ran),
`resolution.csv` (one row per photo, kind and method) and `resolution_crops.png` (crops at 100% around the hole's
edge for the photos named by `--figure-photos`) into `--out`. The folder is checked before any work starts and
each file is written atomically.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from tqdm import tqdm

from ..engine.imageio import save_image, write_atomically
from ..errors import ImageIOError, InputError
from ..training.evaluation import CLASSICAL_METHODS, list_photos
from ..training.fullres import (
    FULLRES_METHODS, MODEL_STRATEGIES, FullResolutionConfig, build_fill_methods, evaluate_full_resolution,
    format_fullres_markdown, format_targets, read_scores,
)
from ..training.fullres_figure import CropFigure
from ..training.masks import RETOUCH_MASK_KINDS

__all__ = ["add_arguments", "refuse_options", "run"]

log = logging.getLogger(__name__)

_FIGURE_METHODS = ("scaled", "model", "telea")  # beside the truth, those of them that run
_DEFAULT_FIGURE_PHOTOS = 2  # the first photos by name, when --figure-photos is not given


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("full resolution")
    group.add_argument("--full-resolution", action="store_true",
                       help="fill at each photo's own size, with 'objects' and 'wires' holes; methods "
                       f"{', '.join(MODEL_STRATEGIES)} (the model under a strategy) and the classical ones "
                       f"(default: {','.join(FULLRES_METHODS)}); writes resolution.md, .csv and _crops.png")
    group.add_argument("--kinds", help=f"comma-separated mask kinds (default: {','.join(RETOUCH_MASK_KINDS)})")
    group.add_argument("--figure-photos",
                       help="comma-separated photo names (stems) for the crop figure (default: the first "
                       f"{_DEFAULT_FIGURE_PHOTOS})")
    group.add_argument("--reuse", type=Path, metavar="CSV",
                       help="take the scores of methods not given to --methods from an earlier run's resolution.csv "
                       "(same photos, kinds and seed), so methods can be added without refilling the others")


def refuse_options(args: argparse.Namespace) -> None:
    """The full-resolution options without --full-resolution are a mistake, not something to ignore."""
    options = (("--kinds", args.kinds), ("--figure-photos", args.figure_photos), ("--reuse", args.reuse))
    given = [name for name, value in options if value]
    if given:
        raise InputError(f"{', '.join(given)} need --full-resolution")


def _names(text: str | None, default: tuple[str, ...], allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    if text is None:
        return default
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise InputError(f"unknown {what} {', '.join(unknown) or '(none)'}: choose from {', '.join(allowed)}")
    return names


def run(args: argparse.Namespace) -> int:
    if args.size is not None:
        raise InputError("--size does not apply with --full-resolution: photos are used at their own size")
    names = _names(args.methods, FULLRES_METHODS, (*MODEL_STRATEGIES, *CLASSICAL_METHODS), "method")
    kinds = _names(args.kinds, RETOUCH_MASK_KINDS, RETOUCH_MASK_KINDS, "mask kind")
    photos = list_photos(args.photos)[:args.max_images]
    stems = [path.stem for path in photos]
    figure_photos = _names(args.figure_photos, tuple(stems[:_DEFAULT_FIGURE_PHOTOS]), tuple(stems), "photo")
    try:
        earlier = [] if args.reuse is None else read_scores(args.reuse.read_text(encoding="utf-8"))
    except OSError as error:
        raise ImageIOError(f"cannot read {args.reuse}: {error.strerror or error}") from error
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImageIOError(f"cannot create {args.out}: {error.strerror or error}") from error
    if not os.access(args.out, os.W_OK):
        raise ImageIOError(f"cannot write in {args.out}")

    methods = build_fill_methods(names, weights=args.weights, device=args.device, seed=args.seed)
    figure_methods = [name for name in _FIGURE_METHODS if name in methods]
    figure = None if args.no_chart or not figure_methods else CropFigure(figure_methods)

    def keep(photo, kind, truth, hole, fills) -> None:
        if photo in figure_photos:
            figure.add(photo, kind, truth, hole, fills)

    config = FullResolutionConfig(kinds=kinds, seed=args.seed)
    with tqdm(total=len(photos) * len(kinds) * len(methods), unit="fill", disable=not sys.stderr.isatty()) as bar:
        report = evaluate_full_resolution(photos, methods, config, progress=lambda done, _: bar.update(done - bar.n),
                                          keep=None if figure is None else keep)
    report = report.reusing(earlier)

    table = format_fullres_markdown(report)
    targets = format_targets(report)
    print(table + (f"\nTargets (model against scaled):\n{targets}\n" if targets else ""))
    written = [args.out / "resolution.md", args.out / "resolution.csv"]
    markdown = f"## Full-resolution evaluation on {args.photos}\n\n{table}" + (
        f"\n### Targets\n\n{targets}\n" if targets else "")
    write_atomically(written[0], markdown.encode())
    write_atomically(written[1], report.to_csv().encode())
    if figure is not None:
        written.append(args.out / "resolution_crops.png")
        save_image(written[-1], figure.render(), png_compression=9)  # it goes into docs: small
    print("wrote " + ", ".join(str(path) for path in written))
    return 0
