"""Image → Upscale… in the window: the dialog, a run through the worker thread, one undo step, cancel, errors."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from pconv_studio.engine import load_image
from pconv_studio.engine.upscale import UpscaleResult, Upscaler
from pconv_studio.ui.upscale_dialog import UpscaleDialog
from pconv_studio.paths import upscale_grid_weights_path
from tests.support import TINY_CONFIG
from tests.ui.conftest import FakeEngine, wait_idle

pytestmark = pytest.mark.gui


class GatedUpscaler:
    """Repeats every pixel `scale` times (integer scales only), after waiting for its gate (checking the cancel
    token), so a test decides how long an upscale runs."""

    model_name = "fake upscaler"
    device_description = "CPU: fake upscaler"
    config = TINY_CONFIG

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.cancelled = 0

    def set_device(self, device: str) -> None:
        pass

    def upscale(self, pixels, scale, progress=None, cancel=None) -> UpscaleResult:
        self.started.set()
        while not self.gate.wait(0.01):
            if cancel is not None and cancel.cancelled:
                self.cancelled += 1
                cancel.raise_if_cancelled()
        factor = int(scale)
        enlarged = np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)
        return UpscaleResult(enlarged, scale, tiles=1, device=self.device_description)


@pytest.fixture
def gated_upscaler() -> GatedUpscaler:
    return GatedUpscaler()


@pytest.fixture
def gated_window(make_window, gated_upscaler, photo):
    window = make_window(lambda weights, device: FakeEngine(), upscaler_factory=lambda weights, device: gated_upscaler)
    assert window.open_path(photo)
    window.editor.fill_rectangle(QPointF(20, 20), QPointF(60, 50), False)
    return window


def test_the_dialog_shows_the_resulting_size_as_the_scale_changes(qtbot):
    dialog = UpscaleDialog(768, 1024, hole_percent=0.0)
    qtbot.addWidget(dialog)
    spin = dialog.scale_spin
    assert (spin.minimum(), spin.maximum(), spin.singleStep(), spin.value()) == (1.25, 8.0, 0.25, 2.0)
    assert dialog.size_label.text() == "1024 × 768 → 2048 × 1536, 3.1 MP"  # 3 145 728 px
    spin.stepBy(1)
    assert dialog.scale == 2.25 and dialog.size_label.text() == "1024 × 768 → 2304 × 1728, 4.0 MP"
    spin.setValue(1.25)
    assert dialog.size_label.text() == "1024 × 768 → 1280 × 960, 1.2 MP"
    spin.setValue(20)
    assert dialog.scale == 8.0 and dialog.size_label.text() == "1024 × 768 → 8192 × 6144, 50.3 MP"
    assert dialog.note.isHidden()  # no mask painted: nothing to say about it


def test_the_dialog_says_what_happens_to_the_mask_and_refuses_a_too_large_result(qtbot):
    dialog = UpscaleDialog(100, 200, hole_percent=12.5)
    qtbot.addWidget(dialog)
    assert not dialog.note.isHidden() and "12.5%" in dialog.note.text() and "nearest neighbour" in dialog.note.text()
    big = UpscaleDialog(12_000, 12_000, hole_percent=0.0)  # x2: 576 MP, past the engine's 400 MP limit
    qtbot.addWidget(big)
    assert "over the 400 MP limit" in big.size_label.text()
    assert not big.buttons.buttons()[0].isEnabled()
    big.scale_spin.setValue(1.5)  # 18 000 x 18 000 = 324 MP
    assert big.size_label.text() == "12000 × 12000 → 18000 × 18000, 324.0 MP"
    assert big.buttons.buttons()[0].isEnabled()


def test_an_upscale_with_a_real_network_is_one_undo_step(make_window, photo, tiny_weights, qtbot):
    window = make_window(lambda weights, device: FakeEngine(), upscale_weights=str(tiny_weights))
    file_bytes = photo.read_bytes()
    assert window.open_path(photo)
    window.editor.fill_rectangle(QPointF(20, 20), QPointF(60, 50), False)
    original, hole = window.document.pixels.copy(), window.document.hole.copy()
    fitted_zoom = window.canvas.zoom
    assert window.menu_actions.upscale.isEnabled()
    window.dialogs.scales = [2.0]
    with qtbot.waitSignal(window.upscaleApplied, timeout=60_000):
        window.menu_actions.upscale.trigger()
    document = window.document
    assert (document.height, document.width) == (240, 320) and document.pixels.dtype == np.uint8
    expected = Upscaler(tiny_weights, device="cpu").upscale(original, 2.0).pixels  # the engine called directly
    np.testing.assert_array_equal(document.pixels, expected)
    np.testing.assert_array_equal(document.hole, np.kron(hole, np.ones((2, 2), bool)))  # the mask came along
    assert window.undo_stack.text(window.undo_stack.count() - 1) == "Upscale ×2"
    assert document.dirty and "320×240" in window.windowTitle()
    scene = window.canvas.scene().sceneRect()
    assert (scene.width(), scene.height()) == (320, 240)
    assert window.canvas.zoom == pytest.approx(fitted_zoom / 2)  # refitted: twice the pixels in the same view
    assert window.panel.stack.upscale == 2 and "upscale grid ×2" in window.panel.windowTitle()
    assert "Upscaled ×2 to 320 × 240" in window.statusBar().currentMessage()
    assert not window.dialogs.errors

    window.editor.undo()
    assert (document.height, document.width) == (120, 160)
    np.testing.assert_array_equal(document.pixels, load_image(photo))
    np.testing.assert_array_equal(document.hole, hole)
    scene = window.canvas.scene().sceneRect()
    assert (scene.width(), scene.height()) == (160, 120) and window.canvas.zoom == pytest.approx(fitted_zoom)
    window.editor.redo()
    np.testing.assert_array_equal(document.pixels, expected)
    assert photo.read_bytes() == file_bytes  # nothing was written: Save does that


def test_the_grid_option_upscales_with_the_grid_model_and_is_remembered(make_window, photo, tiny_weights, qtbot):
    asked: list[object] = []

    def factory(weights, device):
        asked.append(weights)
        return Upscaler(tiny_weights, device="cpu", input_kind="bicubic" if weights is None else "grid")

    window = make_window(lambda weights, device: FakeEngine(), upscaler_factory=factory)
    assert window.open_path(photo)
    assert not window.menu_actions.upscale_on_grid.isChecked()  # the default: the shipped (bicubic-input) model
    window.dialogs.scales = [2.0]
    with qtbot.waitSignal(window.upscaleApplied, timeout=60_000):
        window.menu_actions.upscale.trigger()
    assert asked == [None] and "refining a bicubic upscale" in window.statusBar().currentMessage()
    window.editor.undo()
    window.menu_actions.upscale_on_grid.trigger()
    assert window.settings.upscale_on_grid
    window.dialogs.scales = [2.0]
    with qtbot.waitSignal(window.upscaleApplied, timeout=60_000):
        window.menu_actions.upscale.trigger()
    assert asked == [None, upscale_grid_weights_path()]
    assert window.panel.stack.upscale == 2 and "upscale grid ×2" in window.panel.windowTitle()


def test_cancel_leaves_the_document_untouched(gated_window, gated_upscaler, qtbot):
    window = gated_window
    pixels, hole, steps = window.document.pixels.copy(), window.document.hole.copy(), window.undo_stack.count()
    window.dialogs.scales = [3.0]
    window.menu_actions.upscale.trigger()
    assert gated_upscaler.started.wait(5)
    assert window.inpaint.upscaling and not window.menu_actions.inpaint.isEnabled()
    assert not window.menu_actions.upscale.isEnabled() and window.progress_bar.isVisible()
    assert window.statusBar().currentMessage().startswith("Upscaling")
    with qtbot.waitSignal(window.inpaint.upscaleCancelled, timeout=5000):
        qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    wait_idle(qtbot, window)
    assert gated_upscaler.cancelled == 1
    np.testing.assert_array_equal(window.document.pixels, pixels)
    np.testing.assert_array_equal(window.document.hole, hole)
    assert window.undo_stack.count() == steps and "cancelled" in window.statusBar().currentMessage()
    assert window.menu_actions.upscale.isEnabled() and window.menu_actions.inpaint.isEnabled()


def test_strokes_painted_while_it_runs_are_enlarged_with_the_photo(gated_window, gated_upscaler, qtbot):
    window = gated_window
    window.dialogs.scales = [2.0]
    window.menu_actions.upscale.trigger()
    assert gated_upscaler.started.wait(5)
    window.editor.fill_rectangle(QPointF(100, 80), QPointF(110, 90), False)  # painted meanwhile
    hole = window.document.hole.copy()
    with qtbot.waitSignal(window.upscaleApplied, timeout=5000):
        gated_upscaler.gate.set()
    np.testing.assert_array_equal(window.document.hole, np.kron(hole, np.ones((2, 2), bool)))


def test_a_result_for_pixels_that_changed_meanwhile_is_not_applied(gated_window, gated_upscaler, qtbot):
    window = gated_window
    with qtbot.waitSignal(window.fillApplied, timeout=5000):
        window.run_inpaint()
    filled = window.document.pixels.copy()
    window.dialogs.scales = [2.0]
    window.menu_actions.upscale.trigger()
    assert gated_upscaler.started.wait(5)
    window.editor.undo()  # the fill: the upscale's input is gone
    assert not np.array_equal(window.document.pixels, filled)
    gated_upscaler.gate.set()
    qtbot.waitUntil(lambda: bool(window.dialogs.errors), timeout=5000)
    assert "changed while it was being upscaled" in window.dialogs.errors[-1]
    assert (window.document.height, window.document.width) == (120, 160)


def test_moving_the_fill_style_during_an_upscale_does_not_displace_it(make_window, gated_upscaler, photo, qtbot):
    window = make_window(lambda weights, device: FakeEngine(detailed=True),
                         upscaler_factory=lambda weights, device: gated_upscaler)
    assert window.open_path(photo)
    window.editor.fill_rectangle(QPointF(20, 20), QPointF(60, 50), False)
    with qtbot.waitSignal(window.fillApplied, timeout=5000):
        window.run_inpaint()
    filled, steps = window.document.pixels.copy(), window.undo_stack.count()
    window.dialogs.scales = [2.0]
    window.menu_actions.upscale.trigger()
    assert gated_upscaler.started.wait(5)
    window.fill_style.slider.setValue(40)  # would refill the last fill, which the upscale is about to enlarge
    with qtbot.waitSignal(window.upscaleApplied, timeout=5000):
        gated_upscaler.gate.set()
    wait_idle(qtbot, window)
    np.testing.assert_array_equal(window.document.pixels, np.repeat(np.repeat(filled, 2, axis=0), 2, axis=1))
    assert window.undo_stack.count() == steps + 1 and window.fill_style.detail == pytest.approx(0.4)


def test_without_an_upscaling_model_the_app_says_so_and_keeps_running(make_window, photo, tmp_path: Path,
                                                                         monkeypatch, qtbot):
    data = tmp_path / "data"
    (data / "weights").mkdir(parents=True)
    monkeypatch.setenv("PCONV_STUDIO_DATA", str(data))  # an installation without the upscaling model
    window = make_window(lambda weights, device: FakeEngine())
    assert window.open_path(photo)
    assert not window.menu_actions.upscale_on_grid.isEnabled()  # nor the grid model: its option is greyed out
    pixels = window.document.pixels.copy()
    window.dialogs.scales = [2.0, 2.0]
    with qtbot.waitSignal(window.errorReported, timeout=20_000) as blocker:
        window.menu_actions.upscale.trigger()
    assert "no upscaling model" in blocker.args[0] and "pconv_compact_upscale.safetensors" in blocker.args[0]
    wait_idle(qtbot, window)
    np.testing.assert_array_equal(window.document.pixels, pixels)
    assert window.undo_stack.count() == 0 and window.menu_actions.upscale.isEnabled()
    with qtbot.waitSignal(window.errorReported, timeout=20_000):  # asked again, it looks for the model again
        window.menu_actions.upscale.trigger()
    window.editor.fill_rectangle(QPointF(20, 20), QPointF(60, 50), False)
    with qtbot.waitSignal(window.fillApplied, timeout=5000):  # inpainting is unaffected
        window.run_inpaint()


class FailingUpscaler(GatedUpscaler):
    """Runs out of memory, as a numpy allocation of a huge result would."""

    def upscale(self, pixels, scale, progress=None, cancel=None) -> UpscaleResult:
        raise MemoryError


def test_a_bad_scale_and_running_out_of_memory_are_reported_and_change_nothing(make_window, photo, qtbot):
    window = make_window(lambda weights, device: FakeEngine(),
                         upscaler_factory=lambda weights, device: FailingUpscaler())
    assert window.open_path(photo)
    pixels = window.document.pixels.copy()
    window.dialogs.scales = [9.0, 2.0]  # the dialog's spin box cannot give 9; a script can
    window.menu_actions.upscale.trigger()
    assert "between 1.25 and 8" in window.dialogs.errors[-1] and not window.inpaint.busy
    with qtbot.waitSignal(window.errorReported, timeout=5000) as blocker:
        window.menu_actions.upscale.trigger()
    assert "ran out of memory" in blocker.args[0]
    wait_idle(qtbot, window)
    np.testing.assert_array_equal(window.document.pixels, pixels)
    assert window.undo_stack.count() == 0 and window.menu_actions.upscale.isEnabled()
