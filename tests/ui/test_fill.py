"""Filling from the window: it runs in the worker thread, can be cancelled, newest request wins, and undoes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt, QThread, QTimer
from PySide6.QtWidgets import QMessageBox

from pconv_studio.engine import load_image
from pconv_studio.errors import InputError
from pconv_studio.ui.dialogs import Dialogs, ScriptedDialogs
from tests.ui.conftest import FILL_VALUE, FakeEngine, drag, wait_idle

pytestmark = pytest.mark.gui


@pytest.fixture
def gated_engine() -> FakeEngine:
    return FakeEngine(gate=threading.Event())


@pytest.fixture
def window(make_window, gated_engine, photo):
    window = make_window(lambda weights, device: gated_engine)
    assert window.open_path(photo)
    window.canvas.actual_size()
    window.editor.fill_rectangle(QPointF(20, 20), QPointF(60, 50), False)
    return window


def test_the_event_loop_keeps_running_and_painting_works_during_a_fill(window, gated_engine, qtbot):
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(QThread.currentThread()))
    timer.start(10)
    hole_at_request = window.document.hole.copy()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert gated_engine.started.wait(5), "the fill did not start"
    assert window.inpaint.busy and window.menu_actions.cancel.isEnabled() and window.progress_bar.isVisible()
    before = len(ticks)
    qtbot.wait(300)  # the engine is blocked in its thread all this time
    assert len(ticks) - before >= 10
    canvas = window.canvas
    drag(canvas.viewport(), [canvas.mapFromScene(QPointF(120, 90)), canvas.mapFromScene(QPointF(140, 95))])
    painted_meanwhile = window.document.hole & ~hole_at_request
    assert painted_meanwhile.any()
    canvas.zoom_by(2)  # zooming works too
    assert gated_engine.started.is_set()  # ... and the fill is still running
    timer.stop()
    assert all(thread is window.thread() for thread in ticks)
    with qtbot.waitSignal(window.fillApplied, timeout=5000):
        gated_engine.gate.set()
    document = window.document
    assert (document.pixels[hole_at_request] == FILL_VALUE).all()
    original = load_image(window.document.path)
    np.testing.assert_array_equal(document.pixels[~hole_at_request], original[~hole_at_request])
    # the filled hole left the mask; the stroke painted during the fill stays for the next fill
    np.testing.assert_array_equal(document.hole, painted_meanwhile)
    assert window.undo_stack.text(window.undo_stack.count() - 1) == "Inpaint"
    assert "last fill" in window.run_label.text()


def test_cancel_discards_the_result_and_keeps_the_mask(window, gated_engine, qtbot):
    hole = window.document.hole.copy()
    pixels = window.document.pixels.copy()
    window.run_inpaint()
    assert gated_engine.started.wait(5)
    with qtbot.waitSignal(window.inpaint.cancelled, timeout=5000):
        qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    wait_idle(qtbot, window)
    assert gated_engine.cancelled == 1
    np.testing.assert_array_equal(window.document.hole, hole)
    np.testing.assert_array_equal(window.document.pixels, pixels)
    assert window.undo_stack.count() == 1  # just the rectangle
    assert not window.menu_actions.cancel.isEnabled()
    assert "cancelled" in window.statusBar().currentMessage()


def test_a_newer_request_replaces_the_queued_one_and_the_stale_result_is_dropped(window, gated_engine, qtbot):
    window.run_inpaint()
    assert gated_engine.started.wait(5)
    window.run_inpaint()  # the same input while it runs: nothing new (checked below: two calls in all)
    for x in (100, 120, 140):  # three more requests, each after another change of the mask
        window.editor.fill_rectangle(QPointF(x, 80), QPointF(x + 10, 90), False)
        window.run_inpaint()
    final_hole = window.document.hole.copy()
    applied = []
    window.fillApplied.connect(lambda: applied.append(window.document.pixels.copy()))
    qtbot.waitUntil(lambda: gated_engine.cancelled == 1, timeout=5000)  # the running one was stale: cancelled
    assert gated_engine.started.wait(5)  # the newest request runs
    gated_engine.gate.set()
    wait_idle(qtbot, window)
    assert gated_engine.calls == 2  # the queued requests in between never ran
    assert len(applied) == 1
    assert (applied[0][final_hole] == FILL_VALUE).all()
    assert not window.document.hole.any()


def test_undo_and_redo_of_a_fill(window, gated_engine, qtbot):
    gated_engine.gate.set()
    hole, pixels = window.document.hole.copy(), window.document.pixels.copy()
    with qtbot.waitSignal(window.fillApplied, timeout=5000):
        window.run_inpaint()
    filled = window.document.pixels.copy()
    assert (filled[hole] == FILL_VALUE).all() and not window.document.hole.any()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(window.document.pixels, pixels)
    np.testing.assert_array_equal(window.document.hole, hole)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(window.document.pixels, filled)
    # keep painting and fill again on top of the result
    window.editor.fill_rectangle(QPointF(100, 60), QPointF(130, 90), False)
    second = window.document.hole.copy()
    with qtbot.waitSignal(window.fillApplied, timeout=5000):
        window.run_inpaint()
    assert (window.document.pixels[second | hole] == FILL_VALUE).all()
    assert [window.undo_stack.text(i) for i in range(window.undo_stack.count())] == [
        "Rectangle", "Inpaint", "Rectangle", "Inpaint"]


def test_auto_run_fills_when_a_stroke_ends(window, gated_engine, qtbot):
    gated_engine.gate.set()
    window.menu_actions.auto_run.setChecked(True)
    canvas = window.canvas
    with qtbot.waitSignal(window.fillApplied, timeout=5000):
        drag(canvas.viewport(), [canvas.mapFromScene(QPointF(100, 100)), canvas.mapFromScene(QPointF(110, 100))])
    assert not window.document.hole.any()
    assert window.settings.auto_run


def test_the_detail_transfer_setting_reaches_the_engine_and_is_remembered(make_window, gated_engine, qtbot):
    """On by default (the engine's default); the Inpaint menu's check box switches the engine the fills run on,
    through the worker thread, and the choice survives a restart."""
    window = make_window(lambda weights, device: gated_engine)
    qtbot.waitUntil(lambda: gated_engine.resolution.detail_transfer is True, timeout=5000)
    assert window.menu_actions.detail_transfer.isChecked()
    window.menu_actions.detail_transfer.trigger()  # the user unticks it
    qtbot.waitUntil(lambda: gated_engine.resolution.detail_transfer is False, timeout=5000)
    assert window.settings.detail_transfer is False
    second_engine = FakeEngine()
    second = make_window(lambda weights, device: second_engine)
    assert not second.menu_actions.detail_transfer.isChecked()
    qtbot.waitUntil(lambda: second_engine.resolution.detail_transfer is False, timeout=5000)


def test_without_a_trained_model_inpaint_is_disabled_and_painting_still_works(
        make_window, photo, tmp_path: Path, monkeypatch, qtbot):
    data = tmp_path / "data"
    (data / "weights").mkdir(parents=True)
    monkeypatch.setenv("PCONV_STUDIO_DATA", str(data))  # an installation with no weights file
    window = make_window(wait_ready=False)
    qtbot.waitUntil(lambda: bool(window.dialogs.errors), timeout=20_000)
    assert "no trained model" in window.dialogs.errors[0]
    assert window.model_label.text() == "no trained model"
    assert window.open_path(photo)
    assert not window.menu_actions.inpaint.isEnabled()
    assert "no trained model" in window.menu_actions.inpaint.toolTip()
    window.editor.fill_rectangle(QPointF(20, 20), QPointF(60, 50), False)
    assert window.document.hole.any()
    qtbot.waitUntil(lambda: window.panel.stack is not None, timeout=5000)  # the panel works on the geometry
    assert window.panel.stack.stages[0].name == "enc1"
    window.run_inpaint()
    assert len(window.dialogs.errors) == 2 and not window.inpaint.busy


def test_the_device_menu_switches_and_reports_an_unavailable_device(window, gated_engine, qtbot):
    assert window.device_label.text() == "CPU: fake engine"
    with qtbot.waitSignal(window.inpaint.deviceChanged, timeout=5000):
        window.menu_actions.devices["cpu"].trigger()
    assert window.device_label.text() == "CPU: fake engine" and window.settings.device == "cpu"
    with qtbot.waitSignal(window.errorReported, timeout=5000):
        window.menu_actions.devices["cuda"].trigger()
    assert "no CUDA" in window.dialogs.errors[-1]
    assert window.menu_actions.devices["cpu"].isChecked() and window.settings.device == "cpu"


def test_notices_such_as_an_out_of_memory_fallback_are_shown(window, gated_engine, qtbot):
    gated_engine.gate.set()
    gated_engine.notices = ["GPU out of memory: fell back to the CPU"]
    gated_engine.device_description = "CPU: the GPU ran out of memory"
    with qtbot.waitSignal(window.fillApplied, timeout=5000):
        window.run_inpaint()
    assert window.statusBar().currentMessage() == "GPU out of memory: fell back to the CPU"
    assert window.device_label.text() == "CPU: the GPU ran out of memory"
    assert not window.dialogs.errors  # a notice, not a failure


def test_a_fill_that_fails_while_the_close_prompt_is_open_shows_its_error_after_it(make_window, photo, qtbot):
    gate = threading.Event()

    class FailingEngine(FakeEngine):
        def inpaint(self, pixels, hole, progress=None, cancel=None):
            super().inpaint(pixels, hole, progress, cancel)
            raise InputError("the hole is too large")

    window = make_window(lambda weights, device: FailingEngine(gate))
    assert window.open_path(photo)
    window.editor.fill_rectangle(QPointF(20, 20), QPointF(60, 50), False)
    window.dialogs = Dialogs(window)  # the real boxes
    errors, seen = [], []
    window.errorReported.connect(errors.append)

    def boxes() -> list[QMessageBox]:
        return [box for box in window.findChildren(QMessageBox) if box.isVisible()]

    def while_asked() -> None:
        (question,) = [box for box in boxes() if "unsaved changes" in box.text()]
        try:
            gate.set()  # the fill fails now, while the question is on screen
            qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
            qtbot.wait(50)
            seen.append([box.text() for box in boxes()])
        finally:
            question.button(QMessageBox.StandardButton.Cancel).click()  # keep the window

    window.run_inpaint()
    QTimer.singleShot(0, while_asked)
    try:
        assert not window.close()
        (on_screen,) = seen
        assert len(on_screen) == 1 and "unsaved changes" in on_screen[0]
        qtbot.waitUntil(lambda: len(boxes()) == 1, timeout=5000)  # then the error, on its own
        assert "the hole is too large" in boxes()[0].text()
    finally:
        for box in boxes():
            box.close()
        window.dialogs = ScriptedDialogs()  # pytest-qt closes the window before the fixture can: never block
