"""Reading and writing photo files: the project's `read_image` / `save_image` against OpenCV's bare codecs.

    python bench/image_files.py [--size 6000 4000] [--repeats 3]

OpenCV's `imdecode`/`imencode` are the floor (they keep no profile, no EXIF, no alpha kind); the gap is what
keeping them costs. Prints a Markdown table (best of `--repeats`, seconds) for a noisy-gradient photo.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    import cv2
    import numpy as np

    from pconv_studio.engine.imageio import read_image, save_image

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, nargs=2, default=[6000, 4000], metavar=("WIDTH", "HEIGHT"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    width, height = args.size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 6, (height, width, 1)).astype(np.float32)
    base = np.stack([x / width, y / height, (x + y) / (width + height)], axis=2) * 250 + noise
    eight = np.clip(base, 0, 255).astype(np.uint8)
    deep = eight.astype(np.uint16) * 257
    cases = [("JPEG q95", ".jpg", eight), ("PNG 8-bit", ".png", eight), ("PNG 16-bit", ".png", deep),
             ("TIFF 8-bit", ".tif", eight), ("TIFF 16-bit", ".tif", deep),
             ("WebP lossless", ".webp", eight), ("BMP", ".bmp", eight)]
    print(f"\nPhoto files, {width}x{height} RGB, best of {args.repeats}, seconds\n")
    print("| format | read (project) | read (cv2.imdecode) | write (project) | write (cv2.imencode) | MB |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, suffix, pixels in cases:
            path = Path(folder) / f"photo{suffix}"
            write = best_of(args.repeats, lambda: save_image(path, pixels))
            bgr = np.ascontiguousarray(pixels[..., ::-1])
            params = [cv2.IMWRITE_WEBP_QUALITY, 101] if suffix == ".webp" else []
            write_cv = best_of(args.repeats, lambda: cv2.imencode(suffix, bgr, params))
            data = np.fromfile(path, np.uint8)
            read = best_of(args.repeats, lambda: read_image(path))
            read_cv = best_of(args.repeats, lambda: cv2.imdecode(data, cv2.IMREAD_UNCHANGED))
            print(f"| {name} | {read:.2f} | {read_cv:.2f} | {write:.2f} | {write_cv:.2f} | {data.size / 1e6:.1f} |")


if __name__ == "__main__":
    main()
