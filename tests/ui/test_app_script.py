"""`pconv-studio --demo --run --screenshot PATH --quit` in a fresh process, offscreen and under Xvfb."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pconv_studio.engine import load_image
from pconv_studio.ui.app import demo_paths

pytestmark = [pytest.mark.gui, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def run_app(arguments: list[str], tmp_path: Path, prefix: list[str] = (), platform: str | None = "offscreen",
            data: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}
    env.pop("QT_QPA_PLATFORM", None)
    if platform:
        env["QT_QPA_PLATFORM"] = platform
    if data is not None:
        env["PCONV_STUDIO_DATA"] = str(data)
    command = [*prefix, sys.executable, "-m", "pconv_studio", *arguments]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def check_screenshot(path: Path) -> np.ndarray:
    shot = load_image(path)
    assert shot.shape[0] >= 400 and shot.shape[1] >= 600
    assert shot[..., :3].std() > 20  # a real window, not a blank image
    return shot


def test_demo_run_screenshot_quit_offscreen(tmp_path: Path):
    """The shipped model: an untrained tiny network cannot close the demo's hole, and the engine refuses it."""
    shot = tmp_path / "shot.png"
    result = run_app(["--demo", "--run", "--screenshot", str(shot), "--quit"], tmp_path)
    assert result.returncode == 0, result.stderr
    check_screenshot(shot)
    assert not (tmp_path / "config").exists()  # a scripted run leaves the user's settings alone


def test_scripted_run_without_a_model_fails_with_a_message(tmp_path: Path):
    data = tmp_path / "data"
    (data / "weights").mkdir(parents=True)
    shutil.copytree(demo_paths()[0].parent, data / "resources")
    result = run_app(["--demo", "--run", "--quit"], tmp_path, data=data)
    assert result.returncode == 2
    assert "no trained model" in result.stderr


def test_scripted_run_of_a_corrupt_photo_fails(tmp_path: Path, tiny_weights: Path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff" + b"\x00" * 100)
    result = run_app([str(corrupt), "--run", "--quit", "--weights", str(tiny_weights)], tmp_path)
    assert result.returncode == 2
    assert "corrupt.jpg" in result.stderr


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed")
def test_demo_run_screenshot_quit_under_xvfb(tmp_path: Path):
    shot = tmp_path / "shot.png"
    result = run_app(["--demo", "--run", "--screenshot", str(shot), "--quit"], tmp_path, prefix=["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"], platform="xcb")
    assert result.returncode == 0, result.stderr
    check_screenshot(shot)


def test_the_first_frame_already_shows_the_photo(qtbot, tiny_weights: Path, tmp_path: Path):
    """In-process, so an event filter sees the window appear and paint: it appears (is mapped, which X11 shows
    black until the first paint) only with the photo open, and the canvas's first paint has it."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    from pconv_studio.cli.app_options import build_parser
    from pconv_studio.ui.app import run_app
    from pconv_studio.ui.canvas import CanvasView
    from pconv_studio.ui.main_window import MainWindow

    class FirstPaint(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.documents: list[bool] = []
            self.shown: list[bool] = []
            self.brush_on_screen: list[float] = []

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and isinstance(watched.parent(), CanvasView):
                canvas = watched.parent()
                self.documents.append(canvas.document is not None)
                self.brush_on_screen.append(canvas.brush_size * canvas.zoom)
            elif event.type() == QEvent.Type.Show and isinstance(watched, MainWindow):
                self.shown.append(watched.document is not None)
            return False

    shot = tmp_path / "shot.png"
    spy = FirstPaint()
    QApplication.instance().installEventFilter(spy)
    try:
        code = run_app(build_parser().parse_args(["--demo", "--screenshot", str(shot), "--quit",
                                                  "--weights", str(tiny_weights)]))
    finally:
        QApplication.instance().removeEventFilter(spy)
    assert code == 0 and shot.is_file()
    assert spy.shown == [True] and spy.documents and spy.documents[0], (spy.shown, spy.documents)
    # the default brush is 40 px on screen, also when the photo was fitted before the window had its size (the
    # filter sees a paint before the canvas handles it: the size is set on the first paint, seen on the next)
    assert abs(spy.brush_on_screen[-1] - 40) <= spy.brush_on_screen[-1] / 40 + 1, spy.brush_on_screen
