"""Photo files as people have them (issue 13): orientation once, alpha as stored, profiles and EXIF kept, masks
with transparency. References come from Pillow, tifffile and hand-made values, never from the code under test."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import tifffile
from PIL import Image

from pconv_studio.engine import load_image, load_mask, save_image

from .photo_files import (
    ORIENTATION, boxed_picture, camera_exif, pillow_metadata, png_with_chunk, srgb_profile, upright_by_pillow,
    write_oriented, write_tiff, write_with_pillow,
)

CONTAINERS = [".jpg", ".png", ".webp", ".tif"]


@pytest.mark.parametrize("suffix", CONTAINERS)
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_container_is_turned_exactly_once(tmp_path, suffix, orientation):
    path = write_oriented(tmp_path / f"photo{suffix}", boxed_picture(), orientation)
    expected = upright_by_pillow(path)
    loaded = load_image(path)
    assert loaded.shape == expected.shape
    tolerance = 3 if suffix == ".jpg" else 0
    assert np.abs(loaded.astype(int) - expected.astype(int)).max() <= tolerance


def test_orientation_at_a_large_size(tmp_path):
    pixels = np.zeros((1200, 1700, 3), np.uint8)
    pixels[:30, :40] = (255, 0, 0)
    path = write_oriented(tmp_path / "big.tif", pixels, 6)
    loaded = load_image(path)
    assert loaded.shape == (1700, 1200, 3)
    np.testing.assert_array_equal(loaded, np.rot90(pixels, -1))  # 6: turn 90 degrees clockwise


@pytest.mark.skipif(shutil.which("convert") is None, reason="ImageMagick is not installed")
def test_imagemagick_orient_bottom_right_tiff(tmp_path):
    source = write_with_pillow(tmp_path / "source.png", boxed_picture())
    made = subprocess.run(["convert", str(source), "-orient", "BottomRight", str(tmp_path / "o3.tif")],
                          capture_output=True)
    if made.returncode != 0 or not (tmp_path / "o3.tif").is_file():
        pytest.skip("this convert cannot write TIFF")
    loaded = load_image(tmp_path / "o3.tif")
    np.testing.assert_array_equal(loaded, np.rot90(boxed_picture(), 2))  # bottom-right: turned 180 degrees
    assert (loaded[-8:, -10:] == (255, 0, 0)).all()


@pytest.mark.parametrize("at_end", [False, True])
def test_sixteen_bit_png_is_turned_by_its_exif_chunk_wherever_it_is(tmp_path, at_end):
    import cv2

    stored = boxed_picture().astype(np.uint16) * 257
    plain = cv2.imencode(".png", stored[..., ::-1])[1].tobytes()
    exif = camera_exif(8).tobytes().removeprefix(b"Exif\x00\x00")  # the eXIf chunk holds the TIFF structure
    (tmp_path / "deep.png").write_bytes(png_with_chunk(plain, b"eXIf", exif, at_end))
    np.testing.assert_array_equal(load_image(tmp_path / "deep.png"), np.rot90(stored, 1))  # 8: a quarter turn left


def test_an_unknown_orientation_is_a_warning_not_silence(tmp_path, caplog):
    path = write_tiff(tmp_path / "odd.tif", boxed_picture(), orientation=9)
    np.testing.assert_array_equal(load_image(path), boxed_picture())
    assert "unknown orientation value 9" in caplog.text


def _straight_rgba(dtype=np.uint8) -> np.ndarray:
    scale = 257 if dtype == np.uint16 else 1
    pixels = np.empty((24, 32, 4), dtype)
    pixels[...] = np.array([200, 100, 50, 128], np.uint32) * scale
    pixels[:8, :8, 3] = 0  # a transparent corner whose colour must survive too
    return pixels


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_straight_alpha_tiff_comes_back_as_stored(tmp_path, dtype):
    stored = _straight_rgba(dtype)
    path = write_tiff(tmp_path / "rgba.tif", stored, extrasamples=("unassalpha",))
    np.testing.assert_array_equal(load_image(path), tifffile.imread(path))
    np.testing.assert_array_equal(load_image(path)[0, 0], stored[0, 0])  # (200, 100, 50, 0), not (0, 0, 0, 0)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_premultiplied_tiff_is_kept_premultiplied_in_tiff_and_made_straight_in_png(tmp_path, dtype):
    maximum = np.iinfo(dtype).max
    stored = np.zeros((10, 12, 4), dtype)
    stored[..., 3] = maximum // 2 + 1  # about half opaque
    stored[..., 0] = maximum // 4  # premultiplied red: straight red is about half of full
    path = write_tiff(tmp_path / "assoc.tif", stored, extrasamples=("assocalpha",))
    save_image(tmp_path / "copy.tif", load_image(path), info=None)  # no info: plain straight alpha
    pixels = load_image(path)
    np.testing.assert_array_equal(pixels, stored)
    from pconv_studio.engine.imageio import read_image

    _, info = read_image(path)
    save_image(tmp_path / "kept.tif", pixels, info=info)
    with tifffile.TiffFile(tmp_path / "kept.tif") as tiff:
        assert tiff.pages[0].extrasamples == (1,)  # associated alpha
        np.testing.assert_array_equal(tiff.pages[0].asarray(), stored)
    notices = save_image(tmp_path / "straight.png", pixels, info=info)
    assert any("premultiplied" in notice for notice in notices)
    expected_red = round((maximum // 4) * maximum / (maximum // 2 + 1))  # colour * max / alpha, by hand
    assert load_image(tmp_path / "straight.png")[0, 0, 0] == expected_red


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_grey_alpha_tiff_keeps_its_alpha_and_layout(tmp_path, dtype):
    maximum = np.iinfo(dtype).max
    stored = np.zeros((16, 20, 2), dtype)
    stored[..., 0] = np.arange(20, dtype=dtype)[None, :] * (maximum // 20)
    stored[4:12, 5:15, 1] = maximum  # an opaque square on a transparent background
    path = write_tiff(tmp_path / "la.tif", stored, extrasamples=("unassalpha",))
    pixels = load_image(path)
    assert pixels.shape == (16, 20, 4)
    np.testing.assert_array_equal(pixels[..., 3], stored[..., 1])
    for channel in range(3):
        np.testing.assert_array_equal(pixels[..., channel], stored[..., 0])
    from pconv_studio.engine.imageio import read_image

    save_image(tmp_path / "out.tif", pixels, info=read_image(path)[1])
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), stored)  # grey + alpha again


@pytest.mark.parametrize("mode", ["LA", "RGBA", "P"])
@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_eight_bit_alpha_in_png_and_webp(tmp_path, mode, suffix):
    if mode == "P" and suffix == ".webp":
        pytest.skip("WebP has no palette")
    rgba = _straight_rgba()
    image = Image.fromarray(rgba).convert(mode) if mode != "P" else Image.fromarray(rgba[..., :3]).convert("P")
    path = tmp_path / f"alpha{suffix}"
    options = {"lossless": True, "exact": True} if suffix == ".webp" else {}
    if mode == "P":
        options["transparency"] = image.getpixel((0, 0))  # one palette entry is transparent (tRNS)
    image.save(path, **options)
    with Image.open(path) as reopened:
        expected = np.asarray(reopened.convert("RGBA"))
    np.testing.assert_array_equal(load_image(path), expected)


def test_sixteen_bit_grey_alpha_png(tmp_path):
    import cv2

    grey = np.arange(30, dtype=np.uint16)[None, :].repeat(10, 0) * 2000
    alpha = np.full((10, 30), 40000, np.uint16)
    bgra = np.stack([grey, grey, grey, alpha], axis=2)
    cv2.imwrite(str(tmp_path / "ga16.png"), bgra)  # OpenCV writes 16-bit RGBA PNG: the reference writer here
    pixels = load_image(tmp_path / "ga16.png")
    np.testing.assert_array_equal(pixels, bgra[..., [2, 1, 0, 3]])


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_colour_profile_survives_a_round_trip(tmp_path, suffix, dtype):
    if dtype == np.uint16 and suffix in (".jpg", ".webp"):
        pytest.skip("8-bit formats")
    icc = srgb_profile()
    pixels = boxed_picture()
    if suffix == ".tif":
        source = write_tiff(tmp_path / "in.tif", pixels.astype(dtype) * (257 if dtype == np.uint16 else 1), icc=icc)
    elif dtype == np.uint16:
        import cv2

        import zlib

        plain = cv2.imencode(".png", (pixels.astype(np.uint16) * 257)[..., ::-1])[1].tobytes()
        source = tmp_path / "in.png"  # iCCP: name, NUL, method 0, zlib data (PNG spec 11.3.3.3)
        source.write_bytes(png_with_chunk(plain, b"iCCP", b"icc\x00\x00" + zlib.compress(icc)))
    else:
        source = write_with_pillow(tmp_path / f"in{suffix}", pixels, icc=icc)
    from pconv_studio.engine.imageio import read_image

    loaded, info = read_image(source)
    save_image(tmp_path / f"out{suffix}", loaded, info=info)
    assert pillow_metadata(tmp_path / f"out{suffix}")[0] == icc


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_exif_is_kept_with_orientation_reset_to_one(tmp_path, suffix):
    source = write_with_pillow(tmp_path / "camera.jpg", boxed_picture(), camera_exif(6), icc=srgb_profile())
    from pconv_studio.engine.imageio import read_image

    pixels, info = read_image(source)
    save_image(tmp_path / f"out{suffix}", pixels, info=info)
    icc, exif = pillow_metadata(tmp_path / f"out{suffix}")
    assert exif[ORIENTATION] == 1
    assert exif[0x010F] == "PConvCam" and exif[0x0110] == "Model 7"
    assert exif.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"
    assert icc == srgb_profile()
    assert upright_by_pillow(tmp_path / f"out{suffix}").shape == (60, 40, 3)  # upright, and told it is


def test_a_two_page_tiff_says_only_the_first_page_is_used(tmp_path, caplog):
    with tifffile.TiffWriter(tmp_path / "two.tif") as tiff:
        tiff.write(boxed_picture(), photometric="rgb", metadata=None)
        tiff.write(np.zeros((10, 10, 3), np.uint8), photometric="rgb", metadata=None)
    np.testing.assert_array_equal(load_image(tmp_path / "two.tif"), boxed_picture())
    assert "holds 2 pages" in caplog.text


def test_float_tiff_is_read_as_floats_not_clipped(tmp_path):
    stored = np.linspace(0, 3.5, 12 * 16 * 3, dtype=np.float32).reshape(12, 16, 3)
    path = write_tiff(tmp_path / "hdr.tif", stored)
    np.testing.assert_array_equal(load_image(path), stored)


def _rgba_mask(colour, alpha) -> np.ndarray:
    mask = np.zeros((10, 12, 4), np.uint8)
    mask[..., :3] = colour
    mask[..., 3] = alpha
    return mask


def test_mask_strokes_only_in_alpha(tmp_path):
    mask = _rgba_mask((0, 0, 0), 0)
    mask[2:6, 3:8, 3] = 255  # black strokes on a black-but-transparent background
    write_with_pillow(tmp_path / "m.png", mask)
    expected = np.zeros((10, 12), bool)
    expected[2:6, 3:8] = True
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), expected)


def test_white_but_transparent_background_is_not_a_hole(tmp_path, caplog):
    mask = _rgba_mask((255, 255, 255), 0)
    mask[1:4, 1:5, 3] = 200  # white strokes, part opaque
    write_with_pillow(tmp_path / "m.png", mask)
    expected = np.zeros((10, 12), bool)
    expected[1:4, 1:5] = True
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), expected)
    assert "transparency marks the hole" in caplog.text


def test_ambiguous_mask_names_its_rule(tmp_path, caplog):
    mask = _rgba_mask((255, 255, 255), 255)
    mask[:, :6, :3] = 0  # left half black, right half white
    mask[:5, :, 3] = 0  # top half transparent
    write_with_pillow(tmp_path / "m.png", mask)
    expected = np.zeros((10, 12), bool)
    expected[5:, 6:] = True  # white and visible
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), expected)
    assert "not black and not fully transparent" in caplog.text


def test_opaque_colour_masks_keep_the_old_rule(tmp_path):
    mask = _rgba_mask((0, 0, 0), 255)
    mask[3, 4, 1] = 9
    write_with_pillow(tmp_path / "m.png", mask)
    assert load_mask(tmp_path / "m.png").sum() == 1


def test_webp_is_lossless_by_default(tmp_path):
    pixels = boxed_picture()
    pixels[5:30, 20:50] = np.random.default_rng(0).integers(0, 256, (25, 30, 3))  # noise: lossy would show
    save_image(tmp_path / "x.webp", pixels)
    with Image.open(tmp_path / "x.webp") as image:
        np.testing.assert_array_equal(np.asarray(image), pixels)
    save_image(tmp_path / "lossy.webp", pixels, webp_quality=50)
    with Image.open(tmp_path / "lossy.webp") as image:
        assert not np.array_equal(np.asarray(image), pixels)


@pytest.mark.parametrize("mode", ["P", "1", "L"])
def test_palette_bilevel_and_grey_tiffs_read_like_pillow_reads_them(tmp_path, mode):
    grey = (np.arange(48).reshape(6, 8) * 5).astype(np.uint8)
    image = Image.fromarray(grey).convert(mode)
    image.save(tmp_path / "x.tif", compression="tiff_lzw" if mode != "1" else "group4")
    expected = np.asarray(image.convert("RGB" if mode == "P" else "L"))
    np.testing.assert_array_equal(load_image(tmp_path / "x.tif"), expected)


def test_a_tiff_header_claiming_an_impossible_size_is_refused_before_allocating(tmp_path):
    from pconv_studio.errors import ImageIOError

    path = tmp_path / "huge.tif"
    # a valid 4x4 TIFF whose ImageWidth and ImageLength entries are rewritten to 60000 (TIFF 6.0, section 2)
    tifffile.imwrite(path, np.zeros((4, 4), np.uint8), metadata=None)
    data = bytearray(path.read_bytes())
    ifd = int.from_bytes(data[4:8], "little")
    for entry in range(ifd + 2, ifd + 2 + 12 * int.from_bytes(data[ifd:ifd + 2], "little"), 12):
        if int.from_bytes(data[entry:entry + 2], "little") in (256, 257):
            size = 2 if int.from_bytes(data[entry + 2:entry + 4], "little") == 3 else 4
            data[entry + 8:entry + 8 + size] = (60000).to_bytes(size, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ImageIOError, match="60000x60000 pixels"):
        load_image(path)
