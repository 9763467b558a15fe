"""Forward time and peak memory of PConvUNet against its plain-conv twin and a naive partial conv.

    python bench/forward.py [--device cpu|cuda] [--sizes 512 1024] [--presets compact paper] [--repeats 3] [--graphs]
                            [--precision auto|fp32]

Every network runs as the engine runs its own: batch norms folded into the convolutions, channels_last, under the
device's autocast precision (bf16 or fp16 on GPUs, bf16 on CPUs with native bf16; --precision fp32 for full
precision). The naive variant keeps its batch norms: it is the textbook form.

With --graphs (CUDA only) every network is captured once in a CUDA graph and the replays are timed, which is
what the engine does for repeated crop sizes; the ratio then shows the mask path's own work, not launch costs.
Each measurement runs in its own process so that peak memory (host RSS high-water mark, reset before the
forward; or torch's CUDA peak) belongs to that network alone. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pconv_studio.engine.runner import PRECISIONS  # noqa: E402

VARIANTS = ("pconv", "plain", "naive")
MAX_MASK_OVERHEAD = 1.2  # the target for PConvUNet / plain twin, on every device


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def measure(
    preset: str, variant: str, size: int, device_name: str, repeats: int, threads: int, graphs: bool, precision: str
) -> dict:
    import torch

    from bench.twins import PlainConvUNet, naive_partial_conv
    from pconv_studio.engine.device import autocast_dtype, precision_name
    from pconv_studio.engine.runner import capture_cuda_graph
    from pconv_studio.model import PConvUNet, get_preset

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    device = torch.device(device_name)
    config = get_preset(preset)
    net = PlainConvUNet(config) if variant == "plain" else PConvUNet(config)
    if variant == "naive":
        net = naive_partial_conv(net)
    net = net.eval().to(device)
    if variant != "naive":
        net.fold_batch_norms()  # the inference form the engine runs (the naive variant is the textbook form)
    image = torch.rand(1, 3, size, size, device=device)
    valid = (torch.rand(1, 1, size, size, device=device) > 0.2).float()
    dtype = autocast_dtype(device) if precision == "auto" else None
    net = net.to(memory_format=torch.channels_last)
    image = image.contiguous(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    def forward(image: torch.Tensor, valid: torch.Tensor) -> object:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None, cache_enabled=False):
            return net(image, valid)

    with torch.inference_mode():
        if graphs:
            graph, _ = capture_cuda_graph(forward, image, valid)  # warms up (and autotunes) first

    def run() -> None:
        with torch.inference_mode():
            if graphs:
                graph.replay()
            else:
                forward(image, valid)
        if device.type == "cuda":
            torch.cuda.synchronize()

    run()  # warm-up (and cudnn autotuning)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    else:
        _reset_peak_rss()
    baseline = _peak_rss_mb()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = _peak_rss_mb() - baseline
    return {"preset": preset, "variant": variant, "size": size, "device": device_name,
            "precision": precision_name(dtype),
            "ms": 1000 * statistics.median(times), "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--presets", nargs="+", default=["compact", "paper"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--graphs", action="store_true", help="time CUDA graph replays (CUDA only)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--one", nargs=3, metavar=("PRESET", "VARIANT", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.graphs and not args.device.startswith("cuda"):
        parser.error("--graphs needs --device cuda")
    if args.one:
        preset, variant, size = args.one
        print(json.dumps(measure(preset, variant, int(size), args.device, args.repeats, args.threads, args.graphs,
                                 args.precision)))
        return
    rows = []
    for preset in args.presets:
        for size in args.sizes:
            for variant in VARIANTS:
                command = [sys.executable, __file__, "--one", preset, variant, str(size), "--device", args.device,
                           "--repeats", str(args.repeats), "--threads", str(args.threads), "--precision",
                           args.precision] + ["--graphs"] * args.graphs
                output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                rows.append(json.loads(output.strip().splitlines()[-1]))
    device_label = args.device if args.device != "cpu" else f"cpu ({args.threads} threads)"
    device_label += f", {rows[0]['precision']}, channels_last" + (", CUDA graph replays" if args.graphs else "")
    print(f"\nForward pass, batch 1, 20% hole, {device_label}; median of {args.repeats}\n")
    print("| preset | size | PConvUNet ms | plain twin ms | naive ones-kernel ms | PConv / plain | naive / PConv "
          "| peak MB (pconv / plain / naive) | target |")
    print("|---|---|---|---|---|---|---|---|---|")
    for index in range(0, len(rows), 3):
        pconv, plain, naive = rows[index:index + 3]
        ratio = pconv["ms"] / plain["ms"]
        print(f"| {pconv['preset']} | {pconv['size']} | {pconv['ms']:.1f} | {plain['ms']:.1f} | {naive['ms']:.1f} "
              f"| {ratio:.2f}x | {naive['ms'] / pconv['ms']:.2f}x "
              f"| {pconv['peak_mb']:.0f} / {plain['peak_mb']:.0f} / {naive['peak_mb']:.0f} "
              f"| < {MAX_MASK_OVERHEAD}x: {'met' if ratio < MAX_MASK_OVERHEAD else 'missed'} |")


if __name__ == "__main__":
    main()
