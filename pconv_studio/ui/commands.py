"""Undo for the app: every document edit becomes one QUndoCommand on the window's QUndoStack.

The document keeps its own history (it is usable without Qt); the QUndoStack mirrors it step for step, because
every edit is pushed here right after the document made it, and undo/redo only ever go through the stack. A brush
stroke is one command: the document collects it from press to release, and the command is pushed on release.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, QPointF, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from ..editing import mask_ops
from ..editing.document import Document, Edit

__all__ = ["DocumentEditor", "EditCommand"]


class EditCommand(QUndoCommand):
    """A document edit that has already been applied when it is pushed (so the first redo does nothing)."""

    def __init__(self, document: Document, edit: Edit) -> None:
        super().__init__(edit.label)
        self.document = document
        self.edit = edit
        self._applied = True

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        redone = self.document.redo()
        assert redone is self.edit, "the undo stack and the document history went out of step"

    def undo(self) -> None:
        undone = self.document.undo()
        assert undone is self.edit, "the undo stack and the document history went out of step"


class DocumentEditor(QObject):
    """Turns the canvas's gestures and the menu's mask commands into undoable document edits."""

    holePainted = Signal()  # a stroke, rectangle or lasso added hole: "fill after each stroke" runs then

    def __init__(self, undo_stack: QUndoStack, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = undo_stack
        self.document: Document | None = None
        self._stroke: tuple[QPointF, float, bool] | None = None  # last point, radius, paint value

    def set_document(self, document: Document | None) -> None:
        self.undo_stack.clear()
        self.document = document
        self._stroke = None

    def _push(self, edit: Edit | None, painted_hole: bool = False) -> None:
        if edit is not None:
            self.undo_stack.push(EditCommand(self.document, edit))
            if painted_hole:
                self.holePainted.emit()

    # --- the canvas's gestures ---------------------------------------------------------------------------------

    def begin_stroke(self, point: QPointF, erase: bool, brush_size: int) -> None:
        if self.document is None or self.document.stroke_active:
            return
        self.document.begin_stroke()
        self._stroke = (point, brush_size / 2, not erase)
        self.continue_stroke(point)

    def continue_stroke(self, point: QPointF) -> None:
        if self._stroke is None:
            return
        last, radius, value = self._stroke
        self.document.paint_stroke((last.x(), last.y()), (point.x(), point.y()), radius, value)
        self._stroke = (point, radius, value)

    def end_stroke(self) -> None:
        if self._stroke is None:
            return
        value = self._stroke[2]
        self._stroke = None
        self._push(self.document.end_stroke("Brush stroke" if value else "Eraser stroke"), painted_hole=value)

    def fill_rectangle(self, corner: QPointF, opposite: QPointF, erase: bool) -> None:
        if self.document is not None:
            edit = self.document.edit_mask("Rectangle", lambda hole: mask_ops.fill_rectangle(
                hole, (corner.x(), corner.y()), (opposite.x(), opposite.y()), not erase))
            self._push(edit, painted_hole=not erase)

    def fill_lasso(self, points: list[QPointF], erase: bool) -> None:
        if self.document is not None:
            vertices = [(p.x(), p.y()) for p in points]
            edit = self.document.edit_mask("Lasso", lambda hole: mask_ops.fill_polygon(hole, vertices, not erase))
            self._push(edit, painted_hole=not erase)

    # --- whole-mask commands --------------------------------------------------------------------------------

    def grow(self, pixels: int) -> None:
        self._whole_mask(f"Grow mask by {pixels} px", lambda hole: mask_ops.grow(hole, pixels))

    def shrink(self, pixels: int) -> None:
        self._whole_mask(f"Shrink mask by {pixels} px", lambda hole: mask_ops.shrink(hole, pixels))

    def invert(self) -> None:
        self._whole_mask("Invert mask", mask_ops.invert)

    def clear(self) -> None:
        self._whole_mask("Clear mask", mask_ops.clear)

    def import_mask(self, hole: np.ndarray) -> None:
        """Raises `InputError` when the mask's size differs from the photo's."""
        if self.document is not None:
            self._push(self.document.replace_mask("Import mask", hole))

    def _whole_mask(self, label: str, operation: Callable[[np.ndarray], object]) -> None:
        if self.document is not None and not self.document.stroke_active:
            self._push(self.document.edit_mask(label, operation))

    def undo(self) -> None:
        """Undo and redo wait for a stroke in progress to end, so the stack and the document stay in step."""
        if self.document is not None and not self.document.stroke_active:
            self.undo_stack.undo()

    def redo(self) -> None:
        if self.document is not None and not self.document.stroke_active:
            self.undo_stack.redo()

    # --- fills ----------------------------------------------------------------------------------------------

    def apply_fill(self, filled_hole: np.ndarray, filled_pixels: np.ndarray) -> Edit | None:
        """Take a fill's result as one undo step; None if there was nothing to take."""
        if self.document is None:
            return None
        edit = self.document.apply_fill("Inpaint", filled_hole, filled_pixels)
        if edit is not None:
            self.undo_stack.push(EditCommand(self.document, edit))
        return edit

    def replace_image(self, label: str, pixels: np.ndarray, hole: np.ndarray) -> Edit | None:
        """Take a new photo and mask of any size (an upscale) as one undo step; None without a document. Raises
        what `Document.replace_image` raises."""
        if self.document is None:
            return None
        edit = self.document.replace_image(label, pixels, hole)
        self.undo_stack.push(EditCommand(self.document, edit))
        return edit

    def newest_edit(self) -> Edit | None:
        """The edit the next undo takes back; None if there is none or a stroke is in progress."""
        stack = self.undo_stack
        if self.document is None or self.document.stroke_active or stack.index() == 0:
            return None
        return stack.command(stack.index() - 1).edit

    def replace_fill(self, fill: Edit, filled_hole: np.ndarray, filled_pixels: np.ndarray) -> Edit | None:
        """Show another result of the same fill (another fill style) in place of `fill`: `fill` is undone and the
        new result applied, so the fill stays one undo step and undo still brings back the photo as it was.
        Only while `fill` is the newest step; otherwise nothing changes and None is returned."""
        if self.newest_edit() is not fill:
            return None
        self.undo_stack.undo()
        return self.apply_fill(filled_hole, filled_pixels)
