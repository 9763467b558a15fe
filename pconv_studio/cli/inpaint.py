"""`pconv-studio inpaint`: one photo, or a folder of photos with the model loaded once.

Every check that can fail runs before anything is written, and outputs are written atomically, so a failed run
leaves no partial file and never touches an input. A job is read (`read_inputs`), filled (`fill_job`) and written
(`write_outputs`) in three steps, so that `ray_batch` can run each where it belongs: reading and writing in tasks,
filling in actors that keep the model loaded.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine import SUPPORTED_SUFFIXES, Inpainter, ResolutionConfig, save_image, save_mask
from ..engine.inpainter import InpaintResult, describe_fills
from ..engine.regions import STRATEGIES
from ..engine.blend import DEFAULT_DETAIL, check_detail
from ..engine.imageio import (
    ImageInfo, SaveOptions, check_mask_matches, check_output_path, check_writable_folder, image_files, read_image,
    read_mask,
)
from ..engine.runner import GRAPH_MODES, PRECISIONS
from ..errors import DamagedFileError, ImageIOError, InputError, PConvError
from .batch import BatchTally, parse_shard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    image: Path
    mask: Path
    output: Path
    stages: Path | None


@dataclass(frozen=True)
class FillSettings:
    """Everything that makes an `Inpainter`, so a worker process can make the same one (`open_inpainter`)."""

    weights: Path | None
    device: str
    resolution: ResolutionConfig
    cuda_graphs: str
    precision: str
    detail: float | None
    detail_weights: Path | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> FillSettings:
        return cls(args.weights, args.device,
                   ResolutionConfig(strategy=args.strategy, detail_transfer=args.detail_transfer == "on"),
                   args.cuda_graphs, args.precision, None if args.detail is None else check_detail(args.detail),
                   args.detail_weights)


def open_inpainter(settings: FillSettings) -> Inpainter:
    """Load the model for `settings`; without an explicit detail, the default style where a detailed model is
    installed. Raises `WeightsError` / `DeviceError`."""
    inpainter = Inpainter(settings.weights, device=settings.device, resolution=settings.resolution,
                          cuda_graphs=settings.cuda_graphs, precision=settings.precision,
                          detail=settings.detail or 0.0, detail_weights=settings.detail_weights)
    if settings.detail is None and DEFAULT_DETAIL:
        if inpainter.detail_problem is None:
            inpainter.set_detail(DEFAULT_DETAIL)
        else:
            log.info("filling in the faithful style: %s", inpainter.detail_problem)
    log.info("model %s, detail %g, on %s", inpainter.model_name, inpainter.detail, inpainter.device_description)
    return inpainter


@dataclass(frozen=True)
class JobInputs:
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
    parser.add_argument("--mask", dest="one_mask", type=Path, metavar="FILE",
                        help="with --images: one mask for every photo (a watermark or logo in the same place)")
    parser.add_argument("--shard", type=parse_shard, metavar="K/N",
                        help="with --images: fill only shard K of N (0 <= K < N), by file name; shards 0/N ... "
                        "N-1/N cover the folder exactly once (for job arrays: --shard $SLURM_ARRAY_TASK_ID/N)")
    parser.add_argument("--skip-existing", action="store_true",
                        help="with --images: leave out photos whose output exists (outputs are written atomically, "
                        "so one that exists is complete): a restarted run continues where it stopped")
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                        help="with --images: fill on a Ray cluster (pip install 'pconv-studio[ray]'), one model per "
                        "GPU or CPU slot; ADDRESS as for ray.init ('auto', 'HOST:6379', 'ray://HOST:10001'); "
                        "without it, RAY_ADDRESS or a cluster running here, else a local one")
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


def check_output_beside_inputs(output: Path, inputs: list[Path]) -> None:
    """Raise before any work if `output` names one of the `inputs` (inputs are never overwritten) or cannot be
    written (`check_output_path`)."""
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


def _batch_jobs(args: argparse.Namespace) -> list[Job]:
    """The jobs of `--images`: this shard's photos, each with its mask (by stem, or the one `--mask`), less those
    already done under `--skip-existing`. Masks and output names are checked for the whole folder, so every shard
    of a job array refuses a bad folder alike."""
    if args.image is not None or args.mask is not None:
        raise InputError("give either IMAGE MASK or --images/--masks, not both")
    if (args.masks is None) == (args.one_mask is None) or args.output is None:
        raise InputError("batch mode needs --images DIR, --output DIR and either --masks DIR (one mask per photo, "
                         "by stem) or --mask FILE (one mask for every photo)")
    images = image_files(args.images)
    if not images:
        raise InputError(f"no images in {args.images} (looked for {', '.join(SUPPORTED_SUFFIXES)})")
    if args.masks is not None:
        masks = _masks_by_stem(args.masks)
        unmatched = [p.name for p in images if p.stem not in masks]
        if unmatched:
            raise InputError(f"{len(unmatched)} photo(s) have no mask in {args.masks}: {', '.join(unmatched[:5])}")
    else:
        masks = {image.stem: args.one_mask for image in images}
    if args.output.exists() and not args.output.is_dir():
        raise InputError(f"--output {args.output} is a file: batch mode writes into a folder")
    check_writable_folder(args.output)
    jobs = [
        Job(image, masks[image.stem], _batch_output(image, args.output),
            args.stages / image.stem if args.stages else None)
        for image in images
    ]
    # the whole folder, before sharding and skipping: shot.jpg and shot.png may fall in two shards, or one of them
    # be done already, and would still write one file
    _check_collisions(jobs)
    if args.shard is not None:
        jobs = [job for job in jobs if args.shard.holds(job.image)]
    if args.skip_existing:
        left = [job for job in jobs if not job.output.is_file()]
        if len(left) < len(jobs):
            log.info("skipping %d photo(s) whose output exists", len(jobs) - len(left))
        jobs = left
    return jobs


def _plan_jobs(args: argparse.Namespace) -> list[Job]:
    batch_only = [name for name, value in (("--shard", args.shard), ("--skip-existing", args.skip_existing or None),
                                           ("--mask", args.one_mask), ("--ray", args.ray)) if value is not None]
    if args.images is not None:
        jobs = _batch_jobs(args)
    else:
        if batch_only:
            raise InputError(f"only with --images DIR (batch mode): {', '.join(batch_only)}")
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
        check_output_beside_inputs(job.output, every_input)
    if args.images is None:
        _check_collisions(jobs)
    return jobs


def read_inputs(job: Job, allow_damaged: bool) -> JobInputs:
    """Read and check everything a job needs, including that its output can hold the pixels, before any fill."""
    try:
        pixels, info = read_image(job.image, allow_damaged)
        mask = read_mask(job.mask, allow_damaged)
    except DamagedFileError as error:
        raise DamagedFileError(f"{error}; --allow-damaged fills it from what can be read") from None
    check_mask_matches(pixels, mask.hole)
    check_output_path(job.output, pixels)
    return JobInputs(pixels, info, mask.hole, info.notices + mask.notices)


def _write_stages(folder: Path, names: list[str], masks: list[np.ndarray], written: list[Path]) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImageIOError(f"cannot make the folder {folder}: {error.strerror or error}") from None
    for index, (name, hole) in enumerate(zip(names, masks)):
        path = folder / f"{index + 1:02d}_{name}.png"
        save_mask(path, hole)
        written.append(path)


def fill_job(inpainter: Inpainter, inputs: JobInputs) -> InpaintResult:
    """Fill a job's holes; the result's notices say what the user should be told."""
    return inpainter.inpaint(inputs.pixels, inputs.hole)


def write_outputs(job: Job, inputs: JobInputs, result: InpaintResult, options: SaveOptions) -> list[str]:
    """Write the stage masks first, the photo last (atomically); a failure removes this job's stage files, so a
    failed job leaves no output behind. Returns every notice of the job (reading, filling, writing) as log lines."""
    written: list[Path] = []
    try:
        if job.stages is not None and result.stage_masks:
            _write_stages(job.stages, result.stage_names, result.stage_masks, written)
        notices = save_image(job.output, result.pixels, options.jpeg_quality, inputs.info, options.webp_quality)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return [*inputs.notices, *(f"{job.image.name}: {notice}" for notice in result.notices),
            *(f"{job.output.name}: {notice}" for notice in notices)]


def describe_job(job: Job, result: InpaintResult) -> str:
    return (f"{job.image.name} -> {job.output} in {result.seconds:.2f} s on {result.device}; "
            f"{describe_fills(result.fills)}")


def _run_job(inpainter: Inpainter, job: Job, inputs: JobInputs, options: SaveOptions) -> None:
    result = fill_job(inpainter, inputs)
    for notice in write_outputs(job, inputs, result, options):
        log.warning("%s", notice)
    log.info("%s", describe_job(job, result))


def run(args: argparse.Namespace) -> int:
    settings = FillSettings.from_args(args)
    options = SaveOptions(args.jpeg_quality, args.webp_quality)
    jobs = _plan_jobs(args)
    if args.ray is not None:
        from .ray_batch import import_ray, run_on_ray  # Ray is an optional extra: imported only when asked for

        import_ray()  # its absence is an error before anything is made
    if args.images is not None:
        if not jobs:
            log.warning("nothing to fill: every photo is done (--skip-existing) or in another shard")
            return 0
        args.output.mkdir(parents=True, exist_ok=True)
    if args.ray is not None:
        return run_on_ray(jobs, settings, options, args.allow_damaged, args.ray)
    first = read_inputs(jobs[0], args.allow_damaged) if args.images is None else None
    inpainter = open_inpainter(settings)
    if first is not None:
        _run_job(inpainter, jobs[0], first, options)
        return 0
    from tqdm import tqdm

    tally = BatchTally(len(jobs))
    for job in tqdm(jobs, desc="inpainting", unit="photo", file=sys.stderr):
        try:
            _run_job(inpainter, job, read_inputs(job, args.allow_damaged), options)
        except PConvError as error:  # one bad photo must not cost the others
            tally.fail(job.image.name, str(error))
    return tally.exit_code()
