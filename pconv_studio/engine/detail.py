"""Detail from the photo: its own high frequencies carried into a fill that was made at a lower resolution.

Contextual residual aggregation (Yi et al., "Contextual Residual Aggregation for Ultra High-Resolution Image
Inpainting", CVPR 2020, section 3.2): a fill computed at a working size and scaled up has no fine texture. The
photo's residual R = photo - up(down(photo)) holds exactly what that round trip loses. Attention scores between
patches of the coarse fill inside the hole and patches of the (coarse) surroundings pick, for every hole patch,
the places that look like it; the residuals of those places, weighted by the scores, are added to the hole:

    R_hole(i) = sum_j softmax_j(-|d_i - d_j|^2 / tau_i) R(j)        over the k most similar known patches j

Here d are descriptors of the coarse fill (the patch resized to 8 x 8 RGB), patches are 2B x 2B blocks on a
grid of stride B (B = `cell` pixels at the residual's scale, in photo pixels). Residuals are texture, so they are
mixed at constant power, not constant amplitude: the weighted sum of a block's k sources is rescaled to carry
their weighted mean power (uncorrelated sources would cancel to 1/sqrt(k), aligned ones add up), and neighbouring
blocks are blended with a sine window whose shifted copies' squares sum to 1. A constant-amplitude blend dims the
texture where blocks overlap and prints the grid on the fill. Only blocks
whose whole footprint (grown by the resize filters' support) is known serve as sources, so nothing of what is
being removed comes back.

The round trip is taken at `residual_scale` when that is coarser than the network's own scale: a large hole's
fill is smooth at every scale the network works at (it is the mean of what could be there), so the photo's
texture from that scale up is what it lacks.

Bounded: the grid has at most (working size / cell)^2 blocks whatever the photo's size, the attention is computed
in chunks, and the residual is kept only as small integers. Deterministic: no randomness anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["DetailConfig", "photo_residual", "transfer_detail"]

_DESCRIPTOR_SIDE = 8  # px: a block's descriptor is the coarse fill over it resized to 8 x 8 RGB
_CHUNK = 1024  # target blocks per attention chunk: bounds the distance matrix to 1024 x sources floats
_MAX_BLOCKS = 96  # blocks along the crop's longer side at most: bounds the sources (and time) on any photo


@dataclass(frozen=True)
class DetailConfig:
    """`cell`: the grid's stride in pixels at the residual's scale; `candidates`: known blocks aggregated per hole
    block; `residual_scale`: the round trip that defines the residual goes at least this far down (0.4: the
    photo's texture finer than 2.5 px); `strength`: the residual's amplitude in the fill, relative to the photo's.

    The defaults were chosen on large photos (docs/resolution.md): at full strength the texture distance falls by
    up to 85% but the hole's PSNR by up to 1 dB on some photos (texture that is plausible, not true); at half
    strength, on 8 photos with object holes, the distance fell by a third for 0.01 dB; three quarters is between.
    Blocks of 2 x 8 px at the residual's scale (40 px in a photo) leave no visible grid; blocks of 4 px did."""

    cell: int = 8
    candidates: int = 3
    residual_scale: float = 0.4
    strength: float = 0.75

    def __post_init__(self) -> None:
        if (self.cell < 1 or self.candidates < 1 or not 0 < self.residual_scale <= 1
                or not 0 <= self.strength <= 1):
            raise ValueError("invalid detail-transfer config")


def photo_residual(photo: np.ndarray, small_size: tuple[int, int]) -> np.ndarray:
    """photo - cubic_up(area_down(photo)): what a round trip through `small_size` (height, width) loses; the same
    filters as the scaled pass. int32 HxWxC in the photo's own units (8 or 16 bit)."""
    height, width = photo.shape[:2]
    small = cv2.resize(photo, (small_size[1], small_size[0]), interpolation=cv2.INTER_AREA)
    back = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).reshape(photo.shape)
    return photo.astype(np.int32) - back.astype(np.int32)


def _window(length: int) -> np.ndarray:
    """sin over 2 * length samples: the squares of copies shifted by `length` sum to exactly 1 (constant power)."""
    x = (np.arange(2 * length) + 0.5) / (2 * length)
    return np.sin(np.pi * x)


def transfer_detail(
    photo: np.ndarray, known: np.ndarray, coarse_small: np.ndarray, where: np.ndarray,
    config: DetailConfig = DetailConfig(),
) -> np.ndarray:
    """The aggregated residual to add to a fill at `where` (one made from the coarse pass, scaled up).

    photo: HxWxC uint8/uint16 (C = 1 or 3), a crop of the photo; its pixels are trusted only where `known`.
    known: bool HxW, True where the photo's pixel is known (outside every hole).
    coarse_small: hxwxC float32 in [0, 1], the coarse composite at the network's size (h, w) <= (H, W).
    where: bool HxW, the pixels that receive detail.
    Returns float32 HxWxC in the photo's units (0 outside `where`); all zero when no known block exists.
    """
    height, width = where.shape
    small_height, small_width = coarse_small.shape[:2]
    scale = small_width / width
    residual_scale = min(scale, config.residual_scale)
    # B: the grid's stride in photo pixels, `cell` pixels at the residual's scale; at most _MAX_BLOCKS a side
    block = max(2, int(round(config.cell / residual_scale)), -(-max(height, width) // _MAX_BLOCKS))
    channels = 1 if photo.ndim == 2 else photo.shape[2]
    photo = photo.reshape(height, width, channels)
    # blocks k = 0..n start at (k - 1) * B and span 2B: every pixel lies in exactly two blocks per axis; the
    # arrays below are padded by B before and 2B after, so block (row, col) starts at (row * B, col * B)
    rows, cols = height // block + 2, width // block + 2
    padding = ((block, 2 * block), (block, 2 * block))
    trip = (max(1, round(height * residual_scale)), max(1, round(width * residual_scale)))
    residual = np.pad(photo_residual(photo, trip).reshape(height, width, channels), (*padding, (0, 0)))
    support = int(math.ceil(2.0 / residual_scale)) + 1  # px a pixel's residual is mixed over by the area/cubic pair
    clean = cv2.erode(known.astype(np.uint8), np.ones((2 * support + 1, 2 * support + 1), np.uint8), borderValue=0)
    clean_blocks = _over_blocks(np.pad(clean, padding), block, rows, cols, np.minimum)
    wanted = _over_blocks(np.pad(where, padding).astype(np.uint8), block, rows, cols, np.maximum)
    sources = np.argwhere(clean_blocks > 0)
    targets = np.argwhere(wanted > 0)
    if len(sources) == 0 or len(targets) == 0:
        return np.zeros((height, width, channels), np.float32)
    out = np.zeros((height + 3 * block, width + 3 * block, channels), np.float32)
    expected = np.zeros(out.shape[:2], np.float32)  # the power each pixel should carry (per channel)
    descriptors = _descriptors(coarse_small.reshape(small_height, small_width, channels), scale, block, rows, cols)
    source_descriptors = descriptors[sources[:, 0], sources[:, 1]]
    weights_2d = np.outer(_window(block), _window(block)).astype(np.float32)[..., None]
    k = min(config.candidates, len(sources))
    for start in range(0, len(targets), _CHUNK):
        chunk = targets[start:start + _CHUNK]
        target_descriptors = descriptors[chunk[:, 0], chunk[:, 1]]
        distances = (np.sum(target_descriptors**2, axis=1)[:, None] - 2 * target_descriptors @ source_descriptors.T
                     + np.sum(source_descriptors**2, axis=1)[None, :])
        nearest = np.argpartition(distances, k - 1, axis=1)[:, :k] if k < len(sources) else \
            np.broadcast_to(np.arange(len(sources)), (len(chunk), len(sources)))
        chosen = np.take_along_axis(distances, nearest, axis=1)
        order = np.argsort(chosen, axis=1, kind="stable")  # ties broken by index: deterministic
        nearest, chosen = np.take_along_axis(nearest, order, axis=1), np.take_along_axis(chosen, order, axis=1)
        temperature = np.maximum(chosen.mean(axis=1, keepdims=True), 1e-6)
        scores = np.exp(-(chosen - chosen[:, :1]) / temperature)
        scores /= scores.sum(axis=1, keepdims=True)
        for (row, col), picks, weights in zip(chunk, nearest, scores):
            aggregated = np.zeros((2 * block, 2 * block, channels), np.float32)
            power = 0.0  # the power the block should carry: the sources' own, weighted
            for pick, weight in zip(picks, weights):
                top, left = sources[pick] * block
                patch = residual[top:top + 2 * block, left:left + 2 * block]
                aggregated += weight * patch
                power += weight * float(np.mean(np.square(patch, dtype=np.float32)))
            mixed = float(np.mean(np.square(aggregated)))
            if mixed > 0:  # constant power: see the module docstring
                aggregated *= np.float32(np.sqrt(power / mixed))
            out[row * block:row * block + 2 * block, col * block:col * block + 2 * block] += weights_2d * aggregated
            expected[row * block:row * block + 2 * block, col * block:col * block + 2 * block] += \
                weights_2d[..., 0] ** 2 * np.float32(power)
    # blocks whose sources happen to line up (a periodic texture) add up where they overlap: bring the local power,
    # averaged over a block, back to what the sources carry
    actual = cv2.blur(np.square(out).mean(axis=2), (block, block))
    wanted = np.maximum(cv2.blur(expected, (block, block)), 0)  # a box filter's running sums can dip below 0
    out *= np.sqrt(wanted / np.maximum(actual, 1e-12))[..., None].astype(np.float32)
    detail = out[block:block + height, block:block + width] * np.float32(config.strength)
    detail[~where] = 0
    return detail


def _over_blocks(image: np.ndarray, block: int, rows: int, cols: int, reduce: np.ufunc) -> np.ndarray:
    """Per block (2B x 2B at stride B): `reduce` (np.minimum or np.maximum) of `image` over it, from the B x B
    cells: each block is four cells."""
    cells = reduce.reduce(image[:(rows + 1) * block, :(cols + 1) * block].reshape(rows + 1, block, cols + 1, block),
                          axis=(1, 3))
    return reduce.reduce([cells[:-1, :-1], cells[1:, :-1], cells[:-1, 1:], cells[1:, 1:]])


def _descriptors(coarse_small: np.ndarray, scale: float, block: int, rows: int, cols: int) -> np.ndarray:
    """(rows, cols, 8 * 8 * C) descriptors: the coarse fill over each block, resized to 8 x 8."""
    half = _DESCRIPTOR_SIDE // 2  # a block of 2B photo px becomes 8 descriptor px: B -> 4
    grid_height, grid_width = (rows + 1) * half, (cols + 1) * half
    # the coarse image on the padded block grid: photo px y maps to descriptor px (y + B) * 4 / B
    small_height, small_width = coarse_small.shape[:2]
    channels = coarse_small.shape[2]
    photo_height, photo_width = small_height / scale, small_width / scale
    size = (max(1, round(photo_width * half / block)), max(1, round(photo_height * half / block)))
    resized = cv2.resize(coarse_small, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], channels)
    grid = np.zeros((grid_height, grid_width, channels), np.float32)
    h, w = min(resized.shape[0], grid_height - half), min(resized.shape[1], grid_width - half)
    grid[half:half + h, half:half + w] = resized[:h, :w]
    windows = np.lib.stride_tricks.sliding_window_view(grid, (_DESCRIPTOR_SIDE, _DESCRIPTOR_SIDE), axis=(0, 1))
    windows = windows[::half, ::half][:rows, :cols]  # (rows, cols, C, 8, 8)
    return np.ascontiguousarray(windows.reshape(rows, cols, -1)).astype(np.float32)
