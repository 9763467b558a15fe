"""The app in a real window under Xvfb, driven with real X events (xdotool) as a person would: open a photo,
paint with the mouse, zoom at a point with the wheel, fill, paint, undo, save, quit; then the saved file and what
the panel showed at each step (from the app's log) are checked. Skipped where Xvfb or xdotool is missing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pconv_studio.engine import load_image, save_image
from tests.ui.x11 import XServer, available

pytestmark = [pytest.mark.gui, pytest.mark.slow,
              pytest.mark.skipif(not available(), reason="Xvfb, xdotool or libX11 is not installed")]

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 400, 300
LOW, SPAN = 40, 200  # the photo codes its own coordinates: red = LOW + SPAN * x / (W - 1), green likewise in y


def coded_photo() -> np.ndarray:
    """Every pixel tells where it is (to about 2 photo pixels): blue 0, red and green ramps."""
    xs = LOW + SPAN * np.arange(WIDTH) / (WIDTH - 1)
    ys = LOW + SPAN * np.arange(HEIGHT) / (HEIGHT - 1)
    photo = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    photo[..., 0] = np.round(xs)[None, :]
    photo[..., 1] = np.round(ys)[:, None]
    return photo


def photo_point(shot: np.ndarray, screen: tuple[int, int]) -> np.ndarray:
    """The photo point (x, y) shown at a screen position, decoded from its colour."""
    red, green, blue = shot[screen[1], screen[0]].astype(float)
    assert blue <= 2, f"no photo at {screen}"
    return np.array([(red - LOW) / SPAN * (WIDTH - 1), (green - LOW) / SPAN * (HEIGHT - 1)])


def photo_box(shot: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the photo on screen: the pixels with its colours."""
    photo = (shot[..., 2] <= 2) & (shot[..., 0] >= LOW - 2) & (shot[..., 1] >= LOW - 2)
    rows, columns = np.flatnonzero(photo.any(axis=1)), np.flatnonzero(photo.any(axis=0))
    return columns[0], rows[0], columns[-1] + 1, rows[-1] + 1


class App:
    def __init__(self, x: XServer, photo: Path, weights: Path, home: Path) -> None:
        self.x = x
        self.log = home / "app.log"
        env = {**x.env, "QT_QPA_PLATFORM": "xcb", "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config")}
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "pconv_studio", str(photo), "--weights",
                                             str(weights), "-v"], cwd=ROOT, env=env, stdout=log, stderr=log)

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def wait_log(self, pattern: str, after: int = 0, timeout: float = 60) -> int:
        """Until a log line after line `after` matches; returns its index."""
        def found() -> int | None:
            return next((i for i, line in enumerate(self.lines()) if i >= after and re.search(pattern, line)), None)
        self.x.wait_for(lambda: found() is not None or self.process.poll() is not None, timeout, pattern)
        index = found()
        assert index is not None, f"the app exited: {self.log.read_text()[-2000:]}"
        return index

    def panel(self, index: int) -> tuple[str, list[float]]:
        match = re.search(r"panel: (network|predicted) stages, hole per layer ([\d. ]+)", self.lines()[index])
        return match.group(1), [float(v) for v in match.group(2).split()]

    def wait_window(self, name: str, timeout: float = 20) -> str:
        """The id of a visible window whose title matches `name`, once there is one."""
        found: list[str] = []

        def visible() -> bool:
            result = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name], env=self.x.env,
                                    capture_output=True, text=True)
            found[:] = result.stdout.split()
            return bool(found)

        self.x.wait_for(visible, timeout, f"a window named {name}")
        return found[0]

    def drag(self, points: list[tuple[int, int]]) -> None:
        self.x.xdotool("mousemove", *points[0], "mousedown", "1")
        for point in points[1:]:
            self.x.xdotool("mousemove", *point)
        self.x.xdotool("mouseup", "1")

    def key(self, keys: str) -> int:
        before = len(self.lines())
        self.x.xdotool("key", keys)
        return before


def test_paint_zoom_fill_undo_save_in_a_real_window(tmp_path: Path, tiny_weights: Path):
    photo, saved = tmp_path / "coded.png", tmp_path / "result.png"
    original = coded_photo()
    save_image(photo, original)
    with XServer(1280, 900) as x:
        app = App(x, photo, tiny_weights, tmp_path)
        try:
            app.wait_log(r"model tiny .* ready")
            window = app.wait_window("coded.png")
            x.xdotool("windowfocus", "--sync", window)
            x.wait_for(lambda: (x.screenshot()[..., 2] <= 2).sum() > 10_000, 30, "the photo on screen")

            # zoom with the wheel at a point of the photo's lower right: that point stays under the cursor
            left, top, right, bottom = photo_box(x.screenshot())
            cursor = (left + (right - left) * 3 // 4, top + (bottom - top) * 3 // 4)
            beside = (cursor[0] - 150, cursor[1] - 100)
            x.xdotool("mousemove", *cursor)
            shot = x.screenshot()
            before, span = photo_point(shot, cursor), photo_point(shot, cursor) - photo_point(shot, beside)
            x.xdotool("click", "4", "click", "4")

            def zoomed() -> bool:
                shot = x.screenshot()
                return np.abs(photo_point(shot, cursor) - photo_point(shot, beside)).max() < np.abs(span).max() / 1.4

            x.wait_for(zoomed, 10, "the zoom")
            shot = x.screenshot()
            assert np.abs(photo_point(shot, cursor) - before).max() <= 3  # photo px (the colour code's step: 2)
            scale = (photo_point(shot, cursor) - photo_point(shot, beside)) / span
            np.testing.assert_allclose(scale, 1 / 1.25 ** 2, atol=0.03)  # two notches of 1.25

            # paint a stroke with the mouse where the photo now is; the panel follows
            left, top, right, bottom = photo_box(shot)
            start = (left + 40, (top + bottom) // 2)
            end = (left + 160, (top + bottom) // 2 + 30)
            stroke_ends = [photo_point(shot, start), photo_point(shot, end)]
            mark = len(app.lines())
            app.drag([(start[0] + (end[0] - start[0]) * t // 10, start[1] + (end[1] - start[1]) * t // 10)
                      for t in range(11)])
            painted = app.panel(app.wait_log(r"panel: predicted", mark))
            assert painted[1][0] > 0.2

            # fill (Ctrl+Enter): the panel shows the network's own stages of that hole
            mark = app.key("ctrl+Return")
            filled = app.panel(app.wait_log(r"panel: network", mark))
            assert filled[1] == painted[1]

            # a second stroke elsewhere, then undo it: the panel follows both
            mark = len(app.lines())
            app.drag([(left + 40, top + 20), (left + 120, top + 20)])
            second = app.panel(app.wait_log(r"panel: predicted", mark))
            assert second[1][0] > 0
            mark = app.key("ctrl+z")
            app.wait_log(r"panel: no hole", mark)

            # save (Ctrl+S: the dialog proposes coded_filled.png; we type our own name), then quit
            app.key("ctrl+s")
            dialog = app.wait_window("Save result")
            x.xdotool("windowfocus", "--sync", dialog)
            x.xdotool("key", "ctrl+a")
            x.xdotool("type", "--delay", "5", str(saved))
            x.xdotool("key", "Return")
            x.wait_for(saved.is_file, 20, "the saved file")
            x.xdotool("windowfocus", "--sync", window)  # no window manager hands the focus back
            app.key("ctrl+q")  # saved: no question
            assert app.process.wait(timeout=30) == 0, app.log.read_text()[-2000:]
        finally:
            if app.process.poll() is None:
                app.process.kill()
                app.process.wait()

    result = load_image(saved)
    changed = (result != original).any(axis=2)
    rows, columns = np.nonzero(changed)
    assert changed.sum() > 200  # the first stroke was filled
    # everything that changed lies along the first stroke (brush radius at most 40 screen px, here fewer photo px)
    (ax, ay), (bx, by) = stroke_ends
    t = np.clip(((columns - ax) * (bx - ax) + (rows - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2), 0, 1)
    distance = np.hypot(columns - (ax + t * (bx - ax)), rows - (ay + t * (by - ay)))
    assert distance.max() <= 25
