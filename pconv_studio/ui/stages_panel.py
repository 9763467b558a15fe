"""The mask-propagation panel: how this very hole shrinks through every layer of the network.

One thumbnail per layer (encoder, then decoder), labelled with the layer, its map size and the hole left; the
first layer with no hole left is marked. Selecting a layer (click, slider or play) overlays its mask on the photo.
While the user paints the stages are predicted from the geometry alone; after a fill they are the masks the
network computed. After an upscale they are the upscale grid's: the photo's pixels spread over the enlarged
canvas, every other position a hole, shrinking layer by layer (the panel's title says so). Optionally, next to
each mask, a heat map of the layer's scaling ratio sum(1)/sum(M) (from the geometry alone,
`model.propagate_ratios`) with its colour scale: where partial convolution re-weights.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox, QDockWidget, QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem, QSlider, QStyle,
    QToolButton, QVBoxLayout, QWidget,
)

from ..editing.mask_ops import StageStack
from ..engine.imageio import save_mask
from .image_convert import mask_thumbnail, scaling_scale_bar, scaling_thumbnail

__all__ = ["StagesPanel", "THUMBNAIL", "THUMBNAIL_GAP", "TILE", "export_stages", "format_percent"]

THUMBNAIL = 80  # px, the map itself
TILE = THUMBNAIL + 2  # px, with its frame
THUMBNAIL_GAP = 4  # px between a layer's mask and its scaling heat map
SCALE_BAR_WIDTH = 140  # px
SCALING_LEGEND = ("Scaling, log scale: black = 1 (nothing missing); purple to yellow = re-weighted, mildly at the "
                  "image border, strongly on the hole's rim; blue-grey = no valid input")
PLAY_INTERVAL_MS = 600
LEGEND = "White = hole, black = valid; % = share of the map still hole"
TITLE = "Mask propagation"
CLEAR_COLOUR = QColor(70, 200, 120)


def format_percent(percent: float) -> str:
    """Exactly 0 only when no hole is left: a trace of hole never rounds down to '0%'."""
    if percent == 0:
        return "0%"
    if percent < 0.1:
        return "<0.1%"
    return f"{percent:.1f}%"


def export_stages(stack: StageStack, folder: Path) -> list[Path]:
    """One PNG per layer (white = hole) at the network's input size, numbered in computation order."""
    written = []
    for index, stage in enumerate(stack.stages):
        rows, columns = stage.hole.shape
        path = Path(folder) / f"{index + 1:02d}_{stage.name}_{columns}x{rows}.png"
        save_mask(path, stack.network_mask(index))
        written.append(path)
    return written


class StagesPanel(QDockWidget):
    """Dockable panel; emits `stageSelected(index)` (-1: none) so the window can overlay that layer's mask."""

    stageSelected = Signal(int)
    exportRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(TITLE, parent)
        self.setObjectName("stagesPanel")  # for saveState
        self.stack: StageStack | None = None
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 6, 8, 8)
        self.summary = QLabel("Paint a hole to see how the network's layers fill it.")
        self.summary.setWordWrap(True)
        self.legend = QLabel(LEGEND)
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet("color: palette(mid); font-size: 11px;")
        self.scaling_toggle = QCheckBox("Scaling sum(1)/sum(M)")
        self.scaling_toggle.setToolTip("Next to each mask, how much the layer re-weights every output: window "
                                       "size over valid inputs (partial convolution's renormalisation)")
        self.scaling_toggle.toggled.connect(self._on_scaling_toggled)
        self.scale_bar = QLabel()
        self.scale_low, self.scale_high = QLabel("1×"), QLabel("")
        scale = QHBoxLayout()
        for widget, stretch in ((self.scale_low, 0), (self.scale_bar, 1), (self.scale_high, 0)):
            scale.addWidget(widget, stretch)
        self.scale_note = QLabel(SCALING_LEGEND)
        self.scale_note.setWordWrap(True)
        self.scale_note.setStyleSheet("color: palette(mid); font-size: 11px;")
        self.scale_row = QWidget()
        scale.setContentsMargins(0, 0, 0, 0)
        self.scale_row.setLayout(scale)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self._size_thumbnails(1)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(True)
        self.list.currentRowChanged.connect(self._on_row_changed)
        self.list.itemClicked.connect(self._on_item_clicked)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self.list.setCurrentRow)
        self.play_button = QToolButton()
        self.play_button.setIcon(self._icon(QStyle.StandardPixmap.SP_MediaPlay))  # fonts may lack ▶ and ⏸
        self.play_button.setToolTip("Step through the layers on the photo")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._on_play_toggled)
        self.hide_button = QToolButton()
        self.hide_button.setText("Hide")
        self.hide_button.setToolTip("Hide the layer overlay")
        self.hide_button.clicked.connect(self.clear_selection)
        self.export_button = QToolButton()
        self.export_button.setText("Export…")
        self.export_button.setToolTip("Save every layer's mask as a PNG (white = hole)")
        self.export_button.clicked.connect(self.exportRequested)
        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.hide_button)
        controls.addWidget(self.export_button)
        layout.addWidget(self.summary)
        layout.addWidget(self.legend)
        layout.addWidget(self.scaling_toggle)
        layout.addWidget(self.scale_row)
        layout.addWidget(self.scale_note)
        layout.addWidget(self.list, 1)
        layout.addLayout(controls)
        self.setWidget(body)
        self.play_timer = QTimer(self)
        self.play_timer.setInterval(PLAY_INTERVAL_MS)
        self.play_timer.timeout.connect(self._step)
        self._set_controls_enabled(False)
        self._on_scaling_toggled(False)

    def _size_thumbnails(self, columns: int) -> None:
        """Room for `columns` thumbnails side by side in each item (the mask, then the scaling heat map)."""
        width = columns * TILE + (columns - 1) * THUMBNAIL_GAP
        self.list.setIconSize(QSize(width, TILE))
        self.list.setGridSize(QSize(width + 26, TILE + 40))

    @Slot(bool)
    def _on_scaling_toggled(self, shown: bool) -> None:
        for widget in (self.scale_row, self.scale_note):
            widget.setVisible(shown)
        self._size_thumbnails(2 if shown else 1)
        self.show_stack(self.stack)

    def _thumbnail(self, index: int) -> QPixmap:
        stage = self.stack.stages[index]
        mask = mask_thumbnail(stage.hole, THUMBNAIL)
        if not self.scaling_toggle.isChecked():
            return QPixmap.fromImage(mask)
        both = QImage(2 * TILE + THUMBNAIL_GAP, TILE, QImage.Format.Format_ARGB32_Premultiplied)
        both.fill(Qt.GlobalColor.transparent)
        painter = QPainter(both)
        painter.drawImage(0, 0, mask)
        painter.drawImage(TILE + THUMBNAIL_GAP, 0,
                          scaling_thumbnail(stage.scaling, THUMBNAIL, self.stack.max_scaling))
        painter.end()
        return QPixmap.fromImage(both)

    def _icon(self, pixmap: QStyle.StandardPixmap) -> QIcon:
        return self.style().standardIcon(pixmap)

    def _set_controls_enabled(self, enabled: bool) -> None:
        for widget in (self.slider, self.play_button, self.hide_button, self.export_button):
            widget.setEnabled(enabled)

    @property
    def selected_index(self) -> int:
        return self.list.currentRow()

    def show_stack(self, stack: StageStack | None) -> None:
        """Show a new set of stages, keeping the selected layer selected."""
        selected = self.selected_index
        self.stack = stack
        self.setWindowTitle(f"{TITLE}: upscale grid ×{stack.upscale:g}" if stack is not None and stack.upscale
                            else TITLE)
        self.list.blockSignals(True)
        self.list.clear()
        if stack is None:
            self.summary.setText("Paint a hole to see how the network's layers fill it.")
            self._set_controls_enabled(False)
            self.play_button.setChecked(False)
            self.list.blockSignals(False)
            self.stageSelected.emit(-1)
            return
        first_clear = stack.first_clear_index
        for index, stage in enumerate(stack.stages):
            rows, columns = stage.hole.shape
            label = f"{stage.name}  {format_percent(stage.hole_percent)}\n{columns}×{rows}"
            item = QListWidgetItem(QIcon(self._thumbnail(index)), label)
            item.setToolTip(f"{stage.name}: {columns}×{rows} map, one cell = {stage.stride}×{stage.stride} input "
                            f"pixels; {stage.hole_percent:.3f}% hole; scaling up to "
                            f"{stage.scaling.max(initial=0.0):.3g}×")
            if index == first_clear:
                item.setText(f"{stage.name}  0% ✓\n{columns}×{rows}")
                item.setForeground(QBrush(CLEAR_COLOUR))
                item.setToolTip(item.toolTip() + " — the first layer with no hole left")
            self.list.addItem(item)
        height, width = stack.network_size
        clear_text = (f"no hole left from {stack.stages[first_clear].name} on" if first_clear is not None
                      else "some hole is left at every layer")
        if stack.upscale:
            self.summary.setText(f"Upscale grid ×{stack.upscale:g}: the photo's pixels spread over the enlarged "
                                 f"canvas, every other position a hole; the first tile, {width}×{height} px, as "
                                 f"the network computed it: {clear_text}.")
        else:
            source = "computed by the last fill" if stack.from_network else "predicted from the mask as you paint"
            self.summary.setText(f"Largest hole group at the network's {width}×{height} px input, {source}: "
                                 f"{clear_text}.")
        top = stack.max_scaling
        self.scale_high.setText(f"{top:.3g}×")
        self.scale_bar.setPixmap(QPixmap.fromImage(scaling_scale_bar(SCALE_BAR_WIDTH, 12, top)))
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(stack.stages) - 1)
        self.slider.blockSignals(False)
        self._set_controls_enabled(True)
        if 0 <= selected < len(stack.stages):
            self.list.setCurrentRow(selected)
            self.slider.setValue(selected)
        self.list.blockSignals(False)
        self.stageSelected.emit(self.selected_index)

    def select(self, index: int) -> None:
        self.list.setCurrentRow(index)

    @Slot()
    def clear_selection(self) -> None:
        self.play_button.setChecked(False)
        self.list.setCurrentRow(-1)
        self.list.clearSelection()

    @Slot(int)
    def _on_row_changed(self, row: int) -> None:
        if row >= 0:
            self.slider.blockSignals(True)
            self.slider.setValue(row)
            self.slider.blockSignals(False)
        self.stageSelected.emit(row)

    @Slot(QListWidgetItem)
    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        self.play_button.setChecked(False)

    @Slot(bool)
    def _on_play_toggled(self, playing: bool) -> None:
        self.play_button.setIcon(self._icon(QStyle.StandardPixmap.SP_MediaPause if playing
                                            else QStyle.StandardPixmap.SP_MediaPlay))
        if playing:
            if self.selected_index < 0 or self.selected_index == self.list.count() - 1:
                self.list.setCurrentRow(0)
            self.play_timer.start()
        else:
            self.play_timer.stop()

    @Slot()
    def _step(self) -> None:
        if self.selected_index >= self.list.count() - 1:
            self.play_button.setChecked(False)
        else:
            self.list.setCurrentRow(self.selected_index + 1)
