"""Training throughput (samples/s) of a preset on a device, per batch size, precision and memory layout.

Runs the real data path (`PhotoBatches`: crops, flips and masks cut on the device) and the real `train_step` on
synthetic photos, so it measures what `pconv-studio train` does per step, without the disk.

    PYTHONPATH=. python bench/train_throughput.py --preset compact --device auto --batch-sizes 64,128
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pconv_studio.engine.device import autocast_dtype, select_device
from pconv_studio.training.losses import InpaintingLoss
from pconv_studio.training.masks import build_mask_bank
from pconv_studio.training.loop import PhotoBatches, train_step
from pconv_studio.model import PConvUNet, get_preset

_PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def measure(
    preset: str, device: torch.device, batch_size: int, crop: int, dtype: torch.dtype | None, channels_last: bool,
    warmup: int, steps: int,
) -> float:
    """Samples per second over `steps` steps after `warmup` steps."""
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (crop, crop * 3 // 2, 3), dtype=np.uint8) for _ in range(32)]
    batches = PhotoBatches(photos, build_mask_bank(64, crop, 0), crop, batch_size, device,
                           torch.Generator().manual_seed(0))
    model = PConvUNet(get_preset(preset)).to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4, fused=device.type == "cuda")
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    criterion = InpaintingLoss()

    def run(count: int) -> None:
        for _ in range(count):
            train_step(model, criterion, optimizer, scaler, batches.next_batch(channels_last), dtype)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run(warmup)
    started = time.perf_counter()
    run(steps)
    return steps * batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="compact")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-sizes", default="8", help="comma-separated")
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--precisions", default="auto", help="comma-separated: auto, bf16, fp16, fp32")
    parser.add_argument("--layouts", default="channels_last", help="comma-separated: channels_last, nchw")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()

    choice = select_device(args.device)
    if choice.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    print(f"{args.preset} at {args.crop}x{args.crop} on {choice.description}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads\n")
    print("| batch | precision | layout | samples/s |\n|---:|---|---|---:|")
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        for precision in args.precisions.split(","):
            dtype = autocast_dtype(choice.device) if precision == "auto" else _PRECISIONS[precision]
            for layout in args.layouts.split(","):
                rate = measure(args.preset, choice.device, batch_size, args.crop, dtype, layout == "channels_last",
                               args.warmup, args.steps)
                name = {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}[dtype]
                print(f"| {batch_size} | {name} | {layout} | {rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
