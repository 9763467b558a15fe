"""Geometry-only mask propagation: the mask after every layer, from the hole mask and the config alone.

Which pixels become valid depends only on kernel sizes, strides, padding and upsampling, never on weights or
image content, so the per-stage masks can be redrawn while someone paints. It walks the same `layer_specs` and
uses the same `window_sum` as `PartialConv2d`, so it agrees with the network exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from .config import UNetConfig, layer_specs
from .partial_conv import MaskGroups, mask_from_count, window_sum
from .unet import pad_to_multiple

__all__ = ["NetworkReach", "network_reach", "propagate_masks"]


@torch.no_grad()
def propagate_masks(valid: torch.Tensor, config: UNetConfig) -> list[torch.Tensor]:
    """Masks (1 = valid) after every layer of a `PConvUNet(config)` fed the validity mask `valid`.

    `valid` is (N, 1, H, W) or (H, W), 1 = valid; the result has one (N, 1, h, w) float32 tensor per layer, in
    the padded frame, in the order of `layer_specs(config)`.
    """
    if valid.dim() == 2:
        valid = valid[None, None]
    return _propagate(valid.float(), config, rows_too=True)


def _propagate(valid: torch.Tensor, config: UNetConfig, rows_too: bool) -> list[torch.Tensor]:
    """The walk over `layer_specs`; with `rows_too=False` windows, strides and upsampling act along the width
    only, which is the exact propagation of a mask that is the same on every row (validity is an OR over windows,
    so the rows of a row-independent mask never interact)."""
    if rows_too:
        _, valid = pad_to_multiple(valid, valid, config.size_multiple)
    else:
        valid = F.pad(valid, (0, (-valid.shape[-1]) % config.size_multiple))
    stages = {-1: MaskGroups.single(valid, config.image_channels)}
    masks = stages[-1]
    up_factor = (2.0, 2.0) if rows_too else (1.0, 2.0)
    result: list[torch.Tensor] = []
    for index, spec in enumerate(layer_specs(config)):
        if spec.upsample:
            up = MaskGroups(tuple(F.interpolate(m, scale_factor=up_factor, mode="nearest") for m in masks.masks),
                            masks.channels)
            masks = MaskGroups.concat([up, stages[spec.skip]])  # type: ignore[index]
        count = window_sum(
            masks.channel_weighted_sum(), (spec.kernel if rows_too else 1, spec.kernel),
            (spec.stride if rows_too else 1, spec.stride), (spec.padding if rows_too else 0, spec.padding), (1, 1),
        )
        new_mask = mask_from_count(count)
        masks = MaskGroups.single(new_mask, spec.out_channels)
        if not spec.upsample:
            stages[index] = masks
        result.append(new_mask)
    return result


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
def network_reach(config: UNetConfig) -> NetworkReach:
    """The `NetworkReach` of `PConvUNet(config)`, from the geometry alone (milliseconds; cached per config).

    A half-plane of valid pixels (columns [0, a)) is propagated for every phase a in 1..2^levels at once, along
    the width only (exact for a mask that is the same on every row), and the first column still hole after the
    last layer is read off: the hole pixel just before it is reach = column - a away from the valid edge. The
    image's own right border is far enough away not to matter (the width doubles until some column stays hole).
    """
    multiple = config.size_multiple
    width = 8 * multiple
    while True:
        edges = torch.arange(1, multiple + 1)
        columns = torch.arange(width)
        valid = (columns[None, :] < edges[:, None]).float()[:, None, None, :]
        last = _propagate(valid, config, rows_too=False)[-1][:, 0, 0, :width]
        still_hole = last == 0
        if bool(still_hole.any(dim=1).all()):
            break
        width *= 2  # the hole closed entirely at some phase: widen until it does not
    first_hole = still_hole.float().argmax(dim=1)
    reach = first_hole - edges
    return NetworkReach(closes=int(reach.min()), receptive_radius=int(reach.max()))
