"""Evaluation of texture and of blended networks: the texture columns, model@T against hand-averaged weights, the
sheet of fills at 100%, and the CLI options that drive them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pconv_studio.cli.main import main
from pconv_studio.engine.imageio import load_image, save_image
from pconv_studio.errors import InputError
from pconv_studio.engine.inpainter import Inpainter
from pconv_studio.model import load_weights, save_weights
from pconv_studio.training.evaluation import EvaluationConfig, build_methods, evaluate, evaluation_masks
from pconv_studio.training.metrics import gradient_energy_ratio, texture_distance
from pconv_studio.training.sheet import FillSheet, sheet_cells

from .support import make_weights

SIZE = 48


def _photos(count: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(4)
    return [rng.integers(20, 220, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(count)]


def _mean_colour(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """A hand-made fill: the known pixels' mean colour in the hole."""
    filled = image.copy()
    filled[hole] = image[~hole].mean(axis=0).round().astype(np.uint8)
    return filled


def test_texture_columns_average_the_metrics_over_each_bins_photos():
    photos = _photos()
    config = EvaluationConfig(size=SIZE, bins=((0.1, 0.2), (0.4, 0.5)))
    report = evaluate(photos, {"truth": lambda image, hole: image, "mean": _mean_colour}, config)
    masks = evaluation_masks(len(photos), config)
    for b, ratio_bin in enumerate(config.bins):
        truth = report.score("truth", ratio_bin)
        assert truth.texture_distance == 0.0 and truth.gradient_energy_ratio == pytest.approx(1.0)
        fills = [np.where(hole[..., None], _mean_colour(photo, hole), photo) for photo, hole in zip(photos, masks[b])]
        expected = np.mean([texture_distance(p, f, h) for p, f, h in zip(photos, fills, masks[b])])
        ratio = np.mean([gradient_energy_ratio(p, f, h) for p, f, h in zip(photos, fills, masks[b])])
        mean = report.score("mean", ratio_bin)
        assert mean.texture_distance == pytest.approx(expected, rel=1e-12) and mean.texture_distance > 0.1
        assert mean.gradient_energy_ratio == pytest.approx(ratio, rel=1e-12) and mean.gradient_energy_ratio < 0.5


def test_a_texture_statistic_undefined_for_every_photo_is_nan_not_an_error():
    # a 16 px image with a 1-px hole ring at the border: no hole pixel lies 3 px inside, so no texture patch
    config = EvaluationConfig(size=16, bins=((0.1, 0.2),))
    photos = [np.full((16, 16, 3), 90, np.uint8)]  # flat: the gradient-energy ratio is undefined too
    report = evaluate(photos, {"mean": _mean_colour}, config)
    score = report.score("mean", None)
    assert math.isnan(score.gradient_energy_ratio) and math.isfinite(score.psnr)


def _average_weights(first, second, path):
    """Hand-made t = 0.5 blend: every floating tensor averaged in float64, integer ones from the first."""
    model, _ = load_weights(first)
    other = load_weights(second)[0].state_dict()
    state = {name: ((value.double() + other[name].double()) / 2).float() if value.is_floating_point() else value
             for name, value in model.state_dict().items()}
    model.load_state_dict(state)
    save_weights(model, path)
    return path


def test_blended_methods_match_their_end_weights_and_a_hand_averaged_network(tmp_path):
    faithful = make_weights(tmp_path / "faithful.safetensors", seed=1)
    detailed = make_weights(tmp_path / "detailed.safetensors", seed=2)
    middle = _average_weights(faithful, detailed, tmp_path / "middle.safetensors")
    methods = build_methods(["model@0", "model@0.5", "model@1"], weights=faithful, device="cpu",
                            detail_weights=detailed)
    image = _photos(1)[0]
    hole = np.zeros((SIZE, SIZE), bool)
    hole[10:30, 12:40] = True
    references = {"model@0": faithful, "model@0.5": middle, "model@1": detailed}
    for name, weights in references.items():
        expected = Inpainter(weights, device="cpu").inpaint(image, hole).pixels.astype(int)
        assert np.abs(methods[name](image, hole).astype(int) - expected).max() <= 1, name  # float rounding only
    with pytest.raises(InputError, match="detail-weights"):
        build_methods(["model@0.5"], weights=faithful, device="cpu")


def test_the_sheet_holds_every_fill_at_full_size_where_its_column_says():
    photos = _photos(3)
    masks = [[np.zeros((SIZE, SIZE), bool) for _ in photos] for _ in range(2)]
    masks[1][1][5:20, 8:30] = True
    sheet = FillSheet(photos, masks, ["a", "b"], ["x", "y"], sheet_cells(2, 3))
    assert sheet.cells == [(0, 0), (1, 1)]
    fills = {(b, i, m): np.full((SIZE, SIZE, 3), 10 * b + 3 * i + (m == "y"), np.uint8)
             for b in range(2) for i in range(3) for m in ("x", "y")}
    for (b, i, m), fill in fills.items():
        sheet.add(b, i, m, fill)
    assert len(sheet.fills) == 4  # only the sheet's rows are kept
    image = sheet.render()
    gap, title = 4, 22
    assert image.shape == (2 * (title + SIZE + gap), 4 * (SIZE + gap) + gap, 3)
    for row, (b, i) in enumerate(sheet.cells):
        top = row * (title + SIZE + gap) + title
        tiles = [image[top: top + SIZE, gap + c * (SIZE + gap): gap + c * (SIZE + gap) + SIZE] for c in range(4)]
        assert np.array_equal(tiles[0], photos[i])
        expected_hole_tile = photos[i].copy()
        expected_hole_tile[masks[b][i]] = 255
        assert np.array_equal(tiles[1], expected_hole_tile)
        assert np.array_equal(tiles[2], fills[b, i, "x"]) and np.array_equal(tiles[3], fills[b, i, "y"])


@pytest.fixture
def photo_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, pixels in enumerate(_photos()):
        save_image(folder / f"photo{index}.png", pixels)
    return folder


def test_cli_evaluates_blends_as_columns_and_writes_the_sheet(photo_folder, tmp_path, capsys):
    faithful = make_weights(tmp_path / "faithful.safetensors", seed=1)
    detailed = make_weights(tmp_path / "detailed.safetensors", seed=2)
    out = tmp_path / "report"
    code = main(["evaluate", str(photo_folder), "--weights", str(faithful), "--methods", "model,telea",
                 "--detail-weights", str(detailed), "--detail-values", "0.5,1", "--size", str(SIZE),
                 "--max-images", "1", "--device", "cpu", "--out", str(out), "--sheet", "--no-chart"])
    assert code == 0, capsys.readouterr().err
    text = (out / "evaluation.md").read_text()
    assert "| hole ratio | model@0.5 | model@1 | telea |" in text and "Texture distance" in text
    sheet = load_image(out / "sheet.png")
    assert sheet.shape[1] == 5 * (SIZE + 4) + 4  # truth, hole, two blends, telea


@pytest.mark.parametrize("arguments, message", [
    (["--detail-values", "0,0.5"], "needs --detail-weights"),
    (["--detail-values", "0,2", "--detail-weights", "x.safetensors"], "in [0, 1]"),
    (["--methods", "model@x"], "must be a number"),
    (["--full-resolution", "--sheet"], "not with --full-resolution"),
])
def test_cli_detail_errors_are_one_line(photo_folder, tmp_path, capsys, arguments, message):
    assert main(["evaluate", str(photo_folder), "--out", str(tmp_path / "o"), *arguments]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], lines
