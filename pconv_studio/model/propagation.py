"""Geometry-only mask propagation: the mask after every layer, from the hole mask and the config alone.

Which pixels become valid depends only on kernel sizes, strides, padding and upsampling, never on weights or
image content, so the per-stage masks can be redrawn while someone paints. It walks the same `layer_specs` and
uses the same `window_sum` as `PartialConv2d`, so it agrees with the network exactly. The same walk gives the
scaling ratio sum(1)/sum(M) every output of every layer is multiplied by (Liu et al. 2018, eq. 1): 1 inside the
valid region, larger on the hole's rim and at the image border, where partial padding re-weights.
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F

from .config import LayerSpec, UNetConfig, layer_specs
from .partial_conv import MaskGroups, mask_from_count, window_sum
from .unet import pad_to_multiple

__all__ = ["propagate_masks", "propagate_ratios"]


def _layer_counts(valid: torch.Tensor, config: UNetConfig) -> Iterator[tuple[LayerSpec, torch.Tensor, float]]:
    """(spec, sum(M), sum(1)) for every layer in order: the valid inputs under each output's window (all input
    channels, (N, 1, h, w) float32, padded frame) and the window's size, kernel^2 x input channels."""
    if valid.dim() == 2:
        valid = valid[None, None]
    valid = valid.float()
    _, valid = pad_to_multiple(valid, valid, config.size_multiple)
    stages = {-1: MaskGroups.single(valid, config.image_channels)}
    masks = stages[-1]
    for index, spec in enumerate(layer_specs(config)):
        if spec.upsample:
            up = MaskGroups(tuple(F.interpolate(m, scale_factor=2.0, mode="nearest") for m in masks.masks), masks.channels)
            masks = MaskGroups.concat([up, stages[spec.skip]])  # type: ignore[index]
        count = window_sum(
            masks.channel_weighted_sum(), (spec.kernel, spec.kernel), (spec.stride, spec.stride),
            (spec.padding, spec.padding), (1, 1),
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
