"""Helpers shared by the tests: small hand-made inputs, never the code under test's own output."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pconv_studio.model import PConvUNet, UNetConfig, save_weights

TINY_CONFIG = UNetConfig(name="tiny", encoder_channels=(8, 16, 16, 16), encoder_kernels=(7, 5, 3, 3))


def make_weights(path: Path, config: UNetConfig = TINY_CONFIG, seed: int = 0) -> Path:
    """An untrained network's weights: for plumbing tests only, never presented as a result."""
    import torch

    torch.manual_seed(seed)
    save_weights(PConvUNet(config), path)
    return path


def gradient_image(height: int, width: int, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    """A smooth, asymmetric test image whose every pixel is known."""
    maximum = np.iinfo(dtype).max
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = [x / max(width - 1, 1), y / max(height - 1, 1), (x + 2 * y) / (width + 2 * height)]
    planes = (planes * 2)[:channels]
    image = np.stack(planes, axis=2) if channels > 1 else planes[0]
    return np.round(image * maximum).astype(dtype)


def make_detailed_weights(faithful: Path, path: Path, seed: int = 1, scale: float = 0.2) -> Path:
    """A stand-in for a fine-tune of `faithful`: every float tensor moved by noise of relative size `scale`, batch
    norm's running variances multiplied by a random factor in [0.5, 2] (so folding them matters). Plumbing only."""
    import torch

    from pconv_studio.model import load_weights

    model, _ = load_weights(faithful)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                tensor.mul_(torch.exp2(noise.clamp(-1, 1)))
            else:
                tensor.add_(noise * scale * (tensor.abs().mean() + 0.05))
    save_weights(model, path)
    return path


def blend_by_hand(faithful: Path, detailed: Path, t: float, path: Path) -> Path:
    """(1 - t) * faithful + t * detailed for every float tensor, in float64, read straight from the two files (not
    through the code under test's blending), saved as a weights file of the same architecture."""
    import torch
    from safetensors.torch import load_file

    from pconv_studio.model import read_weights_config

    ours, theirs = load_file(str(faithful)), load_file(str(detailed))
    state = {
        name: ((1.0 - t) * value.double() + t * theirs[name].double()).float() if value.is_floating_point() else value
        for name, value in ours.items()
    }
    model = PConvUNet(read_weights_config(faithful))
    model.load_state_dict(state)
    save_weights(model, path)
    return path
