"""Live mask propagation for the panel: recomputed shortly after the mask changes, off the GUI thread.

Painting schedules a computation; a timer (debounce) waits until the brush pauses, so a stroke costs nothing
but a timer restart. The computation (planning the crop, scaling the hole, walking the layers: under a
millisecond to about half a second on a 24-megapixel photo) runs in a thread of its own, separate from the fill's,
so the panel stays live during a fill. While it runs, newer requests collapse into one, and only the newest
answer reaches the panel.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ..editing.mask_ops import StageStack, propagated_stages
from ..engine.inpainter import ResolutionConfig
from ..model import UNetConfig
from .worker import start_in_thread, stop_thread

__all__ = ["PropagationController", "PropagationWorker"]

log = logging.getLogger(__name__)

DEBOUNCE_MS = 120


class PropagationWorker(QObject):
    """Runs in its own thread: the geometry-only stages of a hole mask."""

    computed = Signal(int, object)  # serial, StageStack or None

    @Slot(int, object, object, object)
    def compute(self, serial: int, hole: np.ndarray, config: UNetConfig, resolution: ResolutionConfig) -> None:
        try:
            stack = propagated_stages(hole, config, resolution)
        except Exception:  # the panel is an aid: a failure here must never disturb painting
            log.exception("mask propagation failed")
            stack = None
        self.computed.emit(serial, stack)


class PropagationController(QObject):
    """GUI-thread side: debounces, keeps one computation in flight, drops stale answers."""

    stagesReady = Signal(object)  # StageStack or None (no hole)

    _computeRequested = Signal(int, object, object, object)

    def __init__(self, current_hole: Callable[[], np.ndarray | None], parent: QObject | None = None) -> None:
        """`current_hole()` returns the mask to propagate (it is copied here) or None without a document."""
        super().__init__(parent)
        self._current_hole = current_hole
        self.config: UNetConfig | None = None
        self.resolution = ResolutionConfig()
        self._serial = 0
        self._in_flight: int | None = None
        self._pending = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._send)
        self._worker = worker = PropagationWorker()  # kept: Python owns it
        self._computeRequested.connect(worker.compute)
        worker.computed.connect(self._on_computed)
        self._thread = start_in_thread(worker, "propagation-worker")

    @property
    def idle(self) -> bool:
        return self._in_flight is None and not self._pending and not self._timer.isActive()

    def set_geometry(self, config: UNetConfig, resolution: ResolutionConfig) -> None:
        """The architecture and crop sizes the fill will use; recomputes."""
        self.config, self.resolution = config, resolution
        self.schedule()

    def schedule(self) -> None:
        """The mask changed: recompute once the brush pauses."""
        self._timer.start()

    def shutdown(self) -> None:
        self._timer.stop()
        stop_thread(self._thread)

    @Slot()
    def _send(self) -> None:
        if self._in_flight is not None:
            self._pending = True  # one more after this one, with whatever the mask is then
            return
        hole = self._current_hole()
        if hole is None or self.config is None:
            self.stagesReady.emit(None)
            return
        self._serial += 1
        self._in_flight = self._serial
        self._pending = False
        self._computeRequested.emit(self._serial, hole.copy(), self.config, self.resolution)

    @Slot(int, object)
    def _on_computed(self, serial: int, stack: StageStack | None) -> None:
        self._in_flight = None
        if self._timer.isActive():  # the mask changed again: the timer sends the newer one
            self._pending = False
        elif self._pending:  # it changed while this ran: this answer is stale
            self._send()
        else:
            log.debug("stages %d ready", serial)
            self.stagesReady.emit(stack)
