"""`pconv-studio evaluate --upscale` and `evaluate --arms` (issue 14).

`--upscale`: the upscaling model against bicubic, Lanczos and its plain twin (`--twin`) at each of `--scales`,
and on random sparse samples against `scipy.interpolate.griddata` (`training/upscale_evaluation.py`); writes
OUT/upscaling.md and, unless --no-chart, 100% crops of the first two photos (upscaling_crops.png,
sparse_crops.png). `--arms NAME=WEIGHTS,...`: inpainting fine-tunes compared on the same holes, paired, with
bootstrap intervals and the mosaic adoption rule (`training/arms.py`); writes OUT/arms.md. The output folder is
checked before any work starts, and each file is written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from ..engine.imageio import check_writable_folder, save_image, write_atomically
from ..errors import InputError
from ..training.arms import ArmsConfig, compare_arms, format_arms_markdown
from ..training.evaluation import load_evaluation_photos, load_photos
from ..training.upscale_evaluation import (
    UpscaleEvaluationConfig, UpscaleFigures, build_evaluation, evaluate_upscaling, format_upscale_markdown,
)

__all__ = ["add_arguments", "refuse_options", "wanted", "run"]

_FIGURE_PHOTOS = 2  # the first photos by name get 100% crops (upscaling_crops.png, sparse_crops.png)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("upscaling and training arms")
    group.add_argument("--upscale", action="store_true",
                       help="evaluate upscaling (--weights: a grid model, default "
                       "weights/pconv_compact_upscale_grid.safetensors)")
    group.add_argument("--twin", type=Path, metavar="WEIGHTS", help="with --upscale: the plain twin's weights (a "
                       "bicubic-input model, e.g. weights/pconv_compact_upscale.safetensors)")
    group.add_argument("--scales", metavar="S1,S2,...", help="with --upscale: scales (default 2,4,3,2.5)")
    group.add_argument("--sparse-keep", type=float, metavar="F",
                       help="with --upscale: fraction of pixels the sparse test keeps (default 0.25)")
    group.add_argument("--arms", metavar="NAME=WEIGHTS,...",
                       help="compare inpainting fine-tunes on the same holes, paired (the first is the reference)")
    group.add_argument("--candidate", metavar="NAME", help="with --arms: the arm the adoption rule judges")
    group.add_argument("--control", metavar="NAME", help="with --arms: the arm the candidate must also beat")
    group.add_argument("--repeats", type=int, metavar="N", help="with --arms: holes per photo and bin (default 2)")


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.upscale or args.arms)


def refuse_options(args: argparse.Namespace) -> None:
    """Options of one mode given without it are a mistake, not something to ignore."""
    for mode, names in (("--upscale", ("twin", "scales", "sparse_keep")),
                        ("--arms", ("candidate", "control", "repeats"))):
        given = [f"--{name.replace('_', '-')}" for name in names if getattr(args, name) is not None]
        if given and not getattr(args, mode[2:]):
            raise InputError(f"{', '.join(given)} need {mode}")
    if args.upscale and args.arms:
        raise InputError("--upscale and --arms are separate evaluations: run them one at a time")


def _arms(text: str) -> dict[str, Path]:
    arms: dict[str, Path] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, path = item.partition("=")
        if not name or not path:
            raise InputError(f"--arms takes NAME=WEIGHTS pairs, not {item!r}")
        arms[name] = Path(path)
    if len(arms) < 2:
        raise InputError("--arms needs at least two arms to compare")
    return arms


def run(args: argparse.Namespace) -> int:
    refuse_options(args)
    check_writable_folder(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(unit="fill", disable=not sys.stderr.isatty())

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        if args.upscale:
            try:
                scales = tuple(float(s) for s in args.scales.split(",")) if args.scales else None
                config = UpscaleEvaluationConfig(
                    **({"scales": scales} if scales else {}), seed=args.seed,
                    **({} if args.sparse_keep is None else {"sparse_keep": args.sparse_keep}))
            except ValueError as error:
                raise InputError(f"--scales / --sparse-keep: {error}") from error
            photos = load_photos(args.photos, limit=args.max_images)
            upscalers, sparse = build_evaluation(args.weights, args.twin, args.device)
            figures = None if args.no_chart else UpscaleFigures(range(_FIGURE_PHOTOS), list(upscalers), list(sparse))
            table = format_upscale_markdown(evaluate_upscaling(photos, upscalers, sparse, config, progress, figures),
                                            config)
            name = "upscaling.md"
            if figures is not None:
                for figure, file_name in ((figures.upscale, "upscaling_crops.png"), (figures.sparse, "sparse_crops.png")):
                    save_image(args.out / file_name, figure.render(), png_compression=9)
        else:
            arms = _arms(args.arms)
            for role in (args.candidate, args.control):
                if role is not None and role not in arms:
                    raise InputError(f"--candidate / --control name an arm of --arms, not {role!r}")
            config = ArmsConfig(seed=args.seed, **({} if args.size is None else {"size": args.size}),
                                **({} if args.repeats is None else {"repeats": args.repeats}))
            photos = load_evaluation_photos(args.photos, config.size, args.max_images)
            scores = compare_arms(photos, arms, config, args.device, progress)
            table = format_arms_markdown(scores, config, next(iter(arms)), args.candidate, args.control)
            name = "arms.md"
    finally:
        bar.close()
    print(table)
    write_atomically(args.out / name, f"## Evaluation on {args.photos}\n\n{table}".encode())
    print(f"wrote {args.out / name}", file=sys.stderr)
    return 0
