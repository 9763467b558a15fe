"""Upscaling time and peak host memory per case.

    python bench/upscale.py [--photo FILE] [--cases 1000x750x4 512x384x2] [--weights FILE] [--device cpu]
                            [--precisions auto fp32] [--threads 2]

A case is WIDTHxHEIGHTxSCALE: the centre of --photo (default: the first of /work/shared/data/photos-fullres,
else a synthetic image) scaled to WIDTHxHEIGHT (area), then upscaled by SCALE with the engine's default tiles
(`ResolutionConfig`: 1024 px cores, 128 px halo). Each case runs once to warm up (oneDNN picks its kernels per
shape), then once measured: wall seconds, the process's CPU seconds (all threads; on a machine shared with other
work it bounds from below what a quiet machine would take), and the peak resident memory the upscale added
(`training.peak_memory.PeakMemory`: the kernel's RSS high-water mark, not sampled) next to the output's own size.
Weights: --weights, else the shipped upscaling model, else the inpainting model (timing does not depend on the
values, only on the architecture).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_PHOTOS = Path("/work/shared/data/photos-fullres")


def _case(text: str) -> tuple[int, int, float]:
    width, height, scale = text.split("x")
    return int(width), int(height), float(scale)


def _source(photo: Path | None):
    import cv2
    import numpy as np

    from pconv_studio.engine import load_image

    if photo is None and _PHOTOS.is_dir():
        photo = next(iter(sorted(_PHOTOS.glob("*.jpg"))), None)
    if photo is not None:
        return load_image(photo)[..., :3], photo.name
    rng = np.random.default_rng(0)
    noise = [cv2.GaussianBlur(rng.normal(0, 1, (3000, 4000, 3)).astype(np.float32), (0, 0), s) for s in (1, 8, 40)]
    return np.clip(128 + 20 * noise[0] + 120 * noise[1] + 400 * noise[2], 0, 255).astype(np.uint8), "synthetic"


def _input(source, width: int, height: int):
    """The centre of `source` with the aspect of width x height, area-scaled to it."""
    import cv2
    import numpy as np

    rows, cols = source.shape[:2]
    crop_rows, crop_cols = min(rows, cols * height // width), min(cols, rows * width // height)
    top, left = (rows - crop_rows) // 2, (cols - crop_cols) // 2
    crop = source[top:top + crop_rows, left:left + crop_cols]
    return np.ascontiguousarray(cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA))


def main() -> None:
    import resource

    import torch

    from pconv_studio.engine.runner import PRECISIONS
    from pconv_studio.engine.upscale import Upscaler
    from pconv_studio.paths import default_weights_path, upscale_weights_path
    from pconv_studio.training.peak_memory import PeakMemory

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", type=Path)
    parser.add_argument("--cases", type=_case, nargs="+", default=[_case("1000x750x4"), _case("512x384x2")])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    weights = args.weights or (upscale_weights_path() if upscale_weights_path().is_file() else default_weights_path())
    source, source_name = _source(args.photo)

    def cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    rows = []
    for precision in args.precisions:
        upscaler = Upscaler(weights, device=args.device, precision=precision)
        for width, height, scale in args.cases:
            pixels = _input(source, width, height)
            upscaler.upscale(pixels, scale)  # warm-up: kernel choice per tile shape
            started, cpu_started = time.perf_counter(), cpu_seconds()
            with PeakMemory() as memory:
                result = upscaler.upscale(pixels, scale)
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
            out_height, out_width = result.pixels.shape[:2]
            rows.append(f"| {width}x{height} x{scale:g} | {out_width}x{out_height} | {result.device} | {result.tiles} "
                        f"| {seconds:.1f} | {cpu:.1f} | {out_width * out_height / 1e6 / seconds:.2f} "
                        f"| {memory.added_mb:.0f} | {result.pixels.nbytes / 2**20:.0f} |")
    print(f"{upscaler.model_name}, input from {source_name}, {args.threads} threads\n")
    print("| input | output | device | tiles | seconds | CPU seconds | output MP/s | peak added (MiB) "
          "| output array (MiB) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
