"""The `Inpainter`: one object that fills holes for the CLI, the UI, evaluation and benchmarks alike.

Resolution strategy: holes are grouped into crops with context (`regions.plan_regions`). A crop that fits the
working size is filled in one pass at full resolution. A larger one, with the default strategy "auto":

- "tiled": where every hole pixel lies within the network's reach of a known pixel (`network_reach`, from the
  geometry; capped by the tile halo so the known pixel is inside the tile), the photo's own resolution in tiles
  with partial-convolution padding at their borders (`tiling`).
- "two scales": otherwise, a coarse pass at the working size closes the hole; its fill is scaled back up, the
  photo's own high frequencies are added to it (`detail`, Yi et al. 2020), its part farther than that reach from
  the edge is taken as known, and the band along the edge is filled again at full resolution in tiles, so the
  fill meets the photo at the photo's own resolution and detail continues into the hole.
- "scaled" (strategy "scaled", the engine before tiles): the one pass at the working size, scaled back up.

Why two scales and not scaled alone: the network's fill in the first few pixels inside a hole's edge is a few
levels off (a rim), and scaling a fill up by s widens that rim s times, into the dark band people saw on large
photos. Filling the edge at full resolution leaves the rim as narrow as the network makes it.

Every pass must close its hole: a pass whose last layer still sees hole pixels is refused with an `InputError`
(their 'fill' would be the network's bias, flat grey), before anything is written. Only hole pixels are pasted
back, so every pixel outside the hole is bit-identical to the input. Memory is bounded by the working size and
the tile size, not by the photo (a 6000x4000 photo costs its own copy plus one crop).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from ..errors import CancelledError, DeviceError, InputError, WeightsError
from ..model import PConvUNet, UNetConfig, network_reach
from ..paths import default_weights_path, detailed_weights_path
from .blend import NetworkBlend, check_detail, detailed_model_problem
from .device import DeviceChoice
from .detail import transfer_detail
from .fill_inputs import check_fill_inputs, reduce_for_fill
from .loaded_network import LoadedNetwork
from .regions import (
    Region, RegionPlan, ResolutionConfig, largest_region, network_hole, network_scale, network_size, plan_regions,
)
from .pixel_convert import from_float_rgb, to_float_rgb
from .runner import GraphMode, Precision
from .tiling import Tile, plan_tiles, round_up

__all__ = [
    "PATHS", "CancelToken", "GroupFill", "Inpainter", "InpaintResult", "Region", "RegionPlan", "ResolutionConfig",
    "describe_fills", "largest_region", "network_hole", "network_size", "plan_regions", "staged_pass",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]


class CancelToken:
    """Set from any thread; the engine checks it between steps and raises `CancelledError`."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError("cancelled")


PATHS = ("full resolution", "tiled", "two scales", "scaled")


@dataclass(frozen=True)
class GroupFill:
    """How the holes of one crop (`region`) were filled.

    `path` is one of `PATHS`: "full resolution" (one pass, the crop fits the working size), "tiled" (tiles at the
    photo's resolution; every hole pixel was within the network's reach), "two scales" (a coarse pass at `scale`,
    then the band along the hole's edge in `tiles` tiles at full resolution) or "scaled" (one pass at `scale`,
    scaled back up). `scale` is the coarsest pass's: 1.0 is the photo's own resolution.
    """

    region: Region
    path: str
    scale: float
    tiles: int = 0

    def describe(self) -> str:
        if self.path == "two scales":
            return f"two scales (coarse at {self.scale:.0%}, the edge at full resolution in {self.tiles} tiles)"
        if self.path == "tiled":
            return f"full resolution in {self.tiles} tiles"
        return "full resolution" if self.path == "full resolution" else f"scaled to {self.scale:.0%}"


def describe_fills(fills: list[GroupFill]) -> str:
    """The paths of a fill in words, for the status bar and `inpaint -v`: "2 regions: full resolution; two scales
    (coarse at 17%, the edge at full resolution in 6 tiles)"."""
    if not fills:
        return "nothing to fill"
    parts = list(dict.fromkeys(fill.describe() for fill in fills))
    count = f"{len(fills)} region{'s' if len(fills) > 1 else ''}"
    return f"{count}: " + "; ".join(parts)


@dataclass
class InpaintResult:
    """The filled pixels (same shape and dtype as the input) and what the network did to get them.

    `stage_masks` (bool, True = hole) are the masks after every layer for `stage_region` (the largest region), as
    computed by the network, in its padded frame; `stage_input_size` is the (height, width) the network saw for
    that region before padding. `fills` says, per region, which path filled it (`GroupFill`). `notices` are
    things the user should be told (e.g. a fallback to the CPU).
    """

    pixels: np.ndarray
    regions: list[Region]
    fills: list[GroupFill] = field(default_factory=list)
    stage_names: list[str] = field(default_factory=list)
    stage_masks: list[np.ndarray] = field(default_factory=list)
    stage_region: Region | None = None
    stage_input_size: tuple[int, int] | None = None
    seconds: float = 0.0
    device: str = ""
    notices: list[str] = field(default_factory=list)


def _colour(pixels: np.ndarray) -> np.ndarray:
    """The colour channels of HxW or HxWxC pixels (a view): alpha is not the network's business."""
    return pixels[..., :3] if pixels.ndim == 3 else pixels


def _paste(target: np.ndarray, values: np.ndarray, where: np.ndarray) -> None:
    """target[where] = values[where] in the colour channels (alpha stays as it was); OpenCV's masked copy is about
    40 times faster than numpy's boolean indexing."""
    colour = _colour(target)
    colour[...] = cv2.copyTo(values, where.view(np.uint8), np.ascontiguousarray(colour))


class Inpainter(LoadedNetwork):
    """Loads a weights file once and fills holes on the chosen device.

    Pass `weights=None` for the shipped model; a missing file is a `WeightsError` that says no trained model is
    installed (the engine never fills with an untrained network). `cuda_graphs` and `precision` are the
    `NetworkRunner`'s.

    Fill style (`engine/blend.py`): `detail` t in [0, 1] fills with the network (1 - t) * faithful + t * detailed,
    where the detailed model is `detail_weights`, by default NAME_detailed.safetensors beside the weights file.
    Without a usable detailed model only t = 0 works (`detail_problem` says why); a `detail_weights` file given
    but unusable is a `WeightsError` at once.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        device: str = "auto",
        resolution: ResolutionConfig = ResolutionConfig(),
        cuda_graphs: GraphMode = "auto",
        precision: Precision = "auto",
        detail: float = 0.0,
        detail_weights: str | Path | None = None,
    ) -> None:
        super().__init__(weights, default_weights_path(), "no trained model is installed",
                         "train one with `pconv-studio train` or pass a weights file", device, resolution, cuda_graphs,
                         precision)
        self._open_blend(detail_weights)
        self.detail = check_detail(detail)
        if self.detail:
            self.model = self._blended(self.detail)
        self._move_model()

    def _open_blend(self, detail_weights: str | Path | None) -> None:
        """Find the detailed model; keep the faithful network just loaded as the blend at t = 0."""
        self.detail_weights_path = Path(detail_weights) if detail_weights is not None \
            else detailed_weights_path(self.weights_path)
        self.detail_problem = detailed_model_problem(self.model.config, self.detail_weights_path)
        if self.detail_problem is not None and detail_weights is not None:
            raise WeightsError(self.detail_problem)
        self._blend = None if self.detail_problem else NetworkBlend(self.weights_path, self.detail_weights_path)
        if self._blend is not None:
            self._blend.keep(0.0, self.model)

    def _blended(self, t: float) -> PConvUNet:
        if self._blend is None:
            raise WeightsError(f"cannot fill in a detailed style: {self.detail_problem}")
        return self._blend.network(t)

    def set_detail_transfer(self, on: bool) -> None:
        """Carry the photo's own fine detail into two-scale fills (`ResolutionConfig.detail_transfer`) or not."""
        self.resolution = replace(self.resolution, detail_transfer=bool(on))

    def set_detail(self, t: float) -> None:
        """Fill from now on with the blend at `t` in [0, 1] (0 = faithful, 1 = detailed). A t met recently costs
        nothing, another one blend (0.06 s for `compact` on a 2-core CPU). Raises `InputError` for t outside
        [0, 1] and `WeightsError` for t > 0 without a usable detailed model; the style is then unchanged."""
        t = check_detail(t)
        if t != self.detail:
            self.model = self._blended(t)
            self.detail = t
            self._move_model()

    def _moved(self, device: torch.device) -> None:
        """The blend drops its copies on other devices."""
        if self._blend is not None:
            self._blend.drop_elsewhere(device)

    def inpaint(
        self,
        pixels: np.ndarray,
        hole: np.ndarray,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InpaintResult:
        """Fill `hole` (bool HxW, True = hole) in `pixels` (HxW[xC] uint8/uint16). Pixels outside stay bit-exact.
        Other forms (floats, grey + alpha, grey stored as colour) are reduced by `fill_inputs` and restored;
        anything else is an `InputError` saying what is expected.

        A CUDA out-of-memory error never escapes: the fill restarts with half the working size, and below 256 px
        on the CPU, each step reported in `notices`.
        """
        hole = check_fill_inputs(pixels, hole)
        reduced = reduce_for_fill(pixels, hole)
        if reduced is not None:
            result = self.inpaint(reduced.pixels, hole, progress, cancel)
            result.pixels = reduced.restore(result.pixels)
            return result
        started = time.perf_counter()
        if not hole.any():
            log.info("the mask has no hole: the image is returned unchanged")
            return InpaintResult(pixels.copy(), [], device=self.device_description,
                                 notices=["the mask is empty: nothing to fill"])
        if hole.all():
            raise InputError("the hole covers the whole image: there are no pixels left to fill it from")
        notices: list[str] = []
        resolution = self.resolution
        while True:
            try:
                result = self._inpaint_once(pixels, hole, resolution, progress, cancel)
                break
            except torch.cuda.OutOfMemoryError:
                if self.device_choice.device.type != "cuda":
                    raise DeviceError("out of memory") from None
                self._runner.reset()
                torch.cuda.empty_cache()
                if resolution.working_size >= 512:
                    resolution = replace(resolution, working_size=resolution.working_size // 2,
                                         tile_size=max(256, resolution.tile_size // 2))
                    notices.append(f"GPU out of memory: retried with {resolution.working_size} px crops and "
                                   f"{resolution.tile_size} px tiles")
                else:
                    self.device_choice = DeviceChoice(torch.device("cpu"), "CPU: the GPU ran out of memory")
                    self._move_model()
                    resolution = self.resolution
                    notices.append("GPU out of memory: fell back to the CPU")
                log.warning(notices[-1])
        result.notices = notices
        result.seconds = time.perf_counter() - started
        return result

    def _inpaint_once(
        self,
        pixels: np.ndarray,
        hole: np.ndarray,
        resolution: ResolutionConfig,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> InpaintResult:
        plan = plan_regions(hole, resolution)
        result = InpaintResult(pixels=pixels.copy(), regions=plan.regions, device=self.device_description)
        largest = largest_region(result.regions)
        for index, region in enumerate(result.regions):

            def report(fraction: float, what: str, index: int = index) -> None:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                if progress is not None:
                    progress((index + fraction) / len(result.regions),
                             f"region {index + 1} of {len(result.regions)}: {what}")

            report(0.0, "filling")
            fill, staged = self._fill_group(pixels, hole, plan.owned(index, hole), region, resolution,
                                            result.pixels, report)
            result.fills.append(fill)
            if region is largest:
                result.stage_names = self.model.stage_names
                result.stage_masks, result.stage_region, result.stage_input_size = staged
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(1.0, "done")
        return result

    def _fill_group(
        self, pixels: np.ndarray, hole: np.ndarray, owned: np.ndarray, region: Region, resolution: ResolutionConfig,
        target: np.ndarray, report: Callable[[float, str], None],
    ) -> tuple[GroupFill, _Staged]:
        """Fill the `owned` hole pixels of one crop into `target`, by the path the crop's size and the strategy
        call for (module docstring). Every pass reads the untouched photo, so the result does not depend on the
        order of overlapping crops. Returns how, and the stages of the pass that shows it."""
        window = region.window
        crop_hole = hole[window]
        path, scale, distance, reach = _choose_path(crop_hole, owned, region, resolution, self.config)
        if path in ("full resolution", "scaled"):
            values, stages, size, _ = self._crop_pass(pixels[window], crop_hole, owned, region, resolution)
            _paste(target[window], values, owned)
            return GroupFill(region, path, scale), (stages, region, size)
        if path == "tiled":
            tiles, staged = self._tiled_pass(pixels, hole, owned, region, resolution, target, report)
            return GroupFill(region, "tiled", 1.0, tiles), staged
        # two scales: the coarse fill closes the hole; its inner part becomes context for the band along the edge
        values, stages, size, coarse = self._crop_pass(pixels[window], crop_hole, owned, region, resolution)
        band = min(reach, resolution.edge_band)
        inner = owned & (distance > band)
        _paste(target[window], values, inner)
        tiles, _ = self._tiled_pass(pixels, hole, owned & ~inner, region, resolution, target, report,
                                    known=(values, inner))
        _cross_fade(target[window], values, owned, distance, band)
        if resolution.detail_transfer:
            report(0.95, "detail from the photo")
            filled = _colour(target[window])
            _paste(target[window], _with_detail(pixels[window], ~crop_hole, coarse, filled, owned), owned)
        return GroupFill(region, "two scales", scale, tiles), (stages, region, size)

    def _crop_pass(
        self, source: np.ndarray, crop_hole: np.ndarray, owned: np.ndarray, region: Region,
        resolution: ResolutionConfig,
    ) -> tuple[np.ndarray, list[np.ndarray], tuple[int, int], np.ndarray | None]:
        """One pass over a whole crop that will write its `owned` pixels, scaled down to the working size where the
        crop is larger. Returns the composite at the crop's size (in the photo's dtype and colour layout), the stage
        masks, the network's (height, width) and, for a scaled pass, the network-sized composite (float32 RGB in
        [0, 1]; None otherwise).

        A scaled crop is resized in its own dtype (so only network-sized pixels are ever floats), filled,
        composited at the network's size and scaled back up (cubic).
        """
        size = network_size(region, resolution.working_size)
        if size == crop_hole.shape:
            values, stages = self._pass(source, ~crop_hole, owned)
            return values, stages, size, None
        small = cv2.resize(np.ascontiguousarray(_colour(source)), (size[1], size[0]), interpolation=cv2.INTER_AREA)
        small_hole = network_hole(crop_hole, size)
        filled, stages = self._forward_checked(to_float_rgb(small), ~small_hole, network_hole(owned, size))
        values = cv2.resize(from_float_rgb(filled, source), (crop_hole.shape[1], crop_hole.shape[0]),
                            interpolation=cv2.INTER_CUBIC)
        return values, stages, size, filled

    def _tiled_pass(
        self, pixels: np.ndarray, hole: np.ndarray, to_fill: np.ndarray, region: Region, resolution: ResolutionConfig,
        target: np.ndarray, report: Callable[[float, str], None],
        known: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[int, _Staged]:
        """Fill `to_fill` (bool, `region`'s crop) at full resolution in tiles (`tiling.plan_tiles`), each writing
        its core's pixels into `target`. `known` = (values, where), both in the crop's frame, adds pixels that
        count as known for this pass (the coarse fill's inner part). Returns the number of tiles and the stages of
        the tile that filled the most pixels."""
        grid = self.config.size_multiple
        tiles = plan_tiles(to_fill, (region.top, region.left), hole.shape,
                           round_up(resolution.tile_size, grid), resolution.tile_halo, grid)
        staged: _Staged = ([], region, (region.height, region.width))
        most = -1
        for number, tile in enumerate(tiles):
            report(0.1 + 0.9 * number / len(tiles), f"tile {number + 1} of {len(tiles)} at full resolution")
            source, valid = pixels[tile.window.window], ~hole[tile.window.window]
            if known is not None:
                source, valid = _with_known(source, valid, tile.window, region, *known)
            core, filled = _core_to_fill(tile, region, to_fill)
            writes = np.zeros(valid.shape, bool)
            writes[core.relative_to(tile.window).window] = filled
            values, stages = self._pass(source, valid, writes)
            _paste(target[tile.window.window], values, writes)
            if int(filled.sum()) > most:
                most, staged = int(filled.sum()), (stages, tile.window, valid.shape)
        return len(tiles), staged

    def _pass(
        self, source: np.ndarray, valid: np.ndarray, writes: np.ndarray
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One network pass at the pixels' own size that will write the `writes` pixels: the composite in their
        dtype and colour layout, and the stage masks. A colour 8-bit crop goes to the device as it is stored and
        comes back composited and rounded."""
        colour = _colour(source)
        if colour.ndim == 3 and colour.dtype == np.uint8:
            return self._forward_checked(colour, valid, writes)
        filled, stages = self._forward_checked(to_float_rgb(source), valid, writes)
        return from_float_rgb(filled, source), stages

    def _forward_checked(
        self, pixels: np.ndarray, valid: np.ndarray, writes: np.ndarray
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """`_forward`, refusing what it cannot do: no valid pixel at all, or pixels to write that the last layer
        still sees as hole (their 'fill' would be the network's bias: flat grey)."""
        if not valid.any():
            raise InputError("a hole is too large for its surroundings: no valid pixels are left around it")
        values, stages = self._forward(pixels, valid)
        height, width = valid.shape
        if (stages[-1][:height, :width] & writes).any():
            reach = network_reach(self.config).closes
            raise InputError(
                f"part of the hole is too far from any pixel the network can use (more than {reach} px at the "
                f"{max(height, width)} px the network saw it at): it cannot be filled; paint a smaller hole, or fill "
                "it in parts")
        return values, stages

    def _forward(self, pixels: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """One network pass on HxWx3 uint8 or float32 pixels: the composite in their dtype and the stage masks."""
        return self._runner(pixels, valid)


def _choose_path(
    crop_hole: np.ndarray, owned: np.ndarray, region: Region, resolution: ResolutionConfig, config: UNetConfig
) -> tuple[str, float, np.ndarray | None, float]:
    """The path for one crop (module docstring): (path, network scale, each crop pixel's Euclidean distance in px to
    the nearest known pixel or None where not needed, the reach in px a full-resolution pass may rely on).

    The reach is the network's guaranteed closing distance, capped by the tile halo so the known pixel lies inside
    the tile; Euclidean distances are never below the grid's Chebyshev ones, so the test is safe. Tiles take only
    thin holes (`tiled_reach`): on wider ones the network at full resolution sees too little of the scene, and the
    coarse pass wins (docs/resolution.md)."""
    scale = network_scale(region, resolution.working_size)
    if scale == 1.0 or resolution.strategy == "scaled":
        return ("full resolution" if scale == 1.0 else "scaled"), scale, None, 0.0
    reach = min(network_reach(config).closes, round_up(resolution.tile_halo, config.size_multiple))
    distance = cv2.distanceTransform(crop_hole.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    path = "tiled" if distance[owned].max() <= min(reach, resolution.tiled_reach) else "two scales"
    return path, scale, distance, reach


def staged_pass(hole: np.ndarray, resolution: ResolutionConfig, config: UNetConfig) -> tuple[Region, np.ndarray] | None:
    """The pass whose stages a fill of `hole` (bool HxW) reports, from the geometry alone: its region of the photo
    and the hole it sees (bool, at the network's size). That is the largest region's pass: its one pass, its coarse
    pass for two scales, or for tiles the tile that fills the most pixels. None without a hole."""
    if not hole.any():
        return None
    plan = plan_regions(hole, resolution)
    region = largest_region(plan.regions)
    index = plan.regions.index(region)
    crop_hole, owned = hole[region.window], plan.owned(index, hole)
    path, _, _, _ = _choose_path(crop_hole, owned, region, resolution, config)
    if path != "tiled":
        return region, network_hole(crop_hole, network_size(region, resolution.working_size))
    grid = config.size_multiple
    tiles = plan_tiles(owned, (region.top, region.left), hole.shape, round_up(resolution.tile_size, grid),
                       resolution.tile_halo, grid)
    # the tile that fills the most; the first of equals, as `_tiled_pass` keeps
    tile = max(tiles, key=lambda tile: int(_core_to_fill(tile, region, owned)[1].sum()))
    return tile.window, hole[tile.window.window].copy()


_Staged = tuple[list[np.ndarray], Region, tuple[int, int]]
"""Stage masks of one pass, the region it covered and the (height, width) the network saw for it."""


def _core_to_fill(tile: Tile, region: Region, to_fill: np.ndarray) -> tuple[Region, np.ndarray]:
    """The part of `tile`'s core inside `region`, and `to_fill` (bool, `region`'s frame) over it: what the tile
    writes. The part is never empty: a tile is planned only where its core holds pixels to fill."""
    core = tile.core.intersection(region)
    return core, to_fill[core.relative_to(region).window]



def _with_known(
    source: np.ndarray, valid: np.ndarray, window: Region, region: Region, values: np.ndarray, where: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`source` and `valid` (a tile's window of the photo) with the crop's `values` put in and counted as known
    wherever `where` (crop frame) is True."""
    overlap = window.intersection(region)
    if overlap is None:
        return source, valid
    in_window, in_region = overlap.relative_to(window).window, overlap.relative_to(region).window
    source, valid = source.copy(), valid.copy()
    _paste(source[in_window], np.ascontiguousarray(values[in_region]), np.ascontiguousarray(where[in_region]))
    valid[in_window] |= where[in_region]
    return source, valid


def _cross_fade(target: np.ndarray, coarse: np.ndarray, owned: np.ndarray, distance: np.ndarray, band: float) -> None:
    """Across the inner half of the edge band (band / 2 < distance <= band), blend the full-resolution band fill in
    `target` linearly into the coarse fill, so the band pass's own rim against the coarse fill leaves no line."""
    fade = owned & (distance > band / 2) & (distance <= band)
    colour = _colour(target)
    weight = (band - distance[fade]) / (band / 2)
    if colour.ndim == 3:
        weight = weight[:, None]
    blended = weight * colour[fade] + (1.0 - weight) * coarse[fade]
    colour[fade] = np.clip(blended + 0.5, 0, np.iinfo(target.dtype).max).astype(target.dtype)


def _with_detail(
    photo: np.ndarray, known: np.ndarray, coarse: np.ndarray, values: np.ndarray, where: np.ndarray
) -> np.ndarray:
    """`values` (a fill in the photo's dtype and colour layout) with the photo's own high frequencies added at
    `where` (`detail.transfer_detail`, attention from the `coarse` network-sized composite), rounded and clipped."""
    colour = _colour(photo)
    coarse = coarse if colour.ndim == 3 else coarse.mean(axis=2, keepdims=True)
    detail = transfer_detail(np.ascontiguousarray(colour), known, coarse, where).reshape(values.shape)
    result = values.copy()
    result[where] = np.clip(values[where] + detail[where] + 0.5, 0, np.iinfo(values.dtype).max).astype(values.dtype)
    return result
