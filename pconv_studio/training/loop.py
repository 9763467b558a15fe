"""Training the PConv U-Net: the config at the top, the loop in `train` (nanoGPT style).

Data path: every photo is decoded once, resized to `short_side` and stored in one uint8 tensor on the training
device (portrait photos transposed, long side capped at twice the short side). Each batch is cut there by index
arithmetic: a random crop, a random left-right flip, and a mask from a bank built once, under one of its 8
flips/transposes. Every random number comes from one seeded CPU generator, so the data order is the same on every
device, and a checkpoint (step, generator state, model, optimizer) continues exactly like an uninterrupted run.

Schedule (paper): Adam at `learning_rate`, then the last `finetune_fraction` of the steps (or of the time budget,
whichever comes first) at `finetune_learning_rate` with the encoder's batch norm frozen.

Distributed (`training/distributed.py`): under torchrun every process trains on its share of the photos with its
own seed, DDP averages the gradients, and rank 0 alone writes; without torchrun nothing here changes.

Speed: channels_last on every device; bf16 autocast on CUDA and on CPUs with native bf16; on CUDA also fused
Adam and cuDNN autotuning; torch.compile only on request. A probe step at the start tries the requested settings
and falls back to plainer ones if it raises.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import DeviceError, InputError, PConvError, WeightsError
from ..model import UPSCALE_INPUT_KEY, PConvUNet, UNetConfig, get_preset, load_weights, save_weights
from ..engine.device import autocast_dtype, precision_name, select_device
from .evaluation import (
    EvaluationConfig, build_methods, centre_crop, evaluate, format_markdown, load_evaluation_photos, load_photos,
    resize_short_side,
)
from .adversarial import ADVERSARIAL_TERMS, AdversarialConfig, AdversarialTraining
from .distributed import (
    AUGMENTATION_SEED_OFFSET, DistributedContext, join_process_group, leave_process_group, synchronise_batch_norm,
)
from .losses import LOSS_TERMS, TV_WEIGHT, InpaintingLoss, load_vgg16_features
from .masks import augment_masks, build_mask_bank
from .samples import Batch, SampleConfig, make_samples

__all__ = [
    "TrainConfig", "TrainProgress", "TrainResult", "FastPath", "PhotoBatches", "Batch", "train", "train_step",
    "read_checkpoint_config", "PRECISIONS",
]

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_MAX_ASPECT = 2.0  # long side / short side kept at load; wider panoramas are centre-cropped
_CHECKPOINT_FORMAT = "pconv-studio-checkpoint/1"
_PATH_FIELDS = ("train_dir", "out_dir", "val_dir", "vgg_weights", "init_weights", "checkpoint_path")


@dataclass(frozen=True)
class TrainConfig:
    train_dir: Path
    out_dir: Path
    val_dir: Path | None = None
    architecture: UNetConfig = field(default_factory=lambda: get_preset("compact"))
    steps: int = 20_000
    batch_size: int = 16
    crop_size: int = 256  # px, square crops
    short_side: int = 256  # px: photos are resized to this short side once, at load
    learning_rate: float = 2e-4
    finetune_learning_rate: float = 5e-5
    finetune_fraction: float = 0.2  # the last part of the run, with the encoder's batch norm frozen
    time_budget_s: float | None = None  # this run stops (and saves) when its wall time reaches this
    checkpoint_every: int = 1000  # steps
    save_every_s: float = 300.0  # checkpoint and weights at least this often, so a killed run leaves weights
    log_every: int = 10  # steps between CSV rows and progress reports
    mask_bank_size: int = 4096
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto: `autocast_dtype` (bf16 on CUDA and on CPUs with native bf16), else fp32
    channels_last: bool = True  # NHWC, the layout cuDNN and oneDNN convolutions are fastest in
    compile: bool = False
    vgg_weights: Path | None = None  # a local torchvision vgg16 state dict: adds the perceptual and style terms
    init_weights: Path | None = None  # start a fresh run from these weights (same architecture)
    checkpoint_path: Path | None = None  # default: out_dir / "checkpoint.pt"
    tv_weight: float = TV_WEIGHT  # weight of the total-variation term in the hole's neighbourhood
    adversarial: AdversarialConfig | None = None  # adversarial fine-tuning (adversarial.py); None: plain L1 training
    keep_snapshots: bool = False  # also keep a copy of the weights of every save, as out_dir/snapshots/step_N
    sync_batchnorm: bool = False  # under torchrun on GPUs: batch-norm statistics of the global batch
    samples: SampleConfig = field(default_factory=SampleConfig)  # sample kinds and crop augmentations (samples.py)

    def __post_init__(self) -> None:
        for name in _PATH_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if min(self.steps, self.batch_size, self.checkpoint_every, self.log_every, self.mask_bank_size) < 1:
            raise ValueError("steps, batch size, checkpoint interval, log interval and mask bank size must be >= 1")
        if not 16 <= self.crop_size <= self.short_side:
            raise ValueError(f"the crop ({self.crop_size}) must be at least 16 and at most the short side "
                             f"({self.short_side})")
        if not 0.0 <= self.finetune_fraction <= 1.0:
            raise ValueError("finetune_fraction must be between 0 and 1")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError("the time budget must be positive")
        if self.tv_weight < 0:
            raise ValueError("the TV weight must be >= 0")
        if isinstance(self.adversarial, dict):
            object.__setattr__(self, "adversarial", AdversarialConfig(**self.adversarial))
        if isinstance(self.samples, dict):
            object.__setattr__(self, "samples", SampleConfig(**self.samples))
        if self.adversarial is not None and not self.samples.plain:
            raise ValueError("adversarial fine-tuning trains on plain hole samples: no grids, sparse samples, "
                             "mosaics or random scales")
        if self.adversarial is not None:
            if self.precision == "fp16":
                raise ValueError("adversarial training runs in bf16 or fp32, not fp16")
            if self.crop_size % self.adversarial.stride:
                raise ValueError(f"the crop ({self.crop_size}) must be a multiple of the discriminator's stride "
                                 f"({self.adversarial.stride})")

    @property
    def checkpoint_file(self) -> Path:
        return self.checkpoint_path or self.out_dir / "checkpoint.pt"

    @property
    def weights_file(self) -> Path:
        return self.out_dir / "model.safetensors"

    @property
    def log_file(self) -> Path:
        return self.out_dir / "train_log.csv"

    @property
    def validation_file(self) -> Path:
        return self.out_dir / "validation.md"

    @property
    def snapshot_dir(self) -> Path:
        return self.out_dir / "snapshots"

    @property
    def log_columns(self) -> tuple[str, ...]:
        """The loss columns of the CSV log (and keys of `TrainProgress.losses`)."""
        return LOSS_TERMS + (ADVERSARIAL_TERMS if self.adversarial is not None else ())

    def to_json(self) -> str:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["architecture"] = json.loads(self.architecture.to_json())
        values["adversarial"] = self.adversarial.to_dict() if self.adversarial is not None else None
        values["samples"] = self.samples.to_dict()
        return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in values.items()}, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> "TrainConfig":
        values = json.loads(text)
        values["architecture"] = UNetConfig.from_json(json.dumps(values["architecture"]))
        return TrainConfig(**values)


@dataclass(frozen=True)
class TrainProgress:
    """Reported every `log_every` steps; `losses` holds the terms of `LOSS_TERMS`."""

    step: int
    total_steps: int
    samples_seen: int
    losses: dict[str, float]
    learning_rate: float
    samples_per_second: float
    elapsed_s: float
    finetuning: bool


@dataclass(frozen=True)
class TrainResult:
    step: int
    samples_seen: int
    stop_reason: str  # "steps", "time budget" or "cancelled"
    samples_per_second: float  # this run, after the first log interval (which holds the warm-up)
    fast_path: str
    device: str
    weights_file: Path
    checkpoint_file: Path
    log_file: Path
    validation: str | None  # Markdown table of the exported weights on the validation photos
    is_main: bool = True  # False on the ranks other than 0 of a distributed run (they write and report nothing)


@dataclass(frozen=True)
class FastPath:
    """The speed settings a run uses; `ladder` lists plainer ones to fall back to."""

    autocast_dtype: torch.dtype | None
    channels_last: bool
    compile: bool

    def describe(self) -> str:
        parts = [precision_name(self.autocast_dtype)]
        parts += ["channels_last"] * self.channels_last + ["compiled"] * self.compile
        return ", ".join(parts)

    def ladder(self) -> list["FastPath"]:
        rungs = [self, replace(self, compile=False), replace(self, compile=False, channels_last=False),
                 FastPath(None, False, False)]
        return [rung for index, rung in enumerate(rungs) if rung not in rungs[:index]]


def _requested_fast_path(config: TrainConfig, device: torch.device) -> FastPath:
    dtype = {"auto": autocast_dtype(device), "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}
    chosen = dtype[config.precision]
    if config.adversarial is not None and chosen == torch.float16:
        log.warning("this device has no bf16: adversarial training runs in fp32 (fp16 would need a loss scaler "
                    "for the discriminator too)")
        chosen = None
    return FastPath(chosen, config.channels_last, config.compile)


def _training_photo(pixels: np.ndarray, short_side: int) -> np.ndarray:
    pixels = resize_short_side(pixels, short_side)
    height, width = pixels.shape[:2]
    longest = int(short_side * _MAX_ASPECT)
    return centre_crop(pixels, min(height, longest), min(width, longest))


class PhotoBatches:
    """`Batch`es cut on `device` from photos and masks kept there; see the module docstring and `samples.py`.

    `photos` are RGB uint8 HxWx3 with both sides >= `crop_size`; `mask_bank` is bool (K, crop, crop), True = hole.
    Batches hold float images (B, 3, crop, crop) in [0, 1] and float masks (B, 1, crop, crop), 1 = valid.
    """

    def __init__(
        self,
        photos: Sequence[np.ndarray],
        mask_bank: np.ndarray,
        crop_size: int,
        batch_size: int,
        device: torch.device,
        generator: torch.Generator,
        samples: SampleConfig = SampleConfig(),
    ) -> None:
        landscape = [p.transpose(1, 0, 2) if p.shape[0] > p.shape[1] else p for p in photos]
        height = max(p.shape[0] for p in landscape)
        width = max(p.shape[1] for p in landscape)
        self.photos = torch.zeros((len(photos), 3, height, width), dtype=torch.uint8, device=device)
        for index, photo in enumerate(landscape):
            self.photos[index, :, : photo.shape[0], : photo.shape[1]] = torch.from_numpy(photo.transpose(2, 0, 1))
        self.portrait = torch.tensor([p.shape[0] > p.shape[1] for p in photos], device=device)
        self.sizes = torch.tensor([p.shape[:2] for p in landscape])
        self.longest_square = min(2 * crop_size, int(self.sizes.min()))  # random-scale squares: side at most this
        self.masks = torch.from_numpy(mask_bank).to(device)
        self.crop_size, self.batch_size, self.device, self.generator = crop_size, batch_size, device, generator
        self.samples = samples
        self.channel = torch.arange(3, device=device)[None, :, None, None]

    def _draw(self, count: int, side: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Which photo, where (top, left) and whether mirrored, for `count` random side x side crops: CPU int64
        tensors (count,) each, drawn from `generator` in this order."""
        photo = torch.randint(len(self.photos), (count,), generator=generator)
        offsets = (torch.rand((count, 2), generator=generator) * (self.sizes[photo] - side + 1)).long()
        flip = torch.randint(2, (count,), generator=generator)
        return photo, offsets[:, 0], offsets[:, 1], flip

    def crops(self, count: int, side: int, generator: torch.Generator) -> torch.Tensor:
        """`count` random square crops (count, 3, side, side) as uint8, each under a random left-right flip."""
        return self._cut(*self._draw(count, side, generator), side)

    def _cut(self, photo: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor,
             side: int) -> torch.Tensor:
        span = torch.arange(side, device=self.device)
        photo, top, left, flip = (t.to(self.device) for t in (photo, top, left, flip))
        rows = (top[:, None] + span)[:, None, :, None]
        cols = (left[:, None] + span)[:, None, None, :]
        crops = self.photos[photo[:, None, None, None], self.channel, rows, cols]
        crops = torch.where(self.portrait[photo][:, None, None, None], crops.transpose(-1, -2), crops)
        return torch.where(flip.bool()[:, None, None, None], crops.flip(-1), crops)

    def next_batch(self, channels_last: bool = False, generator: torch.Generator | None = None) -> Batch:
        """The next batch of the run's data order, or of `generator`'s when one is given."""
        count, generator = self.batch_size, generator or self.generator
        crop = self._draw(count, self.crop_size, generator)
        mask = torch.randint(len(self.masks), (count,), generator=generator)
        variant = torch.randint(8, (count,), generator=generator)
        draws = torch.stack([*crop, mask, variant])
        if self.device.type == "cuda":
            draws = draws.pin_memory()
        photo, top, left, flip, mask, variant = draws.to(self.device, non_blocking=True)
        crops = self._cut(photo, top, left, flip, self.crop_size)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        images = crops.float().div_(255.0)
        valid = (~augment_masks(self.masks[mask], variant)).unsqueeze(1).float()
        batch = make_samples(images, valid, self.samples, generator,
                             lambda n, side: self.crops(n, side, generator).float().div_(255.0), self.longest_square)
        return Batch(batch.inputs.contiguous(memory_format=layout), batch.valid.contiguous(),
                     batch.targets.contiguous(memory_format=layout),
                     *(None if mask is None else mask.contiguous() for mask in (batch.counted, batch.predicted)))


def train_step(
    model: nn.Module,
    criterion: InpaintingLoss,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    batch: Batch,
    dtype: torch.dtype | None,
) -> dict[str, torch.Tensor]:
    """One optimisation step; returns the loss terms (still on the device: reading them syncs)."""
    with torch.autocast(batch.inputs.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        terms = criterion(model(batch.inputs, batch.valid).image, batch.targets, batch.valid, batch.counted,
                          batch.predicted)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(terms["total"]).backward()
    scaler.step(optimizer)
    scaler.update()
    return {name: value.detach() for name, value in terms.items()}


def _prepare_model(model: PConvUNet, path: FastPath) -> nn.Module:
    model.to(memory_format=torch.channels_last if path.channels_last else torch.contiguous_format)
    return torch.compile(model) if path.compile else model


def _probe(model: PConvUNet, criterion: InpaintingLoss, batches: PhotoBatches, path: FastPath) -> nn.Module:
    """One forward and backward with `path`'s settings; returns the model to train with. Weights, batch-norm
    statistics and the run's data order are left as they were."""
    snapshot = copy.deepcopy(model.state_dict())
    try:
        forward_model = _prepare_model(model, path)
        batch = batches.next_batch(path.channels_last, torch.Generator().manual_seed(0))
        with torch.autocast(batch.inputs.device.type, dtype=path.autocast_dtype or torch.float32,
                            enabled=path.autocast_dtype is not None):
            total = criterion(forward_model(batch.inputs, batch.valid).image, batch.targets, batch.valid,
                              batch.counted, batch.predicted)["total"]
        total.backward()
        if not torch.isfinite(total):
            raise RuntimeError("the first loss is not finite")
        return forward_model
    finally:
        model.zero_grad(set_to_none=True)
        model.load_state_dict(snapshot)
        if next(model.parameters()).is_cuda:
            torch.cuda.empty_cache()


def _choose_fast_path(
    model: PConvUNet, criterion: InpaintingLoss, batches: PhotoBatches, requested: FastPath
) -> tuple[FastPath, nn.Module]:
    """The first rung of `requested.ladder()` whose probe step works; the plainest one raises if it fails too."""
    ladder = requested.ladder()
    for faster, plainer in zip(ladder, ladder[1:]):
        try:
            return faster, _probe(model, criterion, batches, faster)
        except Exception as error:  # whatever broke the faster settings, the plainer ones may still work
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            log.warning("%s failed at the first step (%s); falling back to %s", faster.describe(), reason,
                        plainer.describe())
    return ladder[-1], _probe(model, criterion, batches, ladder[-1])


def _check_finite(loss: float, step: int) -> None:
    if not math.isfinite(loss):
        raise PConvError(f"training diverged at step {step} (loss {loss}): lower the learning rate or use "
                         "--precision fp32")


def _enter_finetuning(model: PConvUNet, optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    """Paper: fine-tune at a lower rate with the encoder's batch norm frozen (running statistics, fixed affine)."""
    for layer in model.layers:
        if not layer.spec.upsample and isinstance(layer.norm, nn.BatchNorm2d):
            layer.norm.eval().requires_grad_(False)
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


def read_checkpoint_config(path: Path) -> TrainConfig:
    """The config a checkpoint was trained with (to resume it, possibly with some options changed)."""
    return TrainConfig.from_json(_read_checkpoint(path)["config"])


def _read_checkpoint(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and torch errors all mean the same here
        raise WeightsError(f"cannot read checkpoint {path.name}: {error}") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != _CHECKPOINT_FORMAT:
        raise WeightsError(f"{path.name} is not a PConv Studio training checkpoint")
    return checkpoint


def _atomic_torch_save(payload: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    torch.save(payload, temporary)
    temporary.replace(path)


def _start_log(path: Path, keep_through_step: int | None, columns: Sequence[str]) -> None:
    """A fresh CSV, or on resume the old one without rows past the checkpoint (they will be trained again)."""
    rows: list[list[str]] = []
    if keep_through_step is not None and path.is_file():
        with path.open(newline="") as handle:
            rows = [row for row in list(csv.reader(handle))[1:] if row and int(row[0]) <= keep_through_step]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "samples_seen", *columns, "lr", "samples_per_s", "elapsed_s", "finetuning"])
        writer.writerows(rows)


def _initial_model(config: TrainConfig, resuming: bool) -> tuple[PConvUNet, str]:
    if config.init_weights is not None and not resuming:
        model, _ = load_weights(config.init_weights)
        if model.config != config.architecture:
            raise InputError(f"{config.init_weights.name} holds a {model.config.name!r} network, "
                             f"not the {config.architecture.name!r} this run asks for")
        return model, f"initialised from {config.init_weights.name}"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return PConvUNet(config.architecture), "initialised at random"


def train(
    config: TrainConfig,
    resume: Path | None = None,
    on_progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train, saving checkpoint and weights along the way and at the end; then validate the exported weights.

    `resume` continues from a checkpoint (pass the config it was saved with, see `read_checkpoint_config`);
    `should_stop` is polled before every step (e.g. set by Ctrl+C): the run then saves and returns. Under
    torchrun (WORLD_SIZE > 1 in the environment) this is one rank of a DistributedDataParallel run.
    """
    context, joined = join_process_group(config.device)
    finished = False
    try:
        result = _train(config, resume, on_progress, should_stop, context)
        finished = True
        return result
    finally:
        if joined:
            leave_process_group(finished)


def _train(
    config: TrainConfig,
    resume: Path | None,
    on_progress: Callable[[TrainProgress], None] | None,
    should_stop: Callable[[], bool] | None,
    context: DistributedContext,
) -> TrainResult:
    run_started = time.monotonic()
    deadline = run_started + config.time_budget_s if config.time_budget_s else None
    device_choice = select_device(str(context.device()) if context.distributed else config.device)
    device = device_choice.device
    checkpoint = _read_checkpoint(resume) if resume is not None else None

    model, origin = _initial_model(config, resuming=checkpoint is not None)
    photos = load_photos(config.train_dir, lambda pixels: _training_photo(pixels, config.short_side),
                         select=context.share)
    validation_photos = load_evaluation_photos(config.val_dir, config.crop_size) \
        if config.val_dir and context.is_main else None
    vgg = load_vgg16_features(config.vgg_weights) if config.vgg_weights is not None else None
    generator = torch.Generator().manual_seed(context.rank_seed(config.seed))
    step, samples_seen, elapsed_before, finetune_from = 0, 0, 0.0, -1
    if checkpoint is not None:
        try:
            model.load_state_dict(checkpoint["model"])
        except RuntimeError as error:
            raise WeightsError(f"the checkpoint does not fit the architecture {model.config.name!r}") from error
        generator.set_state(_generator_state(checkpoint, context))
        step, samples_seen = int(checkpoint["step"]), int(checkpoint["samples_seen"])
        elapsed_before, finetune_from = float(checkpoint["elapsed_s"]), int(checkpoint["finetune_from"])
        origin = f"resumed at step {step}"
    log.info("%s (%s), %d training photos, %s", model.config.name, origin, len(photos), device_choice.description)

    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if config.sync_batchnorm:
        model = synchronise_batch_norm(model, context)
    model.to(device).train()
    criterion = InpaintingLoss(vgg.to(device) if vgg is not None else None, config.tv_weight)
    batches = PhotoBatches(
        photos, build_mask_bank(-(-config.mask_bank_size // context.world_size), config.crop_size,
                                context.rank_seed(config.seed)),
        config.crop_size, config.batch_size, device, generator, config.samples,
    )
    try:
        fast_path, forward_model = _choose_fast_path(model, criterion, batches, _requested_fast_path(config, device))
    except torch.cuda.OutOfMemoryError as error:
        raise DeviceError(f"out of GPU memory at batch size {config.batch_size}: try a smaller --batch-size") from error
    log.info("fast path: %s", fast_path.describe())
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=device.type == "cuda")
    scaler = torch.amp.GradScaler(device.type, enabled=fast_path.autocast_dtype == torch.float16)
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        for parameter, state in optimizer.state.items():  # moments take the parameter's memory layout
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape == parameter.shape:
                    state[key] = torch.empty_like(parameter).copy_(value)
        scaler.load_state_dict(checkpoint["scaler"])
    if finetune_from >= 0:
        _enter_finetuning(model, optimizer, config.finetune_learning_rate)
    adversarial = None
    if config.adversarial is not None:
        adversarial = AdversarialTraining(config.adversarial, model, device, config.seed)
        context.share_adversarial(adversarial, config.seed)
        if checkpoint is not None:
            adversarial.load_state_dict(checkpoint["adversarial"])
            if context.distributed:  # the checkpoint's own state is rank 0's
                adversarial.generator.set_state(_generator_state(checkpoint, context, "augmentations"))
    exported = adversarial.average.model if adversarial is not None else model
    prepared_model, forward_model = forward_model, context.wrap(forward_model)
    if context.is_main:
        _start_log(config.log_file, step if checkpoint is not None else None, config.log_columns)
    loss_name = f"L1 + 6 hole L1 + {config.tv_weight:g} TV" + (" + VGG" if vgg else "")
    if adversarial is not None:
        loss_name += (f" + adversarial (non-saturating, gradient ratio {config.adversarial.adversarial_ratio:g}) + "
                      f"feature matching (gradient ratio {config.adversarial.feature_matching_ratio:g}); "
                      f"EMA {config.adversarial.ema_decay:g} exported")

    def save() -> None:
        elapsed = elapsed_before + time.monotonic() - run_started
        for network in dict.fromkeys([model, exported]):  # every rank then holds rank 0's weights and statistics
            context.broadcast_buffers(network)
        generators = context.gather({  # every rank's random state, for an exact resume
            "data": generator.get_state(),
            **({"augmentations": adversarial.generator.get_state()} if adversarial is not None else {}),
        })
        if not context.is_main:
            return
        _atomic_torch_save({
            "format": _CHECKPOINT_FORMAT, "config": config.to_json(), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(), "generator": generator.get_state(),
            "step": step, "samples_seen": samples_seen, "elapsed_s": elapsed, "finetune_from": finetune_from,
            **({"adversarial": adversarial.state_dict()} if adversarial is not None else {}),
            **({"world_size": context.world_size, "generators": generators} if context.distributed else {}),
        }, config.checkpoint_file)
        save_weights(exported, config.weights_file, half=True, extra={
            "steps": str(step), "samples_seen": str(samples_seen), "device": device_choice.description,
            "train_wall_time_s": f"{elapsed:.0f}", "fast_path": fast_path.describe(),
            "train_photos": str(len(photos)), "crop_size": str(config.crop_size),
            "finetune_from_step": str(finetune_from), "loss": loss_name,
            **({UPSCALE_INPUT_KEY: config.samples.grid_input} if config.samples.grids else {}),
        })
        if config.keep_snapshots:
            config.snapshot_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(config.weights_file, config.snapshot_dir / f"step_{step:06d}.safetensors")
        log.info("saved step %d to %s and %s", step, config.checkpoint_file, config.weights_file)

    finetune_step = config.steps - round(config.steps * config.finetune_fraction)
    finetune_time = deadline - config.time_budget_s * config.finetune_fraction if deadline else None
    stop_reason = "steps"
    last_save = window_start = time.monotonic()
    window_samples, steady = 0, None  # steady: (time, samples) at the end of the first log interval
    terms: dict[str, torch.Tensor] | None = None
    try:
        while step < config.steps:
            now = time.monotonic()
            cancelled, out_of_time, finetune_due = context.any_rank([  # clocks and signals: all ranks agree
                should_stop is not None and should_stop(), deadline is not None and now >= deadline,
                finetune_time is not None and now >= finetune_time], device)
            if cancelled:
                stop_reason = "cancelled"
                break
            if out_of_time:
                stop_reason = "time budget"
                break
            if finetune_from < 0 and (step >= finetune_step or finetune_due):
                finetune_from = step
                _enter_finetuning(model, optimizer, config.finetune_learning_rate)
                # DDP reduces the gradients of the parameters that required them when it was made: make it anew
                forward_model = context.wrap(prepared_model)
                log.info("step %d: fine-tuning at lr %g with the encoder's batch norm frozen", step,
                         config.finetune_learning_rate)
            batch = batches.next_batch(fast_path.channels_last)
            if adversarial is not None:  # plain hole samples only (TrainConfig): inputs are the targets
                terms = adversarial.step(forward_model, criterion, optimizer, scaler, batch.targets, batch.valid,
                                         fast_path.autocast_dtype, step)
            else:
                terms = train_step(forward_model, criterion, optimizer, scaler, batch, fast_path.autocast_dtype)
            step += 1
            samples_seen += config.batch_size * context.world_size
            window_samples += config.batch_size * context.world_size
            if step % config.log_every == 0 or step == config.steps:
                losses = {name: float(value) for name, value in context.mean(terms).items()}  # syncs
                _check_finite(losses["total"], step)
                now = time.monotonic()
                rate = window_samples / max(now - window_start, 1e-9)
                steady = steady or (now, samples_seen)
                window_start, window_samples = now, 0
                progress = TrainProgress(
                    step, config.steps, samples_seen, losses, optimizer.param_groups[0]["lr"], rate,
                    elapsed_before + now - run_started, finetune_from >= 0,
                )
                if context.is_main:
                    with config.log_file.open("a", newline="") as handle:
                        csv.writer(handle).writerow([
                            step, samples_seen, *(f"{losses[name]:.6g}" for name in config.log_columns),
                            f"{progress.learning_rate:.3g}", f"{rate:.1f}", f"{progress.elapsed_s:.1f}",
                            int(progress.finetuning),
                        ])
                    if on_progress is not None:
                        on_progress(progress)
            save_due = context.any_rank([time.monotonic() - last_save >= config.save_every_s], device)[0]
            if step % config.checkpoint_every == 0 or save_due:
                # never overwrite good weights with diverged ones (the loss of all ranks: they stop together)
                _check_finite(float(context.mean({"total": terms["total"]})["total"]), step)
                save()
                last_save = time.monotonic()
    except torch.cuda.OutOfMemoryError as error:
        raise DeviceError(f"out of GPU memory at batch size {config.batch_size}: try a smaller --batch-size") from error
    finished = time.monotonic()
    if terms is not None:
        _check_finite(float(context.mean({"total": terms["total"]})["total"]), step)
    save()

    if steady is not None and samples_seen > steady[1]:
        samples_per_second = (samples_seen - steady[1]) / max(finished - steady[0], 1e-9)
    else:
        samples_per_second = window_samples / max(finished - window_start, 1e-9)
    validation = None
    if validation_photos is not None and stop_reason != "cancelled" and context.is_main:
        methods = build_methods(["model"], weights=config.weights_file, device=config.device, seed=config.seed)
        report = evaluate(validation_photos, methods, EvaluationConfig(size=config.crop_size, seed=config.seed))
        validation = format_markdown(report)
        config.validation_file.write_text(f"## Validation after {step} steps\n\n{validation}")
    return TrainResult(
        step, samples_seen, stop_reason, samples_per_second, fast_path.describe(), device_choice.description,
        config.weights_file, config.checkpoint_file, config.log_file, validation, context.is_main,
    )


def _generator_state(checkpoint: dict, context: DistributedContext, stream: str = "data") -> torch.Tensor:
    """This rank's random state of `stream` ("data": crops and masks; "augmentations": the discriminator's
    DiffAugment draws) from a checkpoint: its own where the checkpoint was written by as many ranks, else (a
    different number of processes) a fresh stream from this rank's seed, with a warning."""
    written_by = int(checkpoint.get("world_size", 1))
    if written_by == context.world_size:
        return checkpoint["generators"][context.rank][stream] if context.distributed else checkpoint["generator"]
    log.warning("the checkpoint was written by %d training process(es), this run has %d: the random %s stream "
                "starts afresh (the weights, optimizer and step continue)", written_by, context.world_size, stream)
    seed = json.loads(checkpoint["config"])["seed"] + (AUGMENTATION_SEED_OFFSET if stream == "augmentations" else 0)
    return torch.Generator().manual_seed(context.rank_seed(seed)).get_state()
