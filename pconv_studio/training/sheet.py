"""A sheet of fills at 100% for a person to judge: one row per (bin, photo), columns truth, hole, then each method.

Numbers can improve while a fill shows checkerboard patterns, colour blobs or repeated stamps; the sheet shows them.
Pixels are never scaled. The hole column paints the hole white (the app's convention on screen).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..engine.imageio import save_image

__all__ = ["FillSheet", "sheet_cells"]

_GAP = 4  # px between tiles
_TITLE = 22  # px: the strip above every row holding its column titles
_BACKGROUND = 40  # grey level between tiles
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def sheet_cells(bin_count: int, photo_count: int) -> list[tuple[int, int]]:
    """One (bin index, photo index) per bin, the photos spread evenly over the set: the sheet's rows."""
    return [(b, (b * photo_count) // bin_count) for b in range(bin_count)]


def _title(strip: np.ndarray, text: str, left: int, width: int) -> None:
    scale = 0.45
    while scale > 0.25 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > width - 4:
        scale -= 0.05
    cv2.putText(strip, text, (left + 2, _TITLE - 7), _FONT, scale, (235, 235, 235), 1, cv2.LINE_AA)


@dataclass
class FillSheet:
    """Collects the fills of the rows in `cells` (pass `add` as the evaluation's fill callback) and lays them out.

    `photos` are the evaluation's RGB uint8 photos, `masks[b][i]` its holes (bool, True = hole), `labels[b]` the
    bins' names, `methods` the column order.
    """

    photos: Sequence[np.ndarray]
    masks: Sequence[Sequence[np.ndarray]]
    labels: Sequence[str]
    methods: Sequence[str]
    cells: Sequence[tuple[int, int]]
    fills: dict[tuple[int, int, str], np.ndarray] = field(default_factory=dict)

    def add(self, bin_index: int, photo_index: int, method: str, composite: np.ndarray) -> None:
        if (bin_index, photo_index) in self.cells:
            self.fills[bin_index, photo_index, method] = composite.copy()

    def render(self) -> np.ndarray:
        """The sheet as RGB uint8; a method without a fill for a row leaves its tile grey."""
        height, width = self.photos[0].shape[:2]
        columns = ["truth", "hole", *self.methods]
        sheet_width = len(columns) * (width + _GAP) + _GAP
        rows = []
        for bin_index, photo_index in self.cells:
            photo = self.photos[photo_index]
            hole = self.masks[bin_index][photo_index]
            strip = np.full((_TITLE, sheet_width, 3), _BACKGROUND, np.uint8)
            tiles = [photo, np.where(hole[..., None], np.uint8(255), photo)]
            tiles += [self.fills.get((bin_index, photo_index, m), np.full_like(photo, 128)) for m in self.methods]
            row = np.full((height + _GAP, sheet_width, 3), _BACKGROUND, np.uint8)
            for column, (name, tile) in enumerate(zip(columns, tiles)):
                left = _GAP + column * (width + _GAP)
                row[:height, left : left + width] = tile
                label = f"hole {self.labels[bin_index]}, photo {photo_index + 1}" if name == "hole" else name
                _title(strip, label, left, width)
            rows += [strip, row]
        return np.concatenate(rows)

    def save(self, path: Path) -> None:
        save_image(path, self.render())
