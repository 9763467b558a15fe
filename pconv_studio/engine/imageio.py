"""Image and mask files as people have them: the one module that reads and writes them (CLI, app, evaluation).

Conventions: pixels are numpy arrays in RGB(A) order (OpenCV's BGR stops at the codec modules), HxW for grey,
HxWx3 or HxWx4, dtype uint8 or uint16 as stored (floats from float TIFFs); grey + alpha is held as RGBA with equal
colour channels and written back as grey + alpha where the format has it. The file's orientation is applied once
on reading; alpha (straight or premultiplied), bit depth, the ICC profile and EXIF (orientation reset to 1)
survive a round trip where the output format holds them, and a notice says what it drops. Hole masks are bool HxW,
True = hole (in files: white / non-zero = hole; for masks with transparency see `hole_from_mask_pixels`). Writes
are atomic: a temporary file in the same folder, then a rename, so a failed save never leaves half a file or
touches the original. What each format keeps is tabled in docs/files.md.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ImageIOError, InputError
from .image_decode import ImageInfo, decode_image
from .image_encode import SUPPORTED_SUFFIXES, SaveOptions, check_encodable, eight_bit, encode_image

__all__ = [
    "SUPPORTED_SUFFIXES", "ImageInfo", "MaskFile", "SaveOptions", "check_mask_matches", "check_output_path",
    "eight_bit", "hole_from_mask_pixels", "image_files", "is_lossy", "load_image", "load_mask", "read_image",
    "read_mask", "save_image", "save_mask", "write_atomically",
]

log = logging.getLogger(__name__)


def image_files(folder: Path) -> list[Path]:
    """The image files of a folder (by suffix), sorted by name; possibly none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES and p.is_file())


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ImageIOError(f"file not found: {path}")
    if path.is_dir():
        raise ImageIOError(f"{path} is a folder, not an image")
    try:
        return path.read_bytes()
    except OSError as error:
        raise ImageIOError(f"cannot read {path}: {error.strerror or error}") from error


def read_image(path: str | Path, allow_damaged: bool = False) -> tuple[np.ndarray, ImageInfo]:
    """Decode an image file: (upright pixels, what else the file holds). `info.notices` says what the user should
    be told. Raises `ImageIOError` (`DamagedFileError` for a partly readable file unless `allow_damaged`)."""
    path = Path(path)
    return decode_image(_read_bytes(path), path.name, allow_damaged)


def load_image(path: str | Path) -> np.ndarray:
    """`read_image`'s pixels alone; its notices go to the log (for evaluation and scripts)."""
    pixels, info = read_image(path)
    for notice in info.notices:
        log.warning("%s", notice)
    return pixels


def check_output_path(path: str | Path, pixels: np.ndarray | None = None) -> None:
    """Raise before any work if `path` cannot be written: unknown suffix, missing or unwritable folder, a folder
    in the way, or (given the pixels) a format that cannot hold them. Creates nothing that stays."""
    path = Path(path)
    if pixels is not None:
        check_encodable(path.suffix.lower(), pixels)
    elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise InputError(f"cannot write {path.name}: the name must end in one of {', '.join(SUPPORTED_SUFFIXES)}")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder")
    check_writable_folder(path.parent if str(path.parent) else Path("."), path)


def check_writable_folder(folder: Path, purpose: Path | None = None) -> None:
    """Raise `InputError` unless files can be created in `folder` (or, if it does not exist yet, in the nearest
    folder above it, where it would be made). Probes with a temporary file, so root and read-only mounts are
    judged by what really happens."""
    what = purpose or folder
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"cannot write {what}: {existing} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".pconv-probe-", dir=existing)
    except OSError as error:
        raise InputError(f"cannot write {what}: {existing} is not writable ({error.strerror or error})") from None
    os.close(handle)
    os.unlink(probe)


def is_lossy(path: str | Path, webp_quality: int | None = None) -> bool:
    """True when saving to `path` re-encodes the whole photo with loss, so pixels outside the hole change too:
    JPEG always, WebP when a lossy `webp_quality` is asked for (`save_image` writes WebP losslessly otherwise)."""
    suffix = Path(path).suffix.lower()
    return suffix in (".jpg", ".jpeg") or (suffix == ".webp" and webp_quality is not None)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_image(
    path: str | Path, pixels: np.ndarray, jpeg_quality: int = 95, info: ImageInfo | None = None,
    webp_quality: int | None = None, png_compression: int | None = None,
) -> list[str]:
    """Encode by the suffix (with the source file's `info`: profile, EXIF, alpha kind) and write atomically
    (`write_atomically`). Returns the notices about what the format could not keep. WebP is lossless unless
    `webp_quality` (1-100) is given; `png_compression` is zlib's level 0-9 for PNG (None: OpenCV's default, fast
    and large; 9 makes a figure of photo crops about 2.5 times smaller). Raises `ImageIOError`."""
    path = Path(path)
    encoded, notices = encode_image(path.suffix.lower(), pixels, info or ImageInfo(),
                                    SaveOptions(jpeg_quality, webp_quality, png_compression))
    write_atomically(path, encoded)
    return notices


def write_atomically(path: str | Path, data: bytes) -> None:
    """Write `data` to a temporary file in the same folder, then rename it to `path`: a reader sees the old file
    or the whole new one, never a part. The file gets the usual mode (0666 less the umask); errors are
    `ImageIOError`."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImageIOError(f"cannot write {path}: folder {folder} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix + ".part", dir=folder)
    except OSError as error:
        raise ImageIOError(f"cannot write in {folder}: {error.strerror or error}") from error
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600; a saved photo gets the usual mode
        os.replace(temporary, path)
    except BaseException as error:  # Ctrl+C in the middle too: never leave the temporary file behind
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise ImageIOError(f"cannot write {path}: {error.strerror or error}") from error
        raise


@dataclass(frozen=True)
class MaskFile:
    """A hole mask read from a file: bool HxW (True = hole), upright, and what the user should be told."""

    hole: np.ndarray
    notices: tuple[str, ...] = ()


def hole_from_mask_pixels(pixels: np.ndarray) -> tuple[np.ndarray, str | None]:
    """How a mask image marks the hole (bool HxW, True = hole), and which rule was used where it was ambiguous.

    Without transparency, or with the same alpha everywhere: a pixel is hole where any colour channel is
    non-zero (white / non-black = hole). With varying alpha and one colour everywhere (strokes saved in the alpha
    channel only, on a white-but-transparent or black-but-transparent background): alpha marks the hole, any
    non-zero alpha = hole. With both varying: hole where the colour is non-black and not fully transparent
    (the mask as it looks composited over black), and the rule is named in the returned notice.
    """
    if pixels.ndim == 2:
        return pixels != 0, None
    colour_marks = (pixels[..., :3] != 0).any(axis=2)
    if pixels.shape[2] < 4:
        return colour_marks, None
    alpha = pixels[..., 3]
    if (alpha == alpha.flat[0]).all():
        return colour_marks, None
    if (pixels[..., :3] == pixels[0, 0, :3]).all():
        return alpha != 0, "the mask's colour is uniform: its transparency marks the hole (any opacity = hole)"
    return colour_marks & (alpha != 0), (
        "the mask has both colours and transparency: hole = pixels that are not black and not fully transparent"
    )


def read_mask(path: str | Path, allow_damaged: bool = False) -> MaskFile:
    """A hole mask file, turned upright by its own orientation; alpha is read by `hole_from_mask_pixels`."""
    path = Path(path)
    pixels, info = read_image(path, allow_damaged)
    hole, rule = hole_from_mask_pixels(pixels)
    notices = info.notices + ((f"{path.name}: {rule}",) if rule else ())
    return MaskFile(hole, notices)


def load_mask(path: str | Path) -> np.ndarray:
    """`read_mask`'s hole alone; its notices go to the log."""
    mask = read_mask(path)
    for notice in mask.notices:
        log.warning("%s", notice)
    return mask.hole


def save_mask(path: str | Path, hole: np.ndarray) -> None:
    """Write a hole mask as an 8-bit grey image: white = hole."""
    save_image(path, np.where(hole, 255, 0).astype(np.uint8))


def check_mask_matches(pixels: np.ndarray, hole: np.ndarray) -> None:
    """Raise InputError unless the mask has the image's height and width."""
    if hole.shape[:2] != pixels.shape[:2]:
        raise InputError(
            f"mask is {hole.shape[1]}x{hole.shape[0]} but the image is {pixels.shape[1]}x{pixels.shape[0]}"
        )
