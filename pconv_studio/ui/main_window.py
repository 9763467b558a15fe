"""The main window: wires the document, the canvas, the panel, the fill worker and the files together.

Errors from anywhere reach the user through `report_error` only: a status message, a log line, the
`errorReported` signal, and a dialog from the window's `Dialogs` (which never blocks in scripted runs and tests).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal, Slot
from PySide6.QtGui import (
    QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QIcon, QResizeEvent, QUndoStack,
)
from PySide6.QtWidgets import QLabel, QMainWindow, QProgressBar, QStyle, QWidget

from ..editing.document import Change, Document
from ..editing.mask_ops import StageStack, stages_from_result
from ..engine import Inpainter, save_image, save_mask
from ..engine.upscale import Upscaler
from ..engine.imageio import SUPPORTED_SUFFIXES, ImageInfo, is_lossy, read_image, read_mask
from ..engine.inpainter import describe_fills
from ..errors import ImageIOError, PConvError
from ..model import get_preset
from ..paths import data_folder, upscale_grid_weights_path
from .actions import install_actions
from .canvas import CanvasView
from .commands import DocumentEditor
from .dialogs import Dialogs
from .fill_style import FillStyle
from .image_convert import pixels_to_qimage, qimage_to_pixels
from .propagation import PropagationController
from .settings import AppSettings
from .stages_panel import StagesPanel, export_stages
from .upscaling import UpscaleFlow
from .worker import EngineFactory, InpaintController, Upscaled, UpscalerFactory

__all__ = ["MainWindow"]

log = logging.getLogger(__name__)

APP_TITLE = "PConv Studio"
SHIPPED_ARCHITECTURE = "compact"  # what the panel predicts with before (or without) a trained model


class MainWindow(QMainWindow):
    errorReported = Signal(str)
    fillApplied = Signal()
    upscaleApplied = Signal()
    stagesShown = Signal(object)  # the StageStack now in the panel, or None

    def __init__(self, settings: AppSettings, dialogs: object | None = None,
                 engine_factory: EngineFactory = Inpainter, weights: str | None = None, device: str | None = None,
                 parent: QWidget | None = None, upscaler_factory: UpscalerFactory = Upscaler,
                 upscale_weights: str | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.dialogs = dialogs if dialogs is not None else Dialogs(self)
        self.document: Document | None = None
        self._document_info = ImageInfo()  # what the open file holds besides pixels (profile, EXIF, alpha kind)
        self._unsubscribe = None
        self._deferred_fill: tuple[object, object] | None = None  # a result that arrived mid-stroke
        self._showing_network_stages = False  # the panel shows a fill's stages, until the mask changes
        self._applying_fill = False  # the fill's own mask change keeps those stages on show
        self._lossy_accepted = False  # the user agreed to a lossy format once: not asked again
        self._unavailable_reason = "the model is still loading"
        self.device = device or settings.device  # as the user asked for it: "auto", "cpu", "cuda", ...
        self._requested_device = self.device
        self.setWindowTitle(APP_TITLE)
        icon = data_folder("resources") / "icon.png"
        if icon.is_file():
            self.setWindowIcon(QIcon(str(icon)))
        self.setAcceptDrops(True)

        self.undo_stack = QUndoStack(self)
        self.editor = DocumentEditor(self.undo_stack, self)
        self.canvas = CanvasView(self)
        self.setCentralWidget(self.canvas)
        self.panel = StagesPanel(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.panel)
        self.inpaint = InpaintController(engine_factory, self, upscaler_factory, upscale_weights)
        self.upscaling = UpscaleFlow(self.editor, self.inpaint, self.dialogs, self,
                                     on_grid=lambda: self.menu_actions.upscale_on_grid.isChecked())
        self.propagation = PropagationController(self._current_hole, self)
        self.propagation.set_geometry(get_preset(SHIPPED_ARCHITECTURE), self.propagation.resolution)
        self.menu_actions = install_actions(self)
        self.fill_style = FillStyle(self.editor, self.inpaint, settings, self)
        # below the canvas: the tools' bar fills the top row at 800 px already
        self.addToolBar(Qt.ToolBarArea.BottomToolBarArea, self.fill_style.toolbar)
        self._build_status_bar()
        self._connect()
        self._restore_settings()
        self._set_document(None)
        self._update_inpaint_enabled()
        self.inpaint.load(weights, self.device)
        self.inpaint.set_detail_transfer(settings.detail_transfer)  # queued behind the load

    # --- construction --------------------------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(160)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setVisible(False)
        self.model_label = QLabel("model: loading…")
        self.device_label = QLabel("")
        self.run_label = QLabel("no fill yet")
        for widget in (self.progress_bar, self.model_label, self.device_label, self.run_label):
            widget.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(widget)

    def _connect(self) -> None:
        canvas, editor, inpaint = self.canvas, self.editor, self.inpaint
        canvas.strokeStarted.connect(self._on_stroke_started)
        canvas.strokeMoved.connect(editor.continue_stroke)
        canvas.strokeFinished.connect(self._on_stroke_finished)
        canvas.rectangleDrawn.connect(editor.fill_rectangle)
        canvas.lassoDrawn.connect(editor.fill_lasso)
        canvas.brushSizeChanged.connect(self._on_brush_size_changed)
        canvas.compareHeld.connect(self._on_compare_held)
        editor.holePainted.connect(self._on_hole_painted)
        self.undo_stack.canUndoChanged.connect(self.menu_actions.undo.setEnabled)
        self.undo_stack.canRedoChanged.connect(self.menu_actions.redo.setEnabled)
        for action in (self.menu_actions.undo, self.menu_actions.redo, self.menu_actions.cancel):
            action.setEnabled(False)
        inpaint.ready.connect(self._on_engine_ready)
        inpaint.unavailable.connect(self._on_engine_unavailable)
        inpaint.notice.connect(self._show_notice)
        inpaint.busyChanged.connect(self._on_busy_changed)
        inpaint.progressed.connect(self._on_progress)
        inpaint.finished.connect(self._on_fill_finished)
        inpaint.failed.connect(lambda message: self.report_error(f"The fill failed: {message}"))
        inpaint.cancelled.connect(self._on_fill_cancelled)
        inpaint.deviceChanged.connect(self._on_device_changed)
        inpaint.deviceFailed.connect(self._on_device_failed)
        self.propagation.stagesReady.connect(self._on_live_stages)
        self.panel.stageSelected.connect(self._on_stage_selected)
        self.panel.exportRequested.connect(self.export_stages_dialog)
        self.fill_style.cachedResult.connect(self._on_cached_fill)
        self.upscaling.applied.connect(self._on_upscaled)
        self.upscaling.message.connect(self._show_message)
        self.upscaling.failed.connect(self.report_error)

    def _restore_settings(self) -> None:
        settings = self.settings
        self.canvas.set_brush_size(settings.brush_size)  # stored on screen; at zoom 1 until a photo opens
        self.menu_actions.brush_spin.setValue(self.canvas.brush_size)
        self.set_tool(settings.tool if settings.tool in self.menu_actions.tools else "brush")
        self.menu_actions.auto_run.setChecked(settings.auto_run)
        self.menu_actions.detail_transfer.setChecked(settings.detail_transfer)
        grid_model = upscale_grid_weights_path().is_file()  # a checkout has it; the installers carry the default only
        self.menu_actions.upscale_on_grid.setEnabled(grid_model)
        self.menu_actions.upscale_on_grid.setChecked(settings.upscale_on_grid and grid_model)
        self._check_device_action(self.device)
        geometry, state = settings.window_layout()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:  # 1400x900, or nine tenths of a smaller screen
            screen = QGuiApplication.primaryScreen()
            available = screen.availableGeometry().size() if screen is not None else None
            width, height = 1400, 900
            if available is not None:
                width, height = min(width, available.width() * 9 // 10), min(height, available.height() * 9 // 10)
            self.resize(width, height)
        if state is not None:
            self.restoreState(state)
        else:
            self.resizeDocks([self.panel], [380], Qt.Orientation.Horizontal)
        self._update_recent_menu()

    def resizeEvent(self, event: QResizeEvent) -> None:
        """The panel never takes more than a third of the window, so the photo keeps two thirds."""
        separator = self.style().pixelMetric(QStyle.PixelMetric.PM_DockWidgetSeparatorExtent)
        self.panel.setMaximumWidth(max(self.panel.minimumSizeHint().width(), self.width() // 3 - separator))
        super().resizeEvent(event)

    # --- errors and notices ---------------------------------------------------------------------------------

    def report_error(self, message: str, title: str = "PConv Studio") -> None:
        """The one place errors reach the user; the app keeps running and keeps the user's work."""
        log.error("%s", message)
        self.statusBar().showMessage(message, 15_000)
        self.errorReported.emit(message)
        self.dialogs.show_error(title, message)

    @Slot(str)
    def _show_notice(self, message: str) -> None:
        log.warning("%s", message)
        self.statusBar().showMessage(message, 15_000)

    @Slot(str)
    def _show_message(self, message: str) -> None:
        self.statusBar().showMessage(message, 15_000)

    def _report_done(self, message: str, notices: tuple[str, ...] | list[str], timeout: int) -> None:
        """A finished open or save in the status bar, with the file notices (the CLI's warnings) after it."""
        if notices:
            self._show_notice(" — ".join([message, *notices]))
        else:
            self.statusBar().showMessage(message, timeout)

    # --- documents ------------------------------------------------------------------------------------------

    def _current_hole(self) -> np.ndarray | None:
        return self.document.hole if self.document is not None else None

    def _set_document(self, document: Document | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.inpaint.cancel()
        self._deferred_fill = None
        self.fill_style.forget()
        self.upscaling.forget()
        self.document = document
        self._document_info = ImageInfo()
        self._unsubscribe = document.subscribe(self._on_document_changed) if document is not None else None
        self.editor.set_document(document)
        self.canvas.set_document(document)
        self._showing_network_stages = False
        self.propagation.schedule()
        for action in self.menu_actions.document_actions:
            action.setEnabled(document is not None)
        self._update_title()
        self._update_inpaint_enabled()

    def _on_document_changed(self, change: Change) -> None:
        if change.mask and not self._applying_fill:
            self._showing_network_stages = False  # any other mask change: the panel follows the mask again
            self.propagation.schedule()
        if change.state:
            self._update_title()

    def _update_title(self) -> None:
        document = self.document
        if document is None:
            self.setWindowTitle(APP_TITLE)
            return
        name = document.path.name if document.path is not None else "Pasted image"
        depth = "16-bit" if document.pixels.dtype == np.uint16 else "8-bit"
        self.setWindowTitle(f"{name}[*] ({document.width}×{document.height}, {depth}) — {APP_TITLE}")
        self.setWindowModified(document.dirty)

    def _may_discard(self) -> bool:
        """Ask before unsaved work is thrown away (save it, discard it, or stay); True if the work is saved, there
        is none, or the user lets it go."""
        if self.document is None or not self.document.dirty:
            return True
        answer = self.dialogs.ask_unsaved("The current photo has unsaved changes. Save them first?")
        return answer == "discard" or (answer == "save" and self.save())

    def open_path(self, path: str | Path, mask_path: str | Path | None = None) -> bool:
        """Open a photo (and optionally a mask with it, as its starting mask); errors are reported, not raised."""
        if not self._may_discard():
            return False
        path = Path(path)
        try:
            pixels, info = read_image(path)
            if pixels.dtype.kind == "f":
                raise ImageIOError(f"{path.name} holds floating-point pixels: the app edits 8 and 16-bit photos;"
                                   " `pconv-studio inpaint` fills it and keeps the floats")
            mask = read_mask(mask_path) if mask_path is not None else None
            document = Document(pixels, path, mask.hole if mask is not None else None)
        except PConvError as error:
            self.report_error(str(error))
            return False
        self._set_document(document)
        self._document_info = info
        self.settings.add_recent_file(str(path.resolve()))
        self.settings.last_folder = str(path.resolve().parent)
        self._update_recent_menu()
        self._report_done(f"Opened {path.name}", info.notices + (mask.notices if mask is not None else ()), 5000)
        return True

    @Slot()
    def open_dialog(self) -> None:
        path = self.dialogs.open_image(self.settings.last_folder)
        if path:
            self.open_path(path)

    def _update_recent_menu(self) -> None:
        menu = self.menu_actions.recent_menu
        menu.clear()
        for path in self.settings.recent_files:
            menu.addAction(Path(path).name, lambda p=path: self.open_path(p)).setStatusTip(path)
        menu.setEnabled(bool(self.settings.recent_files))

    @Slot()
    def paste_image(self) -> None:
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.report_error("The clipboard holds no image.")
            return
        if self._may_discard():
            self._set_document(Document(qimage_to_pixels(image)))
            self.statusBar().showMessage("Pasted an image from the clipboard", 5000)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.toLocalFile().lower().endswith(SUPPORTED_SUFFIXES) for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    # --- saving ---------------------------------------------------------------------------------------------

    @Slot()
    def save(self) -> bool:
        """Ctrl+S: the first time it asks for a name; later saves go to that file (never the original's, unless
        the user picked it and confirmed the overwrite in the dialog)."""
        if self.document is None:
            return False
        if self.document.saved_path is None:
            return self.save_as()
        return self.save_to(self.document.saved_path)

    @Slot()
    def save_as(self) -> bool:
        document = self.document
        if document is None:
            return False
        if document.path is not None:
            suggested = document.path.with_name(f"{document.path.stem}_filled{self._lossless_suffix()}")
        else:
            suggested = Path(self.settings.last_folder) / "pasted_filled.png"
        path = self.dialogs.save_image(str(suggested))
        return self.save_to(path) if path else False

    def _lossless_suffix(self) -> str:
        """The photo's own format where it keeps every pixel (PNG, TIFF, BMP; 16-bit photos only come from PNG
        and TIFF), PNG where it would not (JPEG, WebP)."""
        path = self.document.path
        return path.suffix if path is not None and path.suffix and not is_lossy(path) else ".png"

    def save_to(self, path: str | Path) -> bool:
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(self._lossless_suffix())
        if is_lossy(path) and not self._lossy_accepted:
            name = "WebP" if path.suffix.lower() == ".webp" else "JPEG"
            question = (f"{name} re-encodes the whole photo: pixels outside the hole will change slightly too "
                        f"(PNG or TIFF keep them exactly). Save as {name} anyway?")
            if not self.dialogs.confirm_lossy_save(question):
                return False
            self._lossy_accepted = True  # asked once per session
        try:
            notices = save_image(path, self.document.pixels, self.settings.jpeg_quality, self._document_info)
        except PConvError as error:
            self.report_error(str(error))
            return False
        self.document.mark_saved(path)
        self.settings.last_folder = str(path.resolve().parent)
        self._report_done(f"Saved {path}", notices, 8000)
        return True

    @Slot()
    def copy_result(self) -> None:
        if self.document is not None:
            QGuiApplication.clipboard().setImage(pixels_to_qimage(self.document.pixels))
            self.statusBar().showMessage("Copied the result to the clipboard", 5000)

    @Slot()
    def ask_jpeg_quality(self) -> None:
        quality = self.dialogs.ask_int("JPEG quality", "Quality of JPEG files (1-100; WebP is saved lossless):",
                                       self.settings.jpeg_quality, 1, 100)
        if quality is not None:
            self.settings.jpeg_quality = quality

    @Slot()
    def import_mask_dialog(self) -> None:
        path = self.dialogs.open_image(self.settings.last_folder, "Import mask (white = hole)")
        if path and self.document is not None:
            try:
                mask = read_mask(path)
                self.editor.import_mask(mask.hole)
            except PConvError as error:
                self.report_error(str(error))
                return
            if mask.notices:
                self._show_notice(" — ".join(mask.notices))

    @Slot()
    def export_mask_dialog(self) -> None:
        if self.document is None:
            return
        stem = self.document.path.stem if self.document.path else "pasted"
        path = self.dialogs.save_mask(str(Path(self.settings.last_folder) / f"{stem}_mask.png"))
        if path:
            try:
                save_mask(path, self.document.hole)
                self.statusBar().showMessage(f"Exported the mask to {path}", 8000)
            except PConvError as error:
                self.report_error(str(error))

    @Slot()
    def export_stages_dialog(self) -> None:
        stack = self.panel.stack
        folder = self.dialogs.choose_folder(self.settings.last_folder, "Export layer masks to") if stack else None
        if folder:
            try:
                written = export_stages(stack, Path(folder))
                self.statusBar().showMessage(f"Wrote {len(written)} layer masks to {folder}", 8000)
            except PConvError as error:
                self.report_error(str(error))

    # --- mask tools -----------------------------------------------------------------------------------------

    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        self.menu_actions.tools[tool].setChecked(True)
        self.settings.tool = tool

    @Slot(QPointF, bool)
    def _on_stroke_started(self, point: QPointF, erase: bool) -> None:
        self.editor.begin_stroke(point, erase, self.canvas.brush_size)

    @Slot()
    def _on_stroke_finished(self) -> None:
        self.editor.end_stroke()
        if self._deferred_fill is not None:
            request, result = self._deferred_fill
            self._deferred_fill = None
            self._apply_fill(request, result)
        self.upscaling.stroke_ended()

    @Slot(int)
    def _on_brush_size_changed(self, size: int) -> None:
        self.menu_actions.brush_spin.blockSignals(True)
        self.menu_actions.brush_spin.setValue(size)
        self.menu_actions.brush_spin.blockSignals(False)
        self.settings.brush_size = round(size * self.canvas.zoom)  # on screen: photos differ in size

    def resize_mask(self, grow: bool) -> None:
        pixels = self.dialogs.ask_int("Grow mask" if grow else "Shrink mask", "By how many pixels?", 8, 1, 500)
        if pixels:
            (self.editor.grow if grow else self.editor.shrink)(pixels)

    @Slot(bool)
    def set_showing_original(self, showing: bool) -> None:
        self.canvas.show_original(showing)

    @Slot(bool)
    def _on_compare_held(self, held: bool) -> None:
        self.canvas.show_original(held or self.menu_actions.show_original.isChecked())

    # --- filling --------------------------------------------------------------------------------------------

    def _update_inpaint_enabled(self) -> None:
        """Inpaint needs a model and a photo; neither it nor Upscale runs while an upscale does."""
        action, upscaling = self.menu_actions.inpaint, self.inpaint.upscaling
        action.setEnabled(self.inpaint.available and self.document is not None and not upscaling)
        if not self.inpaint.available:
            action.setToolTip(f"Inpaint is unavailable: {self._unavailable_reason}")
        elif upscaling:
            action.setToolTip("Inpaint waits for the upscale to finish (Esc cancels it)")
        else:
            action.setToolTip("Fill the hole (Ctrl+Enter)")
        self.menu_actions.upscale.setEnabled(self.document is not None and not upscaling)

    @Slot()
    def run_inpaint(self) -> None:
        document = self.document
        if document is None:
            return
        if not self.inpaint.available:
            self.report_error(f"Inpaint is unavailable: {self._unavailable_reason}")
            return
        if self.inpaint.upscaling:
            self.statusBar().showMessage("Wait for the upscale to finish, or cancel it (Esc).", 8000)
            return
        if not document.hole.any():
            self.statusBar().showMessage("Paint over what should go first: the mask is empty.", 8000)
            return
        detail = self.fill_style.detail
        self.inpaint.request(document.pixels, document.hole, key=(id(document), document.revision, detail),
                             detail=detail)

    @Slot(bool)
    def set_auto_run(self, enabled: bool) -> None:
        self.settings.auto_run = enabled

    @Slot(bool)
    def set_upscale_on_grid(self, enabled: bool) -> None:
        """Image → Upscale on a grid: the next upscales use the partial-convolution grid model (remembered)."""
        self.settings.upscale_on_grid = enabled

    def set_detail_transfer(self, enabled: bool) -> None:
        self.settings.detail_transfer = enabled
        self.inpaint.set_detail_transfer(enabled)

    @Slot()
    def _on_hole_painted(self) -> None:
        if self.menu_actions.auto_run.isChecked() and self.inpaint.available and not self.inpaint.upscaling:
            self.run_inpaint()

    @Slot(str, str)
    def _on_engine_ready(self, model_name: str, device: str) -> None:
        log.info("model %s ready on %s", model_name, device)
        self.model_label.setText(f"model: {model_name}")
        self.device_label.setText(device)
        self.propagation.set_geometry(self.inpaint.config, self.inpaint.resolution)
        self.fill_style.set_available(self.inpaint.detail_problem is None, self.inpaint.detail_problem or "")
        self._update_inpaint_enabled()

    @Slot(str)
    def _on_engine_unavailable(self, message: str) -> None:
        self._unavailable_reason = message
        self.model_label.setText("no trained model")
        self.model_label.setToolTip(message)
        self.fill_style.set_available(False, message)
        self._update_inpaint_enabled()
        self.report_error(f"Inpaint is unavailable: {message}. Painting and the propagation panel still work.")

    @Slot(bool)
    def _on_busy_changed(self, busy: bool) -> None:
        self.menu_actions.cancel.setEnabled(busy)
        self.progress_bar.setVisible(busy)
        self.progress_bar.setRange(0, 0)
        self._update_inpaint_enabled()
        if busy:
            self.statusBar().showMessage(f"{self._job_word()}… (Esc cancels)")
        elif self.statusBar().currentMessage().startswith(("Filling", "Upscaling")):
            self.statusBar().clearMessage()

    def _job_word(self) -> str:
        return "Upscaling" if self.inpaint.upscaling else "Filling"

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        if fraction > 0:
            self.progress_bar.setRange(0, 100)
            self.progress_bar.setValue(round(100 * fraction))
        self.statusBar().showMessage(f"{self._job_word()}: {message} (Esc cancels)")

    @Slot()
    def _on_fill_cancelled(self) -> None:
        self.statusBar().showMessage("Fill cancelled: the result was discarded, the mask is kept.", 8000)

    @Slot(object, object)
    def _on_fill_finished(self, request: object, result: object) -> None:
        if self.document is None or request.key[0] != id(self.document):
            return  # the photo it was for is gone
        if self.document.stroke_active:
            self._deferred_fill = (request, result)  # applied when the stroke ends, so the stroke stays one step
            return
        self._apply_fill(request, result)

    @Slot(object, object)
    def _on_cached_fill(self, request: object, result: object) -> None:
        self._apply_fill(request, result)

    def _apply_fill(self, request: object, result: object) -> None:
        if not self.fill_style.accept(request, result):
            return  # a refill for a style no longer chosen, or of a fill that is no longer the newest step
        self._applying_fill = True  # the fill clears the mask: keep the network's stages on show
        try:
            applied = self.fill_style.commit(request, result)
        finally:
            self._applying_fill = False
        self.device_label.setText(result.device)
        self.run_label.setText(f"last fill {result.seconds:.2f} s")
        self.run_label.setToolTip("")
        for notice in result.notices:
            self._show_notice(notice)
        if not result.notices:
            self.statusBar().showMessage(
                f"Filled in {result.seconds:.2f} s ({describe_fills(result.fills)}). Keep painting and fill again, "
                "or undo (Ctrl+Z)." if applied
                else "Nothing to fill.", 10_000)
        stack = stages_from_result(result, self.inpaint.config, request.hole)
        self._showing_network_stages = stack is not None
        if stack is not None:
            self._show_stack(stack)
        else:
            self.propagation.schedule()
        self.fillApplied.emit()

    @Slot(object)
    def _on_upscaled(self, upscaled: Upscaled) -> None:
        """The upscale is in the document (the canvas refitted on the size change): the panel shows its grid."""
        self.device_label.setText(upscaled.result.device)
        self.run_label.setText(f"last upscale {upscaled.result.seconds:.1f} s")
        self.run_label.setToolTip(f"upscaled with {upscaled.model_name}")
        self._showing_network_stages = upscaled.stages is not None
        if upscaled.stages is not None:
            self._show_stack(upscaled.stages)
        self.upscaleApplied.emit()

    # --- the panel ------------------------------------------------------------------------------------------

    @Slot(object)
    def _on_live_stages(self, stack: StageStack | None) -> None:
        if not self._showing_network_stages:
            self._show_stack(stack)

    def _show_stack(self, stack: StageStack | None) -> None:
        self.panel.show_stack(stack)
        if stack is None:
            log.info("panel: no hole")
        else:
            log.info("panel: %s stages, hole per layer %s", "network" if stack.from_network else "predicted",
                     " ".join(f"{stage.hole_percent:.3f}" for stage in stack.stages))
        self.stagesShown.emit(stack)

    @Slot(int)
    def _on_stage_selected(self, index: int) -> None:
        stack = self.panel.stack
        if stack is None or index < 0:
            self.canvas.set_stage_overlay(None, None)
        else:
            self.canvas.set_stage_overlay(stack.region, stack.photo_mask(index))

    # --- devices --------------------------------------------------------------------------------------------

    def choose_device(self, device: str) -> None:
        self._requested_device = device
        self.inpaint.set_device(device)

    def _check_device_action(self, device: str) -> None:
        name = device.split(":")[0]
        if name in self.menu_actions.devices:
            self.menu_actions.devices[name].setChecked(True)

    @Slot(str)
    def _on_device_changed(self, description: str) -> None:
        self.device = self._requested_device
        self.settings.device = self.device
        self.device_label.setText(description)
        self.statusBar().showMessage(f"Device: {description}", 5000)

    @Slot(str)
    def _on_device_failed(self, message: str) -> None:
        self._check_device_action(self.device)
        self.report_error(message)

    # --- closing --------------------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._may_discard():
            event.ignore()
            return
        self.settings.save_window_layout(self.saveGeometry(), self.saveState())
        self.settings.brush_size = round(self.canvas.brush_size * self.canvas.zoom)
        self.settings.sync()
        self.inpaint.shutdown()
        self.propagation.shutdown()
        event.accept()

