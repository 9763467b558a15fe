"""The partial-convolution U-Net of Liu et al. 2018, built from `layer_specs(config)`.

Conventions (stated once, here): images are float (N, 3, H, W) in [0, 1], RGB; masks are float32 (N, 1, H, W)
with 1 = valid and 0 = hole. Any H x W works: the input is padded up to a multiple of `config.size_multiple`
with the padding marked as hole, and the output is cropped back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm  # BatchNorm2d and SyncBatchNorm (distributed training)
from torch.nn.utils.fusion import fuse_conv_bn_weights

from .config import LayerSpec, UNetConfig, layer_specs
from .partial_conv import MaskGroups, PartialConv2d

__all__ = ["PConvUNet", "UNetOutput", "pad_to_multiple"]


@dataclass
class UNetOutput:
    """The network's raw prediction (cropped to the input size) and the mask after every layer.

    `stage_masks[i]` belongs to `stage_names[i]` and is in the padded frame the network computed in.
    """

    image: torch.Tensor
    stage_masks: list[torch.Tensor]
    stage_names: list[str]


def pad_to_multiple(
    image: torch.Tensor, valid: torch.Tensor, multiple: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad bottom and right up to `multiple`; the padding is hole (mask 0) so it never counts as context."""
    height, width = image.shape[-2:]
    pad_bottom = (-height) % multiple
    pad_right = (-width) % multiple
    if pad_bottom == 0 and pad_right == 0:
        return image, valid
    pad = (0, pad_right, 0, pad_bottom)
    return F.pad(image, pad), F.pad(valid, pad)


class _PConvLayer(nn.Module):
    """Partial conv + optional batch norm + activation, as one row of `layer_specs`."""

    def __init__(self, spec: LayerSpec, in_channels: int) -> None:
        super().__init__()
        self.spec = spec
        self.conv = PartialConv2d(
            in_channels, spec.out_channels, spec.kernel, stride=spec.stride, padding=spec.padding,
            bias=not spec.batch_norm,
        )
        self.norm = nn.BatchNorm2d(spec.out_channels) if spec.batch_norm else nn.Identity()
        if spec.activation == "relu":
            self.act: nn.Module = nn.ReLU(inplace=True)
        elif spec.activation == "leaky_relu":
            self.act = nn.LeakyReLU(0.2, inplace=True)
        else:
            self.act = nn.Identity()

    def forward(self, x: torch.Tensor, mask: MaskGroups) -> tuple[torch.Tensor, torch.Tensor]:
        """x must be 0 in the hole; so is the output, except for the last layer (the prediction itself)."""
        y, new_mask = self.conv(x, mask, input_masked=True)
        if isinstance(self.norm, _BatchNorm):
            # batch norm's shift would leak into the hole: zero it again (before the activation, which keeps 0 at 0;
            # in place, as batch norm's backward does not need its output)
            y = self.norm(y).mul_(new_mask.to(y.dtype))
        return self.act(y), new_mask

    def fold_batch_norm(self) -> None:
        """Inference only: batch norm with frozen statistics is y -> s*y + t, so s goes into the weights and t
        becomes the convolution's bias, which the partial conv already adds in the valid region only."""
        if not isinstance(self.norm, _BatchNorm):
            return
        norm = self.norm
        self.conv.weight, self.conv.bias = fuse_conv_bn_weights(
            self.conv.weight, self.conv.bias, norm.running_mean, norm.running_var, norm.eps, norm.weight, norm.bias
        )
        self.norm = nn.Identity()


class PConvUNet(nn.Module):
    """Encoder of strided partial convs, decoder of upsample + concat + partial conv; see `layer_specs`."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        specs = layer_specs(config)
        channels_of_stage = {-1: config.image_channels}
        layers = []
        previous = config.image_channels
        for index, spec in enumerate(specs):
            in_channels = previous + (channels_of_stage[spec.skip] if spec.upsample else 0)
            layers.append(_PConvLayer(spec, in_channels))
            if not spec.upsample:
                channels_of_stage[index] = spec.out_channels
            previous = spec.out_channels
        self.layers = nn.ModuleList(layers)

    @property
    def stage_names(self) -> list[str]:
        return [layer.spec.name for layer in self.layers]

    def fold_batch_norms(self) -> "PConvUNet":
        """Fold every batch norm into its convolution, for inference: the same outputs with one pass over the
        features fewer per layer. The network cannot be trained afterwards, so it must be in eval mode."""
        if self.training:
            raise RuntimeError("fold_batch_norms() is for inference: call eval() first")
        with torch.no_grad():
            for layer in self.layers:
                layer.fold_batch_norm()
        return self

    def forward(self, image: torch.Tensor, valid: torch.Tensor) -> UNetOutput:
        height, width = image.shape[-2:]
        image, valid = pad_to_multiple(image, valid.float(), self.config.size_multiple)
        x = (image - 0.5) * 2.0 * valid.to(image.dtype)  # features are kept at 0 in the hole, layer after layer
        channels = self.config.image_channels
        stages: dict[int, tuple[torch.Tensor, MaskGroups]] = {-1: (x, MaskGroups.single(valid, channels))}
        masks = MaskGroups.single(valid, channels)
        stage_masks: list[torch.Tensor] = []
        for index, layer in enumerate(self.layers):
            spec = layer.spec
            if spec.upsample:
                skip_x, skip_masks = stages[spec.skip]  # type: ignore[index]
                x = torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skip_x.to(x.dtype)], dim=1)
                up_masks = MaskGroups(
                    tuple(F.interpolate(m, scale_factor=2.0, mode="nearest") for m in masks.masks), masks.channels
                )
                masks = MaskGroups.concat([up_masks, skip_masks])
            x, new_mask = layer(x, masks)
            masks = MaskGroups.single(new_mask, spec.out_channels)
            if not spec.upsample:
                stages[index] = (x, masks)
            stage_masks.append(new_mask)
        output = x[..., :height, :width] * 0.5 + 0.5
        return UNetOutput(image=output, stage_masks=stage_masks, stage_names=self.stage_names)
