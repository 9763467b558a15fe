"""What one training sample is: the photo crop the losses compare with (the target), the network's input and
validity mask, and the pixels the losses count.

Three kinds of sample, mixed per sample by weight (`SampleConfig`):

- "holes": the photo under an irregular hole mask (Liu et al. 2018): input = target, a mask from the bank.
- "grids": upscaling as inpainting. The crop is downscaled by an integer s (area average or antialiased bicubic,
  as super-resolution benchmarks make their inputs, never point sampling) and its pixels are spread over the
  crop's grid: low-resolution pixel (x, y) to (o_x + s*x + s//2, o_y + s*y + s//2) with a random phase o in
  [0, s); every other position is a hole. The target is the full-resolution crop everywhere, grid positions
  included (a low-resolution pixel is an area mean, not the pixel under it), and since an upscale composites
  nothing, every pixel's error weighs as a hole pixel's (`Batch.predicted`). `grid_input="bicubic"` is the plain
  twin's input instead: the low-resolution crop upscaled by bicubic interpolation, every pixel valid.
- "sparse": a random fraction (uniform in `sparse_keep`) of the crop's own pixels is kept, the rest is hole (a
  scan with missing lines, dead pixels).

Two ways to make the crops themselves more varied, applied before the kind's mask:

- mosaic (RICAP, Takahashi et al. 2018): with probability `mosaic` a sample is four crops of four photos, cut at
  a boundary point (w, h) drawn from Beta(0.3, 0.3). A band `seam` px wide along the two cut lines is made hole
  and left out of every loss, so that no layer learns from the edge where two photos meet.
- random scale (the mosaic's control): with probability `random_scale` a sample is a square of side uniform in
  [crop / 2, min(2 crop, photo)] resized to the crop (antialiased bilinear).

All random numbers come from the caller's seeded CPU generator, and a `SampleConfig()` (holes only, no mosaic)
draws none beyond the plain batch's, so such runs keep their data order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ..engine.upscale import grid_positions
from ..model import UPSCALE_INPUTS

__all__ = ["SAMPLE_KINDS", "GRID_INPUTS", "SampleConfig", "Batch", "make_samples", "spread_on_grid",
           "grid_downscale"]

SAMPLE_KINDS = ("holes", "grids", "sparse")
GRID_INPUTS = UPSCALE_INPUTS  # what grid samples give the network; the weights file records it for the engine
RICAP_BETA = 0.3  # Takahashi et al. 2018's boundary distribution, Beta(0.3, 0.3)

CropSource = Callable[[int, int], torch.Tensor]
"""(count, side) -> `count` new random crops (count, 3, side, side), float in [0, 1], from the run's generator."""


@dataclass(frozen=True)
class SampleConfig:
    """The mix of sample kinds (relative weights, at least one positive) and the crop augmentations."""

    holes: float = 1.0
    grids: float = 0.0
    sparse: float = 0.0
    grid_scales: tuple[int, ...] = (2, 3, 4)
    sparse_keep: tuple[float, float] = (0.1, 0.5)  # fraction of pixels kept, uniform between these
    grid_input: str = "grid"  # "grid": pixels on the grid, the rest hole; "bicubic": the plain twin's input
    mosaic: float = 0.0  # probability that a sample is a four-photo mosaic
    seam: int = 0  # px: width of the hole band along the mosaic's cuts, left out of the losses
    random_scale: float = 0.0  # probability that a sample is a crop at a random scale

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid_scales", tuple(int(s) for s in self.grid_scales))
        object.__setattr__(self, "sparse_keep", tuple(float(k) for k in self.sparse_keep))
        weights = (self.holes, self.grids, self.sparse)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("the sample weights (holes, grids, sparse) must be >= 0 and not all 0")
        if self.grids and (not self.grid_scales or min(self.grid_scales) < 2):
            raise ValueError("grid scales must be whole numbers >= 2")
        low, high = self.sparse_keep
        if not 0.0 < low <= high < 1.0:
            raise ValueError("the kept fraction of sparse samples must satisfy 0 < low <= high < 1")
        if self.grid_input not in GRID_INPUTS:
            raise ValueError(f"grid input must be one of {', '.join(GRID_INPUTS)}")
        for name in ("mosaic", "random_scale"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability: between 0 and 1")
        if self.seam < 0:
            raise ValueError("the seam width must be >= 0")
        if self.seam and not self.mosaic:
            raise ValueError("a seam width needs mosaic samples (--mosaic P)")
        if self.mosaic and self.random_scale:
            raise ValueError("mosaic and random-scale crops are alternatives (the second is the first's control)")

    @property
    def plain(self) -> bool:
        """Hole samples of plain crops only: the batches of a run before sample kinds existed."""
        return not (self.grids or self.sparse or self.mosaic or self.random_scale)

    def to_dict(self) -> dict:
        return asdict(self)


class Batch(NamedTuple):
    """Float tensors on the training device: `inputs` and `targets` (B, 3, H, W) in [0, 1], `valid` (B, 1, H, W)
    with 1 = valid, `counted` (B, 1, H, W) with 1 = in the losses, or None when every pixel counts; `predicted`
    (B, 1, H, W) with 1 where the network's prediction is the output (the hole when inpainting, every pixel when
    upscaling, where nothing is composited), or None: the hole."""

    inputs: torch.Tensor
    valid: torch.Tensor
    targets: torch.Tensor
    counted: torch.Tensor | None
    predicted: torch.Tensor | None = None


def grid_downscale(crop: torch.Tensor, scale: int, area: bool) -> torch.Tensor:
    """(N, 3, s*h, s*w) -> (N, 3, h, w): the mean of each s x s block (`area`), or antialiased bicubic
    (`F.interpolate(antialias=True)`, the kernel Pillow and MATLAB's imresize widen by s when shrinking)."""
    if area:
        return F.avg_pool2d(crop, scale)
    size = (crop.shape[-2] // scale, crop.shape[-1] // scale)
    return F.interpolate(crop, size=size, mode="bicubic", antialias=True, align_corners=False).clamp_(0.0, 1.0)


def spread_on_grid(
    low: torch.Tensor, scale: int, shape: tuple[int, int], phase: tuple[int, int] = (0, 0)
) -> tuple[torch.Tensor, torch.Tensor]:
    """Put low-resolution pixels (N, C, h, w) on a canvas of `shape`: pixel (x, y) at (phase_x + s*x + s//2,
    phase_y + s*y + s//2), the engine's own placement (`engine.upscale.grid_positions`) shifted by the phase.
    Returns (canvas (N, C, *shape), valid (N, 1, *shape)), both 0 off the grid."""
    count, channels, height, width = low.shape
    rows = phase[0] + torch.from_numpy(grid_positions(height, scale)).to(low.device)
    cols = phase[1] + torch.from_numpy(grid_positions(width, scale)).to(low.device)
    canvas = low.new_zeros((count, channels, *shape))
    valid = low.new_zeros((count, 1, *shape))
    canvas[:, :, rows[:, None], cols[None, :]] = low
    valid[:, :, rows[:, None], cols[None, :]] = 1.0
    return canvas, valid


def _uniform(generator: torch.Generator, count: int = 1) -> list[float]:
    return torch.rand(count, generator=generator, dtype=torch.float64).tolist()


def _chosen(generator: torch.Generator, count: int, probability: float) -> list[int]:
    """The indices of the `count` samples that draw below `probability`."""
    return [index for index, draw in enumerate(_uniform(generator, count)) if draw < probability]


def _pick(generator: torch.Generator, count: int) -> int:
    return int(torch.randint(count, (1,), generator=generator))


def _grid_sample(target: torch.Tensor, config: SampleConfig, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """(input, valid) for one target (3, C, C) under a grid of a random scale, phase and downscaling kernel."""
    scale = config.grid_scales[_pick(generator, len(config.grid_scales))]
    phase = (_pick(generator, scale), _pick(generator, scale))
    area = _pick(generator, 2) == 0
    side = target.shape[-1]
    rows, cols = (side - phase[0]) // scale, (side - phase[1]) // scale
    region = target[None, :, phase[0]: phase[0] + scale * rows, phase[1]: phase[1] + scale * cols]
    low = grid_downscale(region, scale, area)
    if config.grid_input == "grid":
        canvas, valid = spread_on_grid(low, scale, (side, side), phase)
        return canvas[0], valid[0]
    canvas = target.new_zeros((1, 3, side, side))
    valid = target.new_zeros((1, 1, side, side))
    window = (slice(None), slice(None), slice(phase[0], phase[0] + scale * rows), slice(phase[1], phase[1] + scale * cols))
    canvas[window] = F.interpolate(low, scale_factor=scale, mode="bicubic", align_corners=False).clamp_(0.0, 1.0)
    valid[window] = 1.0
    return canvas[0], valid[0]


def _mosaic(targets: torch.Tensor, chosen: list[int], config: SampleConfig, crops: CropSource,
            generator: torch.Generator) -> torch.Tensor:
    """Cut the chosen targets into four-photo mosaics in place; returns the seam band (B, 1, C, C), 1 = seam."""
    side = targets.shape[-1]
    seams = targets.new_zeros((targets.shape[0], 1, side, side))
    others = crops(3 * len(chosen), side)
    rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=generator)))
    cuts = np.rint(side * rng.beta(RICAP_BETA, RICAP_BETA, size=(len(chosen), 2))).astype(int)
    low, high = config.seam // 2, config.seam - config.seam // 2
    for number, (index, (w, h)) in enumerate(zip(chosen, cuts.tolist())):
        top_right, bottom_left, bottom_right = others[3 * number: 3 * number + 3]
        targets[index, :, :h, w:] = top_right[:, :h, w:]
        targets[index, :, h:, :w] = bottom_left[:, h:, :w]
        targets[index, :, h:, w:] = bottom_right[:, h:, w:]
        if 0 < w < side:
            seams[index, :, :, max(w - low, 0): w + high] = 1.0
        if 0 < h < side:
            seams[index, :, max(h - low, 0): h + high, :] = 1.0
    return seams


def _random_scale(targets: torch.Tensor, chosen: list[int], longest: int, crops: CropSource,
                  generator: torch.Generator) -> None:
    """Replace the chosen targets by squares of random side in [C/2, longest] resized to C, in place."""
    side = targets.shape[-1]
    sources = crops(len(chosen), longest)
    for index, source, fraction in zip(chosen, sources, _uniform(generator, len(chosen))):
        length = int(round(side / 2 + fraction * (longest - side / 2)))
        square = source[None, :, :length, :length]
        targets[index] = F.interpolate(square, size=(side, side), mode="bilinear", antialias=True,
                                       align_corners=False).clamp_(0.0, 1.0)[0]


def make_samples(
    targets: torch.Tensor, bank_valid: torch.Tensor, config: SampleConfig, generator: torch.Generator,
    crops: CropSource, longest: int,
) -> Batch:
    """The batch for `targets` (B, 3, C, C) float crops, with `bank_valid` (B, 1, C, C) masks from the hole bank
    for the "holes" samples. `crops` supplies the mosaic's other photos and the random-scale squares (of side up
    to `longest`). Changes `targets` in place when mosaics or random scales are drawn."""
    count = targets.shape[0]
    if config.plain:
        return Batch(targets, bank_valid, targets, None)
    seams = None
    if config.mosaic and (chosen := _chosen(generator, count, config.mosaic)):
        seams = _mosaic(targets, chosen, config, crops, generator)
    if config.random_scale and (chosen := _chosen(generator, count, config.random_scale)):
        _random_scale(targets, chosen, longest, crops, generator)
    weights = torch.tensor([config.holes, config.grids, config.sparse], dtype=torch.float64)
    kinds = torch.multinomial(weights, count, replacement=True, generator=generator).tolist()
    inputs, valid = targets.clone(), bank_valid.clone()
    everywhere = torch.zeros((count, 1, 1, 1), device=targets.device)  # grid samples: the output is all prediction
    for index, kind in enumerate(kinds):
        if SAMPLE_KINDS[kind] == "grids":
            inputs[index], valid[index] = _grid_sample(targets[index], config, generator)
            everywhere[index] = 1.0
        elif SAMPLE_KINDS[kind] == "sparse":
            low, high = config.sparse_keep
            keep = low + (high - low) * _uniform(generator)[0]
            draws = torch.rand(targets.shape[-2:], generator=generator).to(targets.device)
            valid[index, 0] = (draws < keep).to(valid.dtype)
    counted = None
    if seams is not None and config.seam:
        valid = valid * (1.0 - seams)
        counted = 1.0 - seams
    predicted = torch.maximum(1.0 - valid, everywhere) if everywhere.any() else None
    return Batch(inputs * valid, valid, targets, counted, predicted)
