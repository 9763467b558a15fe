"""The Image → Upscale… dialog: the scale, the size it gives (live), and what happens to a painted mask."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QWidget

from ..engine.upscale import MAX_OUTPUT_PIXELS, MAX_SCALE, MIN_SCALE, upscaled_size

__all__ = ["DEFAULT_SCALE", "SCALE_STEP", "UpscaleDialog", "mask_note", "size_text"]

DEFAULT_SCALE = 2.0
SCALE_STEP = 0.25


def size_text(height: int, width: int, scale: float) -> str:
    """"1024 × 768 → 2048 × 1536, 3.1 MP" (width × height in px, then the output's megapixels), with a warning
    past the engine's output limit."""
    new_height, new_width = upscaled_size(height, width, scale)
    pixels = new_height * new_width
    text = f"{width} × {height} → {new_width} × {new_height}, {pixels / 1e6:.1f} MP"
    if pixels > MAX_OUTPUT_PIXELS:
        text += f": over the {MAX_OUTPUT_PIXELS / 1e6:.0f} MP limit, choose a smaller scale"
    return text


def mask_note(hole_percent: float) -> str:
    """What happens to the painted mask ("" when none is painted)."""
    if hole_percent <= 0:
        return ""
    share = "<0.1" if hole_percent < 0.1 else f"{hole_percent:.1f}"
    return (f"The painted mask ({share}% of the photo) is enlarged with the photo (nearest neighbour) and stays "
            "painted for the next fill. The upscale enlarges the pixels under it as they are.")


class UpscaleDialog(QDialog):
    """Asks for the scale (MIN_SCALE to MAX_SCALE in steps of SCALE_STEP) and shows the result's size as it
    changes."""

    def __init__(self, height: int, width: int, hole_percent: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Upscale")
        self._size = (height, width)
        self.scale_spin = QDoubleSpinBox()
        self.scale_spin.setObjectName("scale")
        self.scale_spin.setRange(MIN_SCALE, MAX_SCALE)
        self.scale_spin.setSingleStep(SCALE_STEP)
        self.scale_spin.setDecimals(2)
        self.scale_spin.setPrefix("×")
        self.scale_spin.setValue(DEFAULT_SCALE)
        self.size_label = QLabel()
        self.size_label.setObjectName("size")
        self.note = QLabel(mask_note(hole_percent))
        self.note.setObjectName("maskNote")
        self.note.setWordWrap(True)
        self.note.setVisible(bool(self.note.text()))
        explanation = QLabel("The network enlarges the photo (Image → Upscale on a grid: partial convolutions fill "
                             "the holes between its pixels). One undo step (Ctrl+Z) brings back the original; the "
                             "file on disk is only written by Save.")
        explanation.setWordWrap(True)
        explanation.setStyleSheet("color: palette(mid);")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Upscale")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QFormLayout(self)
        layout.addRow("Scale", self.scale_spin)
        layout.addRow("Size", self.size_label)
        layout.addRow(self.note)
        layout.addRow(explanation)
        layout.addRow(self.buttons)
        self.scale_spin.valueChanged.connect(self._on_scale_changed)
        self._on_scale_changed(self.scale_spin.value())
        self.setMinimumWidth(420)

    @property
    def scale(self) -> float:
        return self.scale_spin.value()

    @Slot(float)
    def _on_scale_changed(self, scale: float) -> None:
        height, width = self._size
        self.size_label.setText(size_text(height, width, scale))
        new_height, new_width = upscaled_size(height, width, scale)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(
            new_height * new_width <= MAX_OUTPUT_PIXELS)
