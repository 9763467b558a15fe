"""Full-resolution fills in tiles, with partial-convolution padding at every tile border.

With partial-convolution padding (Liu et al. 2018, "Partial Convolution based Padding") a tile's border is a hole,
not zeros: the network renormalises over the pixels it really has, so a tile needs only a modest halo of context
around its core, and neighbouring tiles meet without a seam. Tiles are aligned to the network's 2^levels grid
(so a tile computes on the same strided grid as one whole-image pass would), only tiles whose core holds pixels
to fill run, and each writes only its core's pixels. With a halo of at least the network's receptive radius
(`network_reach(config).receptive_radius`) a tiled fill is exactly the whole-image fill.

`plan_tiles` covers the pixels to fill; `cover_tiles` covers a whole image (upscaling, where every pixel is
predicted).
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from .regions import Region

__all__ = ["Tile", "cover_tiles", "plan_tiles", "round_up"]


def round_up(value: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is >= `value` (tile sizes and halos on the network's grid)."""
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class Tile:
    """`core` is what the tile writes; `window` (core plus halo, clipped to the photo) is what the network sees."""

    core: Region
    window: Region


def plan_tiles(
    to_fill: np.ndarray, origin: tuple[int, int], shape: tuple[int, int], core_size: int, halo: int, grid: int
) -> list[Tile]:
    """Tiles covering every True pixel of `to_fill` (bool, a crop of the photo at `origin` = (top, left)), in
    row-major order.

    Cores are the cells of a `core_size` grid laid from the photo's top-left that hold pixels to fill, each cut down
    to the box of those pixels rounded outwards to the network's `grid` (2^levels); the window is the core grown by
    `halo` (rounded up to the grid) on each side and clipped to the photo `shape`. So a thin stroke across a cell
    costs a thin window. `core_size` must be a multiple of `grid`.
    """
    if core_size % grid:
        raise ValueError(f"the tile core ({core_size}) must be a multiple of the network's grid ({grid})")
    rows, cols = np.nonzero(to_fill)
    if rows.size == 0:
        return []
    rows, cols = rows + origin[0], cols + origin[1]
    cells = (rows // core_size) * (shape[1] // core_size + 1) + cols // core_size
    order = np.argsort(cells, kind="stable")
    cells, rows, cols = cells[order], rows[order], cols[order]
    starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
    tops, bottoms = np.minimum.reduceat(rows, starts), np.maximum.reduceat(rows, starts) + 1
    lefts, rights = np.minimum.reduceat(cols, starts), np.maximum.reduceat(cols, starts) + 1
    height, width = shape
    halo = round_up(halo, grid)
    tiles = []
    for top, bottom, left, right in zip(tops.tolist(), bottoms.tolist(), lefts.tolist(), rights.tolist()):
        cell_top, cell_left = top // core_size * core_size, left // core_size * core_size
        core = Region(
            max(cell_top, top // grid * grid), max(cell_left, left // grid * grid),
            min(cell_top + core_size, round_up(bottom, grid), height),
            min(cell_left + core_size, round_up(right, grid), width),
        )
        tiles.append(Tile(core, _window(core, halo, shape)))
    return tiles


def cover_tiles(shape: tuple[int, int], core_size: int, halo: int, grid: int) -> list[Tile]:
    """Tiles covering the whole of an image of `shape` = (height, width), in row-major order: the cores are the
    cells of a `core_size` grid laid from the top-left (clipped at the bottom and right), each window the core
    grown by `halo` (rounded up to the network's `grid`, 2^levels) on each side and clipped to the image. Cores
    never overlap and together hold every pixel once. `core_size` must be a multiple of `grid`."""
    if core_size % grid:
        raise ValueError(f"the tile core ({core_size}) must be a multiple of the network's grid ({grid})")
    height, width = shape
    halo = round_up(halo, grid)
    return [
        Tile(core, _window(core, halo, shape))
        for top in range(0, height, core_size)
        for left in range(0, width, core_size)
        for core in [Region(top, left, min(top + core_size, height), min(left + core_size, width))]
    ]


def _window(core: Region, halo: int, shape: tuple[int, int]) -> Region:
    """`core` grown by `halo` px on each side, clipped to an image of `shape`."""
    return Region(max(0, core.top - halo), max(0, core.left - halo), min(shape[0], core.bottom + halo),
                  min(shape[1], core.right + halo))
