"""numpy <-> QImage, for display and the clipboard only: documents keep their full-depth numpy pixels.

Every QImage returned here owns its memory (a copy), so it may outlive the array and cross threads.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter

__all__ = [
    "NO_INPUT_COLOUR", "SCALING_COLOURS", "UNSCALED_COLOUR", "display_bytes", "display_image", "mask_image",
    "mask_thumbnail", "pixels_to_qimage", "qimage_to_pixels", "scaling_colours", "scaling_scale_bar",
    "scaling_thumbnail", "write_display",
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
    """A bool mask drawn white = hole on black, scaled without smoothing (each cell stays a crisp block) to fit
    `size` x `size`, centred on a transparent (`size` + 2) square so thumbnails of every shape line up, with a 1 px
    mid-grey frame just outside it, so a map that is all hole stays visible on a light panel."""
    grey = np.where(hole, hole_grey, valid_grey).astype(np.uint8)
    return _framed(_wrap(grey, QImage.Format.Format_Grayscale8), size)


def _framed(image: QImage, size: int) -> QImage:
    """`image` scaled to fit `size` x `size` without smoothing, centred on a transparent (`size` + 2) square, with
    a frame around it (outside: the map's border cells stay visible)."""
    scaled = image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
    square = QImage(size + 2, size + 2, QImage.Format.Format_ARGB32_Premultiplied)
    square.fill(Qt.GlobalColor.transparent)
    painter = QPainter(square)
    left, top = 1 + (size - scaled.width()) // 2, 1 + (size - scaled.height()) // 2
    painter.drawImage(left, top, scaled)
    painter.setPen(THUMBNAIL_FRAME)
    painter.drawRect(left - 1, top - 1, scaled.width() + 1, scaled.height() + 1)
    painter.end()
    return square


# The heat map of the scaling ratio sum(1)/sum(M): black = exactly 1 (not re-weighted); above 1, a perceptual ramp
# (samples of matplotlib's "inferno", from a purple that shows against black) on a log scale up to the largest ratio
# shown, so the image border's mild re-weighting is as visible as the hole rim's strong one; no valid input: blue-grey.
UNSCALED_COLOUR = (0, 0, 0)
SCALING_COLOURS = ((0.0, (87, 16, 110)), (0.33, (160, 42, 98)), (0.67, (237, 105, 37)), (1.0, (252, 255, 164)))
NO_INPUT_COLOUR = (90, 110, 140)


def scaling_colours(ratio: np.ndarray, top: float) -> np.ndarray:
    """HxW ratios (0, or 1 .. `top`) -> HxWx3 uint8 RGB: UNSCALED_COLOUR at 1, NO_INPUT_COLOUR at 0, otherwise
    log(ratio) / log(top) along SCALING_COLOURS."""
    position = np.log(np.maximum(ratio, 1.0)) / np.log(top) if top > 1 else np.zeros(ratio.shape)
    anchors = np.array([a for a, _ in SCALING_COLOURS])
    colours = np.array([c for _, c in SCALING_COLOURS], np.float64)
    rgb = np.stack([np.interp(np.clip(position, 0.0, 1.0), anchors, colours[:, i]) for i in range(3)], axis=-1)
    rgb[ratio == 1] = UNSCALED_COLOUR
    rgb[ratio == 0] = NO_INPUT_COLOUR
    return np.round(rgb).astype(np.uint8)


def _rgb_image(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    return _wrap(rgb, QImage.Format.Format_RGB888).copy()


def scaling_thumbnail(ratio: np.ndarray, size: int, top: float) -> QImage:
    """A layer's scaling ratios as a heat map (see `scaling_colours`), framed like `mask_thumbnail`. A map larger
    than the thumbnail is first reduced by the largest ratio of each block of cells, so a rim one cell wide stays
    visible (nearest-neighbour scaling would drop most of it)."""
    block = -(-max(ratio.shape) // size)
    if block > 1:
        rows, columns = -(-ratio.shape[0] // block) * block, -(-ratio.shape[1] // block) * block
        padded = np.zeros((rows, columns), ratio.dtype)
        padded[:ratio.shape[0], :ratio.shape[1]] = ratio
        ratio = padded.reshape(rows // block, block, columns // block, block).max(axis=(1, 3))
    return _framed(_rgb_image(scaling_colours(ratio, top)), size)


def scaling_scale_bar(width: int, height: int, top: float) -> QImage:
    """The colour scale: ratios 1 (left, one column of UNSCALED_COLOUR) to `top` (right), log-spaced, as
    `scaling_thumbnail` draws them."""
    ratios = np.exp(np.linspace(0.0, np.log(max(top, 1.0)), width))
    ratios[0] = 1.0
    return _rgb_image(np.repeat(scaling_colours(ratios[None, :], top), height, axis=0))


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
