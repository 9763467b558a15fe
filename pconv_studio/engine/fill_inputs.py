"""What `Inpainter.inpaint` accepts, checked in one place, and the pixel forms it reduces to the ones it fills.

The fill itself works on HxW grey or HxWx3/HxWx4 colour, uint8 or uint16. Other accepted forms are reduced to
those and restored afterwards, so the caller gets back its own shape and dtype, every pixel outside the hole
unchanged:
- floating-point pixels are mapped linearly onto uint16 over [min(0, lowest), max(1, highest)] (values above 1.0
  are kept, not clipped) and the hole's fill is mapped back to floats;
- HxWx1 and grey + alpha (HxWx2) are filled as HxW grey;
- colour pixels whose channels are equal everywhere outside the hole (a grey photo stored as RGB/RGBA) are
  filled as grey, so the fill's channels are equal too (the network would tint it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InputError
from .imageio import check_mask_matches

__all__ = ["ReducedPixels", "check_fill_inputs", "reduce_for_fill"]

_CHANNELS = (1, 2, 3, 4)


def check_fill_inputs(pixels: object, hole: object) -> np.ndarray:
    """Raise `InputError` saying what is expected unless `pixels` is an HxW or HxWxC (C = 1-4) array of uint8,
    uint16 or floats and `hole` an HxW or HxWx1 array of bools or integers (non-zero = hole) of the same size.
    Returns the hole as bool HxW."""
    if not isinstance(pixels, np.ndarray) or not isinstance(hole, np.ndarray):
        raise InputError("pixels and hole must be numpy arrays")
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in _CHANNELS) or pixels.size == 0:
        raise InputError(f"pixels must be HxW or HxWxC with C = 1 to 4 channels and no empty side, not {pixels.shape}")
    if pixels.dtype not in (np.uint8, np.uint16) and pixels.dtype.kind != "f":
        raise InputError(f"pixels must be uint8, uint16 or floating point, not {pixels.dtype}")
    if hole.ndim == 3 and hole.shape[2] == 1:
        hole = hole[:, :, 0]
    if hole.ndim != 2:
        raise InputError(f"the hole must be HxW (or HxWx1), not {hole.shape}")
    if hole.dtype != bool and hole.dtype.kind not in "ui":
        raise InputError(f"the hole must be bool or integer (non-zero = hole), not {hole.dtype}")
    check_mask_matches(pixels, hole)
    return hole.astype(bool, copy=False)


@dataclass
class ReducedPixels:
    """Pixels in a form the fill takes, and how to turn the filled form back into the caller's."""

    pixels: np.ndarray
    restore: Callable[[np.ndarray], np.ndarray]


def reduce_for_fill(pixels: np.ndarray, hole: np.ndarray) -> ReducedPixels | None:
    """The next reduction of `pixels` (see the module docstring), or None when the fill takes them as they are."""
    if pixels.dtype.kind == "f":
        return _float_as_uint16(pixels, hole)
    if pixels.ndim == 3 and pixels.shape[2] in (1, 2):
        def restore_channel(filled: np.ndarray) -> np.ndarray:
            out = pixels.copy()
            out[..., 0] = filled
            return out

        return ReducedPixels(np.ascontiguousarray(pixels[..., 0]), restore_channel)
    if pixels.ndim == 3 and _grey_outside(pixels, hole):
        def restore_grey(filled: np.ndarray) -> np.ndarray:
            out = pixels.copy()
            out[..., :3] = filled[..., None]
            return out

        return ReducedPixels(np.ascontiguousarray(pixels[..., 0]), restore_grey)
    return None


def _grey_outside(pixels: np.ndarray, hole: np.ndarray) -> bool:
    """Whether R = G = B at every pixel outside the hole (what is inside is replaced anyway)."""
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return bool((((red == green) & (green == blue)) | hole).all())


def _float_as_uint16(pixels: np.ndarray, hole: np.ndarray) -> ReducedPixels:
    colour = pixels[..., :3] if pixels.ndim == 3 and pixels.shape[2] >= 3 else pixels
    known = colour[~hole]
    if not np.isfinite(known).all():
        raise InputError("the pixels outside the hole include NaN or infinite values: there is nothing to fill from")
    low = min(0.0, float(known.min()))
    high = max(1.0, float(known.max()))
    scale = 65535.0 / (high - low)
    safe = np.where(np.isfinite(pixels), pixels, low)  # hole pixels may hold anything: they are replaced
    mapped = np.clip(np.round((safe.astype(np.float64) - low) * scale), 0, 65535).astype(np.uint16)

    def restore(filled: np.ndarray) -> np.ndarray:
        out = pixels.copy()
        values = (filled.astype(np.float64) / scale + low).astype(pixels.dtype)
        if out.ndim == 2:
            out[hole] = values[hole]
        else:  # colour channels only: alpha stays as it was
            colours = slice(0, 3) if out.shape[2] >= 3 else slice(0, 1)
            out[..., colours][hole] = values[..., colours][hole]
        return out

    return ReducedPixels(mapped, restore)
