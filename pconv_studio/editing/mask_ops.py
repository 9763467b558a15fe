"""Hole-mask operations for the editor, and the per-layer masks the propagation panel shows. numpy/OpenCV, no Qt.

Conventions: masks are bool HxW, True = hole. Points are (x, y) in image coordinates: x to the right, y down, and
pixel (row r, column c) covers [c, c+1) x [r, r+1), so its centre is (c + 0.5, r + 0.5). A shape covers a pixel when
it covers the pixel's centre. Editing functions change the mask in place and return the `Region` they may have
changed (None when nothing could change), so the document can record just that box for undo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import cv2
import numpy as np
import torch

from ..engine.inpainter import InpaintResult, Region, ResolutionConfig, network_hole, staged_pass
from ..engine.upscale import UpscaleResult, grid_positions
from ..model import UNetConfig, layer_specs, propagate_masks, propagate_ratios

__all__ = [
    "MIN_SHAPE_WIDTH", "Point", "StageMask", "StageStack", "UPSCALE_GRID_STAGE", "bounding_region", "changed_region",
    "clear", "fill_polygon", "fill_rectangle", "grow", "invert", "is_degenerate", "paint_capsule", "staged_region",
    "propagated_stages", "resize_nearest", "shrink", "stages_from_result", "stages_from_upscale", "upscale_grid_hole",
]

Point = tuple[float, float]


def _clipped(shape: tuple[int, ...], top: float, left: float, bottom: float, right: float) -> Region | None:
    """The pixels whose centres may lie in [left, right] x [top, bottom], clipped to the mask; None if none."""
    height, width = shape[:2]
    region = Region(
        max(0, math.floor(top - 0.5)), max(0, math.floor(left - 0.5)),
        min(height, math.ceil(bottom + 0.5)), min(width, math.ceil(right + 0.5)),
    )
    return region if region.height > 0 and region.width > 0 else None


def _pixel_centres(region: Region) -> tuple[np.ndarray, np.ndarray]:
    """Column vector of y and row vector of x of the pixel centres in `region`."""
    ys = np.arange(region.top, region.bottom, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(region.left, region.right, dtype=np.float64)[None, :] + 0.5
    return ys, xs


def paint_capsule(mask: np.ndarray, start: Point, end: Point, radius: float, value: bool = True) -> Region | None:
    """Set every pixel within `radius` of the segment start-end (a round brush dragged from start to end)."""
    (x0, y0), (x1, y1) = start, end
    region = _clipped(mask.shape, min(y0, y1) - radius, min(x0, x1) - radius,
                      max(y0, y1) + radius, max(x0, x1) + radius)
    if region is None:
        return None
    ys, xs = _pixel_centres(region)
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0.0, 1.0)
    inside = (xs - (x0 + t * dx)) ** 2 + (ys - (y0 + t * dy)) ** 2 <= radius * radius
    mask[region.window][inside] = value
    return region


def fill_rectangle(mask: np.ndarray, corner: Point, opposite: Point, value: bool = True) -> Region | None:
    """Set the pixels whose centres lie in the axis-aligned rectangle spanned by two corners."""
    left, right = sorted((corner[0], opposite[0]))
    top, bottom = sorted((corner[1], opposite[1]))
    region = _clipped(mask.shape, top, left, bottom, right)
    if region is None:
        return None
    ys, xs = _pixel_centres(region)
    inside = (ys >= top) & (ys <= bottom) & (xs >= left) & (xs <= right)
    mask[region.window][inside] = value
    return region


_ROWS_PER_CHUNK = 256  # bounds the rows x edges crossing table of a long lasso


def fill_polygon(mask: np.ndarray, points: Sequence[Point], value: bool = True) -> Region | None:
    """Set the pixels whose centres lie inside the closed polygon (a lasso; even-odd rule, so a lasso that
    crosses itself leaves the overlap out); fewer than 3 points fill nothing."""
    if len(points) < 3:
        return None
    vertices = np.asarray(points, dtype=np.float64)
    region = _clipped(mask.shape, vertices[:, 1].min(), vertices[:, 0].min(),
                      vertices[:, 1].max(), vertices[:, 0].max())
    if region is None:
        return None
    x0, y0 = vertices[:, 0], vertices[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    target = mask[region.window]
    for top in range(region.top, region.bottom, _ROWS_PER_CHUNK):
        ys, _ = _pixel_centres(Region(top, 0, min(top + _ROWS_PER_CHUNK, region.bottom), 0))
        crosses = (y0 > ys) != (y1 > ys)  # rows x edges: the edge spans this row's centre line
        with np.errstate(divide="ignore", invalid="ignore"):
            xs = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
        rows, edges = np.nonzero(crosses)
        # a crossing at x flips inside/outside for every pixel whose centre lies to its right
        first_right = np.clip(np.floor(xs[rows, edges] - 0.5).astype(np.int64) + 1 - region.left, 0, region.width)
        flips = np.zeros((ys.shape[0], region.width + 1), np.int32)
        np.add.at(flips, (rows, first_right), 1)
        inside = (np.cumsum(flips[:, :-1], axis=1) & 1).astype(bool)
        target[top - region.top:top - region.top + ys.shape[0]][inside] = value
    return region


MIN_SHAPE_WIDTH = 3  # screen pixels: a lasso or rectangle thinner than this everywhere is a line, not a shape


def is_degenerate(points: Sequence[Point], scale: float = 1.0) -> bool:
    """True when the closed polygon, drawn at `scale` screen pixels per image pixel, has no part at least
    MIN_SHAPE_WIDTH screen pixels across (no MIN_SHAPE_WIDTH x MIN_SHAPE_WIDTH block of screen-pixel centres
    inside it): a lasso dragged along a line, a rectangle one pixel tall, a click. Such a shape would add only a
    scatter of pixels too thin to see, so the editor adds nothing. Even-odd rule, as `fill_polygon`."""
    if len(points) < 3:
        return True
    on_screen = np.asarray(points, dtype=np.float64) * scale
    corner = np.floor(on_screen.min(axis=0)) - 1
    size = np.ceil(on_screen.max(axis=0) - corner).astype(int) + 2
    covered = np.zeros((size[1], size[0]), bool)
    fill_polygon(covered, [tuple(p) for p in on_screen - corner])
    block = np.ones((MIN_SHAPE_WIDTH, MIN_SHAPE_WIDTH), np.uint8)
    return not cv2.erode(covered.view(np.uint8), block, borderType=cv2.BORDER_CONSTANT, borderValue=0).any()


def _disc(radius: int) -> np.ndarray:
    """A Euclidean disc of the given radius in pixels, as an OpenCV structuring element."""
    ys, xs = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return (xs * xs + ys * ys <= radius * radius).astype(np.uint8)


def grow(mask: np.ndarray, pixels: int) -> None:
    """Add every pixel within `pixels` of the hole (Euclidean distance between centres)."""
    if pixels > 0:
        mask[:] = cv2.dilate(mask.view(np.uint8), _disc(pixels)).astype(bool)


def shrink(mask: np.ndarray, pixels: int) -> None:
    """Keep only the hole pixels farther than `pixels` from valid ones; the image border does not count as valid."""
    if pixels > 0:
        eroded = cv2.erode(mask.view(np.uint8), _disc(pixels), borderType=cv2.BORDER_CONSTANT, borderValue=1)
        mask[:] = eroded.astype(bool)


def invert(mask: np.ndarray) -> None:
    np.logical_not(mask, out=mask)


def clear(mask: np.ndarray) -> None:
    mask[:] = False


def resize_nearest(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """`mask` (bool HxW) resized to `height` x `width` with nearest neighbour, pixel centres aligned: output pixel
    (r, c) takes input pixel (floor((r + 0.5) * H / height), floor((c + 0.5) * W / width)), so an integer scale s
    repeats every pixel s x s times. Returns a new bool array."""
    rows = np.floor((np.arange(height) + 0.5) * (mask.shape[0] / height)).astype(np.intp)
    columns = np.floor((np.arange(width) + 0.5) * (mask.shape[1] / width)).astype(np.intp)
    return mask[rows[:, None], columns[None, :]].astype(bool, copy=False)


def bounding_region(mask: np.ndarray) -> Region | None:
    """The bounding box of the True pixels, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    columns = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
    return Region(int(rows[0]), int(columns[0]), int(rows[-1]) + 1, int(columns[-1]) + 1)


def changed_region(before: np.ndarray, after: np.ndarray) -> Region | None:
    """The bounding box of the pixels that differ, or None."""
    changed = before != after
    return bounding_region(changed.any(axis=2) if changed.ndim == 3 else changed)


# --- What the network sees: the per-layer masks of the propagation panel ---------------------------------------


@dataclass(frozen=True)
class StageMask:
    """The hole after one layer, cropped to the part of the layer's map that covers the photo (not the padding)."""

    name: str
    hole: np.ndarray  # bool, True = hole
    stride: int  # network input pixels per pixel of this map
    scaling: np.ndarray  # float32, same shape: the layer's ratio sum(1)/sum(M) here; 0 where no valid input fed it

    @property
    def hole_percent(self) -> float:
        return 100.0 * float(self.hole.mean())


@dataclass(frozen=True)
class StageStack:
    """Every layer's hole for one crop of the photo (the largest hole group), as the panel shows it."""

    stages: tuple[StageMask, ...]
    region: Region  # the crop, in photo pixels
    network_size: tuple[int, int]  # (height, width) of the crop as the network sees it, before padding
    from_network: bool  # True: the masks a fill computed; False: predicted from the geometry while painting
    upscale: float | None = None  # the scale, when these are the stages of an upscale's grid (not of a hole)

    @property
    def max_scaling(self) -> float:
        """The largest ratio sum(1)/sum(M) of any layer (1 when nothing is re-weighted): the top of the panel's
        colour scale."""
        return max(1.0, *(float(stage.scaling.max(initial=0.0)) for stage in self.stages))

    @property
    def first_clear_index(self) -> int | None:
        """The first layer with no hole left, if any."""
        return next((i for i, stage in enumerate(self.stages) if not stage.hole.any()), None)

    def network_mask(self, index: int) -> np.ndarray:
        """Layer `index`'s hole upsampled with nearest neighbour to the network's input size (without padding)."""
        stage = self.stages[index]
        height, width = self.network_size
        return np.repeat(np.repeat(stage.hole, stage.stride, axis=0), stage.stride, axis=1)[:height, :width]

    def photo_mask(self, index: int) -> np.ndarray:
        """Layer `index`'s hole upsampled with nearest neighbour to the crop's size in photo pixels."""
        full = self.network_mask(index)
        if full.shape == (self.region.height, self.region.width):
            return full
        size = (self.region.width, self.region.height)
        scaled = cv2.resize(np.ascontiguousarray(full).view(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        return scaled.astype(bool)


def staged_region(hole: np.ndarray, resolution: ResolutionConfig, config: UNetConfig) -> Region | None:
    """The region of the photo whose stages a fill of `hole` would report; None without a hole."""
    staged = staged_pass(hole, resolution, config)
    return staged[0] if staged is not None else None


def _strides(config: UNetConfig) -> list[int]:
    """Input pixels per map pixel after each layer: encoders halve the map, decoders double it."""
    strides, stride = [], 1
    for spec in layer_specs(config):
        stride = stride // 2 if spec.upsample else stride * spec.stride
        strides.append(stride)
    return strides


def _stack(names: Sequence[str], holes: Sequence[np.ndarray], network_input: np.ndarray, config: UNetConfig,
           region: Region, from_network: bool, upscale: float | None = None) -> StageStack:
    """`holes` in the network's padded frame; `network_input` is the hole the network was (or would be) fed, at
    its input size before padding, from which every layer's scaling ratio is computed."""
    size = network_input.shape
    ratios = propagate_ratios(torch.from_numpy((~network_input).astype(np.float32)), config)
    stages = []
    for name, hole, ratio, stride in zip(names, holes, ratios, _strides(config)):
        rows, columns = -(-size[0] // stride), -(-size[1] // stride)
        stages.append(StageMask(name, np.ascontiguousarray(hole[:rows, :columns]), stride,
                                np.ascontiguousarray(ratio[0, 0, :rows, :columns].numpy())))
    return StageStack(tuple(stages), region, size, from_network, upscale)


def propagated_stages(hole: np.ndarray, config: UNetConfig, resolution: ResolutionConfig) -> StageStack | None:
    """The stages a fill of `hole` would go through, from the geometry alone (no weights); None without a hole."""
    staged = staged_pass(hole, resolution, config)
    if staged is None:
        return None
    region, small = staged
    valid = torch.from_numpy((~small).astype(np.float32))
    maps = [(stage[0, 0] == 0).numpy() for stage in propagate_masks(valid, config)]
    names = [spec.name for spec in layer_specs(config)]
    return _stack(names, maps, small, config, region, from_network=False)


def stages_from_result(result: InpaintResult, config: UNetConfig, hole: np.ndarray) -> StageStack | None:
    """The stages a fill of `hole` (the photo's mask it was given) computed, for its largest region; the scaling
    ratios come from the geometry, as the network's own do."""
    if result.stage_region is None or result.stage_input_size is None or not result.stage_masks:
        return None
    network_input = network_hole(hole[result.stage_region.window], result.stage_input_size)
    return _stack(result.stage_names, result.stage_masks, network_input, config, result.stage_region,
                  from_network=True)


def upscale_grid_hole(input_size: tuple[int, int], scale: float, height: int, width: int) -> np.ndarray:
    """The hole an upscale by `scale` of an `input_size` (height, width) photo gives the network in the top-left
    `height` x `width` px of the upscaled canvas: bool, True = hole, False where an input pixel lands
    (`engine.upscale.grid_positions`)."""
    rows, columns = grid_positions(input_size[0], scale), grid_positions(input_size[1], scale)
    hole = np.ones((height, width), bool)
    hole[np.ix_(rows[rows < height], columns[columns < width])] = False
    return hole


UPSCALE_GRID_STAGE = "grid"  # the name of the network's input in an upscale's stages


def stages_from_upscale(result: UpscaleResult, config: UNetConfig, input_size: tuple[int, int]) -> StageStack | None:
    """The stages an upscale of an `input_size` (height, width) photo computed for its first tile (the top-left
    of the upscaled photo): first the grid the network was given (`UPSCALE_GRID_STAGE`; its scaling is 1 where
    a pixel is known, 0 in the holes), then every layer's mask, the grid's holes shrinking; None if it reported
    none."""
    if not result.stage_masks or not all(result.stage_input_size) or result.input_kind != "grid":
        return None  # a bicubic-input model is given no hole: nothing propagates
    height, width = result.stage_input_size
    network_input = upscale_grid_hole(input_size, result.scale, height, width)
    layers = _stack(result.stage_names, result.stage_masks, network_input, config, Region(0, 0, height, width),
                    from_network=True, upscale=result.scale)
    grid = StageMask(UPSCALE_GRID_STAGE, network_input, 1, (~network_input).astype(np.float32))
    return replace(layers, stages=(grid, *layers.stages))
