"""Geometry-only mask propagation time (the side panel redraws with it while someone paints).

    python bench/propagation.py [--sizes 512 1024 2048] [--threads 2]

Target: under 20 ms for a 1024x1024 mask on the CPU. Prints a Markdown table (median and best of 20).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import numpy as np
    import torch

    from bench.end_to_end import stroke_hole
    from pconv_studio.model import get_preset, propagate_masks

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"\nGeometry-only propagation, 20% stroke hole, CPU ({args.threads} threads), ms over 20 runs\n")
    print("| preset | mask | median ms | best ms |")
    print("|---|---|---|---|")
    for preset in ("compact", "paper"):
        config = get_preset(preset)
        for size in args.sizes:
            valid = torch.from_numpy((~stroke_hole(size, size, 0.2)).astype(np.float32))
            propagate_masks(valid, config)
            times = []
            for _ in range(20):
                start = time.perf_counter()
                propagate_masks(valid, config)
                times.append(1000 * (time.perf_counter() - start))
            print(f"| {preset} | {size}x{size} | {statistics.median(times):.1f} | {min(times):.1f} |")


if __name__ == "__main__":
    main()
