"""numpy <-> QImage, for display and the clipboard only: documents keep their full-depth numpy pixels.

Every QImage returned here owns its memory (a copy), so it may outlive the array and cross threads.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter

__all__ = [
    "display_bytes", "display_image", "mask_image", "mask_thumbnail", "pixels_to_qimage", "qimage_to_pixels",
    "write_display",
]


def display_bytes(pixels: np.ndarray) -> np.ndarray:
    """HxW[xC] uint8/uint16 -> HxWx4 uint8 in QImage's 32-bit BGRA order (alpha 255 unless the photo has one)."""
    if pixels.dtype == np.uint16:
        pixels = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    out = np.empty(pixels.shape[:2] + (4,), np.uint8)
    if pixels.ndim == 2:
        out[..., :3] = pixels[..., None]
        out[..., 3] = 255
    else:
        out[..., 0], out[..., 1], out[..., 2] = pixels[..., 2], pixels[..., 1], pixels[..., 0]
        out[..., 3] = pixels[..., 3] if pixels.shape[2] == 4 else 255
    return out


def _wrap(buffer: np.ndarray, image_format: QImage.Format) -> QImage:
    """A QImage that reads `buffer` in place (the caller keeps `buffer` alive)."""
    height, width = buffer.shape[:2]
    return QImage(buffer.data, width, height, buffer.strides[0], image_format)


def write_display(buffer: np.ndarray, pixels: np.ndarray, rows: slice, columns: slice) -> None:
    """Refresh part of a display buffer made by `display_bytes` after the pixels changed there."""
    buffer[rows, columns] = display_bytes(pixels[rows, columns])


def display_image(buffer: np.ndarray) -> QImage:
    """A QImage that reads a `display_bytes` buffer in place (the caller keeps `buffer` alive)."""
    return _wrap(buffer, QImage.Format.Format_ARGB32)


def pixels_to_qimage(pixels: np.ndarray) -> QImage:
    """An 8-bit copy for display or the clipboard."""
    return display_image(display_bytes(pixels)).copy()


def mask_image(buffer: np.ndarray, colour: QColor) -> QImage:
    """An indexed image over `buffer` (HxW uint8, 0 or 1): 0 transparent, 1 `colour` (translucent)."""
    image = _wrap(buffer, QImage.Format.Format_Indexed8)
    image.setColorTable([QColor(0, 0, 0, 0).rgba(), colour.rgba()])
    return image


THUMBNAIL_FRAME = QColor(128, 128, 128)  # mid grey: visible against white hole, black valid and any panel


def mask_thumbnail(hole: np.ndarray, size: int, hole_grey: int = 255, valid_grey: int = 24) -> QImage:
    """A bool mask drawn white = hole on black, scaled without smoothing (each cell stays a crisp block) and
    centred on a transparent `size` x `size` square, so thumbnails of every shape line up. A 1 px mid-grey frame
    over its outermost pixels keeps a map that is all hole visible on a light panel."""
    grey = np.where(hole, hole_grey, valid_grey).astype(np.uint8)
    scaled = _wrap(grey, QImage.Format.Format_Grayscale8).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
    square = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    square.fill(Qt.GlobalColor.transparent)
    painter = QPainter(square)
    left, top = (size - scaled.width()) // 2, (size - scaled.height()) // 2
    painter.drawImage(left, top, scaled)
    painter.setPen(THUMBNAIL_FRAME)
    painter.drawRect(left, top, scaled.width() - 1, scaled.height() - 1)
    painter.end()
    return square


def qimage_to_pixels(image: QImage) -> np.ndarray:
    """A pasted image as RGB uint8 (RGBA when it has real transparency)."""
    has_alpha = image.hasAlphaChannel()
    converted = image.convertToFormat(
        QImage.Format.Format_RGBA8888 if has_alpha else QImage.Format.Format_RGB888
    )
    channels = 4 if has_alpha else 3
    height, width = converted.height(), converted.width()
    rows = np.frombuffer(converted.constBits(), np.uint8, count=converted.bytesPerLine() * height)
    pixels = rows.reshape(height, converted.bytesPerLine())[:, :width * channels].reshape(height, width, channels)
    if has_alpha and (pixels[..., 3] == 255).all():
        pixels = pixels[..., :3]
    return pixels.copy()
