"""The loss of Liu et al. 2018, with the VGG-16 terms only when the user supplies VGG-16 weights.

    total = L1_valid + 6 L1_hole + 0.1 TV  [+ 0.05 perceptual + 120 (style_out + style_comp)]

Every term is normalised by the number of elements of the image tensor, as in the paper. `valid` is the network's
mask (N, 1, H, W), 1 = valid, 0 = hole. TV runs over the composite (prediction in the hole, truth outside) on P,
the hole dilated by one pixel: a pair of neighbours counts when both lie in P. The VGG-16 feature layers are
defined here in plain torch with torchvision's layout, so a torchvision `vgg16` state dict loads as is; nothing
is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError

__all__ = ["InpaintingLoss", "VGG16Features", "load_vgg16_features", "LOSS_TERMS"]

HOLE_WEIGHT = 6.0
TV_WEIGHT = 0.1
PERCEPTUAL_WEIGHT = 0.05
STYLE_WEIGHT = 120.0
LOSS_TERMS = ("total", "valid", "hole", "tv", "perceptual", "style")

# torchvision's vgg16().features up to pool3: conv widths, "M" = 2x2 max pool. Indices match its state dict.
_VGG16_BLOCKS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Features(nn.Module):
    """The first three blocks of VGG-16; `forward` returns the pool1, pool2 and pool3 maps of an RGB [0, 1] batch."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _VGG16_BLOCKS:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)
        pools = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                pools.append(x)
        return pools


def load_vgg16_features(path: Path) -> VGG16Features:
    """A frozen `VGG16Features` from a local torchvision-layout vgg16 state dict (.pth or .safetensors)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"VGG-16 weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch and safetensors raise many types for a bad file
        raise WeightsError(f"cannot read VGG-16 weights {path.name}: {error}") from error
    if not isinstance(state, dict):
        raise WeightsError(f"{path.name} is not a state dict")
    network = VGG16Features()
    wanted = network.state_dict()
    try:
        found = {key: state[key] for key in wanted}  # the "features.N.weight" keys of torchvision's vgg16
        network.load_state_dict(found)
    except (KeyError, RuntimeError) as error:
        raise WeightsError(f"{path.name} is not a torchvision vgg16 state dict ({error})") from error
    return network.eval().requires_grad_(False)


def _gram(features: torch.Tensor) -> torch.Tensor:
    batch, channels, height, width = features.shape
    flat = features.float().reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (channels * height * width)


class InpaintingLoss(nn.Module):
    """Returns a dict of the terms in `LOSS_TERMS`; "total" is the weighted sum that is minimised. `tv_weight`
    replaces the paper's 0.1 (adversarial fine-tuning lowers it: see docs/training.md)."""

    def __init__(self, vgg: VGG16Features | None = None, tv_weight: float = TV_WEIGHT) -> None:
        super().__init__()
        self.vgg = vgg
        self.tv_weight = tv_weight

    def forward(
        self, prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, counted: torch.Tensor | None = None,
        predicted: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """`counted` (N, 1, H, W), 1 = in the losses, leaves pixels out of every term (a mosaic's seams): their
        error is not summed, no TV pair touches them, and the VGG terms see the truth there.

        `predicted` (N, 1, H, W), 1 where the prediction is the output, defaults to the hole (1 - valid): its
        pixels take the hole terms (L1 x 6, the composite's prediction) and the rest the valid term. An upscaling
        grid composites nothing, so all its pixels are predicted; its TV term is 0 (TV smooths the seam between
        a fill and the photo around it, and an upscale has none)."""
        prediction, target, valid = prediction.float(), target.float(), valid.float()
        hole = 1.0 - valid if predicted is None else predicted.float()
        if counted is not None:
            counted = counted.float()
            prediction = counted * prediction + (1.0 - counted) * target
        composite = (1.0 - hole) * target + hole * prediction
        error = (prediction - target).abs()
        terms = {"valid": ((1.0 - hole) * error).mean(), "hole": (hole * error).mean()}

        region = F.max_pool2d(1.0 - valid, 3, stride=1, padding=1)
        if predicted is not None:  # only where a fill meets known pixels that stay: not on samples predicted whole
            region = region * (predicted.float().amin(dim=(2, 3), keepdim=True) < 1.0)
        if counted is not None:
            region = region * counted
        across = (composite[..., :, 1:] - composite[..., :, :-1]).abs() * (region[..., :, 1:] * region[..., :, :-1])
        down = (composite[..., 1:, :] - composite[..., :-1, :]).abs() * (region[..., 1:, :] * region[..., :-1, :])
        terms["tv"] = (across.sum() + down.sum()) / composite.numel()
        total = terms["valid"] + HOLE_WEIGHT * terms["hole"] + self.tv_weight * terms["tv"]

        zero = total.new_zeros(())
        terms["perceptual"], terms["style"] = zero, zero
        if self.vgg is not None:
            with torch.no_grad():
                truth = self.vgg(target)
            features = self.vgg(torch.cat([prediction, composite]))
            perceptual, style = zero, zero
            for truth_map, both in zip(truth, features):
                out_map, comp_map = both.chunk(2)
                perceptual = perceptual + (out_map - truth_map).abs().float().mean()
                perceptual = perceptual + (comp_map - truth_map).abs().float().mean()
                truth_gram = _gram(truth_map)
                style = style + (_gram(out_map) - truth_gram).abs().mean() + (_gram(comp_map) - truth_gram).abs().mean()
            terms["perceptual"], terms["style"] = perceptual, style
            total = total + PERCEPTUAL_WEIGHT * perceptual + STYLE_WEIGHT * style
        terms["total"] = total
        return terms
