"""`pconv-studio train`: train or fine-tune the network on a folder of photos (docs/training.md); under
`torchrun --nproc_per_node N -m pconv_studio train ...` one process of a distributed run (docs/scale.md).

Every option defaults to `TrainConfig`'s value; with `--resume` the checkpoint's config is used instead and only the
options given on the command line change it. The first Ctrl+C saves a checkpoint after the current step and exits
with code 130; a second one aborts at once.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from dataclasses import MISSING, fields, replace
from pathlib import Path

from tqdm import tqdm

from ..training.adversarial import AdversarialConfig
from ..training.discriminator import AUGMENTATIONS
from ..training.samples import GRID_INPUTS, SAMPLE_KINDS, SampleConfig
from ..training.loop import PRECISIONS, TrainConfig, TrainProgress, read_checkpoint_config, train
from ..errors import InputError
from ..model import PRESETS, UNetConfig, get_preset, load_weights

_PRINT_INTERVAL_S = 10.0  # without a terminal, one progress line this often (after the first three)
_DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
_ADVERSARIAL_DEFAULTS = {f.name: f.default for f in fields(AdversarialConfig)}


def _default(name: str) -> str:
    return f" (default {_DEFAULTS[name]})"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the network on a folder of photos",
        description="Train (or fine-tune) the partial-convolution U-Net on random crops of a folder of photos, "
        "with irregular masks. Writes OUT/model.safetensors, OUT/checkpoint.pt, OUT/train_log.csv and, with --val, "
        "OUT/validation.md. Ctrl+C saves and stops. With --resume the checkpoint's settings apply and only the "
        "options given here change them.",
    )
    parser.add_argument("train_dir", nargs="?", type=Path, metavar="PHOTOS", help="folder of training photos")
    parser.add_argument("--val", dest="val_dir", type=Path, metavar="DIR",
                        help="folder of validation photos (never trained on)")
    parser.add_argument("--out", dest="out_dir", type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="architecture (default compact; with --init: the file's)")
    parser.add_argument("--steps", type=int, metavar="N", help="total optimiser steps" + _default("steps"))
    parser.add_argument("--batch-size", type=int, metavar="N", help="photos per step" + _default("batch_size"))
    parser.add_argument("--crop", dest="crop_size", type=int, metavar="PX",
                        help="square crop side in px" + _default("crop_size"))
    parser.add_argument("--short-side", type=int, metavar="PX",
                        help="photos are resized to this short side" + _default("short_side"))
    parser.add_argument("--lr", dest="learning_rate", type=float, metavar="LR",
                        help="Adam learning rate" + _default("learning_rate"))
    parser.add_argument("--finetune-lr", dest="finetune_learning_rate", type=float, metavar="LR",
                        help="learning rate of the fine-tuning phase" + _default("finetune_learning_rate"))
    parser.add_argument("--finetune-fraction", type=float, metavar="F",
                        help="last fraction of the steps (or of the time budget) spent fine-tuning with the "
                        "encoder's batch norm frozen" + _default("finetune_fraction"))
    parser.add_argument("--time-budget", dest="time_budget_s", type=float, metavar="SECONDS",
                        help="stop, save and validate when this run has taken this long")
    parser.add_argument("--checkpoint-every", type=int, metavar="STEPS", help="save every N steps"
                        + _default("checkpoint_every"))
    parser.add_argument("--save-every", dest="save_every_s", type=float, metavar="SECONDS",
                        help="also save at least this often" + _default("save_every_s"))
    parser.add_argument("--log-every", type=int, metavar="STEPS", help="CSV row and progress every N steps"
                        + _default("log_every"))
    parser.add_argument("--mask-bank", dest="mask_bank_size", type=int, metavar="COUNT",
                        help="masks drawn once and reused with flips" + _default("mask_bank_size"))
    parser.add_argument("--seed", type=int, metavar="N",
                        help="seeds the network, the masks and the data order" + _default("seed"))
    parser.add_argument("--device", metavar="NAME", help="auto, cuda, cuda:N, mps or cpu" + _default("device"))
    parser.add_argument("--precision", choices=PRECISIONS, help="autocast precision" + _default("precision"))
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_const", const=False,
                        help="keep the NCHW memory layout (channels_last is faster where it works)")
    parser.add_argument("--compile", action="store_const", const=True, help="use torch.compile (off by default)")
    parser.add_argument("--vgg-weights", type=Path, metavar="PATH", help="a local torchvision vgg16 state dict "
                        "(.pth or .safetensors): adds the paper's perceptual and style losses")
    parser.add_argument("--init", dest="init_weights", type=Path, metavar="WEIGHTS",
                        help="start from this weights file (fine-tuning)")
    parser.add_argument("--checkpoint", dest="checkpoint_path", type=Path, metavar="PATH",
                        help="where to keep the checkpoint (default OUT/checkpoint.pt)")
    parser.add_argument("--resume", type=Path, metavar="CKPT", help="continue a run exactly from its checkpoint")
    parser.add_argument("--tv-weight", type=float, metavar="W", help="weight of the total-variation term"
                        + _default("tv_weight"))
    parser.add_argument("--keep-snapshots", action="store_const", const=True,
                        help="keep a copy of the weights of every save in OUT/snapshots/")
    _add_sample_options(parser)
    _add_adversarial_options(parser)
    parser.add_argument("--sync-batchnorm", action="store_const", const=True,
                        help="under torchrun on GPUs: batch norm with the statistics of the global batch "
                        "(SyncBatchNorm), for small batches per GPU")
    parser.set_defaults(func=run)


def _add_adversarial_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "adversarial fine-tuning", "a spectrally normalised patch discriminator, feature matching, DiffAugment, "
        "lazy R1 and a weight average (the exported weights); see docs/training.md")
    group.add_argument("--adversarial", action="store_true", help="train adversarially (fine-tune with --init)")
    group.add_argument("--disc-channels", metavar="C1,C2,...", dest="discriminator_channels",
                       help="widths of the discriminator's 5x5 stride-2 layers" + _adv_default("discriminator_channels"))
    group.add_argument("--disc-lr", metavar="LR", type=float, dest="discriminator_learning_rate",
                       help="discriminator learning rate" + _adv_default("discriminator_learning_rate"))
    group.add_argument("--adv-ratio", metavar="R", type=float, dest="adversarial_ratio",
                       help="gradient of the adversarial term at the output / that of the hole L1"
                       + _adv_default("adversarial_ratio"))
    group.add_argument("--fm-ratio", metavar="R", type=float, dest="feature_matching_ratio",
                       help="the same for feature matching (0: off)" + _adv_default("feature_matching_ratio"))
    group.add_argument("--r1-gamma", metavar="G", type=float, help="R1 penalty weight" + _adv_default("r1_gamma"))
    group.add_argument("--r1-every", metavar="STEPS", type=int, help="lazy R1 interval" + _adv_default("r1_every"))
    group.add_argument("--ema-decay", metavar="D", type=float, help="per-step decay of the exported weight average"
                       + _adv_default("ema_decay"))
    group.add_argument("--disc-warmup", metavar="STEPS", type=int, dest="warmup_steps",
                       help="steps the discriminator trains alone before the generator sees it"
                       + _adv_default("warmup_steps"))
    group.add_argument("--augment", metavar="A,B", dest="augmentations",
                       help="DiffAugment policy, from " + ", ".join(AUGMENTATIONS) + _adv_default("augmentations"))


def _add_sample_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "samples", "what a training sample is (pconv_studio/training/samples.py; docs/training.md): hole masks, "
        "low-resolution grids (upscaling), sparse samples, four-photo mosaics")
    group.add_argument("--samples", dest="sample_mix", metavar="KIND=W,...",
                       help="relative weights of the sample kinds, from " + ", ".join(SAMPLE_KINDS)
                       + " (default holes=1)")
    group.add_argument("--grid-scales", metavar="S1,S2,...", help="integer scales of the grid samples "
                       "(default 2,3,4)")
    group.add_argument("--sparse-keep", metavar="LOW,HIGH", help="fraction of pixels a sparse sample keeps "
                       "(default 0.1,0.5)")
    group.add_argument("--grid-input", choices=GRID_INPUTS, help="grid: low-resolution pixels on the grid, the "
                       "rest hole (default); bicubic: the plain twin's input, bicubic-upscaled, every pixel valid")
    group.add_argument("--mosaic", type=float, metavar="P", help="probability that a sample is a four-photo "
                       "mosaic (RICAP)")
    group.add_argument("--seam", type=int, metavar="PX", help="width of the hole band along the mosaic's cuts, "
                       "left out of every loss (default 0: seams unmasked)")
    group.add_argument("--random-scale", type=float, metavar="P", help="probability that a sample is a crop at a "
                       "random scale (the mosaic's control)")


def _samples(args: argparse.Namespace, current: SampleConfig) -> SampleConfig:
    """The sample config: the options given change `current` (the default, or on resume the checkpoint's)."""
    given: dict[str, object] = {}
    if args.sample_mix is not None:
        weights = dict.fromkeys(SAMPLE_KINDS, 0.0)
        for item in filter(None, (part.strip() for part in args.sample_mix.split(","))):
            kind, _, weight = item.partition("=")
            if kind not in SAMPLE_KINDS or not weight:
                raise InputError(f"--samples takes KIND=WEIGHT pairs with KIND from {', '.join(SAMPLE_KINDS)}, "
                                 f"not {item!r}")
            weights[kind] = _number(weight, "--samples")
        given.update(weights)
    if args.grid_scales is not None:
        given["grid_scales"] = tuple(int(_number(item, "--grid-scales")) for item in args.grid_scales.split(","))
    if args.sparse_keep is not None:
        given["sparse_keep"] = tuple(_number(item, "--sparse-keep") for item in args.sparse_keep.split(","))
        if len(given["sparse_keep"]) != 2:
            raise InputError("--sparse-keep takes two fractions: LOW,HIGH")
    for name in ("grid_input", "mosaic", "seam", "random_scale"):
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    return replace(current, **given)


def _number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{option}: {text!r} is not a number") from None


def _adv_default(name: str) -> str:
    value = _ADVERSARIAL_DEFAULTS[name]
    return f" (default {','.join(map(str, value)) if isinstance(value, tuple) else value})"


def _adversarial(args: argparse.Namespace, current: AdversarialConfig | None) -> AdversarialConfig | None:
    """The adversarial config: --adversarial starts one from the defaults, the options change it (on resume, the
    checkpoint's). Options without --adversarial on a plain run are an error."""
    given = {name: getattr(args, name) for name in _ADVERSARIAL_DEFAULTS if getattr(args, name, None) is not None}
    for name in ("discriminator_channels", "augmentations"):
        if name in given:
            items = [item.strip() for item in given[name].split(",") if item.strip()]
            given[name] = tuple(int(item) for item in items) if name == "discriminator_channels" else tuple(items)
    if current is None and not args.adversarial:
        if given:
            raise InputError("the discriminator options need --adversarial")
        return None
    return replace(current or AdversarialConfig(), **given)


def _architecture(args: argparse.Namespace) -> UNetConfig:
    """The preset, or with --init the weights file's own architecture (a different --preset is an error)."""
    if args.init_weights is None:
        return get_preset(args.preset or "compact")
    architecture = load_weights(args.init_weights)[0].config
    if args.preset is not None and get_preset(args.preset) != architecture:
        raise InputError(f"--init {args.init_weights.name} holds a {architecture.name!r} network, not {args.preset!r}")
    return architecture


def _config(args: argparse.Namespace) -> TrainConfig:
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
             if f.name not in ("adversarial", "samples") and getattr(args, f.name, None) is not None}
    try:
        if args.resume is not None:
            if args.preset is not None:
                given["architecture"] = get_preset(args.preset)
            resumed = read_checkpoint_config(args.resume)
            return replace(resumed, adversarial=_adversarial(args, resumed.adversarial),
                           samples=_samples(args, resumed.samples), **given)
        if args.train_dir is None or args.out_dir is None:
            raise InputError("give a folder of training photos and --out DIR (or --resume CHECKPOINT)")
        return TrainConfig(architecture=_architecture(args), adversarial=_adversarial(args, None),
                           samples=_samples(args, SampleConfig()), **given)
    except ValueError as error:
        raise InputError(str(error)) from error


class _StopOnInterrupt:
    """The first Ctrl+C asks the run to save and stop after the current step; a second one aborts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> "_StopOnInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step to save a checkpoint (Ctrl+C again to abort)", file=sys.stderr)


class _ProgressDisplay:
    """A tqdm bar on a terminal; otherwise (logs, CI, a remote job) a plain line now and then."""

    def __init__(self, total_steps: int) -> None:
        self.interactive = sys.stderr.isatty()
        self.bar = tqdm(total=total_steps, unit="step", dynamic_ncols=True, disable=not self.interactive)
        self.reports = 0
        self.last_print = 0.0

    def __call__(self, progress: TrainProgress) -> None:
        self.reports += 1
        if self.interactive:
            self.bar.update(progress.step - self.bar.n)
            self.bar.set_postfix(loss=f"{progress.losses['total']:.4f}", samples_s=f"{progress.samples_per_second:.0f}",
                                 lr=f"{progress.learning_rate:.0e}")
        elif self.reports <= 3 or time.monotonic() - self.last_print >= _PRINT_INTERVAL_S:
            self.last_print = time.monotonic()
            print(f"step {progress.step}/{progress.total_steps}  loss {progress.losses['total']:.4f}  "
                  f"{progress.samples_per_second:.0f} samples/s  lr {progress.learning_rate:.0e}  "
                  f"{progress.elapsed_s:.0f} s" + ("  (fine-tuning)" if progress.finetuning else ""), flush=True)

    def close(self) -> None:
        self.bar.close()


def run(args: argparse.Namespace) -> int:
    config = _config(args)
    display = _ProgressDisplay(config.steps)
    try:
        with _StopOnInterrupt() as interrupt:
            result = train(config, resume=args.resume, on_progress=display, should_stop=lambda: interrupt.requested)
    finally:
        display.close()
    if not result.is_main:  # the other ranks of a torchrun run: rank 0 reports
        return 130 if result.stop_reason == "cancelled" else 0
    print(f"stopped ({result.stop_reason}) at step {result.step}, {result.samples_seen} samples seen; "
          f"{result.samples_per_second:.1f} samples/s ({result.fast_path}) on {result.device}")
    print(f"weights: {result.weights_file}\ncheckpoint: {result.checkpoint_file}\nlog: {result.log_file}")
    if result.validation:
        print(f"\nValidation ({config.val_dir}):\n\n{result.validation}")
    if result.stop_reason == "cancelled":
        print(f"resume with: pconv-studio train --resume {result.checkpoint_file}", file=sys.stderr)
        return 130
    return 0
