"""`pconv-studio evaluate`: the model against classical inpainting on a folder of photos, per hole-ratio bin;
with `--full-resolution`, at each photo's own size with the holes a retoucher paints (`evaluate_fullres`); with
`--upscale` or `--arms`, upscaling and training arms (`evaluate_upscale`)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from ..training.evaluation import (
    CLASSICAL_METHODS, DEFAULT_METHODS, EvaluationConfig, blended_method_name, build_methods, evaluate,
    evaluation_masks, format_markdown, load_evaluation_photos, parse_blended_method, patchmatch_available, plot_report,
)
from ..training.sheet import FillSheet, sheet_cells
from ..errors import InputError
from . import evaluate_fullres, evaluate_upscale

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score the model against classical inpainting (PSNR, SSIM, L1, texture)",
        description="Fill a fixed, seeded set of irregular holes per hole-ratio bin in every photo with the model "
        "and with classical methods; print PSNR, SSIM, hole L1, texture distance and gradient-energy ratio per bin "
        "and method, and write them as Markdown and a PNG chart (with --sheet also a sheet of the fills at 100%). "
        "Same photos and seed: same numbers.",
    )
    parser.add_argument("photos", type=Path, help="folder of photos (resized and centre-cropped to --size, or used "
                        "as they are with --full-resolution)")
    parser.add_argument("--weights", type=Path, help="weights file for 'model' (default: the shipped model)")
    parser.add_argument(
        "--methods",
        help=f"comma-separated, from model, model@T, {', '.join(CLASSICAL_METHODS)} (default: "
        f"{','.join(DEFAULT_METHODS)}, without patchmatch when pypatchmatch is missing; fsr-fast is slow, about 2 s "
        "per 256 px image). model@T blends the model with --detail-weights at t = T",
    )
    parser.add_argument("--detail-weights", type=Path, metavar="FILE",
                        help="the detailed (adversarially fine-tuned) weights that model@T blends with")
    parser.add_argument("--detail-values", metavar="T1,T2,...",
                        help="replace 'model' in --methods by model@T for each T (needs --detail-weights)")
    parser.add_argument("--sheet", action="store_true",
                        help="also write sheet.png: one fill per bin at 100%%, truth, hole and every method")
    parser.add_argument("--size", type=int,
                        help=f"square side in px (default {EvaluationConfig.size}; not with --full-resolution)")
    parser.add_argument("--max-images", type=int, help="use only the first N photos (by name)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the masks (default %(default)s)")
    parser.add_argument("--device", default="auto", help="for the model: auto, cuda, cuda:N, mps or cpu")
    parser.add_argument("--out", type=Path, default=Path("evaluation"),
                        help="folder for evaluation.md and evaluation.png (default %(default)s)")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart (or the crop figure)")
    evaluate_fullres.add_arguments(parser)
    evaluate_upscale.add_arguments(parser)
    parser.set_defaults(func=run)


def _detail_values(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise InputError(f"--detail-values takes numbers in [0, 1] separated by commas, not {text!r}") from None
    if not values or any(not 0.0 <= t <= 1.0 for t in values):
        raise InputError("--detail-values takes numbers in [0, 1] separated by commas")
    return values


def _method_names(text: str | None, detail_values: list[float] | None = None) -> list[str]:
    """The requested methods in order; the default set leaves patchmatch out when it cannot be imported; with
    `detail_values`, "model" becomes model@T for each T."""
    if text is None:
        if not patchmatch_available():
            log.warning("pypatchmatch is not installed: patchmatch is left out")
        names = [name for name in DEFAULT_METHODS if name != "patchmatch" or patchmatch_available()]
    else:
        names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if detail_values is not None:
        expanded = [[blended_method_name(t) for t in detail_values] if name == "model" else [name] for name in names]
        names = list(dict.fromkeys(name for group in expanded for name in group))
    unknown = [name for name in names
               if name not in ("model", *CLASSICAL_METHODS) and parse_blended_method(name) is None]
    if unknown or not names:
        raise InputError(f"unknown method {', '.join(unknown) or '(none)'}: choose from model, model@T, "
                         f"{', '.join(CLASSICAL_METHODS)}")
    return names


def run(args: argparse.Namespace) -> int:
    if args.max_images is not None and args.max_images < 1:
        raise InputError("--max-images must be at least 1")
    if evaluate_upscale.wanted(args):
        if args.full_resolution or args.methods or args.detail_weights or args.sheet:
            raise InputError("--upscale and --arms choose their own methods: leave out --full-resolution, "
                             "--methods, --detail-weights and --sheet")
        return evaluate_upscale.run(args)
    evaluate_upscale.refuse_options(args)
    if args.full_resolution:
        blend_options = (("--detail-weights", args.detail_weights), ("--detail-values", args.detail_values),
                         ("--sheet", args.sheet))
        given = [name for name, value in blend_options if value]
        if given:
            raise InputError(f"{', '.join(given)} work on the fixed-size evaluation, not with --full-resolution")
        return evaluate_fullres.run(args)
    evaluate_fullres.refuse_options(args)
    try:
        config = EvaluationConfig(seed=args.seed, **({} if args.size is None else {"size": args.size}))
    except ValueError as error:
        raise InputError(str(error)) from error
    detail_values = _detail_values(args.detail_values)
    if detail_values is not None and args.detail_weights is None:
        raise InputError("--detail-values needs --detail-weights")
    names = _method_names(args.methods, detail_values)
    args.out.mkdir(parents=True, exist_ok=True)  # before the work: an unwritable folder fails at once
    photos = load_evaluation_photos(args.photos, config.size, args.max_images)
    methods = build_methods(names, weights=args.weights, device=args.device, seed=config.seed,
                            detail_weights=args.detail_weights)
    sheet = None
    if args.sheet:
        labels = [f"{low:.2f}-{high:.2f}" for low, high in config.bins]
        sheet = FillSheet(photos, evaluation_masks(len(photos), config), labels, names,
                          sheet_cells(len(config.bins), len(photos)))

    total = len(photos) * len(config.bins) * len(methods)
    with tqdm(total=total, unit="fill", disable=not sys.stderr.isatty()) as bar:
        report = evaluate(photos, methods, config, progress=lambda done, _: bar.update(done - bar.n),
                          on_fill=sheet.add if sheet is not None else None)

    table = format_markdown(report)
    print(table)
    (args.out / "evaluation.md").write_text(f"## Evaluation on {args.photos}\n\n{table}")
    written = [args.out / "evaluation.md"]
    if sheet is not None:
        sheet.save(args.out / "sheet.png")
        written.append(args.out / "sheet.png")
    if not args.no_chart:
        try:
            plot_report(report, args.out / "evaluation.png")
            written.append(args.out / "evaluation.png")
        except ImportError:
            log.warning("matplotlib is not installed: no chart")
    print("wrote " + ", ".join(str(path) for path in written))
    return 0
