"""The mask-propagation panel against `propagate_masks` and against what the network computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QIcon, QImage
from PySide6.QtWidgets import QStyle

from pconv_studio.engine import load_mask, save_image
from pconv_studio.model import layer_specs, propagate_masks, propagate_ratios
from pconv_studio.ui.image_convert import NO_INPUT_COLOUR, SCALING_COLOURS
from pconv_studio.ui.stages_panel import THUMBNAIL_GAP, TILE, format_percent
from tests.support import TINY_CONFIG, gradient_image
from tests.ui.conftest import drag, wait_idle

pytestmark = pytest.mark.gui


@pytest.fixture
def window(make_window, tiny_weights, tmp_path: Path):
    photo = tmp_path / "photo.png"
    save_image(photo, gradient_image(128, 160))  # one crop, not scaled, not padded (the tiny net: multiples of 16)
    window = make_window(weights=str(tiny_weights))
    assert window.open_path(photo)
    return window


def paint_blob(window) -> np.ndarray:
    window.editor.fill_rectangle(QPointF(30, 20), QPointF(90, 70), False)
    window.editor.fill_lasso([QPointF(100, 60), QPointF(150, 80), QPointF(110, 110)], False)
    return window.document.hole.copy()


def expected_percents(hole: np.ndarray) -> list[float]:
    valid = torch.from_numpy((~hole).astype(np.float32))
    return [100.0 * float((mask == 0).double().mean()) for mask in propagate_masks(valid, TINY_CONFIG)]


def test_panel_shows_every_layer_with_the_hole_left_as_propagate_masks_computes_it(window, qtbot):
    hole = paint_blob(window)
    wait_idle(qtbot, window)
    stack = window.panel.stack
    names = [spec.name for spec in layer_specs(TINY_CONFIG)]
    expected = expected_percents(hole)
    assert [stage.name for stage in stack.stages] == names
    assert window.panel.list.count() == len(names) == 8
    assert expected[0] > 10 and expected[-1] == 0.0
    for index, (stage, percent) in enumerate(zip(stack.stages, expected)):
        assert stage.hole_percent == pytest.approx(percent, abs=1e-9)
        text = window.panel.list.item(index).text()
        assert text.startswith(stage.name) and format_percent(percent) in text
        assert not window.panel.list.item(index).icon().isNull()
    first_clear = next(i for i, p in enumerate(expected) if p == 0.0)
    assert stack.first_clear_index == first_clear
    assert "✓" in window.panel.list.item(first_clear).text()
    assert sum("✓" in window.panel.list.item(i).text() for i in range(len(names))) == 1
    assert not stack.from_network and "predicted" in window.panel.summary.text()


def test_panel_updates_while_painting(window, qtbot):
    paint_blob(window)
    wait_idle(qtbot, window)
    first = window.panel.stack.stages[0].hole_percent
    window.editor.fill_rectangle(QPointF(0, 90), QPointF(60, 120), False)
    wait_idle(qtbot, window)
    assert window.panel.stack.stages[0].hole_percent > first
    window.editor.clear()
    wait_idle(qtbot, window)
    assert window.panel.stack is None and window.panel.list.count() == 0


def test_after_a_fill_the_panel_shows_the_stages_the_network_computed(window, qtbot):
    hole = paint_blob(window)
    results = []
    window.inpaint.finished.connect(lambda request, result: results.append(result))
    with qtbot.waitSignal(window.fillApplied, timeout=30_000):
        window.run_inpaint()
    stack = window.panel.stack
    assert stack.from_network and "computed by the last fill" in window.panel.summary.text()
    (result,) = results
    assert result.stage_names == [stage.name for stage in stack.stages]
    valid = torch.from_numpy((~hole).astype(np.float32))
    for stage, computed, predicted in zip(stack.stages, result.stage_masks, propagate_masks(valid, TINY_CONFIG)):
        np.testing.assert_array_equal(stage.hole, computed)
        np.testing.assert_array_equal(stage.hole, predicted[0, 0].numpy() == 0)
    assert not window.document.hole.any()  # filled: the mask is empty, the panel keeps the fill's stages
    wait_idle(qtbot, window)
    assert window.panel.stack is stack


def test_clicking_a_stage_overlays_its_mask_upsampled_with_nearest_neighbour(window, qtbot):
    hole = paint_blob(window)
    wait_idle(qtbot, window)
    panel, canvas = window.panel, window.canvas
    rect = panel.list.visualItemRect(panel.list.item(2))
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.selected_index == 2 and panel.slider.value() == 2
    stage = panel.stack.stages[2]
    assert canvas.stage_item.isVisible()
    overlay = canvas.stage_item.buffer.astype(bool)
    rows, columns = np.mgrid[0:hole.shape[0], 0:hole.shape[1]]
    np.testing.assert_array_equal(overlay, stage.hole[rows // stage.stride, columns // stage.stride])
    panel.slider.setValue(5)
    assert panel.selected_index == 5
    stage = panel.stack.stages[5]
    np.testing.assert_array_equal(canvas.stage_item.buffer.astype(bool),
                                  stage.hole[rows // stage.stride, columns // stage.stride])
    panel.hide_button.click()
    assert not canvas.stage_item.isVisible()
    panel.play_timer.setInterval(20)
    panel.play_button.click()
    qtbot.waitUntil(lambda: not panel.play_button.isChecked(), timeout=10_000)  # played to the last layer
    assert panel.selected_index == panel.list.count() - 1


def test_export_writes_one_png_per_layer(window, qtbot, tmp_path: Path):
    paint_blob(window)
    wait_idle(qtbot, window)
    folder = tmp_path / "stages"
    folder.mkdir()
    window.dialogs.paths.append(str(folder))
    window.panel.export_button.click()
    files = sorted(folder.glob("*.png"))
    assert [f.name.split("_")[1] for f in files] == [stage.name for stage in window.panel.stack.stages]
    assert files[0].name == "01_enc1_80x64.png"
    for index, path in enumerate(files):
        np.testing.assert_array_equal(load_mask(path), window.panel.stack.network_mask(index))


def panel_percents(window) -> list[float]:
    return [stage.hole_percent for stage in window.panel.stack.stages] if window.panel.stack else []


def test_the_panel_follows_the_mask_through_paint_fill_undo_and_paint(window, qtbot):
    """Painted with the mouse, filled with Ctrl+Enter, undone with Ctrl+Z: after every step the panel shows the
    stages of the mask the document has then (after the fill: the network's own, until the mask changes)."""
    canvas = window.canvas
    canvas.actual_size()
    canvas.set_brush_size(12)

    def stroke(y: float) -> None:
        drag(canvas.viewport(), [canvas.mapFromScene(QPointF(x, y)) for x in range(30, 131, 10)])

    def expect_current_mask(from_network: bool) -> None:
        wait_idle(qtbot, window)
        hole = window.document.hole
        if not hole.any():
            assert window.panel.stack is None
            return
        assert window.panel.stack.from_network is from_network
        np.testing.assert_allclose(panel_percents(window), expected_percents(hole), atol=1e-9)
        source = "computed by the last fill" if from_network else "predicted from the mask"
        assert source in window.panel.summary.text()

    stroke(40)
    expect_current_mask(from_network=False)
    painted = window.document.hole.copy()
    with qtbot.waitSignal(window.fillApplied, timeout=30_000):
        qtbot.keyClick(canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, window)
    assert window.panel.stack.from_network  # the fill's stages, of the hole it filled
    np.testing.assert_allclose(panel_percents(window), expected_percents(painted), atol=1e-9)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # the hole is back
    np.testing.assert_array_equal(window.document.hole, painted)
    expect_current_mask(from_network=False)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # no hole at all
    expect_current_mask(from_network=False)
    stroke(90)
    expect_current_mask(from_network=False)
    window.editor.fill_rectangle(QPointF(10, 10), QPointF(40, 30), False)
    expect_current_mask(from_network=False)


def icon_pixels(icon: QIcon, size: int) -> np.ndarray:
    image = icon.pixmap(size, size).toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    return np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())[
        :, :image.width() * 4].reshape(image.height(), image.width(), 4).copy()


def test_thumbnails_of_all_hole_maps_have_a_frame_and_the_play_button_draws_its_icons(window, qtbot):
    window.editor.fill_rectangle(QPointF(0, 0), QPointF(160, 128), False)  # the whole photo but one corner
    window.editor.fill_rectangle(QPointF(0, 0), QPointF(3, 3), True)
    wait_idle(qtbot, window)
    panel = window.panel
    assert panel.stack.stages[0].hole_percent > 99
    thumbnail = icon_pixels(panel.list.item(0).icon(), TILE)  # 160x128 -> 80x64 at (1, 9), framed: rows 8..73
    assert thumbnail.shape[:2] == (TILE, TILE) == (82, 82)
    frame = np.zeros(thumbnail.shape[:2], bool)
    frame[8, :] = frame[73, :] = frame[8:74, 0] = frame[8:74, 81] = True
    np.testing.assert_array_equal(thumbnail[frame][:, :3], 128)  # mid grey: visible on a white panel
    assert (thumbnail[12:70, 4:78, :3] == 255).all()  # the hole inside stays white
    style = panel.style()
    play, pause = (icon_pixels(style.standardIcon(p), 16) for p in (QStyle.StandardPixmap.SP_MediaPlay,
                                                                       QStyle.StandardPixmap.SP_MediaPause))
    assert not np.array_equal(play, pause) and play[..., 3].any() and pause[..., 3].any()
    np.testing.assert_array_equal(icon_pixels(panel.play_button.icon(), 16), play)
    panel.play_timer.setInterval(10_000)
    panel.play_button.click()
    np.testing.assert_array_equal(icon_pixels(panel.play_button.icon(), 16), pause)
    panel.play_button.click()
    np.testing.assert_array_equal(icon_pixels(panel.play_button.icon(), 16), play)


def test_the_scaling_heat_maps_sit_next_to_the_masks_with_their_colour_scale(window, qtbot):
    """enc1 of the 128x160 photo is a 64x80 map: in its thumbnail one cell is one pixel (rows 9..72, columns
    1..80 of the framed 82 px tile)."""
    hole = paint_blob(window)
    wait_idle(qtbot, window)
    panel = window.panel
    assert not panel.scale_row.isVisible()
    qtbot.mouseClick(panel.scaling_toggle, Qt.MouseButton.LeftButton)
    assert panel.scaling_toggle.isChecked() and panel.scale_row.isVisible()
    stack = panel.stack
    stage = stack.stages[0]
    valid = torch.from_numpy((~hole).astype(np.float32))
    np.testing.assert_array_equal(stage.scaling, propagate_ratios(valid, TINY_CONFIG)[0][0, 0].numpy())
    icon = icon_pixels(panel.list.item(0).icon(), 2 * TILE + THUMBNAIL_GAP)
    assert icon.shape[:2] == (TILE, 2 * TILE + THUMBNAIL_GAP)
    mask_half, heat_half = icon[9:73, 1:81], icon[9:73, TILE + THUMBNAIL_GAP + 1:TILE + THUMBNAIL_GAP + 81]
    np.testing.assert_array_equal(mask_half[..., 0] == 255, stage.hole)  # the mask, as before
    # the heat map against a float64 formula: black at 1, blue-grey at 0, the ramp along log(ratio) / log(top)
    top = stack.max_scaling
    position = np.log(np.maximum(stage.scaling.astype(np.float64), 1.0)) / np.log(top)
    anchors = [a for a, _ in SCALING_COLOURS]
    expected = np.stack([np.interp(position, anchors, [c[i] for _, c in SCALING_COLOURS]) for i in range(3)], -1)
    expected[stage.scaling == 1] = 0
    expected[stage.scaling == 0] = NO_INPUT_COLOUR
    np.testing.assert_allclose(heat_half[..., :3], expected, atol=0.5)
    assert (heat_half[0, :, :3] != 0).any(axis=1).all()  # the top border is re-weighted: never black
    rim = (stage.scaling > 1) & (stage.scaling < top)
    assert rim.sum() > 50  # the hole's rim and the border light up
    assert panel.scale_low.text() == "1×" and panel.scale_high.text() == f"{top:.3g}×"
    bar = panel.scale_bar.pixmap().toImage().convertToFormat(QImage.Format.Format_RGB888)
    assert bar.pixelColor(0, 5).getRgb()[:3] == (0, 0, 0) and bar.pixelColor(1, 5).getRgb()[:3] != (0, 0, 0)
    assert bar.pixelColor(bar.width() - 1, 5).getRgb()[:3] == SCALING_COLOURS[-1][1]
    qtbot.mouseClick(panel.scaling_toggle, Qt.MouseButton.LeftButton)
    assert icon_pixels(panel.list.item(0).icon(), TILE).shape[:2] == (TILE, TILE)
