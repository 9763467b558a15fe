"""What the app remembers between sessions, typed, in one QSettings (organisation and app name set in `app.py`).

Tests pass a QSettings on an INI file in a temporary folder, so they never touch the user's settings.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from ..engine.blend import DEFAULT_DETAIL

__all__ = ["AppSettings", "MAX_RECENT_FILES", "ORGANISATION", "APPLICATION"]

ORGANISATION = "PConv Studio"
APPLICATION = "PConv Studio"
MAX_RECENT_FILES = 8


class AppSettings:
    """Brush size, tool, device, auto-run, fill style, JPEG quality, last folder, recent files and the window
    layout."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.store = settings if settings is not None else QSettings(ORGANISATION, APPLICATION)

    def _int(self, key: str, default: int, low: int, high: int) -> int:
        try:
            value = int(self.store.value(key, default))
        except (TypeError, ValueError):
            return default
        return min(max(value, low), high)

    def _text(self, key: str, default: str) -> str:
        value = self.store.value(key, default)
        return value if isinstance(value, str) else default

    @property
    def brush_size(self) -> int:
        """The brush's diameter on screen (px), so it suits the next photo whatever its size."""
        return self._int("brush/size", 40, 1, 500)

    @brush_size.setter
    def brush_size(self, value: int) -> None:
        self.store.setValue("brush/size", int(value))

    @property
    def tool(self) -> str:
        return self._text("brush/tool", "brush")

    @tool.setter
    def tool(self, value: str) -> None:
        self.store.setValue("brush/tool", value)

    @property
    def device(self) -> str:
        return self._text("engine/device", "auto")

    @device.setter
    def device(self, value: str) -> None:
        self.store.setValue("engine/device", value)

    @property
    def detail_transfer(self) -> bool:
        """Large photos: carry the photo's own fine detail into wide holes (the engine's default: on)."""
        return self._text("engine/detail_transfer", "true") == "true"

    @detail_transfer.setter
    def detail_transfer(self, value: bool) -> None:
        self.store.setValue("engine/detail_transfer", "true" if value else "false")

    @property
    def upscale_on_grid(self) -> bool:
        """Image → Upscale… with the partial-convolution grid model instead of the default (off)."""
        return self._text("engine/upscale_on_grid", "false") == "true"

    @upscale_on_grid.setter
    def upscale_on_grid(self, value: bool) -> None:
        self.store.setValue("engine/upscale_on_grid", "true" if value else "false")

    @property
    def auto_run(self) -> bool:
        return self._text("engine/auto_run", "false") == "true"

    @auto_run.setter
    def auto_run(self, value: bool) -> None:
        self.store.setValue("engine/auto_run", "true" if value else "false")

    @property
    def detail(self) -> float:
        """The fill style, 0 (faithful) to 1 (detailed)."""
        try:
            value = float(self.store.value("engine/detail", DEFAULT_DETAIL))
        except (TypeError, ValueError):
            return DEFAULT_DETAIL
        return min(max(value, 0.0), 1.0) if math.isfinite(value) else DEFAULT_DETAIL

    @detail.setter
    def detail(self, value: float) -> None:
        self.store.setValue("engine/detail", float(value))

    @property
    def jpeg_quality(self) -> int:
        return self._int("files/jpeg_quality", 95, 1, 100)

    @jpeg_quality.setter
    def jpeg_quality(self, value: int) -> None:
        self.store.setValue("files/jpeg_quality", int(value))

    @property
    def last_folder(self) -> str:
        return self._text("files/last_folder", str(Path.home()))

    @last_folder.setter
    def last_folder(self, value: str) -> None:
        self.store.setValue("files/last_folder", value)

    @property
    def recent_files(self) -> list[str]:
        value = self.store.value("files/recent", [])
        paths = [value] if isinstance(value, str) else list(value or [])
        return [p for p in paths if isinstance(p, str)][:MAX_RECENT_FILES]

    def add_recent_file(self, path: str) -> None:
        paths = [path] + [p for p in self.recent_files if p != path]
        self.store.setValue("files/recent", paths[:MAX_RECENT_FILES])

    def window_layout(self) -> tuple[QByteArray | None, QByteArray | None]:
        """(geometry, dock and toolbar state) as saved by `save_window_layout`."""
        return self.store.value("window/geometry"), self.store.value("window/state")

    def save_window_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)

    def sync(self) -> None:
        self.store.sync()
