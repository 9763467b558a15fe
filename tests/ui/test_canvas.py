"""Painting on the canvas with the mouse and keys: the mask pixels that result, and their undo steps."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QTableWidget, QToolBar

from pconv_studio.engine import save_image
from pconv_studio.ui.actions import SHORTCUTS
from pconv_studio.ui.canvas import MAX_BRUSH, MIN_BRUSH
from pconv_studio.ui.dialogs import Dialogs, ScriptedDialogs
from tests.support import gradient_image
from tests.ui.conftest import capsule_reference, drag, send_mouse, wait_idle

pytestmark = pytest.mark.gui


@pytest.fixture
def window(make_window, fake_engine, photo):
    window = make_window(lambda weights, device: fake_engine)
    assert window.open_path(photo)
    window.canvas.actual_size()  # 1 photo pixel = 1 screen pixel
    return window


def scene_points(canvas, view_points: list[QPoint]) -> list[tuple[float, float]]:
    scene = [canvas.mapToScene(p) for p in view_points]
    return [(p.x(), p.y()) for p in scene]


def test_drag_paints_the_capsule_between_the_mouse_positions(window):
    canvas = window.canvas
    canvas.set_brush_size(9)
    view = [canvas.mapFromScene(QPointF(40.3, 50.2)), canvas.mapFromScene(QPointF(75.6, 61.4))]
    drag(canvas.viewport(), view)
    start, end = scene_points(canvas, view)
    expected = capsule_reference(window.document.hole.shape, start, end, 4.5)
    assert expected.sum() > 300
    np.testing.assert_array_equal(window.document.hole, expected)


def test_a_stroke_is_one_undo_step_and_redo_restores_it(window, qtbot):
    canvas = window.canvas
    canvas.set_brush_size(6)
    points = [canvas.mapFromScene(QPointF(x, 30 + 0.5 * x)) for x in range(20, 120, 7)]
    drag(canvas.viewport(), points)
    painted = window.document.hole.copy()
    assert painted.sum() > 0 and window.undo_stack.count() == 1
    drag(canvas.viewport(), [canvas.mapFromScene(QPointF(10, 100)), canvas.mapFromScene(QPointF(60, 100))])
    assert window.undo_stack.count() == 2
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(window.document.hole, painted)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not window.document.hole.any()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(window.document.hole, painted)
    qtbot.keyClick(canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert window.document.hole.sum() > painted.sum()


def test_bracket_keys_and_alt_wheel_change_the_brush_size_within_limits(window, qtbot):
    canvas = window.canvas
    canvas.set_brush_size(40)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_size == 46
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_size < 40
    assert window.menu_actions.brush_spin.value() == canvas.brush_size
    for _ in range(80):
        qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_size == MIN_BRUSH
    for _ in range(80):
        qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_size == MAX_BRUSH
    canvas.set_brush_size(20)
    zoom = canvas.zoom
    centre = QPointF(canvas.viewport().rect().center())
    event = QWheelEvent(centre, QPointF(canvas.viewport().mapToGlobal(centre.toPoint())), QPoint(), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.AltModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.brush_size > 20 and canvas.zoom == zoom  # Alt+wheel sizes the brush, it does not zoom
    event = QWheelEvent(centre, QPointF(canvas.viewport().mapToGlobal(centre.toPoint())), QPoint(), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.zoom == pytest.approx(zoom * 1.25)


def test_eraser_by_key_and_by_right_button(window, qtbot):
    canvas, document = window.canvas, window.document
    canvas.set_brush_size(20)
    left, right = canvas.mapFromScene(QPointF(30, 60)), canvas.mapFromScene(QPointF(130, 60))
    drag(canvas.viewport(), [left, right])
    full = document.hole.copy()
    qtbot.keyClick(canvas, Qt.Key.Key_E)
    assert canvas.tool == "eraser"
    middle = canvas.mapFromScene(QPointF(80, 60))
    drag(canvas.viewport(), [middle, middle])
    (x, y), = scene_points(canvas, [middle])
    erased = full & ~capsule_reference(full.shape, (x, y), (x, y), 10)
    np.testing.assert_array_equal(document.hole, erased)
    qtbot.keyClick(canvas, Qt.Key.Key_B)
    assert canvas.tool == "brush"
    drag(canvas.viewport(), [left, left], button=Qt.MouseButton.RightButton)  # right button erases with the brush
    (x, y), = scene_points(canvas, [left])
    np.testing.assert_array_equal(document.hole, erased & ~capsule_reference(full.shape, (x, y), (x, y), 10))
    assert window.undo_stack.count() == 3


def test_rectangle_and_lasso_fill_the_pixels_whose_centres_are_inside(window, qtbot):
    canvas, document = window.canvas, window.document
    qtbot.keyClick(canvas, Qt.Key.Key_R)
    corners = [canvas.mapFromScene(QPointF(20.2, 10.7)), canvas.mapFromScene(QPointF(50.9, 30.1))]
    drag(canvas.viewport(), corners)
    (x0, y0), (x1, y1) = scene_points(canvas, corners)
    rows, columns = np.mgrid[0:120, 0:160] + 0.5
    expected = (columns >= x0) & (columns <= x1) & (rows >= y0) & (rows <= y1)
    np.testing.assert_array_equal(document.hole, expected)
    qtbot.keyClick(canvas, Qt.Key.Key_L)
    triangle = [QPointF(90, 20), QPointF(150, 40), QPointF(100, 100)]
    outline = [triangle[0] + (triangle[1] - triangle[0]) * t / 10 for t in range(10)]
    outline += [triangle[1] + (triangle[2] - triangle[1]) * t / 10 for t in range(10)] + [triangle[2]]
    drag(canvas.viewport(), [canvas.mapFromScene(p) for p in outline])
    lasso = document.hole & ~expected
    vertices = scene_points(canvas, [canvas.mapFromScene(p) for p in outline])
    inside = np.array([[_inside(vertices, c + 0.5, r + 0.5) for c in range(160)] for r in range(120)])
    on_outline = np.array([[_on_outline(vertices, c + 0.5, r + 0.5) for c in range(160)] for r in range(120)])
    assert on_outline.sum() < 50  # a centre exactly on the outline may go either way
    np.testing.assert_array_equal(lasso[~on_outline], (inside & ~expected)[~on_outline])
    assert lasso.sum() > 1000
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(document.hole, expected)


def _inside(vertices, x, y) -> bool:
    """Even-odd ray casting."""
    inside = False
    for (x0, y0), (x1, y1) in zip(vertices, vertices[1:] + vertices[:1]):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _on_outline(vertices, x, y) -> bool:
    for (x0, y0), (x1, y1) in zip(vertices, vertices[1:] + vertices[:1]):
        cross = (x - x0) * (y1 - y0) - (y - y0) * (x1 - x0)
        within = min(x0, x1) - 1e-9 <= x <= max(x0, x1) + 1e-9 and min(y0, y1) - 1e-9 <= y <= max(y0, y1) + 1e-9
        if abs(cross) < 1e-9 and within:
            return True
    return False


def test_tab_shows_the_original_while_held_and_hides_the_mask(window, qtbot):
    canvas = window.canvas
    window.document.pixels[:] = 0  # pretend a fill changed everything (display only)
    drag(canvas.viewport(), [canvas.mapFromScene(QPointF(50, 50))] * 2)
    send_mouse(canvas.viewport(), QEvent.Type.MouseMove, canvas.mapFromScene(QPointF(60, 60)),
               Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    qtbot.keyPress(canvas, Qt.Key.Key_Tab)
    assert canvas.showing_original and not canvas.mask_item.isVisible()
    qtbot.keyRelease(canvas, Qt.Key.Key_Tab)
    assert not canvas.showing_original and canvas.mask_item.isVisible()
    qtbot.keyPress(canvas, Qt.Key.Key_Backslash)
    assert canvas.showing_original
    qtbot.keyRelease(canvas, Qt.Key.Key_Backslash)
    window.menu_actions.show_original.setChecked(True)
    assert canvas.showing_original


def test_space_drag_pans_and_ctrl_0_fits(window, qtbot):
    canvas = window.canvas
    canvas.zoom_by(8)
    before = canvas.horizontalScrollBar().value()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    centre = canvas.viewport().rect().center()
    drag(canvas.viewport(), [centre, centre - QPoint(120, 0)])
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.horizontalScrollBar().value() == before + 120
    assert not window.document.hole.any()  # panning does not paint
    qtbot.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    rect = canvas.mapFromScene(canvas.scene().sceneRect()).boundingRect()  # the photo
    assert rect.width() <= canvas.viewport().width() + 1 and rect.height() <= canvas.viewport().height() + 1
    qtbot.keyClick(canvas, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == 1.0


def wheel(canvas, position: QPoint, notches: int = 1) -> None:
    """A real wheel event at a viewport position, after the mouse moved there."""
    QTest.mouseMove(canvas.viewport(), position)
    local = QPointF(position)
    event = QWheelEvent(local, QPointF(canvas.viewport().mapToGlobal(position)), QPoint(), QPoint(0, 120 * notches),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), event)


def image_point_at(canvas, position: QPointF) -> QPointF:
    inverse, _ = canvas.viewportTransform().inverted()
    return inverse.map(position)


def test_the_wheel_zooms_at_the_cursor_and_keys_keep_the_centre(make_window, fake_engine, tmp_path, qtbot):
    photo = tmp_path / "large.png"
    save_image(photo, gradient_image(600, 800))
    window = make_window(lambda weights, device: fake_engine)
    assert window.open_path(photo)
    canvas = window.canvas
    qtbot.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)  # fit
    fitted = canvas.zoom
    cursor = QPoint(canvas.mapFromScene(QPointF(640, 470)))  # the photo's bottom-right area
    before = image_point_at(canvas, QPointF(cursor))
    for _ in range(2):  # the first notch leaves the photo smaller than the view in one direction
        wheel(canvas, cursor)
        after = image_point_at(canvas, QPointF(cursor))
        assert abs(after.x() - before.x()) * canvas.zoom <= 1 and abs(after.y() - before.y()) * canvas.zoom <= 1
    assert canvas.zoom == pytest.approx(fitted * 1.25 ** 2)
    wheel(canvas, cursor, -1)  # and back out
    after = image_point_at(canvas, QPointF(cursor))
    assert abs(after.x() - before.x()) * canvas.zoom <= 1 and abs(after.y() - before.y()) * canvas.zoom <= 1
    centre = QPointF(canvas.viewport().rect().center())
    before = image_point_at(canvas, centre)
    qtbot.keyClick(canvas, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == pytest.approx(fitted * 1.25 ** 2)
    after = image_point_at(canvas, centre)
    assert abs(after.x() - before.x()) * canvas.zoom <= 1 and abs(after.y() - before.y()) * canvas.zoom <= 1


def test_the_brush_keeps_its_size_on_screen_across_photos(make_window, fake_engine, tmp_path, settings_file):
    large, small = tmp_path / "large.png", tmp_path / "small.png"
    save_image(large, gradient_image(900, 1200))
    save_image(small, gradient_image(120, 160))
    window = make_window(lambda weights, device: fake_engine)
    canvas = window.canvas
    assert window.open_path(large)
    canvas.set_brush_size(200)
    on_screen = 200 * canvas.zoom
    assert window.open_path(small)
    assert canvas.zoom > 5 * on_screen / 200  # the small photo is shown much larger
    assert abs(canvas.brush_size * canvas.zoom - on_screen) <= canvas.zoom / 2 + 1e-9
    assert window.menu_actions.brush_spin.value() == canvas.brush_size
    window.close()  # the next session starts with the same size on screen
    again = make_window(lambda weights, device: fake_engine)
    assert again.open_path(large)
    # rounding to whole photo pixels on the small photo (zoom ~4) and to whole screen pixels in the settings
    assert abs(again.canvas.brush_size * again.canvas.zoom - on_screen) <= 0.03 * on_screen


def test_a_lasso_or_rectangle_without_area_on_screen_adds_nothing(window, qtbot):
    canvas, document = window.canvas, window.document
    origin = canvas.mapFromScene(QPointF(0, 0))  # zoom 1: one photo pixel per screen pixel
    qtbot.keyClick(canvas, Qt.Key.Key_L)
    # along a line and back, the way a hand does it: the return path 1 px off the way out
    out = [origin + QPoint(20 + 6 * i, 30 + 2 * i) for i in range(20)]
    back = [p + QPoint(0, 1) for p in reversed(out)]
    drag(canvas.viewport(), out + back)
    qtbot.keyClick(canvas, Qt.Key.Key_R)
    drag(canvas.viewport(), [origin + QPoint(20, 80), origin + QPoint(120, 81)])  # 1 px tall on screen
    assert not document.hole.any() and not document.dirty and window.undo_stack.count() == 0
    wait_idle(qtbot, window)
    assert window.panel.stack is None
    drag(canvas.viewport(), [origin + QPoint(20, 80), origin + QPoint(24, 84)])  # a small rectangle still counts
    assert document.hole.sum() == 16 and window.undo_stack.count() == 1


def test_at_800_by_600_the_photo_keeps_two_thirds_the_tool_bar_fits_and_p_collapses_the_panel(window, qtbot):
    window.resize(800, 600)
    qtbot.waitUntil(lambda: window.width() == 800)
    qtbot.wait(50)
    assert window.canvas.width() >= 2 * window.width() / 3 and window.panel.isVisible()
    assert window.panel.width() >= 150  # still usable
    bar = window.findChild(QToolBar)
    overflowed = [a.iconText() for a in bar.actions() if not a.isSeparator() and not bar.widgetForAction(a).isVisible()]
    assert overflowed == []
    qtbot.keyClick(window.canvas, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: not window.panel.isVisible())
    qtbot.waitUntil(lambda: window.canvas.width() >= window.width() - 2)
    qtbot.keyClick(window.canvas, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: window.panel.isVisible())


def test_the_shortcuts_dialog_is_a_table_with_one_unwrapped_phrase_per_cell(window, qtbot):
    window.dialogs = Dialogs(window)
    seen = []

    def inspect() -> None:
        dialog = QApplication.activeModalWidget()
        try:
            table = dialog.findChild(QTableWidget, "table")
            metrics = table.fontMetrics()
            cells = [[table.item(r, c).text() for c in range(2)] for r in range(table.rowCount())]
            seen.append(cells)
            for row, (what, keys) in enumerate(cells):
                for column, text in enumerate((what, keys)):
                    assert table.columnWidth(column) >= metrics.horizontalAdvance(text)  # nothing cut or wrapped
                    assert table.rowHeight(row) < 2 * metrics.height()  # one line per row
            assert table.viewport().width() >= table.columnWidth(0) + table.columnWidth(1)  # no sideways scroll
        finally:
            dialog.reject()
            window.dialogs = ScriptedDialogs()

    QTimer.singleShot(0, inspect)
    (action,) = [a for a in window.menuBar().actions() if a.text() == "&Help"][0].menu().actions()
    action.trigger()
    assert seen and [tuple(row) for row in seen[0]] == list(SHORTCUTS)
    assert ("Zoom at the cursor", "Wheel") in SHORTCUTS
