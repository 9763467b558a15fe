"""Pixels as stored (uint8 or uint16, grey or colour) to the network's float RGB in [0, 1] and back, in one place.

The network takes RGB; grey goes in as three equal channels and comes back as their mean. Alpha is never the
network's business: callers pass the colour channels or an HxWx4 array whose fourth channel is ignored.
"""

from __future__ import annotations

import numpy as np

__all__ = ["from_float_rgb", "to_float_rgb"]


def to_float_rgb(pixels: np.ndarray) -> np.ndarray:
    """HxW, HxWx3 or HxWx4 uint8/uint16 -> HxWx3 float32 in [0, 1] (alpha is not the network's business)."""
    scale = 65535.0 if pixels.dtype == np.uint16 else 255.0
    rgb = pixels[..., :3] if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    return rgb.astype(np.float32) / scale


def from_float_rgb(rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    """HxWx3 floats back to `like`'s dtype and colour layout (grey takes the channel mean); rounds and clips."""
    maximum = 65535.0 if like.dtype == np.uint16 else 255.0
    values = rgb.mean(axis=-1) if like.ndim == 2 else rgb
    return np.clip(values * maximum + 0.5, 0, maximum).astype(like.dtype)
