"""Decoding image files into the project's pixel conventions, with what the file says about them.

Which library reads what, and why (OpenCV's decoders premultiply straight TIFF alpha, drop grey+alpha, apply the
TIFF orientation tag themselves and print libpng/libtiff errors to stderr):
- TIFF: `tifffile` (with `imagecodecs` for LZW, JPEG and other compressions): samples exactly as stored, the
  alpha kind from ExtraSamples, the orientation and ICC tags read by us.
- PNG, JPEG, WebP, BMP: Pillow, except the pixels of 16-bit PNGs, which Pillow reduces to 8 bits: those come from
  OpenCV, after Pillow has decoded the whole stream once to prove it is intact.
Orientation is applied here exactly once, from the file's own tag; EXIF is kept as raw bytes with its
orientation rewritten to 1. Warnings and log records of the libraries become this module's notices.
"""

from __future__ import annotations

import io
import logging
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from ..errors import DamagedFileError, ImageIOError, PConvError

__all__ = ["ImageInfo", "apply_orientation", "decode_image"]

log = logging.getLogger(__name__)

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112
_PILLOW_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "BMP", "DIB")

# EXIF orientation value -> (left-right flip first?, quarter turns counter-clockwise), TIFF 6.0 / EXIF 2.3 tag 274
_ORIENTATION_OPS = {
    1: (False, 0), 2: (True, 0), 3: (False, 2), 4: (True, 2), 5: (True, 1), 6: (False, 3), 7: (True, 3),
    8: (False, 1),
}


@dataclass(frozen=True)
class ImageInfo:
    """What a file holds besides its pixels, kept so that writing the result loses nothing it need not.

    `icc_profile`: the embedded colour profile, as stored. `exif`: the raw EXIF block (TIFF structure, without
    the "Exif\\0\\0" header) with its orientation rewritten to 1, since the pixels are turned upright on
    reading. `grey_alpha`: the file stores grey + alpha; the pixels hold it as RGBA with equal colour channels.
    `premultiplied`: the colour is premultiplied by alpha (TIFF associated alpha) and kept so. `notices`: what
    the user should be told about the reading (pages ignored, a damaged part, an unreadable orientation).
    """

    format: str = ""
    icc_profile: bytes | None = None
    exif: bytes | None = None
    grey_alpha: bool = False
    premultiplied: bool = False
    notices: tuple[str, ...] = ()


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels (HxW[xC]) upright for an EXIF/TIFF orientation value (1-8); a contiguous array."""
    flip, quarter_turns = _ORIENTATION_OPS[orientation]
    if flip:
        pixels = pixels[:, ::-1]
    if quarter_turns:
        pixels = np.rot90(pixels, quarter_turns)
    return np.ascontiguousarray(pixels)


class _ListHandler(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def library_messages() -> Iterator[list[logging.LogRecord]]:
    """Collect what Pillow and tifffile say (Python warnings, `tifffile` log records) instead of letting it reach
    stderr, or raise under a warnings-are-errors filter. On exit the list holds log records, warnings included
    (as WARNING records named "warning"). Not thread-safe (warnings filters are process-wide); image files are
    read in one thread."""
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("tifffile")
    handler, propagate = _ListHandler(records), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        records.extend(
            logging.LogRecord("warning", logging.WARNING, "", 0, str(w.message), None, None) for w in caught
        )


def _exif_orientation_reset(exif: bytes) -> bytes:
    """`exif` (TIFF structure) with IFD0's orientation entry set to 1, every other byte unchanged (so maker notes
    with absolute offsets stay valid). Raises ValueError if the structure is broken."""
    if exif[:2] not in (b"II", b"MM"):
        raise ValueError("no TIFF header")
    order = "<" if exif[:2] == b"II" else ">"
    ifd = int(np.frombuffer(exif, np.dtype(order + "u4"), 1, 4)[0])
    count = int(np.frombuffer(exif, np.dtype(order + "u2"), 1, ifd)[0])
    patched = bytearray(exif)
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag, kind = np.frombuffer(exif, np.dtype(order + "u2"), 2, entry)
        if tag == _ORIENTATION_TAG and kind == 3:  # SHORT, stored in the entry's first two value bytes
            patched[entry + 8:entry + 10] = np.array([1], np.dtype(order + "u2")).tobytes()
    return bytes(patched)


def _orientation(value: object, name: str, notices: list[str]) -> int:
    try:
        orientation = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        orientation = 0
    if orientation not in _ORIENTATION_OPS:
        notices.append(f"{name}: unknown orientation value {value!r}: shown as stored")
        return 1
    return orientation


def decode_image(data: bytes, name: str, allow_damaged: bool = False) -> tuple[np.ndarray, ImageInfo]:
    """File bytes -> (pixels, info). Pixels: HxW, HxWx3 (RGB) or HxWx4 (RGBA), uint8, uint16 or float as stored,
    upright. Raises `ImageIOError` for what cannot be read, `DamagedFileError` for a file only partly readable
    (unless `allow_damaged`, which returns what was read and says what is missing in a notice)."""
    if not data:
        raise ImageIOError(f"{name} is not an image this app can read (the file is empty)")
    try:
        if data[:4] in _TIFF_MAGIC:
            return _decode_tiff(data, name)
        return _decode_with_pillow(data, name, allow_damaged)
    except PConvError:
        raise
    except MemoryError:
        raise ImageIOError(f"{name} is too large to read in this computer's memory") from None
    except Exception as error:  # a decoder's failures on a broken file are open-ended: each one is a clear refusal
        raise ImageIOError(f"{name} is not an image this app can read ({_reason(error)})") from None


def _check_size(height: int, width: int, name: str) -> None:
    """Refuse a size no photo has (a broken header), before memory is asked for it: Pillow's own limit."""
    from PIL import Image

    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    if limit and height * width > limit:
        raise ImageIOError(f"{name} says it is {width}x{height} pixels: more than this app reads ({limit} pixels)")


def _reason(error: BaseException) -> str:
    text = str(error).strip().rstrip(".") or type(error).__name__
    return text.splitlines()[0][:160]


def _decode_tiff(data: bytes, name: str) -> tuple[np.ndarray, ImageInfo]:
    import tifffile

    notices: list[str] = []
    with library_messages() as records:
        with tifffile.TiffFile(io.BytesIO(data)) as tiff:
            pages = len(tiff.pages)
            page = tiff.pages[0]
            if not isinstance(page, tifffile.TiffPage):
                raise ImageIOError(f"{name}: the first TIFF page cannot be read")
            _check_size(page.imagelength, page.imagewidth, name)
            try:
                stored = page.asarray()
            except Exception as error:
                raise DamagedFileError(f"{name} is damaged or cut short ({_reason(error)})") from None
            tags = page.tags
            orientation_tag = tags.get(274)
            orientation = _orientation(orientation_tag.value, name, notices) if orientation_tag is not None else 1
            icc_tag = tags.get(34675)
            icc = bytes(icc_tag.value) if icc_tag is not None else None
            pixels, grey_alpha, premultiplied = _tiff_pixels(page, stored, name, notices)
    for record in records:
        if record.levelno >= logging.ERROR:
            raise DamagedFileError(f"{name} is damaged or cut short ({record.getMessage()})")
        notices.append(f"{name}: {record.getMessage()}")
    if pages > 1:
        notices.append(f"{name} holds {pages} pages (images): only the first is used")
    info = ImageInfo("TIFF", icc, None, grey_alpha, premultiplied, tuple(notices))
    return apply_orientation(pixels, orientation), info


def _tiff_pixels(page, stored: np.ndarray, name: str, notices: list[str]) -> tuple[np.ndarray, bool, bool]:
    """A TIFF page's samples -> (HxW[xC] pixels, grey_alpha, premultiplied)."""
    from tifffile import PHOTOMETRIC

    axes = page.axes
    if axes == "SYX":
        stored = np.moveaxis(stored, 0, -1)
    elif axes not in ("YX", "YXS"):
        raise ImageIOError(f"{name}: a TIFF of {axes} axes is not a photo this app can fill (YX with samples only)")
    photometric = page.photometric
    if stored.dtype == bool:
        stored = np.where(stored, 255, 0).astype(np.uint8)
    if photometric == PHOTOMETRIC.PALETTE:
        colormap = page.colormap  # (3, 2**bits) uint16
        stored = np.moveaxis(colormap[:, stored], 0, -1)
        high, low = colormap >> 8, colormap & 255
        if ((low == 0) | (low == high)).all():  # an 8-bit palette stored as x * 256 or x * 257
            stored = (stored >> 8).astype(np.uint8)
    elif photometric == PHOTOMETRIC.MINISWHITE and stored.dtype.kind == "u":
        stored = np.iinfo(stored.dtype).max - stored
    elif photometric not in (PHOTOMETRIC.MINISBLACK, PHOTOMETRIC.RGB, PHOTOMETRIC.YCBCR, PHOTOMETRIC.MINISWHITE):
        raise ImageIOError(f"{name}: {photometric.name} TIFFs are not supported (grey or RGB only): convert it first")
    if stored.dtype.kind != "f" and stored.dtype not in (np.uint8, np.uint16):  # floats: `fill_inputs` fills them
        raise ImageIOError(
            f"{name}: {stored.dtype.name} samples are not supported (8 or 16-bit unsigned integers, or floats)"
        )
    channels = 1 if stored.ndim == 2 else stored.shape[2]
    extras = tuple(page.extrasamples)
    colour = channels - len(extras) if photometric != PHOTOMETRIC.PALETTE else 3
    if colour not in (1, 3) or channels - colour > 1:
        raise ImageIOError(f"{name}: {channels} samples per pixel are not supported (grey or RGB, with one alpha)")
    if stored.ndim == 3 and channels == 1:
        stored = stored[:, :, 0]
    premultiplied = bool(extras) and extras[0] == 1
    if extras and extras[0] == 0:
        notices.append(f"{name}: the extra channel has no stated meaning: it is kept as straight alpha")
    if colour == 1 and channels == 2:
        grey, alpha = stored[..., 0], stored[..., 1]
        return np.stack([grey, grey, grey, alpha], axis=2), True, premultiplied
    return np.ascontiguousarray(stored), False, premultiplied


def _decode_with_pillow(data: bytes, name: str, allow_damaged: bool) -> tuple[np.ndarray, ImageInfo]:
    from PIL import Image

    notices: list[str] = []
    with library_messages() as records:
        image = Image.open(io.BytesIO(data))
        if image.format not in _PILLOW_FORMATS:
            raise ImageIOError(f"{name} is a {image.format} file: this app reads PNG, JPEG, TIFF, WebP and BMP")
        frames = getattr(image, "n_frames", 1)
        if image.format == "PNG" and data[24] == 16 and data[25] != 0:  # IHDR: 16-bit colour or grey + alpha
            raw_exif = _check_png_chunks(data, name)
            pixels, grey_alpha = _deep_png_pixels(data, name)
        else:
            image = _loaded(image, data, name, allow_damaged, notices)
            raw_exif = image.info.get("exif")
            pixels, grey_alpha = _pillow_pixels(image, name)
        orientation, exif = _exif(raw_exif, name, notices)
        icc = image.info.get("icc_profile") or None
    notices.extend(f"{name}: {record.getMessage()}" for record in records)
    if frames > 1:
        notices.append(f"{name} holds {frames} images (frames): only the first is used")
    info = ImageInfo(image.format, icc, exif, grey_alpha, False, tuple(notices))
    return apply_orientation(pixels, orientation), info


def _loaded(image, data: bytes, name: str, allow_damaged: bool, notices: list[str]):
    """`image` decoded in full; a failure is `DamagedFileError`, or with `allow_damaged` what could be read."""
    from PIL import Image, ImageFile

    try:
        image.load()
        return image
    except Exception as error:
        if not allow_damaged:
            raise DamagedFileError(f"{name} is damaged or cut short ({_reason(error)})") from None
        notices.append(f"{name} is damaged or cut short ({_reason(error)}): the part that could not be read is"
                       " filled with a flat colour")
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    return image


def _exif(raw: bytes | None, name: str, notices: list[str]) -> tuple[int, bytes | None]:
    """(orientation, EXIF with orientation 1) from a raw EXIF block; a broken block is a notice."""
    from PIL import Image

    if not raw:
        return 1, None
    raw = raw[len(_EXIF_HEADER):] if raw.startswith(_EXIF_HEADER) else raw
    try:
        parsed = Image.Exif()
        parsed.load(raw)
        value = parsed.get(_ORIENTATION_TAG)
        patched = _exif_orientation_reset(raw)
    except Exception as error:
        notices.append(f"{name}: its EXIF block cannot be read ({_reason(error)}): orientation unknown, shown as"
                       " stored; EXIF not kept")
        return 1, None
    return (_orientation(value, name, notices) if value is not None else 1), patched


def _check_png_chunks(data: bytes, name: str) -> bytes | None:
    """Raise `DamagedFileError` unless every chunk of a PNG is complete and passes its CRC-32 (PNG spec 5.3);
    returns the eXIf chunk's data, if any (it may follow the pixels)."""
    position, exif = 8, None
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        end = position + 12 + length
        kind = data[position + 4:position + 8]
        if end > len(data) or zlib.crc32(data[position + 4:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
            raise DamagedFileError(f"{name} is damaged or cut short (the {kind.decode('latin-1')} chunk is broken)")
        if kind == b"eXIf":
            exif = data[position + 8:end - 4]
        if kind == b"IEND":
            return exif
        position = end
    raise DamagedFileError(f"{name} is cut short (no IEND chunk)")


def _deep_png_pixels(data: bytes, name: str) -> tuple[np.ndarray, bool]:
    """16-bit colour or grey + alpha PNG pixels by OpenCV (Pillow would reduce them to 8 bits), once every chunk
    has passed its check (libpng would print a failure to stderr)."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.dtype != np.uint16 or decoded.ndim != 3:
        raise DamagedFileError(f"{name} is damaged: its 16-bit pixel data cannot be decoded")
    code = cv2.COLOR_BGRA2RGBA if decoded.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(decoded, code), data[25] == 4


def _pillow_pixels(image, name: str) -> tuple[np.ndarray, bool]:
    """A loaded Pillow image -> (HxW[xC] pixels, grey_alpha)."""
    mode = image.mode
    if mode in ("1", "P", "PA", "RGBX", "La", "RGBa"):
        has_alpha = mode in ("PA", "La", "RGBa") or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else ("L" if mode == "1" else "RGB"))
        mode = image.mode
    if mode in ("L", "RGB", "RGBA", "F"):
        return np.array(image), False
    if mode == "LA":
        grey, alpha = np.array(image).transpose(2, 0, 1)
        return np.stack([grey, grey, grey, alpha], axis=2), True
    if mode.startswith("I;16"):
        return np.array(image).astype(np.uint16), False
    if mode == "CMYK":
        raise ImageIOError(f"{name} is a CMYK image: convert it to RGB first (this app fills RGB or grey photos)")
    raise ImageIOError(f"{name}: {mode} pixels are not supported")
