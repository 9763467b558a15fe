"""Evaluation: metrics against closed forms and a brute-force SSIM, the protocol on hand-made fills, the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pconv_studio.cli.main import main
from pconv_studio.training.evaluation import (
    EvaluationConfig, build_methods, evaluate, format_markdown, patchmatch_available, plot_report,
)
from pconv_studio.engine.imageio import save_image
from pconv_studio.training.masks import HOLE_RATIO_BINS
from pconv_studio.training.metrics import psnr, ssim

from .support import gradient_image

# 33 x 33 = 1089 pixels: no bin edge is a whole number of pixels, so a hole's size names its bin unambiguously.
SIZE = 33


def _photos(count: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(20, 200, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(count)]


def test_psnr_of_a_constant_offset_in_the_hole_matches_the_closed_form():
    offset = 12  # grey levels added to every channel of every hole pixel; no clipping for values in [20, 200)
    photos = _photos()
    seen: list[tuple[int, float]] = []  # (hole pixels, expected PSNR) per fill

    def shifted(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        count = int(hole.sum())
        mse = count * (offset / 255) ** 2 / (SIZE * SIZE)  # per channel: count of the SIZE^2 pixels are off
        seen.append((count, 10 * math.log10(1 / mse)))
        return image + np.uint8(offset)  # outside the hole this is wrong on purpose: compositing must undo it

    report = evaluate(photos, {"shifted": shifted}, EvaluationConfig(size=SIZE, seed=4))
    assert len(seen) == len(HOLE_RATIO_BINS) * len(photos)
    for low, high in HOLE_RATIO_BINS:
        expected = [value for count, value in seen if low < count / SIZE**2 < high]
        assert len(expected) == len(photos)
        score = report.score("shifted", (low, high))
        assert score.psnr == pytest.approx(np.mean(expected), abs=1e-9)
        assert score.hole_l1 == pytest.approx(offset / 255, abs=1e-12)
        assert score.images == len(photos)
    assert report.score("shifted", None).psnr == pytest.approx(np.mean([value for _, value in seen]), abs=1e-9)


def test_psnr_and_ssim_closed_forms():
    reference = np.full((16, 16, 3), 0.3)
    assert psnr(reference, reference + 0.1) == pytest.approx(20.0)  # 10 log10(1 / 0.1^2)
    a, b, c1 = 0.3, 0.4, 0.01**2  # constant images: no variance, so SSIM is the luminance term alone
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert ssim(np.full((16, 16, 3), a), np.full((16, 16, 3), b)) == pytest.approx(expected)
    assert ssim(reference, reference) == pytest.approx(1.0)


def _window_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of one 11 x 11 window pair, written out from Wang et al. 2004 (Gaussian weights, sigma 1.5)."""
    offsets = np.arange(11) - 5
    weights = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.5**2))
    weights /= weights.sum()
    c1, c2 = 0.01**2, 0.03**2
    mx, my = (weights * x).sum(), (weights * y).sum()
    vx, vy = (weights * (x - mx) ** 2).sum(), (weights * (y - my) ** 2).sum()
    cov = (weights * (x - mx) * (y - my)).sum()
    return (2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


def test_ssim_matches_a_brute_force_window_by_window_reference():
    rng = np.random.default_rng(2)
    first = rng.random((14, 17, 3))
    second = np.clip(first + rng.normal(0, 0.1, first.shape), 0, 1)
    per_channel = []
    for channel in range(3):
        values = []
        for top in range(14 - 10):
            for left in range(17 - 10):
                values.append(_window_ssim(first[top:top + 11, left:left + 11, channel],
                                           second[top:top + 11, left:left + 11, channel]))
        per_channel.append(np.mean(values))
    assert ssim(first, second) == pytest.approx(np.mean(per_channel), abs=1e-10)


def test_ssim_over_a_hole_averages_the_brute_force_windows_centred_on_it():
    rng = np.random.default_rng(3)
    first = rng.random((20, 23, 3))
    second = np.clip(first + rng.normal(0, 0.2, first.shape), 0, 1)
    where = rng.random((20, 23)) < 0.3
    where[:5] = True  # centres closer than 5 px to the border have no 'valid' window: they must be skipped
    per_channel = []
    for channel in range(3):
        values = []
        for row, col in zip(*np.nonzero(where)):
            if not (5 <= row < 20 - 5 and 5 <= col < 23 - 5):
                continue
            values.append(_window_ssim(first[row - 5:row + 6, col - 5:col + 6, channel],
                                       second[row - 5:row + 6, col - 5:col + 6, channel]))
        per_channel.append(np.mean(values))
    assert ssim(first, second, where) == pytest.approx(np.mean(per_channel), abs=1e-10)
    border_only = np.zeros((20, 23), bool)
    border_only[:5] = True
    assert math.isnan(ssim(first, second, border_only))


@pytest.mark.parametrize("name", ["telea", "navier-stokes", "fsr-fast", "patchmatch"])
def test_classical_methods_fill_a_smooth_ramp_well_and_repeatably(name):
    if name == "patchmatch" and not patchmatch_available():
        pytest.skip("pypatchmatch is not installed")
    ramp = gradient_image(64, 64)  # FSR works in blocks and fills images smaller than about 64 px poorly
    config = EvaluationConfig(size=64, bins=((0.05, 0.1),), seed=1)
    methods = build_methods([name])
    first = evaluate([ramp], methods, config)
    score = first.score(name, None)
    assert score.psnr > 30 and score.ssim > 0.9  # a smooth ramp is easy: a broken mask convention fails this
    assert _same_scores(first, evaluate([ramp], methods, config))


def _same_scores(a, b) -> bool:
    """Equal metrics; the timings of two runs differ."""
    return [(s.psnr, s.ssim, s.hole_l1) for s in a.scores] == [(s.psnr, s.ssim, s.hole_l1) for s in b.scores]


def test_markdown_has_a_row_per_bin_and_the_chart_is_a_png(tmp_path):
    report = evaluate(_photos(1), build_methods(["telea", "navier-stokes"]), EvaluationConfig(size=SIZE))
    table = format_markdown(report)
    assert "| hole ratio | telea | navier-stokes |" in table
    # PSNR, SSIM, L1, texture distance and gradient-energy ratio tables
    assert table.count("| 0.01-0.10 |") == 5 and table.count("| all |") == 5
    plot_report(report, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pconv-studio: error: "), lines
    return lines[0]


@pytest.fixture
def photo_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, pixels in enumerate(_photos()):
        save_image(folder / f"photo{index}.png", pixels)
    return folder


def test_cli_writes_the_table_and_chart(photo_folder, tiny_weights, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["evaluate", str(photo_folder), "--weights", str(tiny_weights), "--methods", "model,telea",
                 "--size", str(SIZE), "--device", "cpu", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "| hole ratio | model | telea |" in (out / "evaluation.md").read_text()
    assert (out / "evaluation.png").is_file()


def test_cli_errors_are_one_line_and_exit_code_2(photo_folder, tmp_path, capsys):
    missing = tmp_path / "missing.safetensors"
    assert main(["evaluate", str(photo_folder), "--weights", str(missing), "--out", str(tmp_path / "o")]) == 2
    assert "weights file not found" in _one_error_line(capsys)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", str(empty), "--methods", "telea", "--out", str(tmp_path / "o")]) == 2
    assert "no photos in" in _one_error_line(capsys)

    (photo_folder / "broken.png").write_bytes(b"not a PNG")
    assert main(["evaluate", str(photo_folder), "--methods", "telea", "--out", str(tmp_path / "o")]) == 2
    assert "broken.png" in _one_error_line(capsys)

    assert main(["evaluate", str(photo_folder), "--methods", "telea,magic", "--out", str(tmp_path / "o")]) == 2
    assert "magic" in _one_error_line(capsys)
