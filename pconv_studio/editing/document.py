"""The document being retouched, in plain Python: pixels, hole mask, undo history. Qt-free; views observe it.

The original pixels are never modified. Every change is an `Edit` that stores only the bounding box it touched,
before and after, so a brush stroke on a 24-megapixel photo costs the size of the stroke, not of the photo.
A brush stroke is one edit: `begin_stroke` snapshots the mask, `paint_stroke` changes it live (observers redraw
just the dab), `end_stroke` records the whole stroke as a single undo step. `replace_image` is the one edit that
changes the photo's size (an upscale): it swaps whole arrays instead of writing a box.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import mask_ops
from ..engine.imageio import check_mask_matches
from ..engine.inpainter import Region

__all__ = ["Change", "Document", "Edit"]

log = logging.getLogger(__name__)

_serials = itertools.count(1)


@dataclass(frozen=True, eq=False)
class Edit:
    """One undo step: the box it changed and the mask (and, for a fill, the pixels) there before and after.

    With `replaces_image` the step swapped the whole photo and mask, possibly for another size (`region` covers
    the photo after it); its four arrays are then the document's own arrays, not copies, so a 100-megapixel
    upscale costs no second copy. That is safe because only the document's current arrays are ever written in
    place, and every such write is itself an undo step: the arrays of this step are back to its state whenever
    undo or redo reaches it, and a new edit after an undo discards it.
    """

    label: str
    region: Region
    hole_before: np.ndarray
    hole_after: np.ndarray
    pixels_before: np.ndarray | None = None
    pixels_after: np.ndarray | None = None
    serial: int = 0  # unique, to tell whether the document is where it was last saved
    replaces_image: bool = False


@dataclass(frozen=True)
class Change:
    """What observers must redraw: `mask` and/or `pixels` inside `region` (None = everywhere); `state` covers
    the path, dirty flag and undo availability; `resized`: the photo and mask are new arrays, perhaps of another
    size (everything must be rebuilt; `mask` and `pixels` are then True and `region` None)."""

    mask: bool = False
    pixels: bool = False
    region: Region | None = None
    state: bool = False
    resized: bool = False


Observer = Callable[[Change], None]
_RESIZED = Change(mask=True, pixels=True, state=True, resized=True)


class Document:
    """A photo with a hole mask (True = hole) and an undo history of `Edit`s."""

    def __init__(self, pixels: np.ndarray, path: str | Path | None = None, hole: np.ndarray | None = None) -> None:
        if pixels.ndim not in (2, 3) or pixels.dtype not in (np.uint8, np.uint16):
            raise ValueError("pixels must be HxW or HxWxC uint8/uint16")
        self.original = pixels.copy()
        self.original.flags.writeable = False
        self.pixels = pixels.copy()
        self.hole = np.zeros(pixels.shape[:2], bool)
        if hole is not None:
            check_mask_matches(pixels, hole)
            self.hole[:] = hole
        self.path = Path(path) if path is not None else None
        self.saved_path: Path | None = None  # where the result was last saved; never the original unless asked
        self.revision = 0  # grows with every change, so a fill can tell whether its input is still current
        self._done: list[Edit] = []
        self._undone: list[Edit] = []
        self._saved_serial = 0
        self._observers: list[Observer] = []
        self._stroke_before: np.ndarray | None = None
        self._stroke_region: Region | None = None

    # --- observers ---------------------------------------------------------------------------------------------

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Call `observer(change)` after every change; returns a function that unsubscribes it."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer)

    def _notify(self, change: Change) -> None:
        self.revision += 1
        for observer in list(self._observers):
            observer(change)

    # --- state ------------------------------------------------------------------------------------------------

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def dirty(self) -> bool:
        """True when there is work since the last save (or since opening): a stroke, a fill, an undo."""
        return (self._done[-1].serial if self._done else 0) != self._saved_serial

    @property
    def can_undo(self) -> bool:
        return bool(self._done) and not self.stroke_active

    @property
    def can_redo(self) -> bool:
        return bool(self._undone) and not self.stroke_active

    @property
    def undo_label(self) -> str:
        return self._done[-1].label if self._done else ""

    @property
    def stroke_active(self) -> bool:
        return self._stroke_before is not None

    def mark_saved(self, path: str | Path) -> None:
        self.saved_path = Path(path)
        self._saved_serial = self._done[-1].serial if self._done else 0
        self._notify(Change(state=True))

    # --- mask edits -----------------------------------------------------------------------------------------

    def edit_mask(self, label: str, operation: Callable[[np.ndarray], object]) -> Edit | None:
        """Run `operation(hole)` (it changes the mask in place) as one undo step; None if nothing changed."""
        before = self.hole.copy()
        operation(self.hole)
        return self._record_mask_edit(label, before)

    def replace_mask(self, label: str, hole: np.ndarray) -> Edit | None:
        """Take a whole new mask (an imported file) as one undo step."""
        check_mask_matches(self.pixels, hole)
        return self.edit_mask(label, lambda mask: np.copyto(mask, hole.astype(bool, copy=False)))

    def begin_stroke(self) -> None:
        if self.stroke_active:
            raise RuntimeError("a stroke is already in progress")
        self._stroke_before = self.hole.copy()
        self._stroke_region = None

    def paint_stroke(self, start: mask_ops.Point, end: mask_ops.Point, radius: float, value: bool) -> None:
        """One dab of the brush (value True) or eraser (False) between two points, shown at once."""
        if self._stroke_before is None:
            raise RuntimeError("paint_stroke outside begin_stroke/end_stroke")
        region = mask_ops.paint_capsule(self.hole, start, end, radius, value)
        if region is not None:
            self._stroke_region = region if self._stroke_region is None else self._stroke_region.union(region)
            self._notify(Change(mask=True, region=region))

    def end_stroke(self, label: str) -> Edit | None:
        """Record the stroke as one undo step; None if it changed nothing."""
        before, touched = self._stroke_before, self._stroke_region
        if before is None:
            raise RuntimeError("end_stroke without begin_stroke")
        self._stroke_before = self._stroke_region = None
        if touched is None:
            self._notify(Change(state=True))
            return None
        window = touched.window
        inner = mask_ops.changed_region(before[window], self.hole[window])
        if inner is None:
            self._notify(Change(state=True))
            return None
        region = Region(touched.top + inner.top, touched.left + inner.left,
                        touched.top + inner.bottom, touched.left + inner.right)
        window = region.window
        return self._push(Edit(label, region, before[window].copy(), self.hole[window].copy(), serial=next(_serials)),
                          Change(mask=True, region=region, state=True))

    def _record_mask_edit(self, label: str, before: np.ndarray) -> Edit | None:
        region = mask_ops.changed_region(before, self.hole)
        if region is None:
            return None
        window = region.window
        edit = Edit(label, region, before[window].copy(), self.hole[window].copy(), serial=next(_serials))
        return self._push(edit, Change(mask=True, region=region, state=True))

    # --- fills --------------------------------------------------------------------------------------------------

    def apply_fill(self, label: str, filled_hole: np.ndarray, filled_pixels: np.ndarray) -> Edit | None:
        """Take a fill's result as one undo step: pixels change only where `filled_hole` (the mask the fill was
        given) is hole, and those pixels leave the mask. Strokes painted while the fill ran stay in the mask."""
        check_mask_matches(self.pixels, filled_hole)
        if filled_pixels.shape != self.pixels.shape or filled_pixels.dtype != self.pixels.dtype:
            raise ValueError("the fill's pixels do not match the document")
        region = mask_ops.bounding_region(filled_hole)
        if region is None:
            return None
        window = region.window
        where = filled_hole[window] if self.pixels.ndim == 2 else filled_hole[window][..., None]
        pixels_after = np.where(where, filled_pixels[window], self.pixels[window])
        hole_after = self.hole[window] & ~filled_hole[window]
        edit = Edit(label, region, self.hole[window].copy(), hole_after,
                    self.pixels[window].copy(), pixels_after, serial=next(_serials))
        self._write(edit, after=True)
        return self._push(edit, Change(mask=True, pixels=True, region=region, state=True))

    # --- whole-image replacement ---------------------------------------------------------------------------------

    def replace_image(self, label: str, pixels: np.ndarray, hole: np.ndarray) -> Edit:
        """Take a new photo and mask, of any size (an upscale: the photo enlarged, the mask with it), as one undo
        step; undo brings back the photo, its size and its mask exactly. `pixels` (HxW or HxWxC) must have the
        document's dtype and channels, `hole` (bool HxW) its size; both are copied. Raises `ValueError` (dtype or
        channels differ, or during a stroke) or `InputError` (the mask's size differs from the pixels')."""
        if self.stroke_active:
            raise ValueError("the photo cannot be replaced during a brush stroke")
        if pixels.dtype != self.pixels.dtype or pixels.shape[2:] != self.pixels.shape[2:]:
            raise ValueError(f"the new photo ({pixels.dtype}, shape {pixels.shape}) does not match the document's "
                             f"dtype and channels ({self.pixels.dtype}, shape {self.pixels.shape})")
        check_mask_matches(pixels, hole)
        new_pixels, new_hole = pixels.copy(), hole.astype(bool, copy=True)
        edit = Edit(label, Region(0, 0, *new_pixels.shape[:2]), self.hole, new_hole, self.pixels, new_pixels,
                    serial=next(_serials), replaces_image=True)
        self._write(edit, after=True)
        return self._push(edit, _RESIZED)

    # --- history ------------------------------------------------------------------------------------------------

    def _push(self, edit: Edit, change: Change) -> Edit:
        """Record an edit that is already applied; a new edit discards whatever could have been redone."""
        self._done.append(edit)
        self._undone.clear()
        log.debug("edit %r at %s", edit.label, edit.region)
        self._notify(change)
        return edit

    def _write(self, edit: Edit, after: bool) -> None:
        if edit.replaces_image:
            self.pixels, self.hole = ((edit.pixels_after, edit.hole_after) if after
                                      else (edit.pixels_before, edit.hole_before))
            return
        window = edit.region.window
        self.hole[window] = edit.hole_after if after else edit.hole_before
        if edit.pixels_before is not None:
            self.pixels[window] = edit.pixels_after if after else edit.pixels_before

    def undo(self) -> Edit | None:
        return self._replay(self._done, self._undone, after=False) if self.can_undo else None

    def redo(self) -> Edit | None:
        return self._replay(self._undone, self._done, after=True) if self.can_redo else None

    def _replay(self, source: list[Edit], destination: list[Edit], after: bool) -> Edit:
        """Move the newest edit of `source` to `destination`, writing its before (undo) or after (redo) state."""
        edit = source.pop()
        self._write(edit, after=after)
        destination.append(edit)
        self._notify(_RESIZED if edit.replaces_image else
                     Change(mask=True, pixels=edit.pixels_before is not None, region=edit.region, state=True))
        return edit
