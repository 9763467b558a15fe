"""Irregular hole masks for training and evaluation: brush strokes, blobs and ellipses, deterministic for a seed.

Convention: a mask is a bool HxW numpy array, True = hole (the network's float mask is its negation: 1 = valid).

A mask aims at a hole ratio drawn uniformly inside a bin, e.g. (0.1, 0.2) as in the paper's evaluation. Shapes are
added one at a time, each sized for the area still missing; a shape that would push the ratio past the bin's top
is redrawn smaller, so every mask lands in its bin. Each shape gets a random rotation (its outline is generated
in a rotated frame) and a random dilation. In 40% of masks every hole keeps off the border; in the others shape
centres may fall slightly outside the frame, so holes touch the border.

Training draws from a bank built once (`build_mask_bank`) and kept on the GPU; `augment_masks` flips and
transposes bank entries there, so the data path never waits for OpenCV.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np
import torch

__all__ = [
    "HOLE_RATIO_BINS", "MaskGenerator", "random_mask", "mask_rng", "build_mask_bank", "augment_masks",
]

log = logging.getLogger(__name__)

# The paper's evaluation bins of hole-to-image area ratio.
HOLE_RATIO_BINS: tuple[tuple[float, float], ...] = (
    (0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6),
)

_MAX_SHAPES = 400  # attempts per mask; a mask needs about 3-30, small bins on small frames a few more
_OUTSIDE_FRACTION = 0.1  # shape centres fall up to this fraction of the side outside the frame
_INLAND_PROBABILITY = 0.4  # share of masks whose holes all keep off the border


def _touches_border(layer: np.ndarray) -> bool:
    return bool(layer[0].any() or layer[-1].any() or layer[:, 0].any() or layer[:, -1].any())


def mask_rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator per (seed, stream...), so mask i does not depend on how many came before it."""
    return np.random.default_rng([seed, *stream])


def _rotated_points(points: np.ndarray, angle: float, centre: tuple[float, float]) -> np.ndarray:
    cos, sin = math.cos(angle), math.sin(angle)
    rotated = points @ np.array([[cos, sin], [-sin, cos]])
    return np.round(rotated + np.asarray(centre)).astype(np.int32)


def _stroke(layer: np.ndarray, area: float, centre: tuple[float, float], rng: np.random.Generator) -> None:
    """A free-form brush stroke: a random walk of segments with round joints, `area` ~ length x width."""
    width = max(2, int(round(math.sqrt(area) * rng.uniform(0.12, 0.45))))
    length = area / width
    vertices = int(rng.integers(2, 8))
    heading = rng.uniform(0, 2 * math.pi)
    points = [np.zeros(2)]
    for _ in range(vertices - 1):
        heading += rng.uniform(-1.2, 1.2)
        step = length / (vertices - 1) * rng.uniform(0.6, 1.4)
        points.append(points[-1] + step * np.array([math.cos(heading), math.sin(heading)]))
    path = np.array(points)
    path -= path.mean(axis=0)
    pixels = _rotated_points(path, rng.uniform(0, 2 * math.pi), centre)
    cv2.polylines(layer, [pixels.reshape(-1, 1, 2)], isClosed=False, color=1, thickness=width, lineType=cv2.LINE_8)
    for x, y in pixels:
        cv2.circle(layer, (int(x), int(y)), width // 2, 1, thickness=-1)


def _blob(layer: np.ndarray, area: float, centre: tuple[float, float], rng: np.random.Generator) -> None:
    """A star-shaped blob: a polygon whose radius wobbles smoothly around a circle of the given area."""
    radius = math.sqrt(area / math.pi)
    corners = int(rng.integers(8, 20))
    angles = np.sort(rng.uniform(0, 2 * math.pi, corners))
    wobble = 1.0 + 0.35 * np.sin(angles * rng.integers(2, 5) + rng.uniform(0, 2 * math.pi))
    radii = radius * wobble * rng.uniform(0.8, 1.2, corners)
    outline = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    cv2.fillPoly(layer, [_rotated_points(outline, rng.uniform(0, 2 * math.pi), centre)], 1)


def _ellipse(layer: np.ndarray, area: float, centre: tuple[float, float], rng: np.random.Generator) -> None:
    """A filled ellipse of the given area, aspect ratio 1 to 4, any orientation."""
    aspect = rng.uniform(1.0, 4.0)
    minor = math.sqrt(area / (math.pi * aspect))
    axes = (max(1, int(round(minor * aspect))), max(1, int(round(minor))))
    cv2.ellipse(layer, (int(round(centre[0])), int(round(centre[1]))), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)


_SHAPES = (_stroke, _stroke, _blob, _ellipse)  # strokes twice as often: they are the typical retouching hole


def random_mask(
    height: int, width: int, ratio_bin: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """One irregular mask (bool HxW, True = hole) whose hole ratio lies in [ratio_bin[0], ratio_bin[1]]."""
    low, high = ratio_bin
    if not 0.0 <= low <= high < 1.0:
        raise ValueError(f"a hole-ratio bin must satisfy 0 <= low <= high < 1, got {ratio_bin}")
    total = height * width
    # The target stays clear of the bin's edges by one pixel so integer areas still land inside.
    target = rng.uniform(low, high) if high - low > 2.0 / total else (low + high) / 2
    target = min(max(target, low + 1.0 / total), high)
    mask = np.zeros((height, width), np.uint8)
    layer = np.empty_like(mask)
    holes = 0
    shrink = 1.0
    inland = rng.random() < _INLAND_PROBABILITY
    spread = (0.1, 0.9) if inland else (-_OUTSIDE_FRACTION, 1 + _OUTSIDE_FRACTION)
    for _ in range(_MAX_SHAPES):
        missing = target * total - holes
        if missing < 1.0:
            break
        area = max(2.0, missing * rng.uniform(0.3, 1.0) * shrink)
        centre = (rng.uniform(*spread) * width, rng.uniform(*spread) * height)
        layer.fill(0)
        _SHAPES[int(rng.integers(len(_SHAPES)))](layer, area, centre, rng)
        if rng.random() < 0.3:
            size = 2 * int(rng.integers(1, 3)) + 1
            layer = cv2.dilate(layer, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
        candidate = mask | layer
        count = int(np.count_nonzero(candidate))
        if count > high * total or (inland and _touches_border(layer)):
            shrink *= 0.6
            continue
        mask, holes = candidate, count
        shrink = min(1.0, shrink * 1.5)
    if holes < low * total:  # never seen in practice; a plain error beats a mask outside its bin
        raise RuntimeError(f"could not draw a {width}x{height} mask in bin {ratio_bin} ({holes / total:.3f})")
    return mask.astype(bool)


class MaskGenerator:
    """Masks from one seeded stream: the same seed gives the same sequence of masks."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, height: int, width: int, ratio_bin: tuple[float, float] | None = None) -> np.ndarray:
        """A mask in `ratio_bin`, or in a bin chosen uniformly from `HOLE_RATIO_BINS` when it is None."""
        if ratio_bin is None:
            ratio_bin = HOLE_RATIO_BINS[int(self.rng.integers(len(HOLE_RATIO_BINS)))]
        return random_mask(height, width, ratio_bin, self.rng)


def build_mask_bank(
    count: int,
    size: int,
    seed: int = 0,
    bins: tuple[tuple[float, float], ...] = HOLE_RATIO_BINS,
) -> np.ndarray:
    """`count` square masks (bool, count x size x size), mask i in bin i mod len(bins), from `mask_rng(seed, i)`.

    About 0.7 ms a mask at 256x256 on one core: 8,192 masks take 6 s.
    """
    masks = [random_mask(size, size, bins[index % len(bins)], mask_rng(seed, index)) for index in range(count)]
    log.info("built a bank of %d masks of %dx%d", count, size, size)
    return np.stack(masks) if masks else np.zeros((0, size, size), bool)


def augment_masks(masks: torch.Tensor, variants: torch.Tensor) -> torch.Tensor:
    """Apply one of the 8 flips/transposes of the square to each mask (N, H, W): `variants` holds 0..7.

    Bit 0 flips left-right, bit 1 flips up-down, bit 2 transposes; all in one pass on the masks' device.
    """
    flip_x = (variants & 1).bool()[:, None, None]
    flip_y = (variants & 2).bool()[:, None, None]
    swap = (variants & 4).bool()[:, None, None]
    masks = torch.where(flip_x, masks.flip(-1), masks)
    masks = torch.where(flip_y, masks.flip(-2), masks)
    return torch.where(swap, masks.transpose(-1, -2), masks)
