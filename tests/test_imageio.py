"""Image files as photos need them: EXIF orientation, 16 bits, alpha, clear errors, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from pconv_studio.engine import load_image, load_mask, save_image, save_mask
from pconv_studio.errors import ImageIOError

from .support import gradient_image


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
    pixels = gradient_image(40, 64)
    pixels[:8, :8] = (255, 0, 0)  # a marker in one corner, far from JPEG's blur
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.jpg"
    image.save(path, quality=98, exif=exif)
    with Image.open(path) as reopened:
        expected = np.asarray(ImageOps.exif_transpose(reopened).convert("RGB"))
    loaded = load_image(path)
    assert loaded.shape == expected.shape
    assert np.abs(loaded.astype(int) - expected.astype(int)).max() <= 2


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_sixteen_bit_round_trip_is_exact(tmp_path, suffix, channels):
    pixels = gradient_image(33, 47, channels, np.uint16)
    if channels == 4:
        pixels[..., 3] = np.arange(47, dtype=np.uint16)[None, :] * 1000
    save_image(tmp_path / f"deep{suffix}", pixels)
    loaded = load_image(tmp_path / f"deep{suffix}")
    assert loaded.dtype == np.uint16
    np.testing.assert_array_equal(loaded, pixels)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".webp", ".tiff"])
def test_lossless_eight_bit_formats(tmp_path, suffix):
    pixels = gradient_image(20, 30)
    save_image(tmp_path / f"x{suffix}", pixels, jpeg_quality=100)
    np.testing.assert_array_equal(load_image(tmp_path / f"x{suffix}"), pixels)


def test_rgb_order_is_kept(tmp_path):
    pixels = np.zeros((4, 4, 3), np.uint8)
    pixels[..., 0] = 200  # red
    save_image(tmp_path / "red.png", pixels)
    with Image.open(tmp_path / "red.png") as image:
        assert image.getpixel((0, 0)) == (200, 0, 0)


def test_corrupt_and_missing_files(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageIOError, match="not an image"):
        load_image(tmp_path / "broken.jpg")
    with pytest.raises(ImageIOError, match="not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageIOError, match="not an image"):
        load_image(tmp_path / "empty.png")


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(ImageIOError, match="does not exist"):
        save_image(tmp_path / "no" / "such" / "x.png", gradient_image(4, 4))
    with pytest.raises(ImageIOError, match="cannot write"):
        save_image(tmp_path / "x.gif", gradient_image(4, 4))
    assert list(tmp_path.iterdir()) == []


def test_overwrite_is_atomic_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "x.png"
    save_image(path, gradient_image(8, 8))
    save_image(path, np.zeros((8, 8, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
    assert load_image(path).max() == 0


def test_mask_files_white_is_hole(tmp_path):
    hole = np.zeros((10, 12), bool)
    hole[2:5, 3:9] = True
    save_mask(tmp_path / "m.png", hole)
    with Image.open(tmp_path / "m.png") as image:
        assert image.getpixel((3, 2)) == 255 and image.getpixel((0, 0)) == 0
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), hole)
    colour = np.zeros((10, 12, 3), np.uint8)
    colour[1, 1, 2] = 7  # any non-zero channel counts as hole
    save_image(tmp_path / "c.png", colour)
    assert load_mask(tmp_path / "c.png").sum() == 1


def test_saved_files_get_the_usual_permissions(tmp_path):
    import os

    previous = os.umask(0o022)
    try:
        save_image(tmp_path / "x.png", gradient_image(4, 4))
    finally:
        os.umask(previous)
    assert (tmp_path / "x.png").stat().st_mode & 0o777 == 0o644


def test_png_compression_keeps_the_pixels_and_shrinks_the_file(tmp_path):
    rng = np.random.default_rng(0)
    pixels = np.repeat(rng.integers(0, 256, (64, 1, 3), dtype=np.uint8), 128, axis=1)  # rows of one colour each
    save_image(tmp_path / "fast.png", pixels, png_compression=0)
    save_image(tmp_path / "small.png", pixels, png_compression=9)
    assert np.array_equal(load_image(tmp_path / "small.png"), pixels)
    assert (tmp_path / "small.png").stat().st_size < (tmp_path / "fast.png").stat().st_size / 4
