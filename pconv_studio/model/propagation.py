"""Geometry-only mask propagation: the mask after every layer, from the hole mask and the config alone.

Which pixels become valid depends only on kernel sizes, strides, padding and upsampling, never on weights or
image content, so the per-stage masks can be redrawn while someone paints. It walks the same `layer_specs` and
uses the same `window_sum` as `PartialConv2d`, so it agrees with the network exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import UNetConfig, layer_specs
from .partial_conv import MaskGroups, mask_from_count, window_sum
from .unet import pad_to_multiple

__all__ = ["propagate_masks"]


@torch.no_grad()
def propagate_masks(valid: torch.Tensor, config: UNetConfig) -> list[torch.Tensor]:
    """Masks (1 = valid) after every layer of a `PConvUNet(config)` fed the validity mask `valid`.

    `valid` is (N, 1, H, W) or (H, W), 1 = valid; the result has one (N, 1, h, w) float32 tensor per layer, in
    the padded frame, in the order of `layer_specs(config)`.
    """
    if valid.dim() == 2:
        valid = valid[None, None]
    valid = valid.float()
    _, valid = pad_to_multiple(valid, valid, config.size_multiple)
    stages = {-1: MaskGroups.single(valid, config.image_channels)}
    masks = stages[-1]
    result: list[torch.Tensor] = []
    for index, spec in enumerate(layer_specs(config)):
        if spec.upsample:
            up = MaskGroups(tuple(F.interpolate(m, scale_factor=2.0, mode="nearest") for m in masks.masks), masks.channels)
            masks = MaskGroups.concat([up, stages[spec.skip]])  # type: ignore[index]
        count = window_sum(
            masks.channel_weighted_sum(), (spec.kernel, spec.kernel), (spec.stride, spec.stride),
            (spec.padding, spec.padding), (1, 1),
        )
        new_mask = mask_from_count(count)
        masks = MaskGroups.single(new_mask, spec.out_channels)
        if not spec.upsample:
            stages[index] = masks
        result.append(new_mask)
    return result
