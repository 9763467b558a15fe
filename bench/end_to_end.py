"""End-to-end fill time: decode the photo, move it to the device, run the network, composite.

    python bench/end_to_end.py [--device cpu|cuda] [--presets compact paper]
                               [--sizes 512x512 1024x1024 4000x3000 6000x4000:objects]
                               [--strategy auto|scaled|...] [--cuda-graphs auto|on|off] [--precision auto|fp32]

A size is WIDTHxHEIGHT, optionally with the hole after a colon: "strokes" (the default: a 20% hole of brush
strokes spread over the photo) or "objects" (3 ragged object holes of 1-3% of the photo each, from the
project's own `training.masks.object_mask`, seed 0). Each (preset, size) runs in a fresh process: the first call
includes cuDNN autotuning and allocator warm-up, the steady state is the median of the following calls (on CUDA
the second call also captures the CUDA graph that later calls replay, so use at least 5 repeats). Peak host
memory is the process's RSS high-water mark (everything: torch, the decoded photo, the fill); peak GPU memory is
torch's allocator peak. "Steady CPU s" is the process's CPU time (all threads) over the same calls: on a
machine shared with other work, where wall-clock time says more about the neighbours than the fill, CPU time
divided by the machine's cores bounds from below what a quiet machine would take. `--strategy` picks the
engine's resolution strategy (default: the engine's own), so `--strategy scaled` compares with the old path;
the table says which paths the hole groups took. Networks without a weights file of their own use random
weights: timing does not depend on the values.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pconv_studio.engine.runner import GRAPH_MODES, PRECISIONS  # noqa: E402


def stroke_hole(height: int, width: int, fraction: float, seed: int = 0):
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    hole = np.zeros((height, width), np.uint8)
    thickness = max(4, min(height, width) // 25)
    while hole.mean() < fraction:
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1 = int(np.clip(x0 + rng.normal(0, width / 6), 0, width - 1))
        y1 = int(np.clip(y0 + rng.normal(0, height / 6), 0, height - 1))
        cv2.line(hole, (x0, y0), (x1, y1), 1, thickness)
    return hole.astype(bool)


HOLES = ("strokes", "objects")
OBJECT_HOLES = 3  # the 24-megapixel case: a photo with 3 object holes


def parse_case(case: str) -> tuple[int, int, str]:
    """"4000x3000" or "6000x4000:objects" -> (width, height, hole kind)."""
    size, _, hole = case.partition(":")
    hole = hole or "strokes"
    if hole not in HOLES:
        raise SystemExit(f"unknown hole {hole!r} in {case!r}: choose from {', '.join(HOLES)}")
    width, height = (int(v) for v in size.split("x"))
    return width, height, hole


def case_hole(width: int, height: int, hole: str):
    """The bool HxW hole of a case (True = hole)."""
    if hole == "objects":
        from pconv_studio.training.masks import mask_rng, object_mask

        return object_mask(height, width, mask_rng(0), count=OBJECT_HOLES)
    return stroke_hole(height, width, 0.2)


def describe_paths(fills) -> str:
    """'tiled x3, two scales x1' from `InpaintResult.fills` (`.path` per hole group)."""
    counts = Counter(fill.path for fill in fills)
    return ", ".join(f"{path} x{count}" for path, count in sorted(counts.items()))


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(
    preset: str, size: str, device: str, repeats: int, threads: int, weights: str | None, graphs: str, precision: str,
    strategy: str | None,
) -> dict:
    import numpy as np
    import torch

    from pconv_studio.engine import Inpainter, ResolutionConfig, load_image, save_image
    from pconv_studio.model import PConvUNet, get_preset, save_weights

    torch.set_num_threads(threads)
    width, height, hole_kind = parse_case(size)
    with tempfile.TemporaryDirectory() as folder:
        if weights is None:
            torch.manual_seed(0)
            weights = str(Path(folder) / f"{preset}.safetensors")
            save_weights(PConvUNet(get_preset(preset)), Path(weights))
        rng = np.random.default_rng(1)
        photo = (rng.random((height // 8, width // 8, 3)) * 255).astype(np.uint8)
        photo = np.kron(photo, np.ones((8, 8, 1), np.uint8))[:height, :width]  # blocky: compresses like a photo
        save_image(Path(folder) / "photo.jpg", photo)
        hole = case_hole(width, height, hole_kind)
        resolution = ResolutionConfig() if strategy is None else ResolutionConfig(strategy=strategy)
        inpainter = Inpainter(weights, device=device, resolution=resolution, cuda_graphs=graphs, precision=precision)
        times, cpu_times = [], []
        for _ in range(repeats + 1):
            start, cpu_start = time.perf_counter(), time.process_time()
            pixels = load_image(Path(folder) / "photo.jpg")
            result = inpainter.inpaint(pixels, hole)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else 0.0
    label = inpainter.device_description
    label += f", {threads} threads" if device == "cpu" else f", graphs {graphs}"
    return {"preset": preset, "size": size, "device": label, "first_s": times[0],
            "steady_s": statistics.median(times[1:]), "steady_cpu_s": statistics.median(cpu_times[1:]),
            "host_peak_mb": _peak_rss_mb(), "gpu_peak_mb": gpu_peak,
            "paths": describe_paths(result.fills)}


@dataclass(frozen=True)
class Target:
    """An issue's target for a row, steady state: seconds, the device it names, and peak host memory (bytes)."""

    seconds: float
    device: str
    host_bytes: float | None = None


# (device type, preset or None for any, case) -> target
TARGETS = {
    ("cuda", "compact", "512x512"): Target(0.010, "H100"),
    ("cuda", None, "4000x3000"): Target(0.5, "GPU"),
    ("cpu", None, "4000x3000"): Target(5.0, "2-core CPU"),
    ("cpu", None, "6000x4000:objects"): Target(10.0, "2-core CPU", 2e9),
}


def target_verdict(device: str, preset: str, size: str, steady_s: float, host_peak_mb: float) -> str:
    """'< 5 s (2-core CPU): met' or '< 10 s and < 2 GB host (2-core CPU): missed' where an issue sets a target
    for this row, else ''."""
    device_type = "cuda" if device.startswith("cuda") else device
    target = TARGETS.get((device_type, preset, size)) or TARGETS.get((device_type, None, size))
    if target is None:
        return ""
    met = steady_s < target.seconds
    label = f"< {target.seconds:g} s"
    if target.host_bytes is not None:
        met = met and host_peak_mb * 2**20 < target.host_bytes
        label += f" and < {target.host_bytes / 1e9:g} GB host"
    return f"{label} ({target.device}): {'met' if met else 'missed'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--presets", nargs="+", default=["compact", "paper"])
    parser.add_argument("--sizes", nargs="+", default=["512x512", "1024x1024", "4000x3000", "6000x4000:objects"])
    parser.add_argument("--strategy", help="the engine's resolution strategy (default: the engine's own)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--weights", help="use this weights file for the compact preset")
    parser.add_argument("--cuda-graphs", choices=GRAPH_MODES, default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--one", nargs=2, metavar=("PRESET", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        preset, size = args.one
        weights = args.weights if preset == "compact" else None
        print(json.dumps(measure(preset, size, args.device, args.repeats, args.threads, weights, args.cuda_graphs,
                                 args.precision, args.strategy)))
        return
    rows = []
    for preset in args.presets:
        for size in args.sizes:
            command = [sys.executable, __file__, "--one", preset, size, "--device", args.device, "--repeats",
                       str(args.repeats), "--threads", str(args.threads), "--cuda-graphs", args.cuda_graphs,
                       "--precision", args.precision]
            if args.weights:
                command += ["--weights", args.weights]
            if args.strategy:
                command += ["--strategy", args.strategy]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(output.strip().splitlines()[-1]))
    threads = f", {args.threads} CPU threads" if args.device == "cpu" else ""
    strategy = args.strategy or "the engine's default"
    print(f"\nEnd-to-end fill (decode JPEG + fill + composite){threads}, strategy {strategy}; "
          f"steady = median of {args.repeats}\n")
    print("| device | preset | photo:hole | first call s | steady s | steady CPU s | peak host MB | peak GPU MB "
          "| paths | target |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        verdict = target_verdict(args.device, row["preset"], row["size"], row["steady_s"], row["host_peak_mb"])
        size = row["size"] if ":" in row["size"] else f"{row['size']}:strokes"
        print(f"| {row['device']} | {row['preset']} | {size} | {row['first_s']:.3f} "
              f"| {row['steady_s']:.3f} | {row['steady_cpu_s']:.3f} | {row['host_peak_mb']:.0f} "
              f"| {row['gpu_peak_mb']:.0f} | {row['paths']} | {verdict} |")


if __name__ == "__main__":
    main()
