"""Image and mask files as real photos need them.

Conventions: pixels are numpy arrays in RGB(A) order (OpenCV's BGR stops at this module), HxW for grey, HxWx3 or
HxWx4, dtype uint8 or uint16 as stored; EXIF orientation is applied on load; alpha and 16 bits survive a round
trip. Hole masks are bool HxW, True = hole (in files: white / non-zero = hole). Writes are atomic: a temporary
file in the same folder, then a rename, so a failed save never leaves half a file or touches the original.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ..errors import ImageIOError, InputError

__all__ = [
    "SUPPORTED_SUFFIXES", "check_mask_matches", "eight_bit", "image_files", "is_lossy", "load_image", "load_mask",
    "save_image", "save_mask",
]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
_SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")

# EXIF orientation tag value -> (rotation by k quarter turns counter-clockwise after an optional left-right flip)
_ORIENTATION_OPS = {
    2: (True, 0), 3: (False, 2), 4: (True, 2), 5: (True, 1), 6: (False, 3), 7: (True, 3), 8: (False, 1),
}


def _exif_orientation(path: Path) -> int:
    """The EXIF orientation tag (1 = as stored); Pillow reads just the header."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            return int(image.getexif().get(0x0112, 1) or 1)
    except Exception:  # no EXIF or a format Pillow cannot parse: the pixels decide, orientation is "as stored"
        return 1


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    flip, quarter_turns = _ORIENTATION_OPS.get(orientation, (False, 0))
    if flip:
        pixels = pixels[:, ::-1]
    if quarter_turns:
        pixels = np.rot90(pixels, quarter_turns)
    return np.ascontiguousarray(pixels)


def image_files(folder: Path) -> list[Path]:
    """The image files of a folder (by suffix), sorted by name; possibly none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES and p.is_file())


def eight_bit(pixels: np.ndarray) -> np.ndarray:
    """16-bit pixels rounded to 8 bits (x * 255 / 65535, to nearest); 8-bit pixels unchanged."""
    if pixels.dtype != np.uint16:
        return pixels
    return ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _read_bytes(path: Path) -> np.ndarray:
    if not path.exists():
        raise ImageIOError(f"file not found: {path}")
    if path.is_dir():
        raise ImageIOError(f"{path} is a folder, not an image")
    try:
        return np.fromfile(path, dtype=np.uint8)  # works with non-ASCII paths, unlike cv2.imread on Windows
    except OSError as error:
        raise ImageIOError(f"cannot read {path}: {error.strerror or error}") from error


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image file to RGB(A) or grey pixels with EXIF orientation applied; keeps 16 bits and alpha."""
    path = Path(path)
    data = _read_bytes(path)
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if pixels is None:
        raise ImageIOError(f"{path.name} is not an image this app can read (corrupt or unsupported format)")
    if pixels.dtype not in (np.uint8, np.uint16):
        if pixels.dtype == np.float32:
            pixels = np.clip(pixels * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
        else:
            raise ImageIOError(f"{path.name}: {pixels.dtype} pixels are not supported (8 or 16 bits only)")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 3:
        code = cv2.COLOR_BGRA2RGBA if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB
        pixels = cv2.cvtColor(pixels, code)
    return _apply_orientation(pixels, _exif_orientation(path))


def _encode(path: Path, pixels: np.ndarray, jpeg_quality: int) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ImageIOError(f"cannot write {suffix or 'files without a suffix'}: use one of {', '.join(SUPPORTED_SUFFIXES)}")
    if pixels.dtype == np.uint16 and suffix not in _SIXTEEN_BIT_SUFFIXES:
        log.warning("%s stores 8 bits only: 16-bit pixels are reduced", suffix)
        pixels = eight_bit(pixels)
    if pixels.ndim == 3:
        if pixels.shape[2] == 4 and suffix in (".jpg", ".jpeg"):
            log.warning("JPEG has no alpha channel: it is dropped")
            pixels = pixels[:, :, :3]
        code = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
        pixels = cv2.cvtColor(np.ascontiguousarray(pixels), code)
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    elif suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, 101 if jpeg_quality >= 100 else int(jpeg_quality)]
    ok, encoded = cv2.imencode(suffix, pixels, params)
    if not ok:
        raise ImageIOError(f"could not encode the image as {suffix}")
    return encoded


def is_lossy(path: str | Path, jpeg_quality: int = 95) -> bool:
    """True when saving to `path` re-encodes the whole photo with loss, so pixels outside the hole change too:
    JPEG always, WebP below quality 100 (at 100 it is written losslessly)."""
    suffix = Path(path).suffix.lower()
    return suffix in (".jpg", ".jpeg") or (suffix == ".webp" and jpeg_quality < 100)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_image(path: str | Path, pixels: np.ndarray, jpeg_quality: int = 95) -> None:
    """Encode by the suffix and write atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    encoded = _encode(path, pixels, jpeg_quality)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImageIOError(f"cannot write {path}: folder {folder} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix + ".part", dir=folder)
    except OSError as error:
        raise ImageIOError(f"cannot write in {folder}: {error.strerror or error}") from error
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(encoded.tobytes())
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600; a saved photo gets the usual mode
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ImageIOError(f"cannot write {path}: {error.strerror or error}") from error


def load_mask(path: str | Path) -> np.ndarray:
    """A hole mask file: any non-zero pixel (in any channel but alpha) is hole. Returns bool HxW, True = hole."""
    pixels = load_image(path)
    if pixels.ndim == 3:
        pixels = pixels[:, :, :3].max(axis=2)
    return pixels > 0


def save_mask(path: str | Path, hole: np.ndarray) -> None:
    """Write a hole mask as an 8-bit grey image: white = hole."""
    save_image(path, np.where(hole, 255, 0).astype(np.uint8))


def check_mask_matches(pixels: np.ndarray, hole: np.ndarray) -> None:
    """Raise InputError unless the mask has the image's height and width."""
    if hole.shape[:2] != pixels.shape[:2]:
        raise InputError(
            f"mask is {hole.shape[1]}x{hole.shape[0]} but the image is {pixels.shape[1]}x{pixels.shape[0]}"
        )
