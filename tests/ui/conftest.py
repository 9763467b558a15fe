"""Fixtures for the window tests: a window on throw-away settings, non-blocking dialogs, and fake engines."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

from pconv_studio.engine import InpaintResult, Region, ResolutionConfig, save_image
from pconv_studio.errors import DeviceError, WeightsError
from pconv_studio.ui.dialogs import ScriptedDialogs
from pconv_studio.ui.main_window import MainWindow
from pconv_studio.ui.settings import AppSettings
from tests.support import TINY_CONFIG, gradient_image

FILL_VALUE = 7  # what the fake engines write into the hole


class FakeEngine:
    """Fills the hole with FILL_VALUE, plus round(100 * t) in the fill style t. With a `gate`, it blocks (checking
    the cancel token) until the gate opens, so a test decides how long a fill runs. Without `detailed`, only the
    faithful style (t = 0) works, as with no detailed model installed."""

    model_name = "fake"
    device_description = "CPU: fake engine"
    config = TINY_CONFIG
    resolution = ResolutionConfig()

    def __init__(self, gate: threading.Event | None = None, detailed: bool = False) -> None:
        self.gate = gate
        self.detail = 0.0
        self.detail_problem = None if detailed else "the detailed model is not installed (fake engine)"
        self.styles: list[float] = []  # the fill style of every fill, in order
        self.started = threading.Event()
        self.calls = 0
        self.cancelled = 0
        self.notices: list[str] = []  # what the next fills report, e.g. an out-of-memory fallback

    def set_device(self, device: str) -> None:
        if device == "cuda":
            raise DeviceError("CUDA was requested but this torch build has no CUDA")
        self.device_description = f"{device.upper()}: fake engine"

    def set_detail_transfer(self, on: bool) -> None:
        self.resolution = ResolutionConfig(detail_transfer=on)

    def set_detail(self, t: float) -> None:
        if t and self.detail_problem is not None:
            raise WeightsError(self.detail_problem)
        self.detail = t

    def inpaint(self, pixels, hole, progress=None, cancel=None) -> InpaintResult:
        self.calls += 1
        self.styles.append(self.detail)
        value = FILL_VALUE + round(100 * self.detail)
        self.started.set()
        while self.gate is not None and not self.gate.wait(0.01):
            if cancel is not None and cancel.cancelled:
                self.cancelled += 1
                self.started.clear()
                cancel.raise_if_cancelled()
        if progress is not None:
            progress(1.0, "done")
        filled = pixels.copy()
        if filled.ndim == 3:
            filled[..., :3][hole] = value  # alpha stays, as the real engine keeps it
        else:
            filled[hole] = value
        self.started.clear()
        return InpaintResult(filled, [Region(0, 0, *hole.shape)], device=self.device_description, seconds=0.01,
                             notices=list(self.notices))


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "settings.ini"


@pytest.fixture
def make_window(qtbot, settings_file: Path) -> Callable[..., MainWindow]:
    """Build a shown window; every window is closed (threads stopped) after the test."""
    windows: list[MainWindow] = []

    def build(engine_factory=None, weights=None, wait_ready: bool = True, **options) -> MainWindow:
        """`options` go to MainWindow as they are (upscaler_factory, upscale_weights)."""
        settings = AppSettings(QSettings(str(settings_file), QSettings.Format.IniFormat))
        kwargs = {"engine_factory": engine_factory} if engine_factory is not None else {}
        window = MainWindow(settings, ScriptedDialogs(), weights=weights, **kwargs, **options)
        windows.append(window)
        qtbot.addWidget(window)
        window.resize(1000, 700)
        window.show()
        qtbot.waitExposed(window)
        if wait_ready:
            qtbot.waitUntil(lambda: window.inpaint.available, timeout=20_000)
        return window

    yield build
    for window in windows:
        window.dialogs.discard = True
        window.close()


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    save_image(path, gradient_image(120, 160))
    return path


def wait_idle(qtbot, window: MainWindow, timeout: int = 20_000) -> None:
    """Until no fill runs and the panel has caught up with the mask."""
    qtbot.waitUntil(lambda: not window.inpaint.busy and window.propagation.idle, timeout=timeout)


def send_mouse(widget: QWidget, kind: QEvent.Type, position: QPoint, button: Qt.MouseButton,
               buttons: Qt.MouseButton, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """A real mouse event with the buttons held (QTest's mouseMove cannot hold a button)."""
    local = QPointF(position)
    event = QMouseEvent(kind, local, QPointF(widget.mapToGlobal(position)), button, buttons, modifiers)
    QApplication.sendEvent(widget, event)


def drag(widget: QWidget, points: list[QPoint], button=Qt.MouseButton.LeftButton) -> None:
    send_mouse(widget, QEvent.Type.MouseButtonPress, points[0], button, button)
    for point in points[1:]:
        send_mouse(widget, QEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, button)
    send_mouse(widget, QEvent.Type.MouseButtonRelease, points[-1], button, Qt.MouseButton.NoButton)


def capsule_reference(shape: tuple[int, int], start: tuple[float, float], end: tuple[float, float],
                      radius: float) -> np.ndarray:
    """Pixels whose centre is within `radius` of the segment, one pixel at a time (independent of mask_ops)."""
    expected = np.zeros(shape, bool)
    (ax, ay), (bx, by) = start, end
    for row in range(shape[0]):
        for column in range(shape[1]):
            px, py = column + 0.5, row + 0.5
            best = min(np.hypot(px - ax, py - ay), np.hypot(px - bx, py - by))
            length = np.hypot(bx - ax, by - ay)
            if length > 0:
                along = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / length
                if 0 <= along <= length:
                    best = min(best, abs((px - ax) * (by - ay) - (py - ay) * (bx - ax)) / length)
            expected[row, column] = best <= radius
    return expected

