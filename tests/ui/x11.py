"""A private X server (Xvfb) for real-window tests: real X events through xdotool, screenshots through libX11.

`available()` says whether the tools are here (tests skip cleanly otherwise). Screenshots read the root window
with XGetImage through ctypes, so no image tool is needed beyond libX11, which xdotool itself links.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import time

import numpy as np

__all__ = ["XServer", "available"]


def available() -> bool:
    return all(shutil.which(tool) for tool in ("Xvfb", "xdotool")) and ctypes.util.find_library("X11") is not None


class _XImage(ctypes.Structure):
    _fields_ = [  # the start of Xlib's XImage; the rest (masks, obdata, function table) is not read
        ("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int), ("format", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_ubyte)), ("byte_order", ctypes.c_int), ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int), ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int),
    ]


class XServer:
    """`with XServer(width, height) as x:` starts Xvfb on a free display; `x.env` runs programs on it."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        self.size = (width, height)

    def __enter__(self) -> "XServer":
        read, write = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{self.size[0]}x{self.size[1]}x24", "-nolisten",
             "tcp"], pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as stream:
            number = stream.readline().strip()
        if not number:
            self.process.kill()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"
        self.env = {**os.environ, "DISPLAY": self.display}
        self._x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
        self._x11.XOpenDisplay.restype = ctypes.c_void_p
        self._x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self._x11.XDefaultRootWindow.restype = ctypes.c_ulong
        self._x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        self._x11.XGetImage.restype = ctypes.POINTER(_XImage)
        self._x11.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                                        ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
        self._x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self._x11.XFree.argtypes = [ctypes.c_void_p]
        self._connection = self._x11.XOpenDisplay(self.display.encode())
        if not self._connection:
            self.__exit__(None, None, None)
            raise RuntimeError(f"cannot open display {self.display}")
        return self

    def __exit__(self, *exc: object) -> None:
        if getattr(self, "_connection", None):
            self._x11.XCloseDisplay(self._connection)
            self._connection = None
        self.process.terminate()
        self.process.wait(timeout=10)

    def xdotool(self, *args: object) -> str:
        result = subprocess.run(["xdotool", *map(str, args)], env=self.env, capture_output=True, text=True,
                                timeout=30, check=True)
        return result.stdout.strip()

    def screenshot(self) -> np.ndarray:
        """The whole screen as HxWx3 uint8 RGB."""
        width, height = self.size
        z_pixmap, all_planes = 2, 0xFFFFFFFF
        image = self._x11.XGetImage(self._connection, self._x11.XDefaultRootWindow(self._connection), 0, 0, width,
                                    height, all_planes, z_pixmap)
        try:
            info = image.contents
            assert info.bits_per_pixel == 32 and info.byte_order == 0, "expected 32-bit LSB-first pixels"
            raw = np.ctypeslib.as_array(info.data, shape=(height * info.bytes_per_line,)).copy()
        finally:
            self._x11.XFree(ctypes.cast(image.contents.data, ctypes.c_void_p))
            self._x11.XFree(ctypes.cast(image, ctypes.c_void_p))
        bgrx = raw.reshape(height, info.bytes_per_line)[:, :width * 4].reshape(height, width, 4)
        return bgrx[..., 2::-1].copy()

    def wait_for(self, condition, timeout: float = 30.0, what: str = "the app") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.1)
