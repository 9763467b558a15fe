"""The command line: one clear stderr line and exit code 2 for bad input, no partial output, inputs untouched."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pconv_studio.cli.main import main
from pconv_studio.engine import Inpainter, load_image, save_image, save_mask

from .support import blend_by_hand, gradient_image, make_detailed_weights, make_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return make_weights(tmp_path_factory.mktemp("weights") / "tiny.safetensors")


@pytest.fixture
def photo(tmp_path):
    pixels = gradient_image(60, 80)
    hole = np.zeros((60, 80), bool)
    hole[20:35, 30:50] = True
    save_image(tmp_path / "photo.png", pixels)
    save_mask(tmp_path / "mask.png", hole)
    return tmp_path / "photo.png", tmp_path / "mask.png", pixels, hole


def _run(capsys, *args):
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("pconv-studio: error: ")
    return lines[0]


def test_fills_one_photo(capsys, tmp_path, photo, weights):
    image, mask, pixels, hole = photo
    out = tmp_path / "out.png"
    code, err = _run(capsys, "inpaint", image, mask, "-o", out, "--weights", weights, "--device", "cpu",
                     "--stages", tmp_path / "stages")
    assert code == 0, err
    result = load_image(out)
    np.testing.assert_array_equal(result[~hole], pixels[~hole])
    np.testing.assert_array_equal(load_image(image), pixels)  # the input is untouched
    names = sorted(p.name for p in (tmp_path / "stages").iterdir())
    assert names[0] == "01_enc1.png" and names[-1] == "08_dec1.png" and len(names) == 8
    first_stage = load_image(tmp_path / "stages" / "01_enc1.png")
    assert set(np.unique(first_stage)) <= {0, 255} and first_stage.max() == 255  # white = hole


def test_batch_matches_masks_by_stem(capsys, tmp_path, weights):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    images.mkdir(), masks.mkdir()
    hole = np.zeros((40, 50), bool)
    hole[5:15, 5:25] = True
    for stem, suffix in (("a", ".jpg"), ("b", ".png")):
        save_image(images / f"{stem}{suffix}", gradient_image(40, 50))
        save_mask(masks / f"{stem}.png", hole)
    code, err = _run(capsys, "inpaint", "--images", images, "--masks", masks, "--output", out, "--weights", weights)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]


def test_empty_mask_writes_the_image_unchanged_with_a_warning(capsys, tmp_path, photo, weights):
    image, _, pixels, _ = photo
    save_mask(tmp_path / "empty.png", np.zeros((60, 80), bool))
    code, err = _run(capsys, "inpaint", image, tmp_path / "empty.png", "-o", tmp_path / "out.png", "--weights", weights)
    assert code == 0
    assert "nothing to fill" in err
    np.testing.assert_array_equal(load_image(tmp_path / "out.png"), pixels)


def _bad_cases(tmp_path, image, mask):
    (tmp_path / "text.png").write_text("not an image")
    save_mask(tmp_path / "small_mask.png", np.ones((10, 10), bool))
    save_mask(tmp_path / "full_mask.png", np.ones((60, 80), bool))
    return {
        "missing file": ([tmp_path / "missing.png", mask, "-o", tmp_path / "o.png"], "file not found"),
        "not an image": ([tmp_path / "text.png", mask, "-o", tmp_path / "o.png"], "not an image"),
        "mask size": ([image, tmp_path / "small_mask.png", "-o", tmp_path / "o.png"], "mask is 10x10 but the image is 80x60"),
        "whole-image hole": ([image, tmp_path / "full_mask.png", "-o", tmp_path / "o.png"], "covers the whole image"),
        "unwritable output": ([image, mask, "-o", tmp_path / "no_such_dir" / "o.png"], "does not exist"),
        "output is a folder": ([image, mask, "-o", tmp_path / "folder.png"], "it is a folder"),
        "output names the input": ([image, mask, "-o", image], "is an input file"),
        "unknown format": ([image, mask, "-o", tmp_path / "o.gif"], "must end in one of"),
    }


@pytest.mark.parametrize("case", [
    "missing file", "not an image", "mask size", "whole-image hole", "unwritable output", "output is a folder",
    "output names the input", "unknown format",
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, photo, weights, case):
    image, mask, pixels, _ = photo
    (tmp_path / "folder.png").mkdir()
    args, message = _bad_cases(tmp_path, image, mask)[case]
    before = {p.name for p in tmp_path.iterdir()}
    code, err = _run(capsys, "inpaint", *args, "--weights", weights)
    assert code == 2
    assert message in _one_error_line(err)
    assert {p.name for p in tmp_path.iterdir()} == before  # nothing written, no temporary left
    np.testing.assert_array_equal(load_image(image), pixels)


def test_missing_weights_is_a_clear_error(capsys, tmp_path, photo):
    image, mask, _, _ = photo
    code, err = _run(capsys, "inpaint", image, mask, "-o", tmp_path / "o.png", "--weights", tmp_path / "w.safetensors")
    assert code == 2
    assert "weights file not found" in _one_error_line(err)
    assert not (tmp_path / "o.png").exists()


def test_python_dash_m_works_and_reports_usage_errors(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "pconv_studio", "inpaint", str(tmp_path / "a.png")],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    assert "usage: pconv-studio inpaint IMAGE MASK -o OUT" in completed.stderr


@pytest.fixture(scope="module")
def detailed(weights, tmp_path_factory):
    return make_detailed_weights(weights, tmp_path_factory.mktemp("detailed") / "detailed.safetensors")


def test_detail_blends_the_two_models(capsys, tmp_path, photo, weights, detailed):
    image, mask, pixels, hole = photo
    output = tmp_path / "out.png"
    code, err = _run(capsys, "inpaint", image, mask, "-o", output, "--weights", weights, "--detail", "0.5",
                     "--detail-weights", detailed, "--precision", "fp32", "--device", "cpu")
    assert code == 0, err
    by_hand = Inpainter(blend_by_hand(weights, detailed, 0.5, tmp_path / "hand.safetensors"), device="cpu",
                        precision="fp32")
    np.testing.assert_array_equal(load_image(output), by_hand.inpaint(pixels, hole).pixels)
    faithful = Inpainter(weights, device="cpu", precision="fp32").inpaint(pixels, hole).pixels
    assert (load_image(output) != faithful).any()


@pytest.mark.parametrize("case, message", [
    (["--detail", "1.5"], "must lie between 0 (faithful) and 1 (detailed), not 1.5"),
    (["--detail", "-0.1"], "not -0.1"),
    (["--detail", "nan"], "not nan"),
    (["--detail", "0.5"], "the detailed model is not installed (tiny_detailed.safetensors is missing from"),
    (["--detail-weights", "missing.safetensors"], "missing.safetensors is missing from"),
])
def test_bad_detail_is_one_line_and_exit_2(capsys, tmp_path, photo, weights, case, message):
    image, mask, _, _ = photo
    before = {p.name for p in tmp_path.iterdir()}
    code, err = _run(capsys, "inpaint", image, mask, "-o", tmp_path / "o.png", "--weights", weights, *case)
    assert code == 2
    assert message in _one_error_line(err)
    assert {p.name for p in tmp_path.iterdir()} == before
