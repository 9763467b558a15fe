"""Damaged files of every format and layout through the CLI, in-process (issue 13): a few hundred files made by
cutting valid files short and flipping bits in them. The CLI must exit 0 or 2, print no traceback and no foreign
library line (stderr is captured at the file descriptor, so C libraries' prints count), and a failed run must
leave no output file, not even a temporary."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from pconv_studio.cli.main import main
from pconv_studio.engine import save_mask

HEIGHT, WIDTH = 24, 32


def _pixels(channels: int, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(channels)
    maximum = np.iinfo(dtype).max
    shape = (HEIGHT, WIDTH) if channels == 1 else (HEIGHT, WIDTH, channels)
    return rng.integers(0, maximum, shape, dtype=dtype, endpoint=True)


def _pillow(pixels: np.ndarray, image_format: str, **options) -> bytes:
    stream = io.BytesIO()
    Image.fromarray(pixels).save(stream, image_format, **options)
    return stream.getvalue()


def _tiff(pixels: np.ndarray, **options) -> bytes:
    stream = io.BytesIO()
    tifffile.imwrite(stream, pixels, metadata=None, **options)
    return stream.getvalue()


def _valid_files() -> dict[str, bytes]:
    """One valid file per format and layout: 8/16 bit, grey/colour, with and without alpha, compressed or not."""
    exif = Image.Exif()
    exif[0x0112] = 6
    sixteen_rgba = cv2.imencode(".png", _pixels(4, np.uint16))[1].tobytes()
    return {
        "rgb.png": _pillow(_pixels(3), "PNG"),
        "grey.png": _pillow(_pixels(1), "PNG"),
        "la.png": _pillow(np.asarray(Image.fromarray(_pixels(4)).convert("LA")), "PNG"),
        "rgba16.png": sixteen_rgba,
        "exif.png": _pillow(_pixels(3), "PNG", exif=exif),
        "rgb.jpg": _pillow(_pixels(3), "JPEG", quality=90, exif=exif),
        "grey.jpg": _pillow(_pixels(1), "JPEG"),
        "progressive.jpg": _pillow(_pixels(3), "JPEG", progressive=True),
        "rgba.tif": _tiff(_pixels(4), photometric="rgb", extrasamples=["unassalpha"]),
        "la16.tif": _tiff(_pixels(2, np.uint16), photometric="minisblack", extrasamples=["assocalpha"]),
        "lzw.tif": _tiff(_pixels(3), photometric="rgb", compression="lzw", rowsperstrip=4),
        "float.tif": _tiff(_pixels(3).astype(np.float32) / 100, photometric="rgb", compression="zlib"),
        "rgba.webp": _pillow(_pixels(4), "WEBP", lossless=True),
        "rgb.webp": _pillow(_pixels(3), "WEBP", quality=80),
        "rgb.bmp": _pillow(_pixels(3), "BMP"),
        "rgba.bmp": cv2.imencode(".bmp", _pixels(4))[1].tobytes(),
    }


def _damaged(data: bytes, rng: np.random.Generator) -> list[bytes]:
    """Cut short at a few points (inside the header too) and with 1 to 8 random bits flipped, several times."""
    cuts = [data[:n] for n in sorted({9, 40, len(data) // 3, len(data) // 2, len(data) - 7}) if n < len(data)]
    flips = []
    for count in (1, 1, 2, 4, 8, 8, 16, 32):
        damaged = bytearray(data)
        for position in rng.integers(0, len(data), count):
            damaged[position] ^= 1 << int(rng.integers(0, 8))
        flips.append(bytes(damaged))
    return cuts + flips


def _cases() -> list[tuple[str, int, bytes]]:
    rng = np.random.default_rng(13)
    return [(name, index, damaged) for name, data in _valid_files().items()
            for index, damaged in enumerate(_damaged(data, rng))]


def test_damaged_files_never_crash_the_cli(capfd, tmp_path, tiny_weights):
    cases = _cases()
    assert len(cases) >= 200
    hole = np.zeros((HEIGHT, WIDTH), bool)
    hole[8:16, 8:20] = True
    save_mask(tmp_path / "mask.png", hole)
    save_mask(tmp_path / "mask_turned.png", hole.T)  # for files whose orientation tag survived: 32 x 24
    work = tmp_path / "work"
    work.mkdir()
    codes = {0: 0, 2: 0}
    for name, index, data in cases:
        source = work / name
        source.write_bytes(data)
        output = work / f"out{source.suffix if source.suffix == '.tif' else '.png'}"
        for mask in ("mask.png", "mask_turned.png"):
            code = main(["inpaint", str(source), str(tmp_path / mask), "-o", str(output), "--weights",
                         str(tiny_weights), "--device", "cpu"])
            err = capfd.readouterr().err
            assert code in (0, 2), (name, index, err)
            assert "Traceback" not in err, (name, index, err)
            foreign = [line for line in err.splitlines()
                       if line.strip() and not line.startswith(("pconv-studio: error: ", "WARNING: "))]
            assert not foreign, (name, index, err)
            if code == 0:
                break
        codes[code] += 1
        leftovers = sorted(p.name for p in work.iterdir() if p.name not in (source.name, output.name))
        assert not leftovers, (name, index, leftovers)
        if code == 2:
            assert not output.exists(), (name, index)
        output.unlink(missing_ok=True)
        source.unlink()
    assert codes[0] > 0 and codes[2] > 0  # some damage is harmless, some refused
