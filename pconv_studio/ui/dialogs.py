"""Every question and message box the window asks, in one replaceable object.

The window never opens a dialog itself: it asks its `Dialogs`. Scripted runs (`--quit`) and tests use
`ScriptedDialogs`, which never blocks: errors are logged and recorded, questions get fixed answers.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QDialog, QDialogButtonBox, QFileDialog, QInputDialog, QMessageBox, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)

from ..engine.imageio import SUPPORTED_SUFFIXES
from .upscale_dialog import UpscaleDialog

__all__ = ["Dialogs", "IMAGE_FILTER", "ScriptedDialogs"]

log = logging.getLogger(__name__)

IMAGE_FILTER = "Images ({});;All files (*)".format(" ".join(f"*{suffix}" for suffix in SUPPORTED_SUFFIXES))
PNG_FILTER = "PNG images (*.png)"


class Dialogs:
    """The real dialogs, one on screen at a time: an error that arrives while a question or another error is
    open waits in a queue and shows when that one closes. Errors use a window-modal box that does not block
    the caller."""

    def __init__(self, parent: QWidget) -> None:
        self.parent = parent
        self._open = 0  # dialogs on screen now
        self._errors: list[tuple[str, str]] = []  # (title, message) waiting for their turn

    @contextmanager
    def _asking(self) -> Iterator[None]:
        self._open += 1
        try:
            yield
        finally:
            self._open -= 1
            self._show_next_error()

    def show_error(self, title: str, message: str) -> None:
        self._errors.append((title, message))
        self._show_next_error()

    def _show_next_error(self) -> None:
        if self._open or not self._errors:
            return
        title, message = self._errors.pop(0)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self.parent)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._on_error_closed)
        self._open += 1
        box.open()  # window-modal, returns at once

    def _on_error_closed(self, result: int) -> None:
        self._open -= 1
        self._show_next_error()

    def ask_unsaved(self, question: str) -> str:
        """"save", "discard" or "cancel" (also when the box is closed)."""
        buttons = QMessageBox.StandardButton
        with self._asking():
            answer = QMessageBox.question(self.parent, "Unsaved work", question,
                                          buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save)
        return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")

    def confirm_lossy_save(self, question: str) -> bool:
        with self._asking():
            answer = QMessageBox.question(
                self.parent, "Lossy format", question,
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
            )
        return answer == QMessageBox.StandardButton.Save

    def open_image(self, folder: str, title: str = "Open photo") -> str | None:
        with self._asking():
            path, _ = QFileDialog.getOpenFileName(self.parent, title, folder, IMAGE_FILTER)
        return path or None

    def save_image(self, suggested: str, title: str = "Save result") -> str | None:
        """Qt's dialog asks before replacing an existing file, so nothing is overwritten silently."""
        with self._asking():
            path, _ = QFileDialog.getSaveFileName(self.parent, title, suggested, IMAGE_FILTER)
        return path or None

    def save_mask(self, suggested: str) -> str | None:
        with self._asking():
            path, _ = QFileDialog.getSaveFileName(self.parent, "Export mask", suggested, PNG_FILTER)
        return path or None

    def choose_folder(self, folder: str, title: str) -> str | None:
        with self._asking():
            return QFileDialog.getExistingDirectory(self.parent, title, folder) or None

    def show_table(self, title: str, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
        """A read-only table, one phrase per cell, never wrapped: the dialog is as wide as its longest row."""
        dialog = QDialog(self.parent)
        dialog.setWindowTitle(title)
        table = QTableWidget(len(rows), len(header), dialog)
        table.setObjectName("table")
        table.setHorizontalHeaderLabels(list(header))
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideNone)
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                table.setItem(row, column, QTableWidgetItem(text))
        table.resizeColumnsToContents()
        table.resizeRowsToContents()
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(table)
        layout.addWidget(buttons)
        with self._asking():
            dialog.exec()
        dialog.deleteLater()

    def ask_int(self, title: str, label: str, value: int, low: int, high: int) -> int | None:
        with self._asking():
            number, ok = QInputDialog.getInt(self.parent, title, label, value, low, high)
        return number if ok else None

    def ask_upscale(self, height: int, width: int, hole_percent: float) -> float | None:
        """The scale for Image → Upscale… (None: cancelled), for a `height` x `width` photo whose painted mask
        covers `hole_percent` % of it."""
        dialog = UpscaleDialog(height, width, hole_percent, self.parent)
        with self._asking():
            accepted = dialog.exec() == QDialog.DialogCode.Accepted
        scale = dialog.scale
        dialog.deleteLater()
        self.parent.activateWindow()  # the keys go back to the window (without a window manager they would not)
        return scale if accepted else None


class ScriptedDialogs:
    """No dialogs at all: for `--quit` runs and tests. Errors are kept in `errors`; answers are preset."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.discard = True  # answer to "unsaved work: save, discard or cancel?" when save_first is False
        self.save_first = False  # True: that answer is "save"
        self.lossy = True  # answer to "save in a lossy format anyway?"
        self.questions: list[str] = []  # every question asked, in order
        self.paths: list[str] = []  # answers to file questions, in order; None when empty
        self.proposed: list[str] = []  # the name or folder each file question started from
        self.numbers: list[int] = []
        self.scales: list[float] = []  # answers to "upscale by how much?", in order; None (cancel) when empty

    def show_error(self, title: str, message: str) -> None:
        self.errors.append(message)

    def ask_unsaved(self, question: str) -> str:
        answer = "save" if self.save_first else "discard" if self.discard else "cancel"
        log.info("%s -> %s", question, answer)
        self.questions.append(question)
        return answer

    def confirm_lossy_save(self, question: str) -> bool:
        log.info("%s -> %s", question, "save" if self.lossy else "cancel")
        self.questions.append(question)
        return self.lossy

    def _next_path(self, proposed: str, *args: object) -> str | None:
        self.proposed.append(proposed)
        return self.paths.pop(0) if self.paths else None

    open_image = save_image = save_mask = choose_folder = _next_path

    def ask_int(self, title: str, label: str, value: int, low: int, high: int) -> int | None:
        return self.numbers.pop(0) if self.numbers else None

    def ask_upscale(self, height: int, width: int, hole_percent: float) -> float | None:
        self.questions.append(f"Upscale {width}x{height}")
        return self.scales.pop(0) if self.scales else None

    def show_table(self, title: str, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
        log.info("%s: %d rows", title, len(rows))
