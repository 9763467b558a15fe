"""Where the network looks: hole groups, the crops around them, and the scale each crop is seen at.

Holes are grouped (holes closer than `group_distance` fill together), each group gets a crop with context around
it, groups share a crop where no hole loses resolution it needs by it (`_share_a_crop`), and every crop is grown
to at least the working size where the photo allows, so small holes see their surroundings at full resolution.
Crops may overlap: each sees every hole inside it as hole and writes only its own (`RegionPlan.owned`). How a
crop larger than the working size is filled (tiles at full resolution, two scales, or scaled) is the
`Inpainter`'s choice, by `ResolutionConfig.strategy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

__all__ = [
    "STRATEGIES", "Region", "RegionPlan", "ResolutionConfig", "Strategy", "largest_region", "network_hole",
    "network_scale", "network_size", "plan_regions",
]

Strategy = Literal["auto", "scaled"]
STRATEGIES: tuple[Strategy, ...] = ("auto", "scaled")


@dataclass(frozen=True)
class ResolutionConfig:
    """How a photo of any size is cut into pieces the network can fill.

    `strategy`: "auto" fills a crop larger than the working size at the photo's own resolution in tiles where every
    hole pixel is within the network's reach of a known pixel, else in two scales (a coarse pass at the working
    size, then the band along the hole's edge again at full resolution, with the photo's own fine detail carried
    into the rest when `detail_transfer` is on); "scaled" fills it at the working size and scales the fill back up
    (the engine before tiles; kept for comparison).
    """

    working_size: int = 512  # px: the longest side the network sees in one pass
    group_distance: int = 24  # px: holes closer than this are filled in one crop
    context_fraction: float = 0.5  # context added on each side, as a fraction of the hole group's size
    min_context: int = 32  # px of context at least
    shared_crop_resolution: float = 0.7  # groups share a crop if it keeps this much of the resolution they had alone
    strategy: Strategy = "auto"
    tile_size: int = 1024  # px: the core each full-resolution tile writes (a multiple of the network's 2^levels)
    tile_halo: int = 128  # px of context around a tile's core (rounded up to the network's grid); see docs/resolution.md
    tiled_reach: int = 32  # px: regions whose every hole pixel is this close to a known one are filled in tiles
    edge_band: int = 32  # px: two scales refill the hole this far from its edge at full resolution
    detail_transfer: bool = True  # two scales: add the photo's own high frequencies to the coarse fill

    def __post_init__(self) -> None:
        if (self.working_size < 64 or self.group_distance < 0 or self.context_fraction < 0 or self.min_context < 0
                or not 0 < self.shared_crop_resolution <= 1 or self.tile_size < 64 or self.tile_halo < 0
                or self.edge_band < 1 or self.tiled_reach < 0):
            raise ValueError("invalid resolution config")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}")


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

    def intersection(self, other: "Region") -> "Region | None":
        """The overlap of two regions, or None when they do not overlap."""
        if not self.overlaps(other):
            return None
        return Region(max(self.top, other.top), max(self.left, other.left),
                      min(self.bottom, other.bottom), min(self.right, other.right))

    def relative_to(self, outer: "Region") -> "Region":
        """This region in the frame of `outer` (whose top-left becomes (0, 0))."""
        return Region(self.top - outer.top, self.left - outer.left, self.bottom - outer.top, self.right - outer.left)

    def union(self, other: "Region") -> "Region":
        return Region(
            min(self.top, other.top), min(self.left, other.left),
            max(self.bottom, other.bottom), max(self.right, other.right),
        )


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


