"""Geometry-only mask propagation: the mask after every layer, from the hole mask and the config alone.

Which pixels become valid depends only on kernel sizes, strides, padding and upsampling, never on weights or
image content, so the per-stage masks can be redrawn while someone paints. It walks the same `layer_specs` and
uses the same `window_sum` as `PartialConv2d`, so it agrees with the network exactly. The same walk gives the
scaling ratio sum(1)/sum(M) every output of every layer is multiplied by (Liu et al. 2018, eq. 1): 1 inside the
valid region, larger on the hole's rim and at the image border, where partial padding re-weights; and the
network's reach, how far into a hole its masks close.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import torch
import torch.nn.functional as F

from .config import LayerSpec, UNetConfig, layer_specs
from .partial_conv import MaskGroups, mask_from_count, window_sum
from .unet import pad_to_multiple

__all__ = ["NetworkReach", "network_reach", "propagate_masks", "propagate_ratios"]


def _layer_counts(
    valid: torch.Tensor, config: UNetConfig, rows_too: bool = True
) -> Iterator[tuple[LayerSpec, torch.Tensor, float]]:
    """(spec, sum(M), sum(1)) for every layer in order: the valid inputs under each output's window (all input
    channels, (N, 1, h, w) float32, padded frame) and the window's size, kernel^2 x input channels.

    With `rows_too=False` windows, strides and upsampling act along the width only: the exact propagation of a
    mask that is the same on every row (validity is an OR over windows, so such rows never interact)."""
    if valid.dim() == 2:
        valid = valid[None, None]
    valid = valid.float()
    if rows_too:
        _, valid = pad_to_multiple(valid, valid, config.size_multiple)
    else:
        valid = F.pad(valid, (0, (-valid.shape[-1]) % config.size_multiple))
    stages = {-1: MaskGroups.single(valid, config.image_channels)}
    masks = stages[-1]
    up_factor = (2.0, 2.0) if rows_too else (1.0, 2.0)
    for index, spec in enumerate(layer_specs(config)):
        if spec.upsample:
            up = MaskGroups(tuple(F.interpolate(m, scale_factor=up_factor, mode="nearest") for m in masks.masks),
                            masks.channels)
            masks = MaskGroups.concat([up, stages[spec.skip]])  # type: ignore[index]
        count = window_sum(
            masks.channel_weighted_sum(), (spec.kernel if rows_too else 1, spec.kernel),
            (spec.stride if rows_too else 1, spec.stride), (spec.padding if rows_too else 0, spec.padding), (1, 1),
        )
        yield spec, count, float(spec.kernel * spec.kernel * masks.total_channels)
        masks = MaskGroups.single(mask_from_count(count), spec.out_channels)
        if not spec.upsample:
            stages[index] = masks


@torch.no_grad()
def propagate_masks(valid: torch.Tensor, config: UNetConfig) -> list[torch.Tensor]:
    """Masks (1 = valid) after every layer of a `PConvUNet(config)` fed the validity mask `valid`.

    `valid` is (N, 1, H, W) or (H, W), 1 = valid; the result has one (N, 1, h, w) float32 tensor per layer, in
    the padded frame, in the order of `layer_specs(config)`.
    """
    return [mask_from_count(count) for _, count, _ in _layer_counts(valid, config)]


@torch.no_grad()
def propagate_ratios(valid: torch.Tensor, config: UNetConfig) -> list[torch.Tensor]:
    """The scaling ratio sum(1)/sum(M) each output of every layer of a `PConvUNet(config)` gets, 0 where no valid
    input fed it (those outputs are 0 and stay hole), computed as `PartialConv2d` computes it.

    `valid` is (N, 1, H, W) or (H, W), 1 = valid; one (N, 1, h, w) float32 tensor per layer, in the padded
    frame, in the order of `layer_specs(config)`. Values are 0 or in [1, window size / smallest channel group].
    """
    return [window / count.clamp(min=1.0) * mask_from_count(count)
            for _, count, window in _layer_counts(valid, config)]


@dataclass(frozen=True)
class NetworkReach:
    """How far into a hole the network's masks close, in input pixels (Chebyshev distance from the nearest valid
    pixel), measured at every phase of the input against the network's 2^levels grid.

    `closes` is the guaranteed distance (the worst phase): every hole pixel at most this far from a valid pixel is
    valid after the last layer. `receptive_radius` is the best phase's: the farthest any input pixel influences an
    output, i.e. the receptive field's radius (the valid set grows exactly as the set of outputs an input feeds).
    """

    closes: int
    receptive_radius: int


@lru_cache(maxsize=8)
@torch.no_grad()
def network_reach(config: UNetConfig) -> NetworkReach:
    """The `NetworkReach` of `PConvUNet(config)`, from the geometry alone (milliseconds; cached per config).

    A half-plane of valid pixels (columns [0, a)) is propagated for every phase a in 1..2^levels at once, along
    the width only, and the first column still hole after the last layer is read off: the hole pixel just before
    it is reach = column - a away from the valid edge. The image's own right border is far enough away not to
    matter (the width doubles until some column stays hole at every phase).
    """
    multiple = config.size_multiple
    width = 8 * multiple
    while True:
        edges = torch.arange(1, multiple + 1)
        columns = torch.arange(width)
        valid = (columns[None, :] < edges[:, None]).float()[:, None, None, :]
        *_, (_, count, _) = _layer_counts(valid, config, rows_too=False)
        still_hole = mask_from_count(count)[:, 0, 0, :width] == 0
        if bool(still_hole.any(dim=1).all()):
            break
        width *= 2
    first_hole = still_hole.float().argmax(dim=1)
    reach = first_hole - edges
    return NetworkReach(closes=int(reach.min()), receptive_radius=int(reach.max()))
