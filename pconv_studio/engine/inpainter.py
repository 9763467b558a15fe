"""The `Inpainter`: one object that fills holes for the CLI, the UI, evaluation and benchmarks alike.

Resolution strategy: holes are grouped (holes closer than `group_distance` fill together), each group gets a crop
with context around it, groups share a crop where no hole loses resolution it needs by it (`_share_a_crop`), and
every crop is grown to at least the working size where the photo allows, so small holes see their surroundings
at full resolution. A crop larger than the working size is scaled down to it, filled, and the fill is scaled
back up. Crops may overlap: each sees every hole inside it as hole and writes only its own. Only hole pixels are
pasted back, so every pixel outside the hole is bit-identical to the input. Memory is bounded by the working
size, not by the photo (a 6000x4000 photo costs its own copy plus one crop).
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
from ..model import UNetConfig, load_weights
from ..paths import default_weights_path
from .device import DeviceChoice, precision_name, select_device
from .fill_inputs import check_fill_inputs, reduce_for_fill
from .runner import GraphMode, NetworkRunner, Precision

__all__ = [
    "CancelToken", "Inpainter", "InpaintResult", "Region", "RegionPlan", "ResolutionConfig", "largest_region",
    "network_hole", "network_size", "plan_regions",
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


@dataclass(frozen=True)
class ResolutionConfig:
    """How a photo of any size is cut into pieces the network can fill."""

    working_size: int = 512  # px: the longest side the network sees
    group_distance: int = 24  # px: holes closer than this are filled in one crop
    context_fraction: float = 0.5  # context added on each side, as a fraction of the hole group's size
    min_context: int = 32  # px of context at least
    shared_crop_resolution: float = 0.7  # groups share a crop if it keeps this much of the resolution they had alone

    def __post_init__(self) -> None:
        if (self.working_size < 64 or self.group_distance < 0 or self.context_fraction < 0 or self.min_context < 0
                or not 0 < self.shared_crop_resolution <= 1):
            raise ValueError("invalid resolution config")


@dataclass(frozen=True)
class Region:
    """A crop of the photo, [top, bottom) x [left, right), filled in one network pass."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def window(self) -> tuple[slice, slice]:
        """The region as an index into an image: `image[region.window]`."""
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def overlaps(self, other: "Region") -> bool:
        return not (
            self.right <= other.left or other.right <= self.left or self.bottom <= other.top or other.bottom <= self.top
        )

    def union(self, other: "Region") -> "Region":
        return Region(
            min(self.top, other.top), min(self.left, other.left),
            max(self.bottom, other.bottom), max(self.right, other.right),
        )


@dataclass
class InpaintResult:
    """The filled pixels (same shape and dtype as the input) and what the network did to get them.

    `stage_masks` (bool, True = hole) are the masks after every layer for `stage_region` (the largest region), as
    computed by the network, in its padded frame; `stage_input_size` is the (height, width) the network saw for
    that region before padding. `notices` are things the user should be told (e.g. a fallback to the CPU).
    """

    pixels: np.ndarray
    regions: list[Region]
    stage_names: list[str] = field(default_factory=list)
    stage_masks: list[np.ndarray] = field(default_factory=list)
    stage_region: Region | None = None
    stage_input_size: tuple[int, int] | None = None
    seconds: float = 0.0
    device: str = ""
    notices: list[str] = field(default_factory=list)


def _grow_to(start: int, stop: int, length: int, limit: int) -> tuple[int, int]:
    """Grow [start, stop) to at least `length` (clipped to [0, limit)), keeping it centred where possible."""
    missing = length - (stop - start)
    if missing <= 0:
        return start, stop
    start = max(0, start - missing // 2)
    stop = min(limit, start + max(length, stop - start))
    start = max(0, stop - length)
    return start, stop


@dataclass
class RegionPlan:
    """Crops to fill, and which hole pixels each one writes. Crops may overlap; every hole pixel has one owner:
    `labels` numbers the groups of holes (0 = none), `owner_of_group[label]` is i + 1 for the i-th region."""

    regions: list[Region]
    labels: np.ndarray
    owner_of_group: np.ndarray

    def owned(self, index: int, hole: np.ndarray) -> np.ndarray:
        """The hole pixels of `regions[index]`'s crop that it writes (bool, the crop's shape)."""
        window = self.regions[index].window
        if len(self.regions) == 1:
            return hole[window]
        return hole[window] & (np.take(self.owner_of_group, self.labels[window]) == index + 1)


@dataclass
class _Pack:
    """Groups of holes that fill in one crop: their joint box with context, before growing to the working size,
    and the best network scale any of them had alone (what sharing must not take from it)."""

    box: Region
    groups: list[int]
    best_scale: float


def plan_regions(hole: np.ndarray, resolution: ResolutionConfig) -> RegionPlan:
    """Group the holes, give each group a crop with context, then let groups share crops (`_share_a_crop`).
    Groups that do not share keep crops of their own, which may overlap: a crop sees every hole inside it as hole
    but writes only its own."""
    height, width = hole.shape
    hole_u8 = hole.astype(np.uint8)
    if resolution.group_distance > 0:
        size = 2 * (resolution.group_distance // 2) + 1
        grouped = cv2.dilate(hole_u8, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    else:
        grouped = hole_u8
    count, labels, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    packs = []
    for group, (left, top, box_width, box_height, _) in enumerate(stats[1:count], start=1):
        margin = max(resolution.min_context, int(resolution.context_fraction * max(box_width, box_height)))
        box = Region(max(0, int(top) - margin), max(0, int(left) - margin),
                     min(height, int(top + box_height) + margin), min(width, int(left + box_width) + margin))
        packs.append(_Pack(box, [group], network_scale(box, resolution.working_size)))
    merged = True
    while merged:  # passes until no two crops want to share (a merged crop may now want a third)
        merged = False
        for i in range(len(packs)):
            j = i + 1
            while j < len(packs):
                if _share_a_crop(packs[i], packs[j], (height, width), resolution):
                    other = packs.pop(j)
                    packs[i] = _Pack(packs[i].box.union(other.box), packs[i].groups + other.groups,
                                     max(packs[i].best_scale, other.best_scale))
                    merged = True
                else:
                    j += 1
    regions = []
    owner_of_group = np.zeros(count, np.int32)
    for index, pack in enumerate(sorted(packs, key=lambda pack: (pack.box.top, pack.box.left)), start=1):
        regions.append(_grown(pack.box, (height, width), resolution.working_size))
        owner_of_group[pack.groups] = index
    return RegionPlan(regions, labels, owner_of_group)


def _grown(box: Region, shape: tuple[int, int], working_size: int) -> Region:
    """`box` grown to at least the working size where the photo allows, so a small hole sees enough around it."""
    top, bottom = _grow_to(box.top, box.bottom, working_size, shape[0])
    left, right = _grow_to(box.left, box.right, working_size, shape[1])
    return Region(int(top), int(left), int(bottom), int(right))


def _share_a_crop(a: _Pack, b: _Pack, shape: tuple[int, int], resolution: ResolutionConfig) -> bool:
    """Whether two crops become one: always where together they still fit the working size (one pass at full
    resolution); where the crops overlap, if every group in them is scaled down anyway (the pieces of one large
    painted area fill in one pass, as fast as one large hole), or if sharing keeps `shared_crop_resolution` of
    the best resolution any of their groups had alone. So a small hole is never filled at a fraction of its
    resolution because a large one is near, nor two distant small ones in one scaled crop."""
    working_size = resolution.working_size
    shared = network_scale(a.box.union(b.box), working_size)
    if shared == 1.0:
        return True
    if not _grown(a.box, shape, working_size).overlaps(_grown(b.box, shape, working_size)):
        return False
    best = max(a.best_scale, b.best_scale)
    return best < 1.0 or shared >= resolution.shared_crop_resolution * best


def largest_region(regions: list[Region]) -> Region:
    """The region whose stage masks a fill reports (the panel shows it)."""
    return max(regions, key=lambda r: r.height * r.width)


def network_scale(region: Region, working_size: int) -> float:
    """How much the network's view of `region` is scaled down: 1 where it fits the working size, never above."""
    return min(1.0, working_size / max(region.height, region.width))


def network_size(region: Region, working_size: int) -> tuple[int, int]:
    """(height, width) the network sees for `region`: scaled down to fit the working size, never up."""
    scale = network_scale(region, working_size)
    if scale == 1.0:
        return region.height, region.width
    return max(1, round(region.height * scale)), max(1, round(region.width * scale))


def network_hole(crop_hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The crop's hole at the network's (height, width). A small pixel is hole if any photo pixel under it is:
    what is being removed must not leak back in as context."""
    if crop_hole.shape == size:
        return crop_hole.copy()
    return cv2.resize(crop_hole.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_AREA) > 0


def _to_float_rgb(pixels: np.ndarray) -> np.ndarray:
    """HxW, HxWx3 or HxWx4 uint8/uint16 -> HxWx3 float32 in [0, 1] (alpha is not the network's business)."""
    scale = 65535.0 if pixels.dtype == np.uint16 else 255.0
    rgb = pixels[..., :3] if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    return rgb.astype(np.float32) / scale


def _from_float_rgb(rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    """HxWx3 floats back to `like`'s dtype and colour layout (grey takes the channel mean); rounds and clips."""
    maximum = 65535.0 if like.dtype == np.uint16 else 255.0
    values = rgb.mean(axis=-1) if like.ndim == 2 else rgb
    return np.clip(values * maximum + 0.5, 0, maximum).astype(like.dtype)


def _paste(target: np.ndarray, values: np.ndarray, where: np.ndarray) -> None:
    """target[where] = values[where] in the colour channels (alpha stays as it was); OpenCV's masked copy is about
    40 times faster than numpy's boolean indexing."""
    colour = target[..., :3] if target.ndim == 3 else target
    colour[...] = cv2.copyTo(values, where.view(np.uint8), np.ascontiguousarray(colour))


class Inpainter:
    """Loads a weights file once and fills holes on the chosen device.

    Pass `weights=None` for the shipped model; a missing file is a `WeightsError` that says no trained model is
    installed (the engine never fills with an untrained network). `cuda_graphs` and `precision` are the
    `NetworkRunner`'s.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        device: str = "auto",
        resolution: ResolutionConfig = ResolutionConfig(),
        cuda_graphs: GraphMode = "auto",
        precision: Precision = "auto",
    ) -> None:
        self.weights_path = Path(weights) if weights is not None else default_weights_path()
        if weights is None and not self.weights_path.is_file():
            raise WeightsError(
                f"no trained model is installed ({self.weights_path.name} is missing from {self.weights_path.parent});"
                " train one with `pconv-studio train` or pass a weights file"
            )
        self.model, self.metadata = load_weights(self.weights_path)
        self.model.fold_batch_norms()
        self.resolution = resolution
        self.cuda_graphs: GraphMode = cuda_graphs
        self.precision: Precision = precision
        self.device_choice = select_device(device)
        self._move_model()

    @property
    def config(self) -> UNetConfig:
        return self.model.config

    @property
    def model_name(self) -> str:
        return f"{self.weights_path.stem} ({self.config.name})"

    @property
    def device_description(self) -> str:
        """The device and, where the convolutions run in reduced precision, which: "CUDA: NVIDIA H100, bf16"."""
        dtype = self._runner.dtype
        return self.device_choice.description + ("" if dtype is None else f", {precision_name(dtype)}")

    def set_device(self, requested: str) -> None:
        """Switch device; on failure keep the current one and raise `DeviceError`."""
        self.device_choice = select_device(requested)
        self._move_model()

    def _move_model(self) -> None:
        """Weights move once, in channels_last (the layout oneDNN and cuDNN are fastest in; crops arrive as HxWxC,
        which is that layout already)."""
        device = self.device_choice.device
        self.model.to(device, memory_format=torch.channels_last)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self._runner = NetworkRunner(self.model, device, graphs=self.cuda_graphs, precision=self.precision)

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
                    resolution = replace(resolution, working_size=resolution.working_size // 2)
                    notices.append(f"GPU out of memory: retried with {resolution.working_size} px crops")
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
            if cancel is not None:
                cancel.raise_if_cancelled()
            if progress is not None:
                progress(index / len(result.regions), f"filling region {index + 1} of {len(result.regions)}")
            window, size = region.window, network_size(region, resolution.working_size)
            owned = plan.owned(index, hole)
            stages = self._fill_region(pixels[window], hole[window], owned, result.pixels[window], size)
            if region is largest:
                result.stage_names = self.model.stage_names
                result.stage_masks = stages
                result.stage_region = region
                result.stage_input_size = size
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(1.0, "done")
        return result

    def _fill_region(
        self, source: np.ndarray, crop_hole: np.ndarray, owned: np.ndarray, target: np.ndarray, size: tuple[int, int]
    ) -> list[np.ndarray]:
        """Fill one crop: read the photo's pixels `source`, see every hole pixel in it as hole, write the `owned`
        ones into `target` (the output's same crop); the network sees it at `size` (height, width). Returns the
        network's stage masks (True = hole).

        Reading the untouched photo keeps the fill independent of the order in which overlapping crops run. A
        colour 8-bit crop the network sees at full size goes to the device as it is stored and comes back
        composited and rounded. Others are scaled in their own dtype (so only network-sized pixels are ever
        floats), converted on the host, composited at the network's size and scaled back: no seam where the hole
        ends.
        """
        height, width = size
        scaled = size != crop_hole.shape
        small_hole = network_hole(crop_hole, size)
        if small_hole.all():
            raise InputError("a hole is too large for its surroundings: no valid pixels are left around it")
        colour = source[..., :3] if source.ndim == 3 else source
        if not scaled and source.ndim == 3 and source.dtype == np.uint8:
            values, stages = self._forward(colour, ~small_hole)
        else:
            small = cv2.resize(np.ascontiguousarray(colour), (width, height), interpolation=cv2.INTER_AREA) \
                if scaled else colour
            filled, stages = self._forward(_to_float_rgb(small), ~small_hole)
            values = _from_float_rgb(filled, source)
            if scaled:
                values = cv2.resize(values, (crop_hole.shape[1], crop_hole.shape[0]), interpolation=cv2.INTER_CUBIC)
        _paste(target, values, owned)
        return stages

    def _forward(self, pixels: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """One network pass on HxWx3 uint8 or float32 pixels: the composite in their dtype and the stage masks."""
        return self._runner(pixels, valid)
