"""Batch throughput: photos per second for `inpaint --images`, sequential against `--ray` with N workers.

    PYTHONPATH=. python bench/batch_throughput.py [--count 200] [--megapixels 4] [--workers 2] [--hole logo|strokes]
                                                  [--device cpu|auto] [--weights FILE]

Makes COUNT photos of about MEGAPIXELS (JPEG, 4:3: smooth shading, shapes and grain, different for each) and one
mask for all of them in a temporary folder (`logo`: a watermark in the lower right corner, 1.5% of the photo, as
in product-photo cleaning; `strokes`: brush strokes over 10% of the photo), then fills them with the shipped model
twice, in this process: sequentially, then on a local Ray started here with WORKERS CPU slots (or, with
`--device auto` on a machine with GPUs, one GPU actor per GPU). Outputs are PNG. Times are wall-clock from the
command's start to its end, model loading included; Ray's own start is timed apart. Both runs' outputs are
compared byte for byte.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.end_to_end import stroke_hole  # noqa: E402


def make_photos(folder: Path, count: int, megapixels: float, seed: int = 0) -> tuple[int, int]:
    import cv2
    import numpy as np

    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5 / 8) * 8)
    height = width * 3 // 4
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for index in range(count):
        base = rng.uniform(40, 200, 3).astype(np.float32)
        tilt = rng.uniform(-60, 60, (2, 3)).astype(np.float32)
        image = base + x[..., None] / width * tilt[0] + y[..., None] / height * tilt[1]
        for _ in range(6):
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.circle(image, centre, int(rng.integers(height // 20, height // 4)), rng.uniform(0, 255, 3).tolist(),
                       -1)
        image += rng.normal(0, 6, image.shape).astype(np.float32)
        cv2.imwrite(str(folder / f"photo{index:04d}.jpg"), np.clip(image, 0, 255).astype(np.uint8),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
    return height, width


def make_mask(path: Path, height: int, width: int, kind: str) -> float:
    import numpy as np

    from pconv_studio.engine import save_mask

    if kind == "logo":
        hole = np.zeros((height, width), bool)
        logo_h, logo_w = int(height * 0.08), int(width * 0.19)  # 1.5% of the photo
        hole[height - logo_h - height // 30:height - height // 30, width - logo_w - width // 30:width - width // 30] = 1
    else:
        hole = stroke_hole(height, width, 0.10)
    save_mask(path, hole)
    return float(hole.mean())


def timed(argv: list[str]) -> float:
    from pconv_studio.cli.main import main

    start = time.perf_counter()
    code = main(argv)
    if code != 0:
        raise SystemExit(f"inpaint failed with exit code {code}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--megapixels", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=2, help="CPU slots of the local Ray")
    parser.add_argument("--hole", choices=("logo", "strokes"), default="logo")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", help="a weights file (default: the shipped model)")
    args = parser.parse_args()

    import ray
    import torch

    with tempfile.TemporaryDirectory(prefix="pconv-batch-bench-") as temporary:
        root = Path(temporary)
        (root / "images").mkdir()
        start = time.perf_counter()
        height, width = make_photos(root / "images", args.count, args.megapixels)
        fraction = make_mask(root / "mask.png", height, width, args.hole)
        print(f"{args.count} photos of {width}x{height} ({width * height / 1e6:.1f} MP, JPEG), hole {args.hole} "
              f"({fraction:.1%}), made in {time.perf_counter() - start:.0f} s; torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads in this process", flush=True)
        common = ["inpaint", "--images", str(root / "images"), "--mask", str(root / "mask.png"),
                  "--device", args.device] + (["--weights", args.weights] if args.weights else [])
        sequential = timed(common + ["--output", str(root / "sequential")])
        start = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="ERROR",
                 # the workers import this checkout, as this process does
                 runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}})
        ray_start = time.perf_counter() - start
        on_ray = timed(common + ["--output", str(root / "ray"), "--ray"])
        ray.shutdown()
        names = sorted(p.name for p in (root / "sequential").iterdir())
        _, mismatch, errors = filecmp.cmpfiles(root / "sequential", root / "ray", names, shallow=False)
        print(f"\n| run | wall s | photos/s |\n|---|---|---|\n"
              f"| sequential (1 process, {torch.get_num_threads()} threads) | {sequential:.1f} | "
              f"{args.count / sequential:.2f} |\n"
              f"| Ray, {args.workers} workers (+{ray_start:.1f} s to start Ray) | {on_ray:.1f} | "
              f"{args.count / on_ray:.2f} |\n")
        print(f"Ray / sequential: {sequential / on_ray:.2f}x; outputs byte-identical: "
              f"{'yes' if not mismatch and not errors else f'NO ({len(mismatch)} differ, {len(errors)} missing)'}")


if __name__ == "__main__":
    main()
