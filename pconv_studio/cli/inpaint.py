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

from ..engine import SUPPORTED_SUFFIXES, Inpainter, ResolutionConfig, save_image, save_mask
from ..engine.inpainter import describe_fills
from ..engine.regions import STRATEGIES
from ..engine.blend import DEFAULT_DETAIL, check_detail
from ..engine.imageio import (
    ImageInfo, SaveOptions, check_mask_matches, check_output_path, check_writable_folder, image_files, read_image,
    read_mask,
)
from ..engine.runner import GRAPH_MODES, PRECISIONS
from ..errors import DamagedFileError, ImageIOError, InputError, PConvError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    image: Path
    mask: Path
    output: Path
    stages: Path | None


@dataclass(frozen=True)
class _Inputs:
    """A job's files, read and checked: nothing has been filled or written yet."""

    pixels: np.ndarray
    info: ImageInfo
    hole: np.ndarray
    notices: tuple[str, ...]


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
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help="photos larger than the network's working size: auto (default) fills at the photo's "
                        "own resolution, in tiles or in two scales; scaled fills at the working size and scales "
                        "the fill back up (the old way, for comparison)")
    parser.add_argument("--detail-transfer", choices=("on", "off"), default="on",
                        help="two-scale fills: carry the photo's own fine detail into the hole (default on)")
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log progress details, and how each region was filled, to stderr")
    parser.add_argument("--cuda-graphs", choices=GRAPH_MODES, default="auto",
                        help="replay repeated crop sizes from CUDA graphs: auto (where faster), on, off")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto (default): bf16/fp16 where the device has it natively; fp32: full precision")
    parser.add_argument("--stages", type=Path, help="write the mask after every layer as PNG (white = hole) here")
    parser.add_argument("--jpeg-quality", type=int, default=95, help="quality of JPEG outputs, 1-100 (default 95)")
    parser.add_argument("--webp-quality", type=int,
                        help="write WebP outputs lossy at this quality, 1-100 (default: lossless)")
    parser.add_argument("--allow-damaged", action="store_true",
                        help="fill a damaged or cut-short photo from what can be read (with a warning), not refuse it")
    parser.set_defaults(func=run)


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))


def _check_output(output: Path, inputs: list[Path]) -> None:
    if any(_same_file(output, source) for source in inputs):
        raise InputError(f"the output {output} is an input file: choose another name (inputs are never overwritten)")
    check_output_path(output)


def _batch_output(image: Path, folder: Path) -> Path:
    """TIFF photos are written as TIFF (their floats, pages notice, premultiplied alpha stay), others as PNG."""
    return folder / f"{image.stem}{'.tif' if image.suffix.lower() in ('.tif', '.tiff') else '.png'}"


def _masks_by_stem(folder: Path) -> dict[str, Path]:
    masks: dict[str, Path] = {}
    for path in image_files(folder):
        if path.stem in masks:
            raise InputError(f"two masks for the photos named {path.stem!r} in {folder}: {masks[path.stem].name} and"
                             f" {path.name}; keep one")
        masks[path.stem] = path
    return masks


def _check_collisions(jobs: list[Job]) -> None:
    """Two photos must never write the same file or stage folder (shot.jpg and shot.png both -> shot.png)."""
    seen: dict[Path, Path] = {}
    for job in jobs:
        for target in (job.output, job.stages):
            if target is None:
                continue
            if target in seen:
                raise InputError(f"{seen[target].name} and {job.image.name} would both be written to {target}:"
                                 " rename one of them")
            seen[target] = job.image


def _plan_jobs(args: argparse.Namespace) -> list[Job]:
    if args.images is not None:
        if args.image is not None or args.mask is not None:
            raise InputError("give either IMAGE MASK or --images/--masks, not both")
        if args.masks is None or args.output is None:
            raise InputError("batch mode needs --images DIR --masks DIR --output DIR")
        images = image_files(args.images)
        if not images:
            raise InputError(f"no images in {args.images} (looked for {', '.join(SUPPORTED_SUFFIXES)})")
        masks = _masks_by_stem(args.masks)
        unmatched = [p.name for p in images if p.stem not in masks]
        if unmatched:
            raise InputError(f"{len(unmatched)} photo(s) have no mask in {args.masks}: {', '.join(unmatched[:5])}")
        if args.output.exists() and not args.output.is_dir():
            raise InputError(f"--output {args.output} is a file: batch mode writes into a folder")
        check_writable_folder(args.output)
        jobs = [
            Job(image, masks[image.stem], _batch_output(image, args.output),
                args.stages / image.stem if args.stages else None)
            for image in images
        ]
    else:
        if args.image is None or args.mask is None or args.output is None:
            raise InputError("usage: pconv-studio inpaint IMAGE MASK -o OUT (or --images DIR --masks DIR --output DIR)")
        jobs = [Job(args.image, args.mask, args.output, args.stages)]
    if args.stages is not None:
        if args.stages.exists() and not args.stages.is_dir():
            raise InputError(f"--stages {args.stages} is a file: give a folder for the layer masks")
        check_writable_folder(args.stages)
    every_input = [p for job in jobs for p in (job.image, job.mask)]
    for job in jobs:
        for source in (job.image, job.mask):
            if not source.is_file():
                raise ImageIOError(f"file not found: {source}")
        _check_output(job.output, every_input)
    _check_collisions(jobs)
    return jobs


def _read_inputs(job: Job, allow_damaged: bool) -> _Inputs:
    """Read and check everything a job needs, including that its output can hold the pixels, before any fill."""
    try:
        pixels, info = read_image(job.image, allow_damaged)
        mask = read_mask(job.mask, allow_damaged)
    except DamagedFileError as error:
        raise DamagedFileError(f"{error}; --allow-damaged fills it from what can be read") from None
    check_mask_matches(pixels, mask.hole)
    check_output_path(job.output, pixels)
    return _Inputs(pixels, info, mask.hole, info.notices + mask.notices)


def _write_stages(folder: Path, names: list[str], masks: list[np.ndarray], written: list[Path]) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImageIOError(f"cannot make the folder {folder}: {error.strerror or error}") from None
    for index, (name, hole) in enumerate(zip(names, masks)):
        path = folder / f"{index + 1:02d}_{name}.png"
        save_mask(path, hole)
        written.append(path)


def _run_job(inpainter: Inpainter, job: Job, inputs: _Inputs, options: SaveOptions) -> None:
    """Fill and write: the stage masks first, the photo last (atomically); a failure removes this job's stage
    files, so a failed run leaves no output behind."""
    for notice in inputs.notices:
        log.warning("%s", notice)
    result = inpainter.inpaint(inputs.pixels, inputs.hole)
    for notice in result.notices:
        log.warning("%s: %s", job.image.name, notice)
    written: list[Path] = []
    try:
        if job.stages is not None and result.stage_masks:
            _write_stages(job.stages, result.stage_names, result.stage_masks, written)
        notices = save_image(job.output, result.pixels, options.jpeg_quality, inputs.info, options.webp_quality)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    for notice in notices:
        log.warning("%s: %s", job.output.name, notice)
    log.info("%s -> %s in %.2f s on %s; %s", job.image.name, job.output, result.seconds, result.device,
             describe_fills(result.fills))


def run(args: argparse.Namespace) -> int:
    detail = None if args.detail is None else check_detail(args.detail)
    options = SaveOptions(args.jpeg_quality, args.webp_quality)
    jobs = _plan_jobs(args)
    first = _read_inputs(jobs[0], args.allow_damaged) if len(jobs) == 1 else None
    resolution = ResolutionConfig(strategy=args.strategy, detail_transfer=args.detail_transfer == "on")
    inpainter = Inpainter(args.weights, device=args.device, resolution=resolution, cuda_graphs=args.cuda_graphs,
                          precision=args.precision, detail=detail or 0.0, detail_weights=args.detail_weights)
    if detail is None and DEFAULT_DETAIL:
        if inpainter.detail_problem is None:
            inpainter.set_detail(DEFAULT_DETAIL)
        else:
            log.info("filling in the faithful style: %s", inpainter.detail_problem)
    log.info("model %s, detail %g, on %s", inpainter.model_name, inpainter.detail, inpainter.device_description)
    if first is not None:
        _run_job(inpainter, jobs[0], first, options)
        return 0
    from tqdm import tqdm

    args.output.mkdir(parents=True, exist_ok=True)
    failures = 0
    for job in tqdm(jobs, desc="inpainting", unit="photo", file=sys.stderr):
        try:
            _run_job(inpainter, job, _read_inputs(job, args.allow_damaged), options)
        except PConvError as error:  # one bad photo must not cost the others
            failures += 1
            print(f"pconv-studio: error: {job.image.name}: {error}", file=sys.stderr)
    if failures:
        print(f"pconv-studio: error: {failures} of {len(jobs)} photos failed", file=sys.stderr)
        return 2
    return 0
