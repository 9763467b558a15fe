"""The networks a partial-conv U-Net is measured against, built from the same `layer_specs`.

- `PlainConvUNet`: the same layers with `nn.Conv2d` and no masks at all: the cost floor (batch norms foldable
  like PConvUNet's).
- `naive_partial_conv(net)`: the same `PConvUNet` whose layers compute the window sums the textbook way, by
  convolving the full (N, C_in, H, W) mask with an (C_out, C_in, k, k) ones kernel (as NVIDIA's reference does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from pconv_studio.model import PartialConv2d, PConvUNet, UNetConfig, layer_specs


class PlainConvUNet(nn.Module):
    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        self.specs = layer_specs(config)
        channels = {-1: config.image_channels}
        previous = config.image_channels
        convs, norms = [], []
        for index, spec in enumerate(self.specs):
            in_channels = previous + (channels[spec.skip] if spec.upsample else 0)
            convs.append(nn.Conv2d(in_channels, spec.out_channels, spec.kernel, spec.stride, spec.padding,
                                   bias=not spec.batch_norm))
            norms.append(nn.BatchNorm2d(spec.out_channels) if spec.batch_norm else nn.Identity())
            if not spec.upsample:
                channels[index] = spec.out_channels
            previous = spec.out_channels
        self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)

    def fold_batch_norms(self) -> "PlainConvUNet":
        """The inference form the engine gives PConvUNet too: every batch norm folded into its convolution."""
        for index, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            if isinstance(norm, nn.BatchNorm2d):
                self.convs[index] = fuse_conv_bn_eval(conv, norm)
                self.norms[index] = nn.Identity()
        return self

    def forward(self, image: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = (image - 0.5) * 2.0
        outputs = {-1: x}
        for index, (spec, conv, norm) in enumerate(zip(self.specs, self.convs, self.norms)):
            if spec.upsample:
                skip = outputs[spec.skip].to(x.dtype)  # as PConvUNet does: no mixed-dtype concatenation
                x = torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skip], dim=1)
            x = norm(conv(x))
            if spec.activation == "relu":
                x = F.relu(x)
            elif spec.activation == "leaky_relu":
                x = F.leaky_relu(x, 0.2)
            if not spec.upsample:
                outputs[index] = x
        return x * 0.5 + 0.5


class _NaivePartialConv2d(PartialConv2d):
    def forward(self, x, mask=None, input_masked=False):  # type: ignore[override]
        full = self._as_groups(x, mask).expand().expand(-1, self.in_channels, -1, -1).float()  # always re-masks
        ones = torch.ones(self.out_channels, self.in_channels, *self.kernel_size, device=x.device)
        count = F.conv2d(full, ones, None, self.stride, self.padding, self.dilation)
        new_mask = (count > 0).float()
        raw = F.conv2d(x * full.to(x.dtype), self.weight, None, self.stride, self.padding, self.dilation)
        window = float(self.kernel_size[0] * self.kernel_size[1] * self.in_channels)
        y = raw * (window / count.clamp(min=1.0) * new_mask).to(raw.dtype)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1) * new_mask
        return y, new_mask[:, :1]


def naive_partial_conv(net: PConvUNet) -> PConvUNet:
    """The same network and weights, with every layer's mask path done with a full ones kernel."""
    for module in net.modules():
        if isinstance(module, PartialConv2d):
            module.__class__ = _NaivePartialConv2d
    return net


__all__ = ["PlainConvUNet", "naive_partial_conv"]
