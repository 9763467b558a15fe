"""`run_app`: the QApplication, the main window, and the scripted `--demo --run --screenshot --quit` flow.

With `--quit` nothing may wait for a person: errors are logged and make the exit code non-zero instead of
opening dialogs, and the run uses throw-away settings, so a scripted screenshot neither depends on nor changes the
user's preferences.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from ..paths import data_folder
from .dialogs import ScriptedDialogs
from .main_window import MainWindow
from .settings import APPLICATION, ORGANISATION, AppSettings

__all__ = ["ScriptedSession", "demo_paths", "run_app"]

log = logging.getLogger(__name__)

FAILURE = 2  # the CLI's exit code for errors a user should see
SCRIPT_TIMEOUT_MS = 10 * 60 * 1000
SETTLE_MS = 300  # let the layout and the panel paint before a screenshot


def demo_paths() -> tuple[Path, Path]:
    """The bundled sample photo and its hand-made mask (white = hole)."""
    resources = data_folder("resources")
    return resources / "sample.jpg", resources / "sample_mask.png"


class ScriptedSession(QObject):
    """Open, fill, screenshot, quit, in that order, each step starting when the previous one is done."""

    def __init__(self, window: MainWindow, args: argparse.Namespace) -> None:
        super().__init__(window)
        self.window = window
        self.args = args
        self.exit_code = 0
        self._filling = False
        self._opened = False
        window.errorReported.connect(self._on_error)
        if args.quit:
            QTimer.singleShot(SCRIPT_TIMEOUT_MS, lambda: self._fail("timed out"))

    def open(self) -> None:
        """Open the photo asked for; called before the window is shown, so its first frame has the photo."""
        args = self.args
        if args.demo:
            photo, mask = demo_paths()
            self._opened = self.window.open_path(photo, mask)
        elif args.image:
            self._opened = self.window.open_path(args.image)
        else:
            self._opened = True

    def start(self) -> None:
        """The rest of the script, once the event loop runs."""
        args = self.args
        if not self._opened:  # reported; with --quit the run ends (an exit asked for before the loop ran is lost)
            if args.quit:
                QApplication.instance().exit(self.exit_code)
            return
        if args.run:
            self._wait_for_engine()
        else:
            QTimer.singleShot(SETTLE_MS, self._finish)

    def _wait_for_engine(self) -> None:
        window = self.window
        if window.document is None or not window.document.hole.any():
            self._fail("--run needs a photo with a mask (try --demo)")
            return
        if window.inpaint.available:
            self._run()
        else:
            window.inpaint.ready.connect(self._run)

    @Slot()
    def _run(self) -> None:
        if self._filling:
            return
        self._filling = True
        self.window.fillApplied.connect(lambda: QTimer.singleShot(SETTLE_MS, self._finish))
        self.window.inpaint.cancelled.connect(lambda: self._fail("the fill was cancelled"))
        self.window.run_inpaint()

    @Slot()
    def _finish(self) -> None:
        if self.exit_code:
            return
        if self.args.screenshot:
            path = Path(self.args.screenshot)
            if not self.window.grab().save(str(path)):
                self._fail(f"could not write the screenshot {path}")
                return
            log.info("screenshot saved to %s", path)
        if self.args.quit:
            QApplication.instance().exit(self.exit_code)

    @Slot(str)
    def _on_error(self, message: str) -> None:
        if self.args.quit:
            self._fail(message)

    def _fail(self, message: str) -> None:
        if self.exit_code:
            return
        log.error("pconv-studio: %s", message)
        self.exit_code = FAILURE
        if self.args.quit:
            QApplication.instance().exit(FAILURE)


def run_app(args: argparse.Namespace) -> int:
    """Start the desktop app; returns the exit code."""
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setDesktopFileName("pconv-studio")  # Wayland matches the window to the menu entry (and its icon) by this
    icon = data_folder("resources") / "icon.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    with tempfile.TemporaryDirectory(prefix="pconv-studio-") as scratch:
        if args.quit:
            settings = AppSettings(QSettings(str(Path(scratch) / "settings.ini"), QSettings.Format.IniFormat))
            window = MainWindow(settings, ScriptedDialogs(), weights=args.weights, device=args.device,
                                upscale_weights=args.upscale_weights)
        else:
            window = MainWindow(AppSettings(), weights=args.weights, device=args.device,
                                upscale_weights=args.upscale_weights)
        session = ScriptedSession(window, args)
        session.open()  # before show: no empty (black under X11) window while a large photo decodes
        window.show()
        QTimer.singleShot(0, session.start)
        code = app.exec()
        if window.isVisible():  # a scripted exit: close now, so the worker threads stop before Qt goes away
            window.close()
        return session.exit_code or code
