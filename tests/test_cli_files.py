"""`pconv-studio inpaint` on photo files as people have them (issue 13): every example of the issue, run in-process.

`capfd` captures the process's stderr file descriptor, so library messages printed from C (libpng, libtiff)
count as the extra lines they are."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from pconv_studio.cli.main import main
from pconv_studio.engine import Inpainter, save_mask

from .photo_files import boxed_picture, write_oriented, write_tiff, write_with_pillow


def _run(capfd, *args):
    code = main(["inpaint", *map(str, args)])
    return code, capfd.readouterr().err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("pconv-studio: error: ")
    return lines[0]


def _corner_hole(height: int, width: int) -> np.ndarray:
    hole = np.zeros((height, width), bool)
    hole[:8, :10] = True
    return hole


def test_orientation_three_fills_the_box_the_user_painted_over(capfd, tmp_path, tiny_weights):
    stored = boxed_picture()
    source = write_oriented(tmp_path / "o3.tif", np.rot90(stored, 2), 3)  # displayed: the box at the top left
    save_mask(tmp_path / "mask.png", _corner_hole(40, 60))
    code, err = _run(capfd, source, tmp_path / "mask.png", "-o", tmp_path / "out.png", "--weights", tiny_weights)
    assert code == 0, err
    out = np.asarray(Image.open(tmp_path / "out.png"))
    hole = _corner_hole(40, 60)
    np.testing.assert_array_equal(out[~hole], stored[~hole])  # upright, untouched outside
    assert not (out[hole] == (255, 0, 0)).all(axis=1).all()  # the painted-over box was filled


def test_orientation_six_takes_a_mask_painted_on_the_portrait_view(capfd, tmp_path, tiny_weights):
    source = write_oriented(tmp_path / "o6.tif", boxed_picture(), 6)  # stored 40x60, displayed 60 high, 40 wide
    hole = np.zeros((60, 40), bool)
    hole[20:30, 10:25] = True
    save_mask(tmp_path / "mask.png", hole)
    code, err = _run(capfd, source, tmp_path / "mask.png", "-o", tmp_path / "out.tif", "--weights", tiny_weights)
    assert code == 0, err
    upright = np.rot90(boxed_picture(), -1)  # 6: turned 90 degrees clockwise, by hand
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif")[~hole], upright[~hole])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("layout", ["rgba straight", "rgba premultiplied", "grey alpha"])
def test_alpha_comes_back_as_stored_outside_the_hole(capfd, tmp_path, tiny_weights, dtype, layout):
    scale = 257 if dtype == np.uint16 else 1
    if layout == "grey alpha":
        stored = np.zeros((24, 32, 2), dtype)
        stored[..., 0] = 90 * scale
        stored[..., 1] = np.where(np.arange(32)[None, :] < 16, 0, 255 * scale)  # transparent left half
    else:
        stored = np.empty((24, 32, 4), dtype)
        stored[...] = np.array([200, 100, 50, 128]) * scale
        stored[:8, :8, 3] = 0
    kind = "assocalpha" if layout == "rgba premultiplied" else "unassalpha"
    source = write_tiff(tmp_path / "in.tif", stored, extrasamples=(kind,))
    hole = np.zeros((24, 32), bool)
    hole[12:20, 10:26] = True
    save_mask(tmp_path / "mask.png", hole)
    code, err = _run(capfd, source, tmp_path / "mask.png", "-o", tmp_path / "out.tif", "--weights", tiny_weights)
    assert code == 0, err
    with tifffile.TiffFile(tmp_path / "out.tif") as tiff:
        out = tiff.pages[0].asarray()
        assert tiff.pages[0].extrasamples == ((1,) if kind == "assocalpha" else (2,))
    assert out.shape == stored.shape and out.dtype == stored.dtype
    np.testing.assert_array_equal(out[~hole], stored[~hole])
    np.testing.assert_array_equal(out[..., -1], stored[..., -1])  # alpha everywhere, the hole's too


def test_batch_outputs_that_would_overwrite_each_other_stop_before_work(capfd, tmp_path, tiny_weights):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    images.mkdir(), masks.mkdir()
    write_with_pillow(images / "shot.jpg", boxed_picture())
    write_with_pillow(images / "shot.png", boxed_picture())
    save_mask(masks / "shot.png", _corner_hole(40, 60))
    code, err = _run(capfd, "--images", images, "--masks", masks, "--output", out, "--weights", tiny_weights)
    assert code == 2
    assert "shot.jpg and shot.png would both be written to" in _one_error_line(err)
    assert not out.exists()


def test_two_masks_with_one_stem_are_refused(capfd, tmp_path, tiny_weights):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    images.mkdir(), masks.mkdir()
    write_with_pillow(images / "shot.png", boxed_picture())
    save_mask(masks / "shot.png", _corner_hole(40, 60))
    save_mask(masks / "shot.bmp", np.zeros((40, 60), bool))
    code, err = _run(capfd, "--images", images, "--masks", masks, "--output", out, "--weights", tiny_weights)
    assert code == 2
    assert "two masks for the photos named 'shot'" in _one_error_line(err)
    assert not out.exists()


@pytest.fixture
def photo(tmp_path):
    source = write_with_pillow(tmp_path / "photo.png", boxed_picture())
    save_mask(tmp_path / "mask.png", _corner_hole(40, 60))
    return source, tmp_path / "mask.png"


@pytest.mark.parametrize("where", ["an existing file", "a read-only place"])
def test_stages_location_is_checked_before_work(capfd, tmp_path, tiny_weights, photo, where):
    (tmp_path / "taken").write_text("a file")
    stages = tmp_path / "taken" if where == "an existing file" else "/proc/pconv-stages"
    code, err = _run(capfd, *photo, "-o", tmp_path / "out.png", "--stages", stages, "--weights", tiny_weights)
    assert code == 2
    assert "--stages" in _one_error_line(err) or "not writable" in err or "cannot write" in err
    assert not (tmp_path / "out.png").exists()


def test_output_in_a_read_only_place_is_checked_before_work(capfd, tmp_path, tiny_weights, photo):
    code, err = _run(capfd, *photo, "-o", "/proc/pconv-out.png", "--weights", tiny_weights)
    assert code == 2
    assert "/proc" in _one_error_line(err)


def _truncated(path, keep: float):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    return path


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg", ".webp"])
def test_a_damaged_file_is_one_line_and_no_output(capfd, tmp_path, tiny_weights, suffix):
    if suffix == ".tif":
        source = write_tiff(tmp_path / "cut.tif", boxed_picture(), rowsperstrip=4, compression="zlib")
    else:
        source = write_with_pillow(tmp_path / f"cut{suffix}", boxed_picture())
    _truncated(source, 0.6)
    save_mask(tmp_path / "mask.png", _corner_hole(40, 60))
    code, err = _run(capfd, source, tmp_path / "mask.png", "-o", tmp_path / "out.png", "--weights", tiny_weights)
    assert code == 2
    _one_error_line(err)
    assert not (tmp_path / "out.png").exists()


def test_allow_damaged_fills_what_can_be_read_and_says_so(capfd, tmp_path, tiny_weights):
    source = _truncated(write_with_pillow(tmp_path / "cut.jpg", boxed_picture()), 0.7)
    save_mask(tmp_path / "mask.png", _corner_hole(40, 60))
    code, err = _run(capfd, source, tmp_path / "mask.png", "-o", tmp_path / "out.png", "--weights", tiny_weights)
    assert code == 2 and "--allow-damaged" in _one_error_line(err)
    code, err = _run(capfd, source, tmp_path / "mask.png", "-o", tmp_path / "out.png", "--weights", tiny_weights,
                     "--allow-damaged")
    assert code == 0
    assert "damaged or cut short" in err and err.startswith("WARNING: ")
    assert (tmp_path / "out.png").is_file()


def test_a_two_page_tiff_is_a_warning(capfd, tmp_path, tiny_weights):
    with tifffile.TiffWriter(tmp_path / "two.tif") as tiff:
        tiff.write(boxed_picture(), photometric="rgb", metadata=None)
        tiff.write(boxed_picture(), photometric="rgb", metadata=None)
    save_mask(tmp_path / "mask.png", _corner_hole(40, 60))
    code, err = _run(capfd, tmp_path / "two.tif", tmp_path / "mask.png", "-o", tmp_path / "out.tif",
                     "--weights", tiny_weights)
    assert code == 0
    assert "holds 2 pages (images): only the first is used" in err


def test_float_tiff_is_filled_in_float_without_clipping(capfd, tmp_path, tiny_weights):
    stored = np.linspace(0, 3.5, 40 * 60 * 3, dtype=np.float32).reshape(40, 60, 3)
    source = write_tiff(tmp_path / "hdr.tif", stored)
    hole = _corner_hole(40, 60)
    save_mask(tmp_path / "mask.png", hole)
    code, err = _run(capfd, source, tmp_path / "mask.png", "-o", tmp_path / "out.tif", "--weights", tiny_weights)
    assert code == 0, err
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[~hole], stored[~hole])  # values above 1.0 included
    assert out.max() == stored.max() and 0 <= out[hole].min() and out[hole].max() <= 3.5
    code, err = _run(capfd, source, tmp_path / "mask.png", "-o", tmp_path / "out.png", "--weights", tiny_weights)
    assert code == 2 and "cannot hold floating-point pixels" in _one_error_line(err)
    assert not (tmp_path / "out.png").exists()


def test_webp_output_is_lossless_unless_asked(capfd, tmp_path, tiny_weights, photo):
    code, err = _run(capfd, *photo, "-o", tmp_path / "out.webp", "--weights", tiny_weights)
    assert code == 0, err
    hole = _corner_hole(40, 60)
    with Image.open(tmp_path / "out.webp") as image:
        np.testing.assert_array_equal(np.asarray(image)[~hole], boxed_picture()[~hole])


@pytest.mark.parametrize("option", [("--jpeg-quality", "150"), ("--jpeg-quality", "0"), ("--webp-quality", "101")])
def test_out_of_range_quality_is_our_own_line(capfd, tmp_path, tiny_weights, photo, option):
    code, err = _run(capfd, *photo, "-o", tmp_path / "out.jpg", *option, "--weights", tiny_weights)
    assert code == 2
    assert "quality must be 1-100" in _one_error_line(err)
    assert not (tmp_path / "out.jpg").exists()


@pytest.mark.parametrize("channels", [3, 4])
def test_a_grey_photo_stored_as_colour_gets_a_grey_fill(tiny_weights, channels):
    y, x = np.mgrid[0:48, 0:64]
    grey = ((x * 4 + y * 2) % 256).astype(np.uint8)
    pixels = np.stack([grey] * 3 + ([np.full_like(grey, 255)] if channels == 4 else []), axis=2)
    hole = np.zeros((48, 64), bool)
    hole[10:30, 20:50] = True
    filled = Inpainter(tiny_weights, device="cpu").inpaint(pixels, hole).pixels
    np.testing.assert_array_equal(filled[..., 0], filled[..., 1])
    np.testing.assert_array_equal(filled[..., 1], filled[..., 2])
    np.testing.assert_array_equal(filled[~hole], pixels[~hole])


def test_api_takes_an_hxwx1_mask_like_an_hxw_one(tiny_weights):
    pixels = boxed_picture()
    hole = _corner_hole(40, 60)
    inpainter = Inpainter(tiny_weights, device="cpu")
    np.testing.assert_array_equal(inpainter.inpaint(pixels, hole[..., None]).pixels,
                                  inpainter.inpaint(pixels, hole).pixels)


@pytest.mark.parametrize("pixels, hole, expected", [
    (np.zeros((8, 8, 3), np.int64), np.zeros((8, 8), bool), "uint8, uint16 or floating point"),
    (np.zeros((8, 8, 5), np.uint8), np.zeros((8, 8), bool), "C = 1 to 4 channels"),
    (np.zeros((8,), np.uint8), np.zeros((8,), bool), "HxW or HxWxC"),
    (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 2), bool), "the hole must be HxW"),
    (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.float32), "bool or integer"),
    ([[0, 1]], np.zeros((1, 2), bool), "numpy arrays"),
])
def test_api_refuses_what_it_cannot_handle_with_input_error(tiny_weights, pixels, hole, expected):
    from pconv_studio.errors import InputError

    with pytest.raises(InputError, match=expected):
        Inpainter(tiny_weights, device="cpu").inpaint(pixels, hole)
