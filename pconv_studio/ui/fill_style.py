"""The "Fill style: faithful ... detailed" slider, and refilling the last fill live when it moves.

The engine blends the two models (`engine/blend.py`); this module only decides what to ask it for. Moving the
slider while the newest undo step is a fill re-runs that fill, on its own input, in the new style, through the
worker (the newest request wins); the result takes the fill's place as the same single undo step. Results are
kept per style for that fill, so going back to a style shows it at once, without the worker. While the newest
step is anything else, the slider sets the style of the next fill.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QToolBar, QWidget

from ..engine import InpaintResult
from ..engine.blend import LruCache
from ..editing.document import Edit
from ..editing.mask_ops import bounding_region
from .commands import DocumentEditor
from .settings import AppSettings
from .worker import InpaintController, InpaintRequest

__all__ = ["FillStyle", "RESULTS_KEPT", "STEPS"]

log = logging.getLogger(__name__)

STEPS = 100  # slider positions from faithful (0) to detailed (STEPS)
RESULTS_KEPT = 16  # fill styles whose result is kept for the last fill (only the hole's bounding box of each)
AVAILABLE_TIP = ("How the hole is filled: faithful (the model trained for the most likely pixels, smooth) to "
                 "detailed (fine-tuned for texture), or any blend of their weights between. Moving it refills the "
                 "last fill.")


@dataclass
class _LastFill:
    """The newest fill: its input, the undo step showing it, and its results so far (cropped to the hole's box)."""

    request: InpaintRequest
    window: tuple[slice, slice]
    edit: Edit
    results: LruCache[float, InpaintResult]

    def base_key(self) -> tuple:
        return self.request.key[:-1]  # the key without the fill style

    def keep(self, t: float, result: InpaintResult) -> None:
        if result.pixels.shape == self.request.pixels.shape:
            result = replace(result, pixels=result.pixels[self.window].copy())
        self.results.put(t, result)

    def full_pixels(self, result: InpaintResult) -> np.ndarray:
        """A result's pixels at the photo's size (the kept ones hold only the hole's box)."""
        if result.pixels.shape == self.request.pixels.shape:
            return result.pixels
        pixels = self.request.pixels.copy()
        pixels[self.window] = result.pixels
        return pixels


class FillStyle(QObject):
    """Owns the slider (in a tool bar of its own) and the results of the last fill per style.

    `cachedResult(request, result)` offers a kept result to the window, which applies it as it applies any fill
    (through `accept` and `commit`).
    """

    cachedResult = Signal(object, object)  # InpaintRequest, InpaintResult

    def __init__(self, editor: DocumentEditor, inpaint: InpaintController, settings: AppSettings,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.editor, self.inpaint, self.settings = editor, inpaint, settings
        self._last: _LastFill | None = None
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("fillStyleSlider")
        self.slider.setRange(0, STEPS)
        self.slider.setPageStep(STEPS // 10)
        self.slider.setTickInterval(STEPS // 4)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setFixedWidth(140)
        self.value_label = QLabel()
        self.value_label.setMinimumWidth(32)
        self.toolbar = QToolBar("Fill style")
        self.toolbar.setObjectName("fillStyleBar")  # for saveState
        self.toolbar.setMovable(False)
        self._body = body = QWidget()
        layout = QHBoxLayout(body)
        layout.setContentsMargins(6, 0, 6, 0)
        for widget in (QLabel("Fill style: faithful"), self.slider, QLabel("detailed"), self.value_label):
            layout.addWidget(widget)
        self.toolbar.addWidget(body)
        self.slider.valueChanged.connect(self._on_value_changed)
        self.set_available(False, "the model is still loading")

    @property
    def detail(self) -> float:
        """The style of the next fill: the slider's value, 0 (faithful) while the slider is disabled."""
        return self.slider.value() / STEPS if self.slider.isEnabled() else 0.0

    def set_available(self, available: bool, reason: str = "") -> None:
        """Enable the slider at the saved style, or disable it at "faithful" with `reason` as its tooltip."""
        self.slider.blockSignals(True)
        self.slider.setValue(round(self.settings.detail * STEPS) if available else 0)
        self.slider.blockSignals(False)
        self._body.setEnabled(available)  # the labels grey with the slider
        self._show_value()
        tip = AVAILABLE_TIP if available else f"Only the faithful style is available: {reason}."
        for widget in (self._body, *self._body.findChildren(QWidget)):
            widget.setToolTip(f"<p>{html.escape(tip)}</p>")  # rich text: Qt wraps it

    def forget(self) -> None:
        """Another photo: nothing to refill."""
        self._last = None

    # --- results -----------------------------------------------------------------------------------------------

    def accept(self, request: InpaintRequest, result: InpaintResult) -> bool:
        """Whether a finished fill should go into the document. A refill of the last fill is kept among its results
        in any case, but shown only if its style is still the slider's and the fill is still the newest step."""
        last = self._last
        if last is None or request.key[:-1] != last.base_key():
            return True
        last.keep(request.detail, result)
        return request.detail == self.detail and self.editor.newest_edit() is last.edit

    def commit(self, request: InpaintRequest, result: InpaintResult) -> bool:
        """Apply an accepted fill: a refill replaces the last fill's undo step, any other fill becomes a new step
        and the new last fill (refilled at once if the slider moved while it ran). False if there was nothing to
        apply."""
        last = self._last
        if last is not None and request.key[:-1] == last.base_key():
            edit = self.editor.replace_fill(last.edit, last.request.hole, last.full_pixels(result))
            if edit is not None:
                last.edit = edit
            return edit is not None
        edit = self.editor.apply_fill(request.hole, result.pixels)
        if edit is not None:
            self._last = _LastFill(request, bounding_region(request.hole).window, edit, LruCache(RESULTS_KEPT))
            self._last.keep(request.detail, result)
            if request.detail != self.detail:
                self._refill(self.detail)
        return edit is not None

    # --- the slider ----------------------------------------------------------------------------------------

    def _show_value(self) -> None:
        self.value_label.setText(f"{self.detail:.2f}")

    @Slot(int)
    def _on_value_changed(self, value: int) -> None:
        t = value / STEPS
        self.settings.detail = t
        self._show_value()
        self._refill(t)

    def _refill(self, t: float) -> None:
        """Show the last fill in style `t`: its kept result at once, or a new fill of its input through the worker."""
        last = self._last
        if last is None or self.editor.newest_edit() is not last.edit or self.inpaint.upscaling:
            return  # the next fill takes the new style (a refill now would supersede a running upscale)
        request = last.request
        cached = last.results.get(t)
        if cached is not None:
            log.info("fill style %.2f: kept result", t)
            self.cachedResult.emit(replace(request, detail=t, key=(*last.base_key(), t)), cached)
        else:
            self.inpaint.request(request.pixels, request.hole, key=(*last.base_key(), t), detail=t)
