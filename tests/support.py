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
