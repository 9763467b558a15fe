"""Full-resolution fills in tiles, with partial-convolution padding at every tile border.

With partial-convolution padding (Liu et al. 2018, "Partial Convolution based Padding") a tile's border is a hole,
not zeros: the network renormalises over the pixels it really has, so a tile needs only a modest halo of context
around its core, and neighbouring tiles meet without a seam. Tiles are aligned to the network's 2^levels grid
(so a tile computes on the same strided grid as one whole-image pass would), only tiles whose core holds pixels
to fill run, and each writes only its core's pixels. With a halo of at least the network's receptive radius
(`network_reach(config).receptive_radius`) a tiled fill is exactly the whole-image fill.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from .regions import Region

__all__ = ["Tile", "plan_tiles"]


@dataclass(frozen=True)
class Tile:
    """`core` is what the tile writes; `window` (core plus halo, clipped to the photo) is what the network sees."""

    core: Region
    window: Region


def plan_tiles(
    to_fill: np.ndarray, origin: tuple[int, int], shape: tuple[int, int], core_size: int, halo: int, grid: int
) -> list[Tile]:
    """Tiles covering every True pixel of `to_fill` (bool, a crop of the photo at `origin` = (top, left)).

    Cores are `core_size` squares on the photo's grid (multiples of `core_size` from the photo's top-left), the
    window is the core grown by `halo` on each side, rounded outwards to the network's `grid` (2^levels) and
    clipped to the photo `shape`. `core_size` and `grid` must divide evenly: core_size % grid == 0.
    """
    if core_size % grid:
        raise ValueError(f"the tile core ({core_size}) must be a multiple of the network's grid ({grid})")
    top0, left0 = origin
    rows, cols = np.nonzero(to_fill)
    if rows.size == 0:
        return []
    cells = np.unique(np.stack([(rows + top0) // core_size, (cols + left0) // core_size], axis=1), axis=0)
    height, width = shape
    halo = -(-halo // grid) * grid
    tiles = []
    for row, col in cells:
        top, left = int(row) * core_size, int(col) * core_size
        core = Region(top, left, min(height, top + core_size), min(width, left + core_size))
        window = Region(max(0, top - halo), max(0, left - halo), min(height, core.bottom + halo),
                        min(width, core.right + halo))
        tiles.append(Tile(core, window))
    return tiles
