"""How much context a full-resolution tile needs: tiled fills against one whole-image pass, per halo.

    python bench/tile_halo.py [--photo FILE] [--size 1536] [--tile 512] [--halos 0 128 256 384 512] [--device cpu]

A size x size photo (the centre of --photo, or a synthetic one) with a hole of brush strokes whose every pixel is
within the network's reach (so the engine takes the tiled path) is filled once in one pass (working size >= the
photo) and once in tiles of --tile px per halo. Prints, per halo, the difference over the hole's pixels in 8-bit
levels (mean and 99.9th percentile) and the fill time. With a halo of at least the receptive radius
(`network_reach(config).receptive_radius`) the two must agree (up to float rounding).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import cv2
    import numpy as np
    import torch

    from pconv_studio.engine import Inpainter, Region, ResolutionConfig, load_image
    from pconv_studio.errors import InputError
    from pconv_studio.model import network_reach

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", type=Path, help="a photo at least --size px on each side (default: synthetic)")
    parser.add_argument("--size", type=int, default=1536)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--halos", type=int, nargs="+", default=[0, 128, 256, 384, 512])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    size = args.size
    if args.photo is not None:
        photo = load_image(args.photo)[..., :3]
        top, left = (photo.shape[0] - size) // 2, (photo.shape[1] - size) // 2
        photo = np.ascontiguousarray(photo[top:top + size, left:left + size])
    else:
        rng = np.random.default_rng(0)
        noise = [cv2.GaussianBlur(rng.normal(0, 1, (size, size, 3)).astype(np.float32), (0, 0), s) for s in (1, 8, 40)]
        photo = np.clip(128 + 20 * noise[0] + 120 * noise[1] + 400 * noise[2], 0, 255).astype(np.uint8)
    hole = np.zeros((size, size), np.uint8)
    rng = np.random.default_rng(1)
    for _ in range(12):  # strokes 24 px wide: every hole pixel is 12 px from the photo
        points = rng.integers(0, size, (2, 2))
        cv2.line(hole, tuple(map(int, points[0])), tuple(map(int, points[1])), 1, 24)
    hole = hole.astype(bool)

    whole = Inpainter(device=args.device, resolution=ResolutionConfig(working_size=size))
    reference = whole.inpaint(photo, hole)
    assert [fill.path for fill in reference.fills] == ["full resolution"]
    reach = network_reach(whole.config)
    print(f"{size}x{size} photo, {hole.mean():.1%} hole of strokes, tiles of {args.tile} px, {whole.config.name} "
          f"(reach {reach.closes} px, receptive radius {reach.receptive_radius} px), {whole.device_description}\n")
    print("| halo (px) | mean difference (levels) | 99.9th percentile | max | tiles | seconds |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| whole image | 0 | 0 | 0 | 1 | {reference.seconds:.2f} |")
    for halo in args.halos:
        resolution = ResolutionConfig(tile_size=args.tile, tile_halo=halo)
        tiled = Inpainter(device=args.device, resolution=resolution)
        started = time.perf_counter()
        if halo == 0:  # the engine never chooses tiles without context (the known pixel may lie outside): force it
            pixels = photo.copy()
            try:
                tiles, _ = tiled._tiled_pass(photo, hole, hole, Region(0, 0, size, size), resolution, pixels,
                                             lambda fraction, what: None)
            except InputError as error:
                print(f"| 0 | refused: {error} | | | | |")
                continue
        else:
            result = tiled.inpaint(photo, hole)
            assert {fill.path for fill in result.fills} == {"tiled"}, result.fills
            pixels, tiles = result.pixels, sum(fill.tiles for fill in result.fills)
        seconds = time.perf_counter() - started
        difference = np.abs(pixels[hole].astype(np.int32) - reference.pixels[hole].astype(np.int32))
        print(f"| {halo} | {difference.mean():.3f} | {np.percentile(difference, 99.9):.0f} | {difference.max()} "
              f"| {tiles} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
