"""A figure a person can judge: crops at 100% around the hole's edge, the truth beside each method's fill.

Each row is one photo and mask kind: the truth with the hole's edge outlined, then every method's composited fill
of the same window, pixel for pixel (no resampling). The window is chosen from the hole and the truth alone, so
it is the same for every method and every run: on a grid of positions, the windows whose hole share is nearest a
target (40%, or less where the hole is thinner) are kept, and of those the one where the truth has the most
gradient energy, so the crop shows detail that a fill has to continue.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import cv2
import numpy as np

__all__ = ["CROP_SIZE", "edge_window", "CropFigure"]

CROP_SIZE = 160  # px, each crop's side at 100%
_TARGET_HOLE_SHARE = 0.4
_SHARE_TOLERANCE = 0.25  # windows within this fraction of the target share are candidates
_GAP = 4  # px between crops
_LABEL_HEIGHT = 18  # px of the text strip above each row and above the columns
_BACKGROUND = (32, 32, 32)
_TEXT = (235, 235, 235)
_OUTLINE = (255, 214, 0)  # the hole's edge on the truth


def _window_sums(values: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Sums of `values` (HxW) over size x size windows whose top-left corners lie on a `stride` grid."""
    integral = cv2.integral(values)  # (H + 1) x (W + 1), float64 for float input
    tops = np.arange(0, values.shape[0] - size + 1, stride)
    lefts = np.arange(0, values.shape[1] - size + 1, stride)
    top, left = np.ix_(tops, lefts)
    return integral[top + size, left + size] - integral[top, left + size] - integral[top + size, left] \
        + integral[top, left]


def edge_window(truth: np.ndarray, hole: np.ndarray | None, size: int = CROP_SIZE) -> tuple[int, int]:
    """(top, left) of a size x size window around the hole's edge with detail in it (see the module docstring);
    with `hole` None (a fill of the whole image: an upscale), the window with the most detail.

    `truth` is RGB uint8 HxWx3 and `hole` bool HxW, both at least size x size. Ties go to the first window in
    raster order."""
    if min(truth.shape[:2]) < size:
        raise ValueError(f"a {truth.shape[1]}x{truth.shape[0]} photo is smaller than a {size} px crop")
    stride = max(1, size // 4)
    candidates = True
    if hole is not None:
        share = _window_sums(hole.astype(np.float64), size, stride) / size**2
        target = min(_TARGET_HOLE_SHARE, 0.8 * share.max())
        candidates = np.abs(share - target) <= _SHARE_TOLERANCE * target
    grey = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY).astype(np.float32)
    energy = cv2.Sobel(grey, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(grey, cv2.CV_32F, 0, 1) ** 2
    detail = np.where(candidates, _window_sums(energy.astype(np.float64), size, stride), -1.0)
    row, col = np.unravel_index(int(np.argmax(detail)), detail.shape)
    return int(row * stride), int(col * stride)


def _outlined(crop: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The crop with the hole's edge pixels (hole pixels with a known 4-neighbour) painted in `_OUTLINE`."""
    inner = cv2.erode(hole.astype(np.uint8), np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8),
                      borderType=cv2.BORDER_REPLICATE)
    edge = hole & ~inner.astype(bool)
    result = crop.copy()
    result[edge] = _OUTLINE
    return result


def _label(width: int, text: str) -> np.ndarray:
    strip = np.empty((_LABEL_HEIGHT, width, 3), np.uint8)
    strip[:] = _BACKGROUND
    cv2.putText(strip, text, (3, _LABEL_HEIGHT - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, _TEXT, 1, cv2.LINE_AA)
    return strip


class CropFigure:
    """Rows of crops, one per (photo, kind) added; `render()` gives the RGB uint8 figure."""

    def __init__(self, methods: Sequence[str], size: int = CROP_SIZE,
                 truth_label: str = "truth (hole edge in yellow)") -> None:
        self.methods = tuple(methods)
        self.size = size
        self.truth_label = truth_label
        self.rows: list[tuple[str, list[np.ndarray]]] = []

    def add(self, photo: str, kind: str, truth: np.ndarray, hole: np.ndarray | None,
            fills: Mapping[str, np.ndarray]) -> None:
        """Cut the crops of one photo and kind: the truth (hole outlined) and each of `methods`' fills; with `hole`
        None (an upscale: every pixel is the network's), the window with the most detail, nothing outlined."""
        top, left = edge_window(truth, hole, self.size)
        window = slice(top, top + self.size), slice(left, left + self.size)
        first = truth[window] if hole is None else _outlined(truth[window], hole[window])
        crops = [first] + [fills[method][window] for method in self.methods]
        self.rows.append((f"{photo}, {kind}, crop at ({left}, {top}), 100%", crops))

    def render(self) -> np.ndarray:
        if not self.rows:
            raise ValueError("the figure has no rows")
        columns = 1 + len(self.methods)
        width = columns * self.size + (columns + 1) * _GAP
        spacer = np.empty((self.size, _GAP, 3), np.uint8)
        spacer[:] = _BACKGROUND
        headers = [_label(self.size + _GAP, name) for name in (self.truth_label, *self.methods)]
        parts = [np.hstack([spacer[:_LABEL_HEIGHT]] + headers)]
        for title, crops in self.rows:
            parts.append(_label(width, title))
            parts.append(np.hstack([spacer] + [piece for crop in crops for piece in (crop, spacer)]))
        bottom = np.empty((_GAP, width, 3), np.uint8)
        bottom[:] = _BACKGROUND
        return np.vstack(parts + [bottom])
