"""evaluate --upscale and --arms (training/upscale_evaluation.py, training/arms.py): the pieces against written-out
formulas and another library, and both commands end to end with the tiny network."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pconv_studio.cli.main import main
from pconv_studio.model import UPSCALE_INPUT_KEY, load_weights, save_weights
from pconv_studio.training.upscale_evaluation import (
    downscale_bicubic, griddata_fill, luma, sparse_hole,
)


def test_luma_is_bt601_on_the_8_bit_scale():
    pixels = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [10, 200, 30]]], np.uint8)
    expected = [16.0, 235.0, 16.0 + 65.481, 16 + (65.481 * 10 + 128.553 * 200 + 24.966 * 30) / 255]
    np.testing.assert_allclose(luma(pixels)[0], expected, rtol=0, atol=1e-9)


def test_the_low_resolution_input_is_an_antialiased_downscale_not_point_samples():
    stripes = np.zeros((60, 60, 3), np.uint8)
    stripes[:, ::2] = 255  # 1 px stripes: point sampling at x2 would give all white or all black
    low = downscale_bicubic(stripes, 2.0)
    assert low.shape == (30, 30, 3)
    assert np.abs(low[5:-5, 5:-5].astype(float) - 127.5).max() < 3


def test_griddata_reconstructs_a_linear_ramp_inside_the_samples_hull():
    rows, cols = np.mgrid[0:40, 0:50]
    ramp = np.stack([2 * rows + 3 * cols, 200 - 4 * rows, np.full_like(rows, 90)], axis=2).astype(np.uint8)
    hole = sparse_hole(ramp.shape[:2], 0.25, seed=0, photo=0)
    hole[0, :] = hole[-1, :] = hole[:, 0] = hole[:, -1] = False  # the hull is the whole frame
    assert 0.65 < hole.mean() < 0.8
    filled = griddata_fill(ramp, hole)
    assert np.abs(filled.astype(int) - ramp.astype(int)).max() <= 1


@pytest.fixture
def small_photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(2):
        smooth = rng.integers(0, 256, (8, 10, 3)).astype(np.uint8)
        Image.fromarray(smooth).resize((130, 125), Image.Resampling.BICUBIC).save(folder / f"p{index}.png")
    return folder


def test_evaluate_upscale_writes_the_table_and_the_crops(small_photos, tiny_weights, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", str(small_photos), "--upscale", "--weights", str(tiny_weights), "--twin",
                 str(tiny_weights), "--scales", "2,4", "--device", "cpu", "--out", str(out)]) == 0
    table = (out / "upscaling.md").read_text()
    for row in ("| x2 | bicubic |", "| x4 | twin |", "| x4 | pconv |", "| sparse | griddata |",
                "| x2 | pconv - bicubic |", "| sparse | pconv - griddata |"):
        assert row in table
    assert "2 photos" in table
    for name in ("upscaling_crops.png", "sparse_crops.png"):
        figure = np.asarray(Image.open(out / name))
        assert figure.ndim == 3 and figure.shape[0] > 120


def test_evaluate_arms_compares_on_the_same_holes(small_photos, tiny_weights, tmp_path):
    out = tmp_path / "arms"
    assert main(["evaluate", str(small_photos), "--arms", f"a={tiny_weights},b={tiny_weights}", "--size", "64",
                 "--repeats", "1", "--candidate", "b", "--control", "a", "--device", "cpu", "--out", str(out)]) == 0
    table = (out / "arms.md").read_text()
    assert "| b - a | +0.000 | [+0.000, +0.000] |" in table  # the same weights fill the same holes alike
    assert "not met: do not adopt" in table


def test_a_model_for_the_other_input_is_refused_where_it_does_not_belong(small_photos, tiny_weights, tmp_path,
                                                                          capsys):
    model, _ = load_weights(tiny_weights)
    save_weights(model, tmp_path / "grid.safetensors", extra={UPSCALE_INPUT_KEY: "grid"})
    assert main(["evaluate", str(small_photos), "--upscale", "--weights", str(tiny_weights), "--twin",
                 str(tmp_path / "grid.safetensors"), "--out", str(tmp_path / "o")]) != 0
    assert "--twin grid.safetensors is a model for 'grid' input" in capsys.readouterr().err


@pytest.mark.parametrize("options, message", [
    (["--twin", "x.safetensors"], "need --upscale"),
    (["--repeats", "2"], "need --arms"),
    (["--upscale", "--arms", "a=x,b=y"], "one at a time"),
    (["--arms", "a=x"], "at least two"),
    (["--upscale", "--scales", "7"], "does not divide"),
    (["--upscale", "--methods", "telea"], "choose their own methods"),
])
def test_evaluate_refuses_options_out_of_place(options, message, small_photos, tmp_path, capsys):
    assert main(["evaluate", str(small_photos), "--out", str(tmp_path / "o"), *options]) != 0
    assert message in capsys.readouterr().err
