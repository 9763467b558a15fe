"""Partial convolution (Liu et al. 2018), with partial-convolution padding.

For every output position, with M the validity mask (1 = valid) over the kernel window and all input channels:

    y        = W . (X * M) * (k_h * k_w * C_in) / sum(M) + b     where sum(M) > 0
    y        = 0                                                  where sum(M) = 0
    new_mask = 1 if sum(M) > 0 else 0

Zero padding of the mask makes the image border a hole, which is the "partial convolution based padding" of the
second paper. The mask path runs in float32 with autocast disabled: window sums of 0/1 masks are small integers,
exact in float32 (and in TF32), so the masks are bit-identical on every device.

Cheapness: a mask shared by several channels is stored once, as a single-channel map, and its window sum is one
single-channel convolution. A tensor whose channels are a concatenation of parts with different masks (the U-Net's
skip connections) carries a `MaskGroups`: one single-channel mask per part, with the part's channel count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MaskGroups", "PartialConv2d", "mask_from_count", "window_sum"]


@dataclass(frozen=True)
class MaskGroups:
    """Validity masks for a tensor whose channels come in groups that share a mask.

    `masks[i]` is (N, 1, H, W) float32 in {0, 1} and covers `channels[i]` consecutive channels.
    """

    masks: tuple[torch.Tensor, ...]
    channels: tuple[int, ...]

    @staticmethod
    def single(mask: torch.Tensor, channels: int) -> "MaskGroups":
        return MaskGroups((mask,), (channels,))

    @staticmethod
    def concat(parts: Sequence["MaskGroups"]) -> "MaskGroups":
        """Masks of `torch.cat([x_0, x_1, ...], dim=1)` from the masks of the parts."""
        masks: list[torch.Tensor] = []
        channels: list[int] = []
        for part in parts:
            masks.extend(part.masks)
            channels.extend(part.channels)
        return MaskGroups(tuple(masks), tuple(channels))

    @property
    def total_channels(self) -> int:
        return sum(self.channels)

    def expand(self) -> torch.Tensor:
        """A full (N, C, H, W) mask, to multiply features by."""
        if len(self.masks) == 1:
            return self.masks[0]
        return torch.cat([m.expand(-1, c, -1, -1) for m, c in zip(self.masks, self.channels)], dim=1)

    def channel_weighted_sum(self) -> torch.Tensor:
        """sum over channels of the full mask, as one (N, 1, H, W) map: sum_i channels[i] * masks[i]."""
        total = self.masks[0] * float(self.channels[0])
        for mask, count in zip(self.masks[1:], self.channels[1:]):
            total = total + mask * float(count)
        return total


def window_sum(
    channel_sum: torch.Tensor,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> torch.Tensor:
    """sum(M) over every convolution window of a single-channel map, in float32 (exact for 0/1 masks).

    Zero padding makes the border count as hole. A sum pool is the same box sum as a convolution with a ones
    kernel, three times faster on the CPU; dilated windows (and padding wider than half the kernel, which
    pooling refuses) need the convolution.
    """
    with torch.autocast(device_type=channel_sum.device.type, enabled=False):
        channel_sum = channel_sum.float()
        if dilation == (1, 1) and all(p <= k // 2 for p, k in zip(padding, kernel_size)):
            return F.avg_pool2d(
                channel_sum, kernel_size, stride, padding, count_include_pad=True, divisor_override=1
            )
        ones = torch.ones((1, 1, *kernel_size), dtype=torch.float32, device=channel_sum.device)
        return F.conv2d(channel_sum, ones, stride=stride, padding=padding, dilation=dilation)


def mask_from_count(valid_count: torch.Tensor) -> torch.Tensor:
    """The new mask: 1 where at least one valid pixel fed the window. Counts are whole numbers, so clamping them
    at 1 is exact (and one kernel, where a comparison and a cast are two)."""
    return valid_count.clamp(max=1.0)


class PartialConv2d(nn.Conv2d):
    """A drop-in for `nn.Conv2d` whose `forward(x, mask)` returns `(y, new_mask)`.

    `mask` is float {0, 1} (1 = valid), shaped (N, 1, H, W) for one mask shared by all channels, or
    (N, C_in, H, W) for per-channel masks, or a `MaskGroups`; `None` means all valid, so only the zero padding
    is a hole. `new_mask` is (N, 1, H_out, W_out) float32: one mask serves all output channels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=bias)

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, mask: torch.Tensor | MaskGroups | None = None, input_masked: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`input_masked=True` promises that x is already 0 wherever the mask is 0 (the U-Net keeps its features
        that way), which saves multiplying the input by a mask that would have to be expanded to all channels."""
        groups = self._as_groups(x, mask)
        valid_count = window_sum(
            groups.channel_weighted_sum(), self.kernel_size, self.stride, self.padding, self.dilation
        )
        new_mask = mask_from_count(valid_count)
        masked = x if input_masked else x * groups.expand().to(x.dtype)
        raw = F.conv2d(masked, self.weight, None, self.stride, self.padding, self.dilation)
        # the ratio in float32 at least (float64 for float64 inputs), then in the convolution's dtype
        ratio_dtype = torch.promote_types(raw.dtype, torch.float32)
        window_size = float(self.kernel_size[0] * self.kernel_size[1] * self.in_channels)
        ratio = window_size / valid_count.to(ratio_dtype).clamp(min=1.0) * new_mask.to(ratio_dtype)
        # in place: the convolution's backward does not need its output, and the ratio needs no gradient
        y = raw.mul_(ratio.to(raw.dtype))
        if self.bias is not None:  # + bias * new_mask, broadcast on the fly: no (N, C, H, W) bias map is made
            y = y.addcmul_(self.bias.view(1, -1, 1, 1).to(y.dtype), new_mask.to(y.dtype))
        return y, new_mask

    def _as_groups(self, x: torch.Tensor, mask: torch.Tensor | MaskGroups | None) -> MaskGroups:
        if isinstance(mask, MaskGroups):
            groups = mask
        elif mask is None:
            ones = torch.ones((x.shape[0], 1, x.shape[2], x.shape[3]), dtype=torch.float32, device=x.device)
            groups = MaskGroups.single(ones, self.in_channels)
        elif mask.dim() == 4 and mask.shape[1] == 1:
            groups = MaskGroups.single(mask.float(), self.in_channels)
        elif mask.dim() == 4 and mask.shape[1] == self.in_channels:
            groups = _PerChannelMask(mask.float())
        else:
            raise ValueError(f"mask must be (N,1,H,W) or (N,{self.in_channels},H,W), got {tuple(mask.shape)}")
        if groups.total_channels != self.in_channels:
            raise ValueError(f"mask groups cover {groups.total_channels} channels, layer has {self.in_channels}")
        if groups.masks[0].shape[-2:] != x.shape[-2:]:
            raise ValueError(f"mask size {tuple(groups.masks[0].shape[-2:])} != input size {tuple(x.shape[-2:])}")
        return groups


class _PerChannelMask(MaskGroups):
    """A full (N, C, H, W) mask presented through the `MaskGroups` interface: its channel sum is taken first,
    so the window sum is still a single-channel convolution."""

    def __init__(self, full: torch.Tensor) -> None:
        super().__init__((full,), (full.shape[1],))

    def expand(self) -> torch.Tensor:
        return self.masks[0]

    def channel_weighted_sum(self) -> torch.Tensor:
        return self.masks[0].sum(dim=1, keepdim=True)
