"""`pconv-studio upscale IN -o OUT --scale S`: enlarge a photo by any real scale from 1.25 to 8 (docs/upscaling.md).

As `inpaint` does: every check (input readable, output writable and not the input, a format that holds the
pixels, scale and output size in range) runs before the model is loaded, the output is written atomically, and bit
depth, alpha and metadata are kept. Ctrl+C stops at once and writes nothing (`main` translates it).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from ..engine.imageio import SaveOptions, check_output_path, read_image, save_image
from ..engine.runner import GRAPH_MODES, PRECISIONS
from ..engine.upscale import MAX_OUTPUT_PIXELS, MAX_SCALE, MIN_SCALE, Upscaler, check_scale, check_upscale
from ..errors import ImageIOError
from .inpaint import check_output_beside_inputs

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "upscale",
        help="enlarge a photo by any scale from 1.25 to 8",
        description="Enlarge a photo with the upscaling model: the shipped one refines a bicubic upscale; a grid "
        "model (weights/pconv_compact_upscale_grid.safetensors) is given the photo's pixels spread over the larger "
        "canvas on a grid and fills the rest with partial convolutions (docs/upscaling.md). Output size: "
        f"round(height * S) x round(width * S), at most {MAX_OUTPUT_PIXELS / 1e6:.0f} megapixels.",
    )
    parser.add_argument("image", type=Path, help="the photo")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the output file (its suffix sets the format)")
    parser.add_argument("--scale", type=float, required=True, metavar="S",
                        help=f"how many times larger, any real number from {MIN_SCALE:g} to {MAX_SCALE:g}")
    parser.add_argument("--weights", type=Path, help="a weights file instead of the shipped upscaling model")
    parser.add_argument("--device", default="auto", help="auto (default), cuda, cuda:N, mps or cpu")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto (default): bf16/fp16 where the device has it natively; fp32: full precision")
    parser.add_argument("--cuda-graphs", choices=GRAPH_MODES, default="auto",
                        help="replay repeated tile sizes from CUDA graphs: auto (where faster), on, off")
    parser.add_argument("--jpeg-quality", type=int, default=95, help="quality of JPEG outputs, 1-100 (default 95)")
    parser.add_argument("--webp-quality", type=int,
                        help="write WebP outputs lossy at this quality, 1-100 (default: lossless)")
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log the model, the tiles, the seconds and the device to stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    scale = check_scale(args.scale)
    options = SaveOptions(args.jpeg_quality, args.webp_quality)
    if not args.image.is_file():
        raise ImageIOError(f"file not found: {args.image}")
    check_output_beside_inputs(args.output, [args.image])
    pixels, info = read_image(args.image)
    scale, size = check_upscale(pixels, scale)
    check_output_path(args.output, pixels)
    upscaler = Upscaler(args.weights, device=args.device, cuda_graphs=args.cuda_graphs, precision=args.precision)
    log.info("model %s on %s", upscaler.model_name, upscaler.device_description)
    with tqdm(total=100, unit="%", desc="upscaling", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:

        def progress(fraction: float, message: str) -> None:
            bar.set_description(message, refresh=False)
            bar.update(round(100 * fraction) - bar.n)

        result = upscaler.upscale(pixels, scale, progress=progress)
    notices = save_image(args.output, result.pixels, options.jpeg_quality, info, options.webp_quality)
    for notice in (*info.notices, *result.notices, *notices):
        log.warning("%s", notice)
    log.info("%s (%dx%d) -> %s (%dx%d), x%g in %d tile%s, %.2f s on %s", args.image.name, pixels.shape[1],
             pixels.shape[0], args.output, size[1], size[0], scale, result.tiles, "" if result.tiles == 1 else "s",
             result.seconds, result.device)
    return 0
