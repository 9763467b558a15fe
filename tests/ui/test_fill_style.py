"""The fill-style slider: it refills the last fill live, keeps results per style, stays one undo step, and is
disabled (at "faithful") without a detailed model."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QSettings, Qt

from pconv_studio.engine import Inpainter
from pconv_studio.paths import detailed_weights_path
from pconv_studio.ui.settings import AppSettings
from tests.support import make_detailed_weights, make_weights
from tests.ui.conftest import FILL_VALUE, FakeEngine, wait_idle

pytestmark = pytest.mark.gui


def _filled_window(make_window, engine, photo, qtbot):
    window = make_window(lambda weights, device: engine)
    assert window.open_path(photo)
    window.editor.fill_rectangle(QPointF(20, 20), QPointF(60, 50), False)
    hole, pixels = window.document.hole.copy(), window.document.pixels.copy()
    with qtbot.waitSignal(window.fillApplied, timeout=10_000):
        window.run_inpaint()
    return window, hole, pixels


def _labels(window) -> list[str]:
    return [window.undo_stack.text(i) for i in range(window.undo_stack.count())]


def test_moving_the_slider_refills_and_going_back_uses_the_kept_result(make_window, photo, qtbot):
    engine = FakeEngine(detailed=True)
    window, hole, original = _filled_window(make_window, engine, photo, qtbot)
    slider = window.fill_style.slider
    assert slider.isEnabled() and slider.value() == 0
    assert (window.document.pixels[hole] == FILL_VALUE).all()
    with qtbot.waitSignal(window.fillApplied, timeout=10_000):
        slider.setValue(40)
    assert engine.styles == [0.0, 0.4]
    assert (window.document.pixels[hole] == FILL_VALUE + 40).all()
    np.testing.assert_array_equal(window.document.pixels[~hole], original[~hole])
    assert not window.document.hole.any()
    assert _labels(window) == ["Rectangle", "Inpaint"]  # still one undo step
    assert window.settings.detail == 0.4

    with qtbot.waitSignal(window.fillApplied, timeout=1000):
        qtbot.keyClick(slider, Qt.Key.Key_PageDown)  # back to 0.3: not seen yet, the worker runs
    assert engine.styles[-1] == 0.3 and (window.document.pixels[hole] == FILL_VALUE + 30).all()
    calls = engine.calls
    for value, expected in ((0, FILL_VALUE), (40, FILL_VALUE + 40)):  # kept results: no new job, shown at once
        with qtbot.waitSignal(window.fillApplied, timeout=1000):
            slider.setValue(value)
        assert not window.inpaint.busy and engine.calls == calls
        assert (window.document.pixels[hole] == expected).all()
    assert _labels(window) == ["Rectangle", "Inpaint"]

    window.editor.undo()  # undo brings back the photo and the hole as they were before the fill
    np.testing.assert_array_equal(window.document.pixels, original)
    np.testing.assert_array_equal(window.document.hole, hole)
    window.editor.redo()
    assert (window.document.pixels[hole] == FILL_VALUE + 40).all() and not window.document.hole.any()


def test_the_newest_slider_position_wins(make_window, photo, qtbot):
    engine = FakeEngine(gate=threading.Event(), detailed=True)
    window = make_window(lambda weights, device: engine)
    assert window.open_path(photo)
    window.editor.fill_rectangle(QPointF(20, 20), QPointF(60, 50), False)
    hole = window.document.hole.copy()
    engine.gate.set()
    with qtbot.waitSignal(window.fillApplied, timeout=10_000):
        window.run_inpaint()
    engine.gate.clear()
    slider = window.fill_style.slider
    slider.setValue(10)
    assert engine.started.wait(5)
    for value in (20, 30, 50):  # a drag: each position replaces the one before
        slider.setValue(value)
    applied = []
    window.fillApplied.connect(lambda: applied.append(window.document.pixels[hole].copy()))
    engine.gate.set()
    wait_idle(qtbot, window)
    assert engine.styles == [0.0, 0.1, 0.5]  # 0.2 and 0.3 never ran
    assert len(applied) == 1 and (applied[0] == FILL_VALUE + 50).all()
    assert _labels(window) == ["Rectangle", "Inpaint"]


def test_after_another_edit_the_slider_sets_the_style_of_the_next_fill(make_window, photo, qtbot):
    engine = FakeEngine(detailed=True)
    window, first_hole, _ = _filled_window(make_window, engine, photo, qtbot)
    window.editor.fill_rectangle(QPointF(100, 60), QPointF(130, 90), False)
    second_hole = window.document.hole.copy()
    window.fill_style.slider.setValue(70)
    qtbot.wait(100)
    assert engine.calls == 1 and not window.inpaint.busy  # the fill is not the newest step: no refill
    assert (window.document.pixels[first_hole] == FILL_VALUE).all()
    with qtbot.waitSignal(window.fillApplied, timeout=10_000):
        window.run_inpaint()
    assert engine.styles == [0.0, 0.7]
    assert (window.document.pixels[second_hole] == FILL_VALUE + 70).all()
    assert (window.document.pixels[first_hole] == FILL_VALUE).all()


def test_without_a_detailed_model_the_slider_is_disabled_at_faithful(make_window, photo, qtbot, settings_file):
    AppSettings(QSettings(str(settings_file), QSettings.Format.IniFormat)).detail = 0.6
    engine = FakeEngine()  # no detailed model
    window, hole, _ = _filled_window(make_window, engine, photo, qtbot)
    slider = window.fill_style.slider
    assert not slider.isEnabled() and slider.value() == 0
    assert "detailed model is not installed" in slider.toolTip()
    assert window.fill_style.value_label.text() == "0.00"
    assert engine.styles == [0.0] and (window.document.pixels[hole] == FILL_VALUE).all()
    assert window.settings.detail == 0.6  # the user's choice is kept for when a detailed model is installed


def test_the_style_survives_a_restart(make_window, photo, qtbot):
    engine = FakeEngine(detailed=True)
    window = make_window(lambda weights, device: engine)
    window.fill_style.slider.setValue(35)
    window.close()
    again = make_window(lambda weights, device: engine)
    assert again.fill_style.slider.value() == 35 and again.fill_style.detail == 0.35
    assert again.open_path(photo)
    again.editor.fill_rectangle(QPointF(20, 20), QPointF(60, 50), False)
    with qtbot.waitSignal(again.fillApplied, timeout=10_000):
        again.run_inpaint()
    assert engine.styles == [0.35]


def test_with_the_real_engine_the_slider_shows_the_detailed_model(make_window, photo, qtbot, tmp_path):
    faithful = make_weights(tmp_path / "tiny.safetensors")
    detailed = make_detailed_weights(faithful, detailed_weights_path(faithful))
    window = make_window(weights=str(faithful))
    assert window.fill_style.slider.isEnabled()
    assert window.open_path(photo)
    window.editor.fill_rectangle(QPointF(20, 20), QPointF(60, 50), False)
    pixels, hole = window.document.pixels.copy(), window.document.hole.copy()
    with qtbot.waitSignal(window.fillApplied, timeout=20_000):
        window.run_inpaint()
    np.testing.assert_array_equal(window.document.pixels, Inpainter(faithful).inpaint(pixels, hole).pixels)
    with qtbot.waitSignal(window.fillApplied, timeout=20_000):
        window.fill_style.slider.setValue(100)
    np.testing.assert_array_equal(window.document.pixels, Inpainter(detailed).inpaint(pixels, hole).pixels)


def test_a_slider_moved_during_the_first_fill_refills_it_when_it_arrives(make_window, photo, qtbot):
    engine = FakeEngine(gate=threading.Event(), detailed=True)
    window = make_window(lambda weights, device: engine)
    assert window.open_path(photo)
    window.editor.fill_rectangle(QPointF(20, 20), QPointF(60, 50), False)
    hole = window.document.hole.copy()
    window.run_inpaint()
    assert engine.started.wait(5)
    window.fill_style.slider.setValue(60)  # nothing filled yet: nothing to refill now
    assert engine.calls == 1
    engine.gate.set()
    qtbot.waitUntil(lambda: engine.calls == 2 and not window.inpaint.busy, timeout=10_000)
    assert engine.styles == [0.0, 0.6]
    assert (window.document.pixels[hole] == FILL_VALUE + 60).all()
    assert _labels(window) == ["Rectangle", "Inpaint"]
