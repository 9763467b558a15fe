"""`pconv-studio evaluate`: the model against classical inpainting on a folder of photos, per hole-ratio bin;
with `--full-resolution`, at each photo's own size with the holes a retoucher paints (`evaluate_fullres`)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from ..training.evaluation import (
    CLASSICAL_METHODS, DEFAULT_METHODS, EvaluationConfig, build_methods, evaluate, format_markdown,
    load_evaluation_photos, patchmatch_available, plot_report,
)
from ..errors import InputError
from . import evaluate_fullres

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score the model against classical inpainting (PSNR, SSIM, L1)",
        description="Fill a fixed, seeded set of irregular holes per hole-ratio bin in every photo with the model "
        "and with classical methods; print PSNR, SSIM and hole L1 per bin and method, and write them as Markdown "
        "and a PNG chart. Same photos and seed: same numbers.",
    )
    parser.add_argument("photos", type=Path, help="folder of photos (resized and centre-cropped to --size, or used "
                        "as they are with --full-resolution)")
    parser.add_argument("--weights", type=Path, help="weights file for 'model' (default: the shipped model)")
    parser.add_argument(
        "--methods",
        help=f"comma-separated, from model, {', '.join(CLASSICAL_METHODS)} (default: {','.join(DEFAULT_METHODS)}, "
        "without patchmatch when pypatchmatch is missing; fsr-fast is slow, about 2 s per 256 px image)",
    )
    parser.add_argument("--size", type=int,
                        help=f"square side in px (default {EvaluationConfig.size}; not with --full-resolution)")
    parser.add_argument("--max-images", type=int, help="use only the first N photos (by name)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the masks (default %(default)s)")
    parser.add_argument("--device", default="auto", help="for the model: auto, cuda, cuda:N, mps or cpu")
    parser.add_argument("--out", type=Path, default=Path("evaluation"),
                        help="folder for evaluation.md and evaluation.png (default %(default)s)")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart (or the crop figure)")
    evaluate_fullres.add_arguments(parser)
    parser.set_defaults(func=run)


def _method_names(text: str | None) -> list[str]:
    """The requested methods in order; the default set leaves patchmatch out when it cannot be imported."""
    if text is None:
        if not patchmatch_available():
            log.warning("pypatchmatch is not installed: patchmatch is left out")
        return [name for name in DEFAULT_METHODS if name != "patchmatch" or patchmatch_available()]
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in ("model", *CLASSICAL_METHODS)]
    if unknown or not names:
        raise InputError(f"unknown method {', '.join(unknown) or '(none)'}: choose from model, "
                         f"{', '.join(CLASSICAL_METHODS)}")
    return names


def run(args: argparse.Namespace) -> int:
    if args.max_images is not None and args.max_images < 1:
        raise InputError("--max-images must be at least 1")
    if args.full_resolution:
        return evaluate_fullres.run(args)
    evaluate_fullres.refuse_options(args)
    try:
        config = EvaluationConfig(seed=args.seed, **({} if args.size is None else {"size": args.size}))
    except ValueError as error:
        raise InputError(str(error)) from error
    names = _method_names(args.methods)
    photos = load_evaluation_photos(args.photos, config.size, args.max_images)
    methods = build_methods(names, weights=args.weights, device=args.device, seed=config.seed)

    total = len(photos) * len(config.bins) * len(methods)
    with tqdm(total=total, unit="fill", disable=not sys.stderr.isatty()) as bar:
        report = evaluate(photos, methods, config, progress=lambda done, _: bar.update(done - bar.n))

    table = format_markdown(report)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "evaluation.md").write_text(f"## Evaluation on {args.photos}\n\n{table}")
    written = [args.out / "evaluation.md"]
    if not args.no_chart:
        try:
            plot_report(report, args.out / "evaluation.png")
            written.append(args.out / "evaluation.png")
        except ImportError:
            log.warning("matplotlib is not installed: no chart")
    print("wrote " + ", ".join(str(path) for path in written))
    return 0
