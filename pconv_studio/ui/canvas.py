"""The canvas: the photo with its hole mask as a translucent overlay, and the mouse and keys that edit it.

The canvas observes a `Document` and redraws only the boxes a change touched; it never edits the document itself.
What the user does with the mouse comes out as signals in image coordinates (x right, y down, in pixels), which
the window turns into undoable edits.
"""

from __future__ import annotations


import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush, QColor, QKeyEvent, QMouseEvent, QPainter, QPainterPath, QPen, QPaintEvent, QResizeEvent, QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem, QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView,
    QStyleOptionGraphicsItem, QWidget,
)

from ..editing import mask_ops
from ..editing.document import Change, Document
from ..engine.inpainter import Region
from .image_convert import display_bytes, display_image, mask_image, write_display

__all__ = ["CanvasView", "TOOLS"]

TOOLS = ("brush", "eraser", "rectangle", "lasso")
MIN_BRUSH, MAX_BRUSH = 1, 500  # px, the brush's diameter in photo pixels
HOLE_COLOUR = QColor(255, 40, 90, 130)
STAGE_COLOUR = QColor(0, 210, 255, 150)
MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
WHEEL_ZOOM_STEP = 1.25  # per notch


class ArrayImageItem(QGraphicsItem):
    """Draws a QImage that reads a numpy buffer in place, so a change repaints only the box that changed."""

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self.buffer: np.ndarray | None = None
        self.image = None
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def show_buffer(self, buffer: np.ndarray, image) -> None:
        """`image` must read `buffer`; both are kept alive together."""
        self.prepareGeometryChange()
        self.buffer, self.image = buffer, image
        self.update()

    def boundingRect(self) -> QRectF:
        if self.buffer is None:
            return QRectF()
        return QRectF(0, 0, self.buffer.shape[1], self.buffer.shape[0])

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self.image is None:
            return
        exposed = option.exposedRect.toAlignedRect().intersected(self.boundingRect().toAlignedRect())
        smooth = painter.worldTransform().m11() < 1.0  # pixels stay crisp when zoomed in
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.drawImage(exposed, self.image, exposed)


def _rect(region: Region) -> QRectF:
    return QRectF(region.left, region.top, region.width, region.height)


class CanvasView(QGraphicsView):
    """QGraphicsView of the document. The wheel zooms at the cursor, zoom keys at the view's centre; Space+drag or
    the middle button pans."""

    strokeStarted = Signal(QPointF, bool)  # point, erase
    strokeMoved = Signal(QPointF)
    strokeFinished = Signal()
    rectangleDrawn = Signal(QPointF, QPointF, bool)  # corners, erase
    lassoDrawn = Signal(list, bool)  # [QPointF], erase
    brushSizeChanged = Signal(int)
    compareHeld = Signal(bool)  # Tab or backslash held: show the original

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor(38, 38, 42))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # zoom_by keeps its own anchor
        # the view scrolls past the photo's edges (see _update_margins), so scroll bars would always show; panning
        # is Space+drag or the middle button, and the viewport never changes size when the photo does
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.photo_item = ArrayImageItem()
        self.mask_item = ArrayImageItem()
        self.stage_item = ArrayImageItem()
        self.stage_outline = QGraphicsRectItem()
        self.stage_outline.setPen(self._cosmetic_pen(STAGE_COLOUR.lighter(), Qt.PenStyle.DashLine))
        self.cursor_item = QGraphicsEllipseItem()
        self.cursor_item.setPen(self._cosmetic_pen(QColor(255, 255, 255, 220)))
        self.shape_item = QGraphicsPathItem()  # the rectangle or lasso being drawn
        self.shape_item.setPen(self._cosmetic_pen(QColor(255, 255, 255), Qt.PenStyle.DashLine))
        self.shape_item.setBrush(QBrush(HOLE_COLOUR))
        for z, item in enumerate((self.photo_item, self.mask_item, self.stage_item, self.stage_outline,
                                  self.shape_item, self.cursor_item)):
            item.setZValue(z)
            self.scene().addItem(item)
        self.stage_item.setVisible(False)
        self.stage_outline.setVisible(False)
        self.cursor_item.setVisible(False)
        self.document: Document | None = None
        self._unsubscribe = None
        self._photo_buffer: np.ndarray | None = None
        self._original_buffer: np.ndarray | None = None
        self._mask_buffer: np.ndarray | None = None
        self.tool = "brush"
        self.brush_size = 40
        self.showing_original = False
        self._compare_keys_down: set[int] = set()
        self._space_down = False
        self._pan_from: QPointF | None = None
        self._drag: tuple[str, bool] | None = None  # (tool, erase) while a button is down
        self._drag_points: list[QPointF] = []
        self._cursor_pos: QPointF | None = None
        self._fitting = True  # keep the photo fitted to the window until the user zooms
        self._brush_on_screen: float | None = None  # the brush's size on screen to restore once the view is shown

    @staticmethod
    def _cosmetic_pen(colour: QColor, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
        pen = QPen(colour, 1.5, style)
        pen.setCosmetic(True)  # same width on screen at every zoom
        return pen

    # --- document -------------------------------------------------------------------------------------------

    def set_document(self, document: Document | None) -> None:
        """Show `document`, fitted; the brush keeps its diameter on screen (not in photo pixels)."""
        brush_on_screen = self.brush_size * self.zoom
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.document = document
        self._original_buffer = None
        self.set_stage_overlay(None, None)
        if document is None:
            self._photo_buffer = self._mask_buffer = None
            self.photo_item.show_buffer(np.zeros((0, 0, 4), np.uint8), None)
            self.mask_item.show_buffer(np.zeros((0, 0), np.uint8), None)
            return
        self._rebuild()
        self._unsubscribe = document.subscribe(self._on_document_changed)
        self._brush_on_screen = brush_on_screen
        if self.isVisible():
            self._keep_brush_on_screen()
        # else: opened before the window first shows (start-up): the brush waits for the first paint, when the
        # view has its size and the photo its fit

    def _keep_brush_on_screen(self) -> None:
        if self._brush_on_screen is not None:
            self.set_brush_size(round(self._brush_on_screen / self.zoom))
            self._brush_on_screen = None

    def _rebuild(self) -> None:
        """Show the document's photo and mask from scratch (a new document, or a new size), fitted."""
        document = self.document
        self._photo_buffer = display_bytes(document.pixels)
        self._mask_buffer = document.hole.view(np.uint8).copy()
        self._show_photo()
        self.mask_item.show_buffer(self._mask_buffer, mask_image(self._mask_buffer, HOLE_COLOUR))
        self.scene().setSceneRect(QRectF(0, 0, document.width, document.height))
        self.fit()

    def _on_document_changed(self, change: Change) -> None:
        document = self.document
        if change.resized:  # new arrays, perhaps of another size (an upscale, or its undo)
            self.set_stage_overlay(None, None)
            self._rebuild()
            return
        region = change.region or Region(0, 0, document.height, document.width)
        rows, columns = region.window
        if change.mask:
            self._mask_buffer[rows, columns] = document.hole[rows, columns]
            self.mask_item.update(_rect(region))
        if change.pixels:
            write_display(self._photo_buffer, document.pixels, rows, columns)
            self.photo_item.update(_rect(region))

    def _show_photo(self) -> None:
        if self.showing_original and self.document is not None:
            if self._original_buffer is None:
                self._original_buffer = display_bytes(self.document.original)
            buffer = self._original_buffer
        else:
            buffer = self._photo_buffer
        if buffer is not None:
            self.photo_item.show_buffer(buffer, display_image(buffer))
            # the original of an upscaled photo is smaller: stretched over the photo, for before/after
            height, width = buffer.shape[:2]
            self.photo_item.setTransform(QTransform.fromScale(self.document.width / width,
                                                              self.document.height / height))
        self.mask_item.setVisible(not self.showing_original)

    def show_original(self, showing: bool) -> None:
        """Before/after: the untouched photo, without the mask, while `showing`."""
        if showing != self.showing_original:
            self.showing_original = showing
            self._show_photo()

    def set_stage_overlay(self, region: Region | None, hole: np.ndarray | None) -> None:
        """Overlay one network layer's hole (already upsampled to `region`'s size), or none."""
        if region is None or hole is None:
            self.stage_item.setVisible(False)
            self.stage_outline.setVisible(False)
            return
        buffer = hole.view(np.uint8).copy()
        self.stage_item.show_buffer(buffer, mask_image(buffer, STAGE_COLOUR))
        self.stage_item.setPos(region.left, region.top)
        self.stage_outline.setRect(_rect(region))
        self.stage_item.setVisible(True)
        self.stage_outline.setVisible(True)

    # --- view ---------------------------------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self._fitting = True
        if self.document is not None:
            photo = self.scene().sceneRect()
            self.fitInView(photo, Qt.AspectRatioMode.KeepAspectRatio)
            self._update_margins()
            self._place(photo.center(), self._viewport_centre())

    def actual_size(self) -> None:
        self._fitting = False
        centre = self._scene_at(self._viewport_centre())
        self.resetTransform()
        self._update_margins()
        self._place(centre, self._viewport_centre())

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom so that the photo point under `anchor` (a viewport position; None: the view's centre) stays
        under it, to a pixel."""
        self._fitting = False
        factor = min(max(self.zoom * factor, MIN_ZOOM), MAX_ZOOM) / self.zoom
        anchor = self._viewport_centre() if anchor is None else anchor
        fixed = self._scene_at(anchor)
        self.scale(factor, factor)
        self._update_margins()
        self._place(fixed, anchor)

    def _viewport_centre(self) -> QPointF:
        return QPointF(self.viewport().width() / 2, self.viewport().height() / 2)

    def _scene_at(self, position: QPointF) -> QPointF:
        """The photo point under a viewport position (sub-pixel; mapToScene rounds to whole pixels)."""
        inverse, _ = self.viewportTransform().inverted()
        return inverse.map(position)

    def _place(self, point: QPointF, position: QPointF) -> None:
        """Scroll so that the photo point `point` lies under the viewport position `position`, to a pixel."""
        drift = self.viewportTransform().map(point) - position
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + round(drift.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + round(drift.y()))

    def _update_margins(self) -> None:
        """Let the view scroll one viewport past each edge of the photo, so that any photo point can be brought
        under any viewport position: zooming at the cursor near an edge, or with the photo smaller than the
        view, keeps the point under the cursor (Qt would centre a photo smaller than the view instead)."""
        horizontal, vertical = self.viewport().width() / self.zoom, self.viewport().height() / self.zoom
        self.setSceneRect(self.scene().sceneRect().adjusted(-horizontal, -vertical, horizontal, vertical))

    def paintEvent(self, event: QPaintEvent) -> None:
        self._keep_brush_on_screen()  # the first paint: the view has its final size and the photo its fit
        super().paintEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)  # keeps the view's centre (the resize anchor)
        if self._fitting:
            self.fit()
        elif self.document is not None:
            centre = self._scene_at(self._viewport_centre())
            self._update_margins()
            self._place(centre, self._viewport_centre())

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if self.document is None:
            painter.save()
            painter.resetTransform()
            painter.setPen(QColor(160, 160, 168))
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter,
                             "Open a photo (Ctrl+O), drop one here, or paste one (Ctrl+V)")
            painter.restore()

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        self._update_cursor(None)

    def set_brush_size(self, size: int) -> None:
        size = int(min(max(size, MIN_BRUSH), MAX_BRUSH))
        if size != self.brush_size:
            self.brush_size = size
            self.brushSizeChanged.emit(size)
        self._update_cursor(None)

    def step_brush_size(self, steps: int) -> None:
        """`]` and `[`: about 15 % per step, at least one pixel."""
        change = max(1, round(self.brush_size * 0.15))
        self.set_brush_size(self.brush_size + steps * change)

    def _update_cursor(self, scene_pos: QPointF | None) -> None:
        brush = self.tool in ("brush", "eraser") and self.document is not None
        if scene_pos is not None:
            self._cursor_pos = scene_pos
        position = self._cursor_pos
        if not brush or position is None or self._pan_from is not None:
            self.cursor_item.setVisible(False)
        else:
            radius = self.brush_size / 2
            self.cursor_item.setRect(QRectF(position.x() - radius, position.y() - radius, 2 * radius, 2 * radius))
            self.cursor_item.setVisible(True)
        panning = self._space_down or self._pan_from is not None
        shape = Qt.CursorShape.OpenHandCursor if panning else Qt.CursorShape.CrossCursor
        self.viewport().setCursor(shape)

    # --- mouse --------------------------------------------------------------------------------------------------

    def _scene_point(self, event: QMouseEvent | QWheelEvent) -> QPointF:
        return self._scene_at(event.position())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space_down):
            self._pan_from = event.position()
            self._update_cursor(None)
            return
        if self.document is None or button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        point = self._scene_point(event)
        erase = button == Qt.MouseButton.RightButton or self.tool == "eraser"
        self._drag = (self.tool, erase)
        self._drag_points = [point]
        if self.tool in ("brush", "eraser"):
            self.strokeStarted.emit(point, erase)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            return
        point = self._scene_point(event)
        self._update_cursor(point)
        if self._drag is None:
            return
        tool, _ = self._drag
        if tool in ("brush", "eraser"):
            self.strokeMoved.emit(point)
        elif tool == "rectangle":
            self._drag_points[1:] = [point]
            path = QPainterPath()
            path.addRect(QRectF(self._drag_points[0], point).normalized())
            self.shape_item.setPath(path)
        else:
            self._drag_points.append(point)
            path = QPainterPath(self._drag_points[0])
            for vertex in self._drag_points[1:]:
                path.lineTo(vertex)
            path.closeSubpath()
            self.shape_item.setPath(path)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            self._update_cursor(None)
            return
        if self._drag is None:
            return
        (tool, erase), points = self._drag, self._drag_points
        self._drag, self._drag_points = None, []
        self.shape_item.setPath(QPainterPath())
        if tool in ("brush", "eraser"):
            self.strokeFinished.emit()
            return
        if tool == "rectangle":
            (a, b) = points[0], self._scene_point(event)
            outline = [(a.x(), a.y()), (b.x(), a.y()), (b.x(), b.y()), (a.x(), b.y())]
        else:
            outline = [(p.x(), p.y()) for p in points]
        if mask_ops.is_degenerate(outline, self.zoom):
            return  # a line or a click, not a shape: it adds nothing
        if tool == "rectangle":
            self.rectangleDrawn.emit(a, b, erase)
        else:
            self.lassoDrawn.emit(points, erase)

    def abort_drag(self) -> None:
        """Esc: drop a rectangle or lasso being drawn (a brush stroke in progress still ends normally)."""
        if self._drag is not None and self._drag[0] in ("rectangle", "lasso"):
            self._drag, self._drag_points = None, []
            self.shape_item.setPath(QPainterPath())

    def leaveEvent(self, event: QEvent) -> None:
        self.cursor_item.setVisible(False)
        super().leaveEvent(event)

    def enterEvent(self, event: QEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)  # so Space, Tab and [ ] reach the canvas
        super().enterEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        notches = (delta.y() or delta.x()) / 120  # Alt turns the wheel horizontal on some platforms
        if event.modifiers() & Qt.KeyboardModifier.AltModifier:
            self.set_brush_size(round(self.brush_size * (1.15 ** notches)) + (1 if notches > 0 else -1))
            self._update_cursor(self._scene_point(event))
        elif notches:
            self.zoom_by(WHEEL_ZOOM_STEP ** notches, event.position())
        event.accept()

    # --- keys ---------------------------------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        # Tab would move the focus before keyPressEvent sees it; here it means "hold to compare"
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and event.key() == Qt.Key.Key_Tab:
            if event.type() == QEvent.Type.KeyPress:
                self.keyPressEvent(event)
            else:
                self.keyReleaseEvent(event)
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Tab, Qt.Key.Key_Backslash):
            if not event.isAutoRepeat() and not self._compare_keys_down:
                self.compareHeld.emit(True)
            self._compare_keys_down.add(key)
        elif key == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_down = True
                self._update_cursor(None)
        elif key == Qt.Key.Key_Escape:
            self.abort_drag()
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if event.isAutoRepeat():
            return
        if key in (Qt.Key.Key_Tab, Qt.Key.Key_Backslash):
            self._compare_keys_down.discard(key)
            if not self._compare_keys_down:
                self.compareHeld.emit(False)
        elif key == Qt.Key.Key_Space:
            self._space_down = False
            self._update_cursor(None)
        else:
            super().keyReleaseEvent(event)

