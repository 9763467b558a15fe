"""The pieces of adversarial training that know nothing of the loop: a patch discriminator, its labels, R1, DiffAugment.

Conventions: images are float (N, 3, H, W) in [0, 1]; `hole` masks are float (N, 1, H, W) with 1 = hole (the
opposite of the network's `valid`). H and W must be multiples of the discriminator's stride.

- `PatchDiscriminator`: SN-PatchGAN (Yu et al., "Free-Form Image Inpainting with Gated Convolution", ICCV 2019,
  section 3.2): 5x5 stride-2 convolutions with spectral normalisation (Miyato et al., ICLR 2018) and LeakyReLU 0.2,
  every element of the last map a GAN output. Here a 3x3 spectrally normalised head turns the last features into
  one logit per cell; cell (i, j) looks at the stride x stride block of pixels starting at (i*stride, j*stride)
  (and, through its receptive field, at their surroundings).
- `hole_patch_labels`: a cell is fake exactly when its block holds at least one hole pixel.
- `r1_penalty`: gamma/2 * E ||grad_x D(x)||^2 on real images (Mescheder et al., ICML 2018, eq. 9), D(x) being the
  sum of the cell logits of one image.
- `diff_augment`: DiffAugment (Zhao et al., NeurIPS 2020): colour (brightness, saturation, contrast), translation
  by up to 1/8 of the side with zero padding, and cutout of a square of half the side. Differentiable, so it is
  applied to real and fake discriminator inputs alike; the hole mask is translated and cut out with its image.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["PatchDiscriminator", "hole_patch_labels", "r1_penalty", "diff_augment", "AUGMENTATIONS"]

AUGMENTATIONS = ("color", "translation", "cutout")
_TRANSLATION_RATIO = 0.125  # of the side, each way (DiffAugment's default)
_CUTOUT_RATIO = 0.5  # side of the cut square / side of the image (DiffAugment's default)
# DiffAugment's ranges are for images in [-1, 1]; brightness is an offset, so it halves for images in [0, 1]
_BRIGHTNESS = 0.25
_SATURATION = (0.0, 2.0)
_CONTRAST = (0.5, 1.5)


class PatchDiscriminator(nn.Module):
    """SN-PatchGAN; `channels` gives the width of each 5x5 stride-2 layer, so `stride` = 2 ** len(channels).

    `forward(x)` takes (N, 3, H, W) and returns (logits (N, 1, H/stride, W/stride), the feature map after every
    stride-2 layer), the features being what the feature-matching loss compares.
    """

    def __init__(self, channels: tuple[int, ...] = (64, 128, 256, 256), image_channels: int = 3) -> None:
        super().__init__()
        if not channels or any(c <= 0 for c in channels):
            raise ValueError("the discriminator needs at least one layer, each with a positive width")
        widths = (image_channels, *channels)
        self.layers = nn.ModuleList(
            spectral_norm(nn.Conv2d(widths[i], widths[i + 1], 5, stride=2, padding=2)) for i in range(len(channels))
        )
        self.head = spectral_norm(nn.Conv2d(channels[-1], 1, 3, padding=1))
        self.stride = 2 ** len(channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
            features.append(x)
        return self.head(x), features


def hole_patch_labels(hole: torch.Tensor, stride: int) -> torch.Tensor:
    """1 for each discriminator cell whose stride x stride block of `hole` (N, 1, H, W; 1 = hole) holds any hole
    pixel, else 0: shape (N, 1, H/stride, W/stride), float. These are the cells of a filled image labelled fake."""
    height, width = hole.shape[-2:]
    if height % stride or width % stride:
        raise ValueError(f"image sides ({height}x{width}) must be multiples of the discriminator's stride {stride}")
    return (F.max_pool2d(hole.float(), stride) > 0).to(hole.dtype)


def r1_penalty(discriminator: nn.Module, real: torch.Tensor, gamma: float,
               augment: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """gamma/2 * mean over the batch of ||d D(x) / d x||^2, D(x) = the sum of x's cell logits (after `augment`,
    when given: the gradient is taken through it, with respect to the un-augmented image). Keeps the graph, so
    the penalty can be backpropagated into the discriminator."""
    real = real.detach().requires_grad_(True)
    logits, _ = discriminator(augment(real) if augment is not None else real)
    (gradient,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return 0.5 * gamma * gradient.float().square().sum(dim=(1, 2, 3)).mean()


def _uniform(count: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=generator)


def diff_augment(
    images: torch.Tensor, hole: torch.Tensor, generator: torch.Generator, policy: tuple[str, ...] = AUGMENTATIONS,
    pairs: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DiffAugment `images` (N, C, H, W) and move `hole` (N, 1, H, W) with them (translation, cutout).

    Parameters are drawn on the CPU from `generator`, one set per image; with `pairs` = 2 the batch is read as
    [first half; second half] and image i of each half gets the same parameters (real and fake seen alike, for
    feature matching). Returns (augmented images, augmented hole).
    """
    count = images.shape[0] // pairs
    if count * pairs != images.shape[0]:
        raise ValueError("the batch does not split into equal pairs")
    device, dtype = images.device, images.dtype
    height, width = images.shape[-2:]

    def draw(low: float, high: float) -> torch.Tensor:
        return _uniform(count, low, high, generator).repeat(pairs).to(device, dtype)[:, None, None, None]

    unknown = set(policy) - set(AUGMENTATIONS)
    if unknown:
        raise ValueError(f"unknown augmentations: {', '.join(sorted(unknown))}")
    if "color" in policy:
        images = images + draw(-_BRIGHTNESS, _BRIGHTNESS)
        mean = images.mean(dim=1, keepdim=True)
        images = (images - mean) * draw(*_SATURATION) + mean
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = (images - mean) * draw(*_CONTRAST) + mean
    if "translation" in policy:
        shift_y, shift_x = int(height * _TRANSLATION_RATIO + 0.5), int(width * _TRANSLATION_RATIO + 0.5)
        dy = torch.randint(-shift_y, shift_y + 1, (count,), generator=generator).repeat(pairs).to(device)
        dx = torch.randint(-shift_x, shift_x + 1, (count,), generator=generator).repeat(pairs).to(device)
        both = F.pad(torch.cat([images, hole.to(dtype)], dim=1), (shift_x, shift_x, shift_y, shift_y))
        rows = (torch.arange(height, device=device)[None, :] + shift_y - dy[:, None])[:, None, :, None]
        cols = (torch.arange(width, device=device)[None, :] + shift_x - dx[:, None])[:, None, None, :]
        batch = torch.arange(images.shape[0], device=device)[:, None, None, None]
        channel = torch.arange(both.shape[1], device=device)[None, :, None, None]
        both = both[batch, channel, rows, cols]
        images, hole = both[:, :-1], both[:, -1:].to(hole.dtype)
    if "cutout" in policy:
        size_y, size_x = int(height * _CUTOUT_RATIO + 0.5), int(width * _CUTOUT_RATIO + 0.5)
        centre_y = torch.randint(0, height + (1 - size_y % 2), (count,), generator=generator).repeat(pairs).to(device)
        centre_x = torch.randint(0, width + (1 - size_x % 2), (count,), generator=generator).repeat(pairs).to(device)
        ys = torch.arange(height, device=device)[None, :] - (centre_y[:, None] - size_y // 2)
        xs = torch.arange(width, device=device)[None, :] - (centre_x[:, None] - size_x // 2)
        inside = ((ys >= 0) & (ys < size_y))[:, None, :, None] & ((xs >= 0) & (xs < size_x))[:, None, None, :]
        keep = (~inside).to(dtype)
        images, hole = images * keep, hole * keep.to(hole.dtype)
    return images, hole
