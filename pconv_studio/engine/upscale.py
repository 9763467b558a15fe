"""Upscaling as inpainting on a sparse grid: the `Upscaler`.

The low-resolution pixel (x, y) is put on the high-resolution canvas at (floor((x + 0.5) * s), floor((y + 0.5) * s)):
the output pixel that holds the input pixel's centre (s*x + s//2 for an integer s). The output is
(round(H*s), round(W*s)); every other canvas position is a hole, and the partial-convolution network fills them
(Liu et al. 2018, which names upscaling as a use of partial convolutions). The network's prediction is taken
everywhere, at the grid positions too: a low-resolution pixel is an area average, not the high-resolution pixel's
value, and the upscaling model is trained to predict the high-resolution value there as well. The training side
(`training/`) builds its grids with the same `grid_positions`.

The output is covered by tiles (`tiling.cover_tiles`: `ResolutionConfig.tile_size` cores, `tile_halo` context,
aligned to the network's grid); each tile's canvas is built from only the input pixels that land in its window,
so memory is the input, the output (allocated once, in the input's dtype) and one tile, whatever the scale. A
bicubic-input model (`Upscaler.input_kind`) is given OpenCV's bicubic upscale instead, computed once at the
output's size: one more array as large as the output.
Alpha is not the network's business: it is upscaled separately with Lanczos (OpenCV's INTER_LANCZOS4), clamped to
each source neighbourhood's range so that edges do not ring (`upscale_alpha`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import DeviceError, InputError, WeightsError
from ..model import UPSCALE_INPUT_KEY, UPSCALE_INPUTS
from ..paths import upscale_weights_path
from .inpainter import CancelToken, ProgressCallback
from .loaded_network import LoadedNetwork
from .pixel_convert import from_float_rgb, to_float_rgb
from .regions import Region, ResolutionConfig
from .runner import GraphMode, Precision
from .tiling import Tile, cover_tiles, round_up

__all__ = [
    "MAX_OUTPUT_PIXELS", "MAX_SCALE", "MIN_SCALE", "UpscaleResult", "Upscaler", "check_scale", "check_upscale",
    "grid_canvas", "grid_positions", "upscale_alpha", "upscaled_size",
]

log = logging.getLogger(__name__)

MIN_SCALE = 1.25
MAX_SCALE = 8.0
MAX_OUTPUT_PIXELS = 400_000_000  # 400 megapixels: 1.2 GB as 8-bit RGB, 2.4 GB as 16-bit, before any work
_SMALLEST_TILE = 256  # px: a CUDA out-of-memory error halves the tile core down to this, then gives up


def check_scale(scale: object) -> float:
    """`scale` as a float in [MIN_SCALE, MAX_SCALE]; anything else (NaN, infinities, bools, strings) is an
    `InputError` that says the range."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise InputError(f"the scale must be a number from {MIN_SCALE:g} to {MAX_SCALE:g}, not {scale!r}")
    value = float(scale)
    if not MIN_SCALE <= value <= MAX_SCALE:  # False for NaN
        raise InputError(f"the scale must lie between {MIN_SCALE:g} and {MAX_SCALE:g}, not {value:g}")
    return value


def upscaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The output's (height, width) in px: (round(H*s), round(W*s)), Python's rounding (half to even)."""
    return round(height * scale), round(width * scale)


def grid_positions(count: int, scale: float) -> np.ndarray:
    """Where the `count` input pixels of one axis land on the upscaled axis: floor((x + 0.5) * scale) for x = 0 ..
    count - 1, the output pixel [j, j + 1) that holds the input pixel's centre, clamped into the output length
    round(count * scale). int64, strictly increasing for scale >= 1 (consecutive centres are `scale` apart)."""
    length = round(count * scale)
    positions = np.floor((np.arange(count, dtype=np.float64) + 0.5) * scale).astype(np.int64)
    return np.minimum(positions, length - 1)


def grid_canvas(colour: np.ndarray, scale: float, window: Region) -> tuple[np.ndarray, np.ndarray]:
    """The network's input for `window` (a region of the upscaled image): (float32 (h, w, 3) RGB in [0, 1], valid
    bool (h, w)). Each input pixel of `colour` (HxW grey or HxWx3, uint8/uint16) whose grid position lies in the
    window is put there and marked valid; everything else is 0 and hole. Only those input pixels are converted."""
    rows, cols = grid_positions(colour.shape[0], scale), grid_positions(colour.shape[1], scale)
    first_row, last_row = np.searchsorted(rows, [window.top, window.bottom])
    first_col, last_col = np.searchsorted(cols, [window.left, window.right])
    canvas = np.zeros((window.height, window.width, 3), np.float32)
    valid = np.zeros((window.height, window.width), bool)
    where = np.ix_(rows[first_row:last_row] - window.top, cols[first_col:last_col] - window.left)
    canvas[where] = to_float_rgb(colour[first_row:last_row, first_col:last_col])
    valid[where] = True
    return canvas, valid


def check_upscale(pixels: object, scale: object) -> tuple[float, tuple[int, int]]:
    """Check a request before any work: `pixels` HxW or HxWxC (C = 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA) uint8 or
    uint16 with no empty side, a scale in range, and an output of at most `MAX_OUTPUT_PIXELS`. Returns the scale
    as a float and the output's (height, width); raises `InputError` saying what is wrong."""
    scale = check_scale(scale)
    if not isinstance(pixels, np.ndarray):
        raise InputError("pixels must be a numpy array")
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (1, 2, 3, 4)) or pixels.size == 0:
        raise InputError(f"pixels must be HxW or HxWxC with C = 1 to 4 channels and no empty side, not {pixels.shape}")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise InputError(f"upscaling takes 8- or 16-bit pixels, not {pixels.dtype} (convert floating-point images "
                         "to 16 bits first)")
    size = upscaled_size(pixels.shape[0], pixels.shape[1], scale)
    if size[0] * size[1] > MAX_OUTPUT_PIXELS:
        raise InputError(
            f"x{scale:g} of a {pixels.shape[1]}x{pixels.shape[0]} image would be {size[1]}x{size[0]} "
            f"({size[0] * size[1] / 1e6:.0f} megapixels); the limit is {MAX_OUTPUT_PIXELS / 1e6:.0f} megapixels: "
            "choose a smaller scale or crop the image")
    return scale, size


def upscale_alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Alpha (HxW uint8/uint16) to `size` (height, width): OpenCV's Lanczos (INTER_LANCZOS4), each value clamped
    to the range of the 3x3 input neighbourhood it comes from. Lanczos rings at a step, and in alpha a ring is a
    visible halo around a cut-out (a 20000-level edge undershot to 14587 unclamped); the clamp keeps Lanczos's
    sharpness where the alpha is smooth and removes the over- and undershoot at edges (the anti-ringing clamp of
    image resamplers)."""
    height, width = size
    lanczos = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LANCZOS4)
    box = np.ones((3, 3), np.uint8)
    low = cv2.resize(cv2.erode(alpha, box), (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    high = cv2.resize(cv2.dilate(alpha, box), (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    return np.clip(lanczos, low, high)


@dataclass
class UpscaleResult:
    """The upscaled pixels (same dtype and channel layout as the input, (round(H*s), round(W*s)) px) and what the
    network did to get them.

    `stage_masks` (bool, True = hole) are the masks after every layer for the first tile, as computed by the
    network in its padded frame (as `InpaintResult.stage_masks`); `stage_input_size` is the (height, width) the
    network saw for that tile before padding. `notices` are things the user should be told.
    """

    pixels: np.ndarray
    scale: float
    tiles: int = 0
    stage_names: list[str] = field(default_factory=list)
    stage_masks: list[np.ndarray] = field(default_factory=list)
    stage_input_size: tuple[int, int] = (0, 0)
    seconds: float = 0.0
    device: str = ""
    notices: list[str] = field(default_factory=list)
    input_kind: str = "grid"  # what the network was given: "grid" or "bicubic" (`Upscaler`)


@dataclass(frozen=True)
class _Layout:
    """Where a request's colour and alpha are: `colour` is HxW grey (grey, grey + alpha, or colour channels equal
    everywhere) or HxWx3, `alpha` HxW or None; `colour_channels` is how many output channels the colour fills."""

    colour: np.ndarray
    alpha: np.ndarray | None
    colour_channels: int

    @classmethod
    def of(cls, pixels: np.ndarray) -> _Layout:
        if pixels.ndim == 2:
            return cls(pixels, None, 1)
        channels = pixels.shape[2]
        alpha = np.ascontiguousarray(pixels[..., -1]) if channels in (2, 4) else None
        if channels < 3:
            return cls(pixels[..., 0], alpha, 1)
        red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
        if ((red == green) & (green == blue)).all():  # a grey photo stored as colour: the network would tint it
            return cls(red, alpha, 3)
        return cls(pixels[..., :3], alpha, 3)

    def write(self, target: np.ndarray, values: np.ndarray) -> None:
        """Put `values` (like `colour`) into the colour channels of `target` (a window of the output)."""
        if target.ndim == 2:
            target[...] = values
        else:
            target[..., :self.colour_channels] = values[..., None] if values.ndim == 2 else values


class Upscaler(LoadedNetwork):
    """Loads an upscaling model once and upscales images on the chosen device.

    Pass `weights=None` for the shipped upscaling model (`paths.upscale_weights_path`); a missing file is a
    `WeightsError` that says no upscaling model is installed. `resolution` gives the tile size and halo;
    `cuda_graphs` and `precision` are the `NetworkRunner`'s. The runner takes the prediction everywhere
    (`composite = False`).

    What the network is given (`input_kind`, from the weights file's `UPSCALE_INPUT_KEY` metadata unless given;
    "grid" for a file without it): "grid", the pixels on the sparse grid and every other position a hole (the
    partial convolutions fill them); or "bicubic", the photo upscaled by OpenCV's bicubic interpolation with every
    pixel valid (the same U-Net as a plain convolutional refiner: the "plain twin" of issue 14).
    """

    composite = False

    def __init__(
        self,
        weights: str | Path | None = None,
        device: str = "auto",
        resolution: ResolutionConfig = ResolutionConfig(),
        cuda_graphs: GraphMode = "auto",
        precision: Precision = "auto",
        input_kind: str | None = None,
    ) -> None:
        super().__init__(weights, upscale_weights_path(), "no upscaling model is installed",
                         "pass a weights file with --weights", device, resolution, cuda_graphs, precision)
        self.input_kind = input_kind or self.metadata.get(UPSCALE_INPUT_KEY, "grid")
        if self.input_kind not in UPSCALE_INPUTS:
            raise WeightsError(f"{self.weights_path.name}: unknown upscaling input {self.input_kind!r} (expected one "
                               f"of {', '.join(UPSCALE_INPUTS)})")
        self._move_model()

    def upscale(
        self, pixels: np.ndarray, scale: float, progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> UpscaleResult:
        """Upscale `pixels` (HxW grey, HxWx2 grey + alpha, HxWx3 RGB or HxWx4 RGBA; uint8 or uint16) by `scale` (a
        real number from `MIN_SCALE` to `MAX_SCALE`). Returns the same dtype and layout at `upscaled_size`.

        Everything is checked first (`check_upscale`: `InputError`). `progress(fraction, message)` is called per
        tile; `cancel` is checked between tiles (`CancelledError`, nothing returned). A CUDA out-of-memory error
        retries with tiles half as large down to 256 px, then is a `DeviceError`.
        """
        scale, size = check_upscale(pixels, scale)
        started = time.perf_counter()
        layout = _Layout.of(pixels)
        if self.input_kind == "bicubic":  # the whole interpolation once, in the input's dtype (as large as the output)
            layout = replace(layout, colour=cv2.resize(layout.colour, (size[1], size[0]), interpolation=cv2.INTER_CUBIC))
        output = np.empty(size + pixels.shape[2:], pixels.dtype)
        notices: list[str] = []
        tile_size = self.resolution.tile_size
        while True:
            try:
                result = self._upscale_once(layout, scale, output, tile_size, progress, cancel)
                break
            except torch.cuda.OutOfMemoryError:
                self._runner.reset()
                torch.cuda.empty_cache()
                if tile_size // 2 < _SMALLEST_TILE:
                    raise DeviceError("the GPU ran out of memory even with small tiles: upscale on the CPU "
                                      "(--device cpu)") from None
                tile_size //= 2
                notices.append(f"GPU out of memory: retried with {tile_size} px tiles")
                log.warning(notices[-1])
        if layout.alpha is not None:
            if progress is not None:
                progress(0.99, "alpha (Lanczos)")
            output[..., -1] = upscale_alpha(layout.alpha, size)
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(1.0, "done")
        result.notices = notices
        result.seconds = time.perf_counter() - started
        return result

    def _upscale_once(
        self, layout: _Layout, scale: float, output: np.ndarray, tile_size: int,
        progress: ProgressCallback | None, cancel: CancelToken | None,
    ) -> UpscaleResult:
        """Every tile of the output, in row-major order: its canvas, one network pass, its core into `output`."""
        grid = self.config.size_multiple
        tiles = cover_tiles(output.shape[:2], round_up(tile_size, grid), self.resolution.tile_halo, grid)
        result = UpscaleResult(output, scale, len(tiles), self.model.stage_names, device=self.device_description,
                               input_kind=self.input_kind)
        for number, tile in enumerate(tiles):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if progress is not None:
                progress(0.98 * number / len(tiles), f"tile {number + 1} of {len(tiles)}")
            stages = self._tile(layout, scale, tile, output)
            if number == 0:
                result.stage_masks, result.stage_input_size = stages, (tile.window.height, tile.window.width)
        return result

    def _tile(self, layout: _Layout, scale: float, tile: Tile, output: np.ndarray) -> list[np.ndarray]:
        """One tile's pass; writes its core into `output` and returns its stage masks (True = hole)."""
        if self.input_kind == "bicubic":  # `layout.colour` is the interpolation at the output's size
            canvas = to_float_rgb(layout.colour[tile.window.window])
            valid = np.ones(canvas.shape[:2], bool)
        else:
            canvas, valid = grid_canvas(layout.colour, scale, tile.window)
        prediction, stages = self._runner(canvas, valid)
        if stages[-1][:valid.shape[0], :valid.shape[1]].any():  # its 'fill' would be the network's bias
            raise InputError(f"the network cannot close the grid's holes at x{scale:g} (its reach is too short for "
                             "this model): choose a smaller scale")
        core = tile.core.relative_to(tile.window)
        layout.write(output[tile.core.window], from_float_rgb(prediction[core.window], layout.colour))
        return stages
