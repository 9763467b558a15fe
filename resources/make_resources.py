"""Rebuild the app's bundled resources: the sample photo, its hand-made mask and the icon.

    python resources/make_resources.py PATH/TO/coffee.png

`coffee.png` comes from scikit-image's wheel (skimage/data/coffee.png, CC0, see README.md here); scikit-image
itself is not needed: `pip download --no-deps scikit-image` and unzip that one file. The icon is drawn from
`icon.svg` (written here too), so the SVG and the PNG always match.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

ICON_SVG = """\
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#23345c"/>
      <stop offset="1" stop-color="#3b1f52"/>
    </linearGradient>
    <clipPath id="frame"><rect x="36" y="52" width="184" height="152" rx="18"/></clipPath>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="54" fill="url(#bg)"/>
  <g clip-path="url(#frame)">
    <rect x="36" y="52" width="184" height="152" fill="#9fd8ef"/>
    <circle cx="84" cy="94" r="18" fill="#ffd166"/>
    <path d="M36 204 L96 122 L134 170 L160 140 L220 204 Z" fill="#2a9d8f"/>
  </g>
  <rect x="36" y="52" width="184" height="152" rx="18" fill="none" stroke="#ffffff" stroke-width="8"/>
  <path d="M62 176 C 98 150, 128 168, 150 132 S 186 92, 204 84" fill="none" stroke="#ff2d6f"
        stroke-opacity="0.9" stroke-width="30" stroke-linecap="round"/>
</svg>
"""

# The spoon in coffee.png (x, y in pixels), as capsules (start, end, radius) and the bowl as an ellipse: the handle
# above the cup with its bright right edge, the shaft along the cup's side, the neck, a reflection of the bowl on the
# cup's foot, and the bowl with its dark rim and the shadow below it. Checked by filling with the shipped model and
# looking at the result at 100%: no rim, neck or shaft is left for the network to continue.
SPOON_CAPSULES = (
    ((413.0, 62.0), (403.0, 150.0), 13.0),  # handle
    ((403.0, 145.0), (389.0, 196.0), 9.0),  # shaft along the cup's side
    ((389.0, 192.0), (372.0, 246.0), 12.0),  # neck
    ((322.0, 250.0), (348.0, 246.0), 11.0),  # reflection on the cup's foot, left of the bowl
)
SPOON_BOWL_CENTRE, SPOON_BOWL_RADII = (363.0, 288.0), (52.0, 54.0)
SPOON_MARGIN = 4  # px grown all round: the spoon's soft edge and the JPEG's ringing


def make_sample(coffee_png: Path) -> None:
    from pconv_studio.engine import load_image, save_image, save_mask

    pixels = load_image(coffee_png)
    save_image(HERE / "sample.jpg", pixels, jpeg_quality=92)
    save_mask(HERE / "sample_mask.png", spoon_mask(pixels.shape[:2]))


def spoon_mask(shape: tuple[int, int]) -> np.ndarray:
    """The hand-made mask over the spoon (True = hole)."""
    from pconv_studio.editing import mask_ops

    hole = np.zeros(shape, bool)
    for start, end, radius in SPOON_CAPSULES:
        mask_ops.paint_capsule(hole, start, end, radius=radius)
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    (cx, cy), (rx, ry) = SPOON_BOWL_CENTRE, SPOON_BOWL_RADII
    mask_ops.fill_polygon(hole, list(zip(cx + rx * np.cos(angles), cy + ry * np.sin(angles))))
    mask_ops.grow(hole, SPOON_MARGIN)
    return hole


def make_icon() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QByteArray
    from PySide6.QtGui import QGuiApplication, QImage, QPainter, Qt
    from PySide6.QtSvg import QSvgRenderer

    (HERE / "icon.svg").write_text(ICON_SVG)
    app = QGuiApplication.instance() or QGuiApplication([])
    image = QImage(256, 256, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(QByteArray(ICON_SVG.encode())).render(painter)
    painter.end()
    image.save(str(HERE / "icon.png"))
    del app


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    make_sample(Path(sys.argv[1]))
    make_icon()
