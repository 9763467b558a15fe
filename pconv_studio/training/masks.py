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
    "RETOUCH_MASK_KINDS", "OBJECT_AREA", "OBJECT_COUNT", "WIRE_WIDTH", "WIRE_COUNT", "WIRE_MIN_EXTENT",
    "object_mask", "wire_mask", "retouch_mask",
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
    _brush_path(layer, _rotated_points(path, rng.uniform(0, 2 * math.pi), centre), width)


def _brush_path(layer: np.ndarray, pixels: np.ndarray, width: int) -> None:
    """Paint a brush of `width` px along the int32 (N, 2) x, y points, with round joints and ends."""
    cv2.polylines(layer, [pixels.reshape(-1, 1, 2)], isClosed=False, color=1, thickness=width, lineType=cv2.LINE_8)
    for x, y in pixels:
        cv2.circle(layer, (int(x), int(y)), width // 2, 1, thickness=-1)


def _blob_outline(area: float, rng: np.random.Generator) -> np.ndarray:
    """A star-shaped polygon (float (N, 2), centred on 0) whose radius wobbles smoothly around a circle of `area`."""
    radius = math.sqrt(area / math.pi)
    corners = int(rng.integers(8, 20))
    angles = np.sort(rng.uniform(0, 2 * math.pi, corners))
    wobble = 1.0 + 0.35 * np.sin(angles * rng.integers(2, 5) + rng.uniform(0, 2 * math.pi))
    radii = radius * wobble * rng.uniform(0.8, 1.2, corners)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _blob(layer: np.ndarray, area: float, centre: tuple[float, float], rng: np.random.Generator) -> None:
    """A star-shaped blob of about the given area (`_blob_outline`), any orientation."""
    outline = _blob_outline(area, rng)
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


# --- the holes a retoucher paints over a whole photo (the full-resolution evaluation) -------------------------

RETOUCH_MASK_KINDS = ("objects", "wires")
OBJECT_AREA = (0.01, 0.03)  # each object's share of the photo's area
OBJECT_COUNT = (2, 4)  # objects per photo, both ends included
WIRE_WIDTH = (0.005, 0.015)  # a wire's width as a share of the photo's short side
WIRE_COUNT = (1, 3)
WIRE_MIN_EXTENT = 0.6  # a wire spans at least this share of the photo's width or of its height
_OBJECT_GAP = 0.03  # of the short side: objects keep this far from each other and from the border
_WIRE_GAP = 0.04  # of the short side: wires keep this far apart (they never cross)
_PLACEMENT_TRIES = 200


def _object_shape(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A ragged outline of about unit area, as a brush traces an object: a `_blob_outline` polygon plus round dabs
    of varied size along its edge. Returns (polygon (N, 2), dabs (M, 3) as x, y, radius), floats centred on 0."""
    polygon = _blob_outline(1.0, rng)
    closed = np.vstack([polygon, polygon[:1]])
    lengths = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(lengths)])
    count = int(rng.integers(14, 29))
    positions = (np.arange(count) + rng.uniform(0, 1, count)) * along[-1] / count
    centres = np.stack([np.interp(positions, along, closed[:, axis]) for axis in (0, 1)], axis=1)
    radii = rng.uniform(0.05, 0.14, count)  # a unit-area circle has radius 0.56
    centres += rng.normal(0, 0.3, (count, 2)) * radii[:, None]
    return polygon, np.concatenate([centres, radii[:, None]], axis=1)


def _draw_object(shape: tuple[np.ndarray, np.ndarray], scale: float, margin: int) -> np.ndarray:
    """`shape` scaled by `scale` on a square uint8 canvas centred on it, with `margin` px to spare on every side."""
    polygon, dabs = shape[0] * scale, shape[1] * scale
    extent = max(np.abs(polygon).max(), (np.abs(dabs[:, :2]) + dabs[:, 2:]).max())
    centre = int(math.ceil(extent)) + margin + 1
    canvas = np.zeros((2 * centre + 1, 2 * centre + 1), np.uint8)
    cv2.fillPoly(canvas, [np.round(polygon + centre).astype(np.int32)], 1)
    for x, y, radius in dabs:
        cv2.circle(canvas, (int(round(x + centre)), int(round(y + centre))), max(1, int(round(radius))), 1, -1)
    return canvas


def object_mask(height: int, width: int, rng: np.random.Generator, count: int | None = None) -> np.ndarray:
    """Holes over a few objects (bool HxW, True = hole): `count` (default: drawn from `OBJECT_COUNT`) separate
    ragged blobs, each covering a share of the photo drawn from `OBJECT_AREA`, at least `_OBJECT_GAP` of the short
    side from each other and from the border. Each blob's scale is corrected twice from its rasterised area, so
    its area lands within 1% of its target (targets keep 2% inside the range)."""
    count = int(rng.integers(OBJECT_COUNT[0], OBJECT_COUNT[1] + 1)) if count is None else count
    gap = max(1, int(round(_OBJECT_GAP * min(height, width))))
    mask = np.zeros((height, width), np.uint8)
    for _ in range(count):
        target = rng.uniform(OBJECT_AREA[0] * 1.02, OBJECT_AREA[1] * 0.98) * height * width
        shape = _object_shape(rng)
        scale = math.sqrt(target)
        for _ in range(2):
            scale *= math.sqrt(target / np.count_nonzero(_draw_object(shape, scale, 0)))
        canvas = _draw_object(shape, scale, gap)
        side = canvas.shape[0]
        if side > min(height, width):
            raise ValueError(f"a {width}x{height} photo is too small for objects of {OBJECT_AREA} of its area")
        keep_out = cv2.distanceTransform(1 - canvas, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= gap
        for _ in range(_PLACEMENT_TRIES):
            top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
            window = mask[top:top + side, left:left + side]
            if not (window.astype(bool) & keep_out).any():
                window |= canvas
                break
        else:
            raise RuntimeError(f"could not place {count} objects apart on a {width}x{height} photo")
    return mask.astype(bool)


def _wire_path(height: int, width: int, direction: float, rng: np.random.Generator) -> np.ndarray:
    """A gently sagging curve (int32 (N, 2) x, y) through a point of the photo's middle, running on past the
    frame at both ends."""
    angle = direction + rng.uniform(-0.15, 0.15)
    through = np.array([rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height])
    short = min(height, width)
    t = np.linspace(-1.0, 1.0, 65)
    along = t * math.hypot(height, width)
    across = rng.uniform(-0.06, 0.06) * short * (1 - t**2) + rng.uniform(-0.01, 0.01) * short * np.sin(
        3 * math.pi * t + rng.uniform(0, 2 * math.pi))
    cos, sin = math.cos(angle), math.sin(angle)
    points = through + np.stack([along * cos - across * sin, along * sin + across * cos], axis=1)
    return np.round(points).astype(np.int32)


def wire_mask(height: int, width: int, rng: np.random.Generator, count: int | None = None) -> np.ndarray:
    """Holes over wires (bool HxW, True = hole): `count` (default: drawn from `WIRE_COUNT`) long strokes of
    constant width, drawn from `WIRE_WIDTH` of the short side, running in about one direction (as power lines
    do) across at least `WIRE_MIN_EXTENT` of the photo, never closer to each other than `_WIRE_GAP`."""
    count = int(rng.integers(WIRE_COUNT[0], WIRE_COUNT[1] + 1)) if count is None else count
    short = min(height, width)
    narrowest, widest = math.ceil(WIRE_WIDTH[0] * short), math.floor(WIRE_WIDTH[1] * short)
    if narrowest > widest:
        raise ValueError(f"a {width}x{height} photo is too small for wires of {WIRE_WIDTH} of its short side")
    gap = max(1, int(round(_WIRE_GAP * short)))
    direction = rng.uniform(0, math.pi)
    mask = np.zeros((height, width), np.uint8)
    layer = np.empty_like(mask)
    for _ in range(count):
        thickness = int(np.clip(round(rng.uniform(*WIRE_WIDTH) * short), narrowest, widest))
        for _ in range(_PLACEMENT_TRIES):
            path = _wire_path(height, width, direction, rng)
            layer.fill(0)
            _brush_path(layer, path, thickness + 2 * gap)  # the wire with its keep-out margin
            if (layer & mask).any():
                continue
            layer.fill(0)
            _brush_path(layer, path, thickness)
            _, _, box_width, box_height = cv2.boundingRect(layer)
            if max(box_width / width, box_height / height) >= WIRE_MIN_EXTENT:
                mask |= layer
                break
        else:
            raise RuntimeError(f"could not draw {count} wires apart on a {width}x{height} photo")
    return mask.astype(bool)


def retouch_mask(kind: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A mask of one of `RETOUCH_MASK_KINDS` ("objects" or "wires") for a height x width photo."""
    if kind == "objects":
        return object_mask(height, width, rng)
    if kind == "wires":
        return wire_mask(height, width, rng)
    raise ValueError(f"unknown mask kind {kind!r}: choose from {', '.join(RETOUCH_MASK_KINDS)}")


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
