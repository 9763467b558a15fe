"""The full-resolution evaluation: the runner on small synthetic photos with hand-made fills whose scores are known
in closed form, the table and CSV against those rows, the crop figure, the peak-memory measure, the CLI."""

from __future__ import annotations

import csv
import io
import math
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest

from pconv_studio.cli.main import main
from pconv_studio.engine.imageio import load_image, save_image
from pconv_studio.errors import InputError
from pconv_studio.training.fullres import (
    Fill, FullResolutionConfig, FullResolutionReport, PhotoScore, build_fill_methods, evaluate_full_resolution,
    format_fullres_markdown, format_targets, fullres_mask, read_scores,
)
from pconv_studio.training.fullres_figure import CropFigure, edge_window
from pconv_studio.training.peak_memory import PeakMemory

SIZES = [(120, 160), (128, 150)]  # (height, width): small, and of two shapes, as the real set is


def _texture(height: int, width: int, seed: int) -> np.ndarray:
    """Smoothed noise over a colour ramp: detail at every scale, no flat region."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (height, width, 3)).astype(np.float32), (0, 0), 1.2)
    ramp = np.linspace(60, 190, width, dtype=np.float32)[None, :, None]
    return np.clip(ramp + 35 * noise, 0, 255).astype(np.uint8)


@pytest.fixture
def photo_paths(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    paths = []
    for index, (height, width) in enumerate(SIZES):
        paths.append(folder / f"photo{index}.png")
        save_image(paths[-1], _texture(height, width, index))
    return paths


OFFSET = 12  # levels added by the "shifted" fill; the textures stay below 255 - OFFSET (checked in the test)


def _shifted(image: np.ndarray, hole: np.ndarray) -> Fill:
    """The truth plus OFFSET levels everywhere: compositing must undo it outside the hole."""
    assert image.max() < 255 - OFFSET
    return Fill(image + np.uint8(OFFSET), ("hand-made at 1.00",))


def test_scores_of_hand_made_fills_match_hand_computations(photo_paths):
    seen: list[tuple[np.ndarray, np.ndarray]] = []  # (truth, hole) as the methods received them

    def grey(image: np.ndarray, hole: np.ndarray) -> Fill:
        seen.append((image.copy(), hole.copy()))
        return Fill(np.full_like(image, 128))

    methods = {"truth": lambda image, hole: Fill(image.copy()), "shifted": _shifted, "grey": grey}
    report = evaluate_full_resolution(photo_paths, methods, FullResolutionConfig(seed=3))
    assert len(report.rows) == len(photo_paths) * 2 * 3 and len(seen) == len(photo_paths) * 2
    by_key = {(row.photo, row.kind): row for row in report.rows if row.method == "grey"}
    for index, (truth, hole) in enumerate(seen):  # photo by photo, each with its objects, then its wires
        photo, kind = f"photo{index // 2}", ("objects", "wires")[index % 2]
        assert truth.shape[:2] == SIZES[index // 2] and hole.shape == truth.shape[:2]
        error = truth[hole].astype(np.float64) / 255 - 128 / 255  # every hole pixel and channel, nothing else
        row = by_key[photo, kind]
        assert row.psnr == pytest.approx(10 * math.log10(1 / np.mean(error**2)), abs=1e-9)
        assert row.hole_l1 == pytest.approx(np.mean(np.abs(error)), abs=1e-12)
        assert row.hole_fraction == pytest.approx(hole.mean())
    for row in report.rows_of("objects", "truth") + report.rows_of("wires", "truth"):
        assert (row.psnr, row.ssim, row.hole_l1, row.texture, row.seam) == (100.0, 1.0, 0.0, 0.0, 0.0)
        assert row.gradient == pytest.approx(1.0)
    for row in report.rows_of("objects", "shifted") + report.rows_of("wires", "shifted"):
        assert row.psnr == pytest.approx(20 * math.log10(255 / OFFSET), abs=1e-9)  # no clipping (checked in _shifted)
        assert row.hole_l1 == pytest.approx(OFFSET / 255, abs=1e-12)
        assert row.seam == pytest.approx(OFFSET, abs=1e-9)  # the inner rim is OFFSET brighter than the truth's
        assert row.paths == "hand-made at 1.00"


def test_the_same_seed_gives_the_same_scores_and_the_masks_do_not_depend_on_the_methods(photo_paths):
    holes: dict[str, list[np.ndarray]] = {"a": [], "b": []}

    def recorder(name: str):
        def fill(image: np.ndarray, hole: np.ndarray) -> Fill:
            holes[name].append(hole)
            return Fill(cv2.inpaint(image, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA))
        return fill

    def scores(report: FullResolutionReport, method: str) -> list[tuple[float, ...]]:
        return [(r.psnr, r.ssim, r.hole_l1, r.texture, r.gradient, r.seam) for r in report.rows if r.method == method]

    one = photo_paths[:1]
    first = evaluate_full_resolution(one, {"a": recorder("a")}, FullResolutionConfig(seed=1))
    second = evaluate_full_resolution(one, {"b": recorder("b"), "a": recorder("a")}, FullResolutionConfig(seed=1))
    assert len(holes["a"]) == 4 and len(holes["b"]) == 2  # objects, then wires, per run
    assert all(np.array_equal(x, y) for x, y in zip(holes["a"][:2], holes["a"][2:]))
    assert all(np.array_equal(x, y) for x, y in zip(holes["a"][:2], holes["b"]))
    assert scores(first, "a") == scores(second, "a")
    third = evaluate_full_resolution(one, {"a": recorder("a")}, FullResolutionConfig(seed=2))
    assert not np.array_equal(holes["a"][4], holes["a"][0]) and scores(third, "a") != scores(first, "a")


def _row(method: str, kind: str, photo: str, psnr: float, texture: float, paths: str = "", seam: float = 0.0):
    return PhotoScore(photo, kind, method, 10, 10, 0.05, psnr, 0.9, 0.02, texture, 0.8, seam, 1.0, 100.0, paths)


def test_the_table_holds_the_means_over_the_photos_and_counts_the_paths():
    rows = (
        _row("scaled", "wires", "p0", 30.0, 0.6, "scaled at 0.20", seam=-3.0),
        _row("scaled", "wires", "p1", 32.0, float("nan"), "scaled at 0.25", seam=1.0),
        _row("model", "wires", "p0", 31.5, 0.3, "tiled at 1.00; tiled at 1.00"),
        _row("model", "wires", "p1", 32.0, 0.5, "two scales at 0.20"),
        _row("refusing", "wires", "p0", 10.0, 0.5, "refused"),
    )
    report = FullResolutionReport(("wires",), ("scaled", "model", "refusing"), rows)
    assert report.mean("wires", "scaled", "psnr") == 31.0
    assert report.mean("wires", "scaled", "texture") == 0.6  # NaN (no patch in the hole) is left out
    assert report.mean("wires", "scaled", "seam") == -1.0 and report.mean("wires", "scaled", "seam", True) == 2.0
    table = format_fullres_markdown(report)
    assert "### wires (2 photos, holes 5.0% of the photo on average)" in table
    means = "| 0.9000 | 2.00 | {} | 0.80 | {} | 1.00 | 100 |"  # SSIM, L1 %, texture, gradient, seams, s, MB
    scaled_paths, model_paths = "scaled x2 at 0.20-0.25", "tiled x2 at 1.00, two scales x1 at 0.20"
    assert f"| scaled | 31.00 {means.format('0.600', '-1.00 | 2.00')} {scaled_paths} |" in table
    assert f"| model | 31.75 {means.format('0.400', '+0.00 | 0.00')} {model_paths} |" in table
    assert table.endswith(" refused x1 |\n")
    assert format_targets(report) == "- wires: hole PSNR +0.75 dB against scaled (target >= +1.00 dB): missed"


def test_targets_for_objects_need_half_the_texture_distance_and_at_most_0_2_db_less():
    def report(model_psnr: float, model_texture: float) -> str:
        rows = (_row("scaled", "objects", "p", 25.0, 0.8), _row("model", "objects", "p", model_psnr, model_texture))
        return format_targets(FullResolutionReport(("objects",), ("scaled", "model"), rows))

    assert report(24.85, 0.4).endswith("texture distance 0.500 x scaled's (target <= 0.5) with hole PSNR -0.15 dB "
                                       "(target >= -0.20 dB): met")
    assert report(24.7, 0.3).endswith("missed")  # 0.3 dB lower
    assert report(25.5, 0.5).endswith("missed")  # texture only 0.62 x
    assert format_targets(FullResolutionReport(("objects",), ("model",), ())) == ""


def test_the_csv_has_a_row_per_photo_kind_and_method_and_reads_back(photo_paths):
    report = evaluate_full_resolution(photo_paths, {"shifted": _shifted}, FullResolutionConfig(kinds=("wires",)))
    table = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert [(r["photo"], r["kind"], r["method"]) for r in table] == [("photo0", "wires", "shifted"),
                                                                    ("photo1", "wires", "shifted")]
    for line, row in zip(table, report.rows):
        assert float(line["psnr"]) == pytest.approx(row.psnr, rel=1e-8)
        assert (int(line["height"]), int(line["width"])) == (row.height, row.width)
        assert line["paths"] == "hand-made at 1.00"
    assert read_scores(report.to_csv()) == [replace(row, **{name: float(f"{getattr(row, name):.9g}") for name in
                                            ("hole_fraction", "psnr", "ssim", "hole_l1", "texture", "gradient", "seam",
                                             "seconds", "peak_mb")}) for row in report.rows]
    with pytest.raises(InputError, match="not a full-resolution scores file"):
        read_scores("photo,kind\np,wires\n")


def test_earlier_scores_are_reused_only_for_the_same_photos_and_holes():
    earlier = [_row("telea", "wires", "p0", 30.0, 0.5), _row("telea", "wires", "p1", 28.0, 0.5),
               _row("model", "wires", "p0", 1.0, 1.0), _row("model", "wires", "p1", 1.0, 1.0)]
    now = FullResolutionReport(("wires",), ("model",), (_row("model", "wires", "p0", 31.0, 0.2),
                                                         _row("model", "wires", "p1", 33.0, 0.2)))
    elsewhere = [_row("telea", "objects", "p0", 20.0, 0.5), _row("telea", "wires", "p9", 20.0, 0.5)]
    combined = now.reusing(earlier + elsewhere)
    assert combined.methods == ("model", "telea") and len(combined.rows) == 4  # other kinds and photos left out
    assert combined.mean("wires", "model", "psnr") == 32.0  # this run's model rows, not the earlier ones
    assert combined.mean("wires", "telea", "psnr") == 29.0
    with pytest.raises(InputError, match="miss some"):
        now.reusing(earlier[:1])  # p1 missing
    with pytest.raises(InputError, match="other holes"):
        now.reusing([earlier[0], replace(earlier[1], hole_fraction=0.07)])


def test_the_crop_window_straddles_the_hole_edge_where_the_photo_has_detail():
    truth = np.full((400, 600, 3), 120, np.uint8)
    truth[200:, 300:] = _texture(200, 300, 5)  # detail only in the bottom-right quarter
    hole = np.zeros((400, 600), bool)
    hole[:, 380:440] = True  # a vertical band through both the flat and the detailed part
    top, left = edge_window(truth, hole, size=160)
    window = hole[top:top + 160, left:left + 160]
    assert top >= 200 - 40 and left >= 300 - 40  # mostly in the detailed quarter (the grid step is 40 px)
    assert 0.3 <= window.mean() <= 0.375  # 60 px of 160: the share nearest 40% that a 60 px band allows
    assert edge_window(truth, hole, size=160) == (top, left)


def test_the_figure_puts_each_method_beside_the_truth_at_100_percent():
    truth = _texture(240, 320, 1)
    hole = np.zeros((240, 320), bool)
    hole[100:180, 120:220] = True
    fills = {"a": np.zeros_like(truth), "b": np.full_like(truth, 255)}
    figure = CropFigure(["a", "b"], size=96)
    figure.add("p", "objects", truth, hole, fills)
    figure.add("p", "wires", truth, hole, fills)
    image = figure.render()
    assert image.shape == (18 + 2 * (18 + 96) + 4, 4 + 3 * (96 + 4), 3) and image.dtype == np.uint8
    top, left = edge_window(truth, hole, size=96)
    first = image[18 + 18:18 + 18 + 96]
    crop = first[:, 4:100]
    outside = ~hole[top:top + 96, left:left + 96]
    assert np.array_equal(crop[outside], truth[top:top + 96, left:left + 96][outside])  # pixels, not resampled
    assert (first[:, 104:200] == 0).all() and (first[:, 204:300] == 255).all()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's RSS high-water mark is Linux's")
def test_peak_memory_measures_the_work_not_what_came_before():
    before = np.ones(200 * 2**20, np.uint8)  # 200 MiB touched and freed before: must not count
    del before
    with PeakMemory() as memory:
        work = np.ones(64 * 2**20, np.uint8)  # 64 MiB, every page touched
        del work
    assert 63 <= memory.added_mb < 64 + 16, memory.added_mb  # 1 MiB of slack: the RSS read itself is paged


def _one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pconv-studio: error: "), lines
    return lines[0]


@pytest.fixture
def figure_photos(tmp_path):
    """Two photos large enough for the figure's 160 px crops."""
    folder = tmp_path / "large"
    folder.mkdir()
    for index, (height, width) in enumerate([(168, 200), (180, 176)]):
        save_image(folder / f"photo{index}.png", _texture(height, width, index + 10))
    return folder


def test_cli_writes_the_table_the_csv_and_the_figure(figure_photos, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["evaluate", "--full-resolution", str(figure_photos), "--methods", "telea,navier-stokes",
                 "--figure-photos", "photo1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    table = (out / "resolution.md").read_text()
    assert table.count("| telea |") == 2 and table.count("| navier-stokes |") == 2  # one row per mask kind
    with (out / "resolution.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 2 * 2 * 2 and {row["photo"] for row in rows} == {"photo0", "photo1"}
    figure = load_image(out / "resolution_crops.png")
    assert figure.shape == (18 + 2 * (18 + 160) + 4, 4 + 2 * (160 + 4), 3)  # photo1's two kinds: truth, telea

    again = tmp_path / "again"  # navier-stokes again, telea's scores taken over from the first run
    code = main(["evaluate", "--full-resolution", str(figure_photos), "--methods", "navier-stokes",
                 "--reuse", str(out / "resolution.csv"), "--no-chart", "--out", str(again)])
    assert code == 0, capsys.readouterr().err
    first, second = (read_scores((folder / "resolution.csv").read_text()) for folder in (out, again))
    assert [row.method for row in second] == ["navier-stokes"] * 4 + ["telea"] * 4
    assert [row for row in second if row.method == "telea"] == [row for row in first if row.method == "telea"]
    metrics = ("photo", "kind", "psnr", "ssim", "hole_l1", "texture", "gradient", "seam")
    assert [[getattr(row, name) for name in metrics] for row in second if row.method == "navier-stokes"] == \
        [[getattr(row, name) for name in metrics] for row in first if row.method == "navier-stokes"]
    assert "| telea |" in (again / "resolution.md").read_text()
    assert not (again / "resolution_crops.png").exists()


def test_cli_full_resolution_errors_are_one_line_and_exit_code_2(figure_photos, tmp_path, capsys):
    out = str(tmp_path / "o")
    assert main(["evaluate", str(figure_photos), "--kinds", "wires", "--out", out]) == 2
    assert "--kinds need --full-resolution" in _one_error_line(capsys)
    assert main(["evaluate", str(figure_photos), "--reuse", str(tmp_path / "x.csv"), "--out", out]) == 2
    assert "--reuse need --full-resolution" in _one_error_line(capsys)
    assert main(["evaluate", "--full-resolution", str(figure_photos), "--reuse", str(tmp_path / "x.csv"),
                 "--out", out]) == 2
    assert "cannot read" in _one_error_line(capsys)
    assert main(["evaluate", "--full-resolution", str(figure_photos), "--size", "64", "--out", out]) == 2
    assert "--size does not apply" in _one_error_line(capsys)
    assert main(["evaluate", "--full-resolution", str(figure_photos), "--kinds", "wires,dust", "--out", out]) == 2
    assert "dust" in _one_error_line(capsys)
    assert main(["evaluate", "--full-resolution", str(figure_photos), "--methods", "telea",
                 "--figure-photos", "nowhere", "--out", out]) == 2
    assert "nowhere" in _one_error_line(capsys)
    assert main(["evaluate", "--full-resolution", str(figure_photos), "--methods", "magic", "--out", out]) == 2
    assert "magic" in _one_error_line(capsys)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["evaluate", "--full-resolution", str(figure_photos), "--methods", "telea",
                 "--out", str(blocker / "sub")]) == 2
    assert "cannot create" in _one_error_line(capsys)


def test_model_strategies_report_the_path_each_hole_group_took(tmp_path, tiny_weights):
    path = tmp_path / "wide.png"
    save_image(path, _texture(200, 1400, 4))  # a wire across it needs a crop wider than the 512 px working size
    columns = np.nonzero(fullres_mask("wires", 0, 200, 1400, seed=7).any(axis=0))[0]
    assert columns.max() - columns.min() > 512  # seed 7's wire runs lengthwise (a precondition, not the test)
    methods = build_fill_methods(["scaled", "model", "telea"], weights=tiny_weights, device="cpu")
    report = evaluate_full_resolution([path], methods, FullResolutionConfig(kinds=("wires",), seed=7))
    scaled, model, telea = report.rows
    scaled_paths, model_paths = scaled.paths.split("; "), model.paths.split("; ")
    assert all(p.startswith("scaled at 0.") for p in scaled_paths), scaled.paths  # scaled down to the working size
    assert len(model_paths) == len(scaled_paths)  # the same hole groups, by another path
    assert all(p.split(" at ")[0] in ("full resolution", "tiled", "two scales") for p in model_paths), model.paths
    assert telea.paths == ""
