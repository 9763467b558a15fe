"""`pconv-studio inpaint`: one photo, or a folder of photos with the model loaded once.

Every check that can fail runs before anything is written, and outputs are written atomically, so a failed run
leaves no partial file and never touches an input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine import SUPPORTED_SUFFIXES, Inpainter, load_image, load_mask, save_image, save_mask
from ..engine.blend import DEFAULT_DETAIL, check_detail
from ..engine.imageio import image_files
from ..engine.runner import GRAPH_MODES, PRECISIONS
from ..errors import ImageIOError, InputError, PConvError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    image: Path
    mask: Path
    output: Path
    stages: Path | None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inpaint",
        help="fill the holes of a photo (mask: white = hole)",
        description="Fill holes in a photo, or in a folder of photos. Mask files: white (non-zero) = hole.",
    )
    parser.add_argument("image", nargs="?", type=Path, help="the photo")
    parser.add_argument("mask", nargs="?", type=Path, help="its mask, same size, white = hole")
    parser.add_argument("-o", "--output", type=Path, help="output file (single photo) or folder (with --images)")
    parser.add_argument("--images", type=Path, help="a folder of photos (batch mode)")
    parser.add_argument("--masks", type=Path, help="a folder of masks, matched to photos by file stem")
    parser.add_argument("--device", default="auto", help="auto (default), cuda, cuda:N, mps or cpu")
    parser.add_argument("--weights", type=Path, help="a weights file instead of the shipped model")
    parser.add_argument("--detail", type=float, metavar="T",
                        help="fill style from 0 (faithful) to 1 (detailed): the two models' weights blended, "
                        f"(1 - T) * faithful + T * detailed (default {DEFAULT_DETAIL:g} where a detailed model is "
                        "installed, else 0)")
    parser.add_argument("--detail-weights", type=Path, metavar="FILE",
                        help="the detailed model (default: NAME_detailed.safetensors beside the weights file)")
    parser.add_argument("--cuda-graphs", choices=GRAPH_MODES, default="auto",
                        help="replay repeated crop sizes from CUDA graphs: auto (where faster), on, off")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto (default): bf16/fp16 where the device has it natively; fp32: full precision")
    parser.add_argument("--stages", type=Path, help="write the mask after every layer as PNG (white = hole) here")
    parser.add_argument("--jpeg-quality", type=int, default=95, help="quality of JPEG/WebP outputs (default 95)")
    parser.set_defaults(func=run)


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))


def _check_output(output: Path, inputs: list[Path]) -> None:
    if any(_same_file(output, source) for source in inputs):
        raise InputError(f"the output {output} is an input file: choose another name (inputs are never overwritten)")
    if output.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise InputError(f"cannot write {output.name}: the name must end in one of {', '.join(SUPPORTED_SUFFIXES)}")
    folder = output.parent
    if not folder.is_dir():
        raise InputError(f"cannot write {output}: folder {folder} does not exist")
    if output.is_dir():
        raise InputError(f"cannot write {output}: it is a folder")


def _plan_jobs(args: argparse.Namespace) -> list[Job]:
    if args.images is not None:
        if args.image is not None or args.mask is not None:
            raise InputError("give either IMAGE MASK or --images/--masks, not both")
        if args.masks is None or args.output is None:
            raise InputError("batch mode needs --images DIR --masks DIR --output DIR")
        images = image_files(args.images)
        if not images:
            raise InputError(f"no images in {args.images} (looked for {', '.join(SUPPORTED_SUFFIXES)})")
        masks = {p.stem: p for p in image_files(args.masks)}
        unmatched = [p.name for p in images if p.stem not in masks]
        if unmatched:
            raise InputError(f"{len(unmatched)} photo(s) have no mask in {args.masks}: {', '.join(unmatched[:5])}")
        args.output.mkdir(parents=True, exist_ok=True)
        jobs = [
            Job(image, masks[image.stem], args.output / f"{image.stem}.png",
                args.stages / image.stem if args.stages else None)
            for image in images
        ]
    else:
        if args.image is None or args.mask is None or args.output is None:
            raise InputError("usage: pconv-studio inpaint IMAGE MASK -o OUT (or --images DIR --masks DIR --output DIR)")
        jobs = [Job(args.image, args.mask, args.output, args.stages)]
    every_input = [p for job in jobs for p in (job.image, job.mask)]
    for job in jobs:
        for source in (job.image, job.mask):
            if not source.is_file():
                raise ImageIOError(f"file not found: {source}")
        _check_output(job.output, every_input)
    return jobs


def _write_stages(folder: Path, names: list[str], masks: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, (name, hole) in enumerate(zip(names, masks)):
        save_mask(folder / f"{index + 1:02d}_{name}.png", hole)


def _run_job(inpainter: Inpainter, job: Job, jpeg_quality: int) -> None:
    pixels = load_image(job.image)
    hole = load_mask(job.mask)
    result = inpainter.inpaint(pixels, hole)
    for notice in result.notices:
        log.warning("%s: %s", job.image.name, notice)
    save_image(job.output, result.pixels, jpeg_quality=jpeg_quality)
    if job.stages is not None and result.stage_masks:
        _write_stages(job.stages, result.stage_names, result.stage_masks)
    log.info("%s -> %s in %.2f s on %s", job.image.name, job.output, result.seconds, result.device)


def run(args: argparse.Namespace) -> int:
    detail = None if args.detail is None else check_detail(args.detail)
    jobs = _plan_jobs(args)
    inpainter = Inpainter(args.weights, device=args.device, cuda_graphs=args.cuda_graphs, precision=args.precision,
                          detail=detail or 0.0, detail_weights=args.detail_weights)
    if detail is None and DEFAULT_DETAIL:
        if inpainter.detail_problem is None:
            inpainter.set_detail(DEFAULT_DETAIL)
        else:
            log.info("filling in the faithful style: %s", inpainter.detail_problem)
    log.info("model %s, detail %g, on %s", inpainter.model_name, inpainter.detail, inpainter.device_description)
    if len(jobs) == 1:
        _run_job(inpainter, jobs[0], args.jpeg_quality)
        return 0
    from tqdm import tqdm

    failures = 0
    for job in tqdm(jobs, desc="inpainting", unit="photo", file=sys.stderr):
        try:
            _run_job(inpainter, job, args.jpeg_quality)
        except PConvError as error:  # one bad photo must not cost the others
            failures += 1
            print(f"pconv-studio: error: {job.image.name}: {error}", file=sys.stderr)
    if failures:
        print(f"pconv-studio: error: {failures} of {len(jobs)} photos failed", file=sys.stderr)
        return 2
    return 0
