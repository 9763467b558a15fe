"""Opening and saving from the window: pixels outside the hole survive bit for bit, errors never lose work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from pconv_studio.engine import load_image, load_mask, save_image, save_mask
from pconv_studio.ui.dialogs import Dialogs
from pconv_studio.ui.image_convert import pixels_to_qimage
from pconv_studio.ui.settings import AppSettings
from tests.support import gradient_image
from tests.ui.conftest import FILL_VALUE

pytestmark = pytest.mark.gui


@pytest.fixture
def window(make_window, fake_engine):
    return make_window(lambda weights, device: fake_engine)


def fill_rectangle(window, qtbot) -> np.ndarray:
    window.editor.fill_rectangle(QPointF(10, 12), QPointF(50, 40), False)
    hole = window.document.hole.copy()
    with qtbot.waitSignal(window.fillApplied, timeout=10_000):
        window.run_inpaint()
    return hole


@pytest.mark.parametrize("suffix, channels, dtype", [
    (".png", 3, np.uint8), (".png", 4, np.uint16), (".tif", 3, np.uint16), (".bmp", 3, np.uint8),
    (".webp", 3, np.uint8), (".png", 1, np.uint8),
])
def test_open_fill_save_keeps_every_pixel_outside_the_hole(window, qtbot, tmp_path: Path, suffix, channels, dtype):
    original = gradient_image(64, 96, channels, dtype)
    source = tmp_path / f"photo{suffix}"
    save_image(source, original, jpeg_quality=100)  # WebP at quality 100 is lossless
    assert window.open_path(source)
    hole = fill_rectangle(window, qtbot)
    window.settings.jpeg_quality = 100  # WebP at 100 is lossless (the option applies to JPEG and WebP)
    window.dialogs.paths.append(str(tmp_path / f"result{suffix}"))
    assert window.save()
    saved = load_image(tmp_path / f"result{suffix}")
    assert saved.dtype == dtype and saved.shape == original.shape
    np.testing.assert_array_equal(saved[~hole], original[~hole])
    filled = saved[hole][..., :3] if channels == 4 else saved[hole]
    assert (filled == FILL_VALUE).all()
    if channels == 4:
        np.testing.assert_array_equal(saved[..., 3], original[..., 3])  # alpha kept, in the hole too
    np.testing.assert_array_equal(load_image(source), original)  # the original file is untouched
    assert not window.document.dirty


def test_ctrl_s_asks_for_a_name_first_then_saves_there_without_asking(window, qtbot, tmp_path: Path):
    source = tmp_path / "photo.jpg"
    save_image(source, gradient_image(64, 96))
    before = source.read_bytes()
    assert window.open_path(source)
    fill_rectangle(window, qtbot)
    assert not window.save()  # the dialog was cancelled: nothing written
    assert window.document.dirty and source.read_bytes() == before
    target = tmp_path / "chosen.jpg"
    window.dialogs.paths.append(str(target))
    window.settings.jpeg_quality = 60
    assert window.save()
    first = target.stat().st_mtime_ns
    window.editor.fill_rectangle(QPointF(60, 30), QPointF(80, 50), False)
    assert window.document.dirty
    assert window.save()  # no name asked (no preset path left): same file
    assert target.stat().st_mtime_ns >= first and not window.document.dirty
    assert source.read_bytes() == before
    window.dialogs.paths.append(str(tmp_path / "other.png"))
    assert window.save_as()
    assert (tmp_path / "other.png").is_file() and window.document.saved_path == tmp_path / "other.png"


def test_a_corrupt_or_unsupported_file_reports_an_error_and_keeps_the_work(window, qtbot, tmp_path: Path):
    good = tmp_path / "good.png"
    save_image(good, gradient_image(64, 96))
    assert window.open_path(good)
    window.editor.fill_rectangle(QPointF(10, 10), QPointF(30, 30), False)
    hole = window.document.hole.copy()
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    unsupported = tmp_path / "notes.txt"
    unsupported.write_text("not an image")
    reported = []
    window.errorReported.connect(reported.append)
    for path in (corrupt, unsupported, tmp_path / "missing.png"):
        assert not window.open_path(path)
    assert len(reported) == 3 and "corrupt" in reported[0] and "not found" in reported[2]
    assert window.dialogs.errors == reported
    assert window.statusBar().currentMessage() == reported[-1]
    assert window.document.path == good  # still the photo with the user's mask
    np.testing.assert_array_equal(window.document.hole, hole)
    window.dialogs.paths.append(str(tmp_path / "no_folder" / "out.png"))
    assert not window.save()  # a write error is reported too
    assert len(reported) == 4 and window.document.dirty
    assert window.isVisible()
    with qtbot.waitSignal(window.fillApplied, timeout=10_000):  # and the window still works
        window.run_inpaint()


def test_unsaved_work_is_not_discarded_without_asking(window, qtbot, tmp_path: Path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    save_image(first, gradient_image(64, 96))
    save_image(second, gradient_image(32, 48))
    assert window.open_path(first)
    window.editor.fill_rectangle(QPointF(10, 10), QPointF(30, 30), False)
    window.dialogs.discard = False
    assert not window.open_path(second)
    assert window.document.path == first
    assert not window.close() and window.isVisible()
    window.dialogs.discard = True
    assert window.open_path(second)


def test_mask_import_and_export(window, tmp_path: Path):
    photo = tmp_path / "photo.png"
    save_image(photo, gradient_image(64, 96))
    assert window.open_path(photo)
    hole = np.zeros((64, 96), bool)
    hole[5:20, 30:70] = True
    save_mask(tmp_path / "in.png", hole)
    window.dialogs.paths.append(str(tmp_path / "in.png"))
    window.import_mask_dialog()
    np.testing.assert_array_equal(window.document.hole, hole)
    window.dialogs.numbers.append(3)
    window.resize_mask(grow=True)
    assert window.document.hole.sum() > hole.sum()
    window.dialogs.paths.append(str(tmp_path / "out.png"))
    window.export_mask_dialog()
    np.testing.assert_array_equal(load_mask(tmp_path / "out.png"), window.document.hole)
    save_mask(tmp_path / "wrong_size.png", np.ones((10, 10), bool))
    window.dialogs.paths.append(str(tmp_path / "wrong_size.png"))
    window.import_mask_dialog()
    assert "mask is 10x10" in window.dialogs.errors[-1]


def test_paste_and_drop_open_images(window, tmp_path: Path):
    pixels = gradient_image(40, 50)
    QGuiApplication.clipboard().setImage(pixels_to_qimage(pixels))
    window.paste_image()
    np.testing.assert_array_equal(window.document.pixels, pixels)
    assert window.document.path is None and "Pasted image" in window.windowTitle()
    path = tmp_path / "dropped.png"
    save_image(path, gradient_image(30, 20))
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    window.dropEvent(QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))
    assert window.document.path == path


def test_settings_survive_a_restart(make_window, fake_engine, settings_file: Path, tmp_path: Path):
    window = make_window(lambda weights, device: fake_engine)
    photo = tmp_path / "photo.png"
    save_image(photo, gradient_image(32, 32))
    window.open_path(photo)
    window.canvas.set_brush_size(20)
    on_screen = round(20 * window.canvas.zoom)  # the brush is remembered by its size on screen
    window.set_tool("lasso")
    window.menu_actions.auto_run.setChecked(True)
    window.close()
    settings = AppSettings(QSettings(str(settings_file), QSettings.Format.IniFormat))
    assert (settings.brush_size, settings.tool, settings.auto_run) == (on_screen, "lasso", True)
    assert settings.recent_files == [str(photo)] and settings.last_folder == str(tmp_path)
    again = make_window(lambda weights, device: fake_engine)
    assert again.canvas.brush_size == on_screen and again.canvas.tool == "lasso"  # no photo yet: zoom 1
    assert again.menu_actions.auto_run.isChecked()
    assert [a.text() for a in again.menu_actions.recent_menu.actions()] == ["photo.png"]


def test_open_and_save_show_the_file_notices_the_cli_prints(window, tmp_path: Path):
    import tifffile

    from tests.photo_files import boxed_picture, srgb_profile

    with tifffile.TiffWriter(tmp_path / "two.tif") as tiff:  # orientation 6, a profile and a second page
        tiff.write(boxed_picture(), photometric="rgb", iccprofile=srgb_profile(), metadata=None,
                   extratags=[(274, "H", 1, 6, True)])
        tiff.write(boxed_picture(), photometric="rgb", metadata=None)
    assert window.open_path(tmp_path / "two.tif")
    np.testing.assert_array_equal(window.document.pixels, np.rot90(boxed_picture(), -1))  # 6: clockwise
    assert "two.tif holds 2 pages (images): only the first is used" in window.statusBar().currentMessage()
    window.dialogs.paths.append(str(tmp_path / "kept.tif"))
    assert window.save_as()
    with tifffile.TiffFile(tmp_path / "kept.tif") as tiff:
        assert tiff.pages[0].tags[34675].value == srgb_profile()
    window.dialogs.paths.append(str(tmp_path / "plain.bmp"))
    assert window.save_as()
    assert "BMP cannot carry the colour profile" in window.statusBar().currentMessage()


def test_a_float_tiff_is_refused_with_the_way_to_fill_it(window, tmp_path: Path):
    import tifffile

    tifffile.imwrite(tmp_path / "hdr.tif", np.full((8, 8, 3), 2.5, np.float32), photometric="rgb", metadata=None)
    reported = []
    window.errorReported.connect(reported.append)
    assert not window.open_path(tmp_path / "hdr.tif")
    assert len(reported) == 1 and "floating-point" in reported[0] and "pconv-studio inpaint" in reported[0]
    assert window.document is None


def test_a_jpeg_photo_is_saved_losslessly_by_default_and_a_lossy_choice_is_stated_once(window, qtbot, tmp_path):
    source = tmp_path / "photo.jpg"
    original = gradient_image(64, 96)
    save_image(source, original, jpeg_quality=100)
    opened = load_image(source)
    assert window.open_path(source)
    hole = fill_rectangle(window, qtbot)
    assert not window.save_as()  # cancelled, but the proposal is what matters
    assert window.dialogs.proposed[-1] == str(tmp_path / "photo_filled.png")
    window.dialogs.paths.append(window.dialogs.proposed[-1])
    assert window.save_as()
    np.testing.assert_array_equal(load_image(tmp_path / "photo_filled.png")[~hole], opened[~hole])
    assert not window.dialogs.questions  # a lossless format needs no warning
    window.dialogs.lossy = False
    window.dialogs.paths.append(str(tmp_path / "lossy.jpg"))
    assert not window.save_as()  # the user was told and declined: nothing written
    (question,) = window.dialogs.questions
    assert "JPEG" in question and "outside the hole" in question and not (tmp_path / "lossy.jpg").exists()
    window.dialogs.lossy = True
    window.dialogs.paths.append(str(tmp_path / "lossy.jpg"))
    assert window.save_as() and (tmp_path / "lossy.jpg").is_file()
    window.dialogs.paths.append(str(tmp_path / "again.webp"))
    assert window.save_as() and (tmp_path / "again.webp").is_file()
    assert len(window.dialogs.questions) == 2  # asked again, accepted: not asked a third time


def test_the_unsaved_work_prompt_offers_save_and_saving_there_closes(window, qtbot, tmp_path: Path):
    source, target = tmp_path / "a.png", tmp_path / "a_filled.png"
    save_image(source, gradient_image(64, 96))
    assert window.open_path(source)
    hole = fill_rectangle(window, qtbot)

    class RealPrompt(Dialogs):  # the real question box; only the file name is preset
        def save_image(self, suggested: str, title: str = "") -> str:
            return str(target)

    window.dialogs = RealPrompt(window)
    offered = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        offered.append(box.standardButtons())
        box.button(QMessageBox.StandardButton.Save).click()

    QTimer.singleShot(0, answer)
    assert window.close()
    buttons = QMessageBox.StandardButton
    assert offered == [buttons.Save | buttons.Discard | buttons.Cancel]
    assert not window.isVisible()
    saved = load_image(target)
    assert (saved[hole] == FILL_VALUE).all() and not window.document.dirty
