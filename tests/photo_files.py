"""Photo files as cameras and editors write them, made with Pillow and tifffile (never with the code under test)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, ImageCms

ORIENTATION = 0x0112


def boxed_picture(height: int = 40, width: int = 60) -> np.ndarray:
    """A grey-ish gradient with a red box at the top left: where it ends up shows how the picture was turned."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 3 % 256, y * 5 % 256, (x + y) % 256], axis=2).astype(np.uint8)
    pixels[:8, :10] = (255, 0, 0)
    return pixels


def srgb_profile() -> bytes:
    """A real ICC profile (Pillow's built-in sRGB), to prove the bytes travel unchanged."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_exif(orientation: int) -> Image.Exif:
    """EXIF as a camera writes it: make and model in IFD0, the capture time in the Exif sub-IFD."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PConvCam"
    exif[0x0110] = "Model 7"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"
    return exif


def write_with_pillow(path: Path, pixels: np.ndarray, exif: Image.Exif | None = None, icc: bytes | None = None,
                      **options) -> Path:
    """`pixels` written by Pillow in the format of `path`'s suffix (lossless WebP, JPEG quality 98)."""
    extra = dict(options)
    if exif is not None:
        extra["exif"] = exif
    if icc is not None:
        extra["icc_profile"] = icc
    if path.suffix == ".webp":
        extra.setdefault("lossless", True)
        extra.setdefault("exact", True)
    if path.suffix == ".jpg":
        extra.setdefault("quality", 98)
    Image.fromarray(pixels).save(path, **extra)
    return path


def write_tiff(path: Path, pixels: np.ndarray, orientation: int = 1, extrasamples: tuple[str, ...] = (),
               icc: bytes | None = None, **options) -> Path:
    """`pixels` written by tifffile as stored (RGB or grey, alpha kind as given), with an Orientation tag."""
    photometric = "rgb" if pixels.ndim == 3 and pixels.shape[2] - len(extrasamples) == 3 else "minisblack"
    tags = [(274, "H", 1, orientation, True)] if orientation != 1 else []
    tifffile.imwrite(path, pixels, photometric=photometric, extrasamples=extrasamples or None, extratags=tags,
                     iccprofile=icc, metadata=None, **options)
    return path


def write_oriented(path: Path, pixels: np.ndarray, orientation: int) -> Path:
    """`pixels` stored as they are, with the file saying "turn me by `orientation`" (JPEG, PNG, WebP or TIFF)."""
    if path.suffix in (".tif", ".tiff"):
        return write_tiff(path, pixels, orientation)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return write_with_pillow(path, pixels, exif)


def upright_by_pillow(path: Path) -> np.ndarray:
    """The reference view of a file: Pillow's own decoder and `exif_transpose`."""
    from PIL import ImageOps

    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image))


def pillow_metadata(path: Path) -> tuple[bytes | None, Image.Exif]:
    """(ICC profile, EXIF) of a file as Pillow reads them."""
    with Image.open(path) as image:
        image.load()
        return image.info.get("icc_profile"), image.getexif()


def tiff_bytes(pixels: np.ndarray, **options) -> bytes:
    stream = io.BytesIO()
    tifffile.imwrite(stream, pixels, metadata=None, **options)
    return stream.getvalue()


def png_with_chunk(png: bytes, kind: bytes, payload: bytes, at_end: bool = False) -> bytes:
    """A PNG with one chunk added by hand (PNG spec 5.3: length, type, data, CRC-32), after IHDR or before IEND."""
    import zlib

    chunk = len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")
    at = len(png) - 12 if at_end else 33  # IEND is the last 12 bytes; IHDR ends at byte 33
    return png[:at] + chunk + png[at:]
