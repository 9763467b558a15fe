"""Image → Upscale…: ask for the scale, upscale on the worker thread, take the result as one undo step.

The upscale runs in the fill's worker thread and queue (`InpaintController.request_upscale`), so the window keeps
working and Esc cancels it. Its result replaces the document's photo as one undo step (`Document.replace_image`):
the painted mask is enlarged with the photo, nearest neighbour, including strokes painted while it ran. It is
applied only if the photo's pixels are still those it was computed from; a fill or an undo meanwhile makes it
stale, and the user is told to upscale again. Nothing is written to disk: Save writes the result.
"""

from __future__ import annotations

from typing import Callable

import logging

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from ..editing.mask_ops import resize_nearest
from ..errors import PConvError
from ..engine.upscale import check_upscale
from .commands import DocumentEditor
from .worker import InpaintController, Upscaled, UpscaleRequest

__all__ = ["UpscaleFlow"]

log = logging.getLogger(__name__)


class UpscaleFlow(QObject):
    """The window's upscale command. Emits `applied(Upscaled)` once the result is in the document, `message(str)`
    for the status bar and `failed(str)` for errors (the window reports them)."""

    applied = Signal(object)
    message = Signal(str)
    failed = Signal(str)

    def __init__(self, editor: DocumentEditor, inpaint: InpaintController, dialogs: object,
                 parent: QObject | None = None, on_grid: Callable[[], bool] = lambda: False) -> None:
        super().__init__(parent)
        self.menu_on_grid = on_grid  # whether to upscale with the partial-convolution grid model (the menu's tick)
        self.editor = editor
        self.inpaint = inpaint
        self.dialogs = dialogs
        self._deferred: tuple[UpscaleRequest, Upscaled] | None = None  # a result that arrived mid-stroke
        inpaint.upscaled.connect(self._on_upscaled)
        inpaint.upscaleFailed.connect(self._on_failed)
        inpaint.upscaleCancelled.connect(self._on_cancelled)

    @Slot()
    def start(self) -> None:
        """Ask for the scale and start the upscale (a fill running now is stopped: the newest request wins)."""
        document = self.editor.document
        if document is None:
            return
        if self.inpaint.upscaling:
            self.message.emit("An upscale is already running (Esc cancels it).")
            return
        scale = self.dialogs.ask_upscale(document.height, document.width, 100.0 * float(document.hole.mean()))
        if scale is None:
            return
        try:
            check_upscale(document.pixels, scale)
        except PConvError as error:
            self.failed.emit(f"Cannot upscale: {error}")
            return
        self._deferred = None
        on_grid = self.menu_on_grid()
        self.inpaint.request_upscale(document.pixels, scale, on_grid,
                                     key=(id(document), document.revision, "upscale", scale, on_grid))

    def stroke_ended(self) -> None:
        """A result that arrived during a brush stroke goes in now, after the stroke's own undo step."""
        if self._deferred is not None:
            request, upscaled = self._deferred
            self._deferred = None
            self._apply(request, upscaled)

    def forget(self) -> None:
        """Another photo: a result waiting for a stroke to end is not for it."""
        self._deferred = None

    @Slot(object, object)
    def _on_upscaled(self, request: UpscaleRequest, upscaled: Upscaled) -> None:
        document = self.editor.document
        if document is None or request.key[0] != id(document):
            return  # the photo it was for is gone
        if document.stroke_active:
            self._deferred = (request, upscaled)
            return
        self._apply(request, upscaled)

    def _apply(self, request: UpscaleRequest, upscaled: Upscaled) -> None:
        document = self.editor.document
        if document is None or request.key[0] != id(document):
            return
        if not np.array_equal(document.pixels, request.pixels):
            self.failed.emit("The photo changed while it was being upscaled (a fill or an undo), so the upscale was "
                             "not applied: choose Image → Upscale… again.")
            return
        result = upscaled.result
        height, width = result.pixels.shape[:2]
        before = (document.width, document.height)
        self.editor.replace_image(f"Upscale ×{result.scale:g}", result.pixels,
                                  resize_nearest(document.hole, height, width))
        log.info("upscaled x%g: %dx%d -> %dx%d in %.2f s, %d tiles, %s", result.scale, *before, width, height,
                 result.seconds, result.tiles, result.device)
        tiles = f"{result.tiles} tile{'s' if result.tiles != 1 else ''}"
        how = "" if result.input_kind == "grid" else ", the network refining a bicubic upscale"
        text = (f"Upscaled ×{result.scale:g} to {width} × {height} in {result.seconds:.1f} s ({tiles}{how}); "
                "Ctrl+Z brings back the original")
        self.message.emit(" — ".join([text, *result.notices]))
        self.applied.emit(upscaled)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.failed.emit(f"The upscale failed: {message}")

    @Slot()
    def _on_cancelled(self) -> None:
        self.message.emit("Upscale cancelled: the photo is unchanged.")
