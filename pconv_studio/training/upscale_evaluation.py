"""Evaluation of upscaling as inpainting (issue 14): the partial-convolution upscaler against interpolation and
against its plain twin, and sparse samples against linear scattered-data interpolation.

Protocol, as super-resolution benchmarks do it (Set5/Set14 and after):

- Each photo is centre-cropped to a multiple of 60 px on both sides (so every tested scale, 2, 2.5, 3 and 4,
  divides it) and downscaled by s with Pillow's bicubic filter, which widens its kernel by s when shrinking
  (antialiased, like MATLAB's `imresize`): never point sampling. Each method upscales it back to the crop's size.
- Scores are on the luminance of ITU-R BT.601 (Y = 16 + 65.481 R + 128.553 G + 24.966 B, RGB in [0, 1], on the
  8-bit scale) with ceil(s) px shaved off every border: PSNR (peak 255) and SSIM (`metrics.ssim`). Beside them
  a texture statistic over the shaved image on RGB: `metrics.texture_distance` (lower is better) and
  `metrics.gradient_energy_ratio` (1 is right, below 1 a blur).
- Methods: OpenCV's bicubic (INTER_CUBIC) and Lanczos (INTER_LANCZOS4) upscaling; "pconv", the `Upscaler` (the
  low-resolution pixels on the grid, the rest filled by the network); "twin", the same U-Net trained for the same
  steps on the bicubic upscale with every pixel valid (plain convolutions inside the image; partial-convolution
  padding only at the border), applied to OpenCV's bicubic upscale.
- Sparse samples: a random `keep` fraction of the crop's own pixels (seeded per photo) is kept; "griddata" is
  `scipy.interpolate.griddata(method="linear")` over them (nearest-neighbour outside their convex hull), "pconv"
  the `Inpainter` with the upscaling weights. Scores over the whole crop, as above, with 1 px shaved.

Per-photo values are kept, so differences between methods come with a paired bootstrap interval. `on_result`
sees every estimate, e.g. for `UpscaleFigures`: crops at 100% of the first photos, where a person judges what
the numbers cannot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
from PIL import Image

from ..engine.inpainter import Inpainter
from ..engine.upscale import Upscaler, upscaled_size
from ..errors import InputError
from ..model import UPSCALE_INPUT_KEY, read_weights_metadata
from ..paths import upscale_grid_weights_path
from .evaluation import centre_crop
from .fullres_figure import CropFigure
from .metrics import gradient_energy_ratio, psnr, ssim, texture_distance
from .paired import paired_bootstrap

__all__ = ["UpscaleEvaluationConfig", "UpscaleScores", "UpscaleFigures", "luma", "downscale_bicubic",
           "evaluate_upscaling", "format_upscale_markdown", "build_evaluation", "griddata_fill", "sparse_hole"]
_MULTIPLE = 60  # px: 2, 2.5, 3 and 4 all divide it
_MAX_SIDE = 360  # px: crops are at most this (the 256 px validation photos give 240 x 360)

Upscale = Callable[[np.ndarray, float], np.ndarray]
"""(low-resolution RGB uint8, scale) -> RGB uint8 of the crop's size."""


@dataclass(frozen=True)
class UpscaleEvaluationConfig:
    scales: tuple[float, ...] = (2.0, 4.0, 3.0, 2.5)
    sparse_keep: float = 0.25  # fraction of pixels kept in the sparse-samples test
    seed: int = 0
    bootstrap_resamples: int = 10_000

    def __post_init__(self) -> None:
        for scale in self.scales:
            if (_MULTIPLE / scale) != int(_MULTIPLE / scale):
                raise ValueError(f"scale {scale} does not divide {_MULTIPLE}: the crop would not divide evenly")
        if not 0.0 < self.sparse_keep < 1.0:
            raise ValueError("the sparse keep fraction must be between 0 and 1")


@dataclass
class UpscaleScores:
    """rows[(test, method)] holds one (psnr, ssim, texture distance, gradient-energy ratio) per photo; a test is
    "x2", "x2.5", ... or "sparse"."""

    photos: int
    rows: dict[tuple[str, str], list[tuple[float, float, float, float]]] = field(default_factory=dict)

    def column(self, test: str, method: str, index: int = 0) -> np.ndarray:
        return np.array([row[index] for row in self.rows[test, method]])

    def mean(self, test: str, method: str, index: int = 0) -> float:
        values = self.column(test, method, index)
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else math.nan


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luminance on the 8-bit scale (16-235) of RGB uint8, float64 HxW: the super-resolution convention."""
    values = rgb.astype(np.float64) / 255.0
    return 16.0 + 65.481 * values[..., 0] + 128.553 * values[..., 1] + 24.966 * values[..., 2]


def downscale_bicubic(rgb: np.ndarray, scale: float) -> np.ndarray:
    """Pillow's antialiased bicubic downscale by `scale` (sizes must divide), RGB uint8."""
    height, width = rgb.shape[:2]
    size = (round(width / scale), round(height / scale))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))


def _crop(photo: np.ndarray) -> np.ndarray:
    """The centred window of sides a multiple of `_MULTIPLE`, at most `_MAX_SIDE`."""
    return centre_crop(photo, *(min(side // _MULTIPLE * _MULTIPLE, _MAX_SIDE) for side in photo.shape[:2]))


def _score(truth: np.ndarray, estimate: np.ndarray, shave: int) -> tuple[float, float, float, float]:
    inner = (slice(shave, -shave), slice(shave, -shave))
    truth, estimate = truth[inner], estimate[inner]
    truth_y, estimate_y = luma(truth), luma(estimate)
    everywhere = np.ones(truth.shape[:2], bool)
    return (psnr(truth_y / 255.0, estimate_y / 255.0), ssim(truth_y / 255.0, estimate_y / 255.0),
            texture_distance(truth, estimate, everywhere), gradient_energy_ratio(truth, estimate, everywhere))


def interpolation(flag: int) -> Upscale:
    def upscale(low: np.ndarray, scale: float) -> np.ndarray:
        height, width = upscaled_size(*low.shape[:2], scale)
        return cv2.resize(low, (width, height), interpolation=flag)
    return upscale


def pconv_upscale(upscaler: Upscaler) -> Upscale:
    return lambda low, scale: upscaler.upscale(low, scale).pixels


def _upscaler_of_kind(weights: Path | None, kind: str, option: str, device: str) -> Upscaler:
    """An `Upscaler` that gives its network `kind` input; a file whose metadata says otherwise is an `InputError`
    (files without the metadata, e.g. a run's own weights, are taken as `kind`)."""
    if weights is not None:
        said = read_weights_metadata(weights).get(UPSCALE_INPUT_KEY, kind)
        if said != kind:
            raise InputError(f"{option} {Path(weights).name} is a model for {said!r} input, not {kind!r}")
    return Upscaler(weights if weights is not None else upscale_grid_weights_path(), device=device, input_kind=kind)


def twin_upscale(weights: Path, device: str = "auto") -> Upscale:
    """The plain twin: the network applied to the bicubic upscale, every pixel valid, its output everywhere."""
    return pconv_upscale(_upscaler_of_kind(weights, "bicubic", "--twin", device))


def sparse_hole(shape: tuple[int, int], keep: float, seed: int, photo: int) -> np.ndarray:
    """bool HxW, True = hole: each pixel kept with probability `keep`, from the photo's own generator."""
    return np.random.default_rng([seed, photo]).random(shape) >= keep


def griddata_fill(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`scipy.interpolate.griddata` (linear) from the known pixels; nearest-neighbour outside their hull."""
    from scipy.interpolate import griddata  # a dev dependency: only this evaluation needs it
    known_rows, known_cols = np.nonzero(~hole)
    hole_rows, hole_cols = np.nonzero(hole)
    points, targets = np.column_stack([known_rows, known_cols]), np.column_stack([hole_rows, hole_cols])
    filled = rgb.astype(np.float64).copy()
    for channel in range(rgb.shape[2]):
        values = rgb[known_rows, known_cols, channel].astype(np.float64)
        linear = griddata(points, values, targets, method="linear")
        outside = np.isnan(linear)
        if outside.any():
            linear[outside] = griddata(points, values, targets[outside], method="nearest")
        filled[hole_rows, hole_cols, channel] = linear
    return np.clip(filled + 0.5, 0, 255).astype(np.uint8)


ResultCallback = Callable[[int, str, str, np.ndarray, np.ndarray, np.ndarray | None], None]
"""Told of every estimate: (photo index, test, method, truth, estimate, the sparse test's hole or None)."""


def evaluate_upscaling(
    photos: Sequence[np.ndarray], upscalers: dict[str, Upscale], sparse_fillers: dict[str, Callable],
    config: UpscaleEvaluationConfig = UpscaleEvaluationConfig(),
    progress: Callable[[int, int], None] | None = None, on_result: ResultCallback | None = None,
) -> UpscaleScores:
    """Score every method on every photo (RGB uint8) at every scale, and on sparse samples. `sparse_fillers` map
    a name to a fill (RGB uint8, hole bool) -> RGB uint8, composited here before scoring."""
    scores = UpscaleScores(len(photos))
    crops = [_crop(photo) for photo in photos]
    total = len(crops) * (len(config.scales) * len(upscalers) + len(sparse_fillers))
    done = 0
    for index, truth in enumerate(crops):
        for scale in config.scales:
            low = downscale_bicubic(truth, scale)
            for name, upscale in upscalers.items():
                estimate = upscale(low, scale)
                if estimate.shape != truth.shape:
                    raise RuntimeError(f"{name} returned {estimate.shape} for a {truth.shape} photo at x{scale:g}")
                scores.rows.setdefault((f"x{scale:g}", name), []).append(_score(truth, estimate, math.ceil(scale)))
                if on_result is not None:
                    on_result(index, f"x{scale:g}", name, truth, estimate, None)
                done += 1
        hole = sparse_hole(truth.shape[:2], config.sparse_keep, config.seed, index)
        for name, fill in sparse_fillers.items():
            estimate = np.where(hole[..., None], fill(truth, hole), truth)
            scores.rows.setdefault(("sparse", name), []).append(_score(truth, estimate, 1))
            if on_result is not None:
                on_result(index, "sparse", name, truth, estimate, hole)
            done += 1
        if progress is not None:
            progress(done, total)
    return scores


class UpscaleFigures:
    """Two figures of 100% crops (the window with the most detail) for the photos in `photos` (indices): every
    upscaling method at `scales`, and the sparse test (the kept samples, then each method)."""

    def __init__(self, photos: Sequence[int], upscalers: Sequence[str], sparse: Sequence[str],
                 scales: Sequence[str] = ("x2", "x4"), size: int = 120) -> None:
        self.photos, self.scales = set(photos), tuple(scales)
        self.upscale = CropFigure(upscalers, size, "truth")
        self.sparse = CropFigure(("samples", *sparse), size, "truth")
        self._pending: dict[tuple[int, str], dict[str, np.ndarray]] = {}

    def __call__(self, index: int, test: str, method: str, truth: np.ndarray, estimate: np.ndarray,
                 hole: np.ndarray | None) -> None:
        if index not in self.photos or (test != "sparse" and test not in self.scales):
            return
        figure = self.sparse if test == "sparse" else self.upscale
        fills = self._pending.setdefault((index, test), {})
        fills[method] = estimate
        if hole is not None:
            fills["samples"] = np.where(hole[..., None], 0, truth).astype(np.uint8)
        if all(name in fills for name in figure.methods):
            figure.add(f"photo {index + 1}", test, truth, None, self._pending.pop((index, test)))


def build_evaluation(weights: Path | None, twin: Path | None, device: str = "auto",
                     ) -> tuple[dict[str, Upscale], dict[str, Callable]]:
    """The methods: interpolation always; "pconv" (upscaling and sparse) from `weights`, a grid model (default:
    `weights/pconv_compact_upscale_grid.safetensors`); "twin" where a bicubic-input model's weights are given."""
    upscalers: dict[str, Upscale] = {"bicubic": interpolation(cv2.INTER_CUBIC),
                                     "lanczos": interpolation(cv2.INTER_LANCZOS4)}
    if twin is not None:
        upscalers["twin"] = twin_upscale(twin, device)
    upscaler = _upscaler_of_kind(weights, "grid", "--weights", device)
    upscalers["pconv"] = pconv_upscale(upscaler)
    inpainter = Inpainter(upscaler.weights_path, device=device)
    sparse = {"griddata": griddata_fill, "pconv": lambda rgb, hole: inpainter.inpaint(rgb, hole).pixels}
    return upscalers, sparse


_COLUMNS = (("PSNR-Y (dB)", 0, "{:.2f}"), ("SSIM-Y", 1, "{:.4f}"), ("texture distance", 2, "{:.3f}"),
            ("gradient-energy ratio", 3, "{:.2f}"))


def format_upscale_markdown(scores: UpscaleScores, config: UpscaleEvaluationConfig) -> str:
    """Means per test and method, then the differences the issue asks about with 95% paired bootstrap
    intervals (over photos)."""
    tests = list(dict.fromkeys(test for test, _ in scores.rows))
    lines = [f"{scores.photos} photos; PSNR and SSIM on BT.601 luminance, ceil(s) px shaved (1 px for sparse).", "",
             "| test | method | " + " | ".join(name for name, _, _ in _COLUMNS) + " |",
             "| --- | --- |" + " ---: |" * len(_COLUMNS)]
    for test in tests:
        for method in [m for t, m in scores.rows if t == test]:
            cells = [fmt.format(scores.mean(test, method, index)) for _, index, fmt in _COLUMNS]
            lines.append(f"| {test} | {method} | " + " | ".join(cells) + " |")
    lines += ["", "Differences in PSNR-Y (dB), paired per photo, 95% bootstrap interval:", "",
              "| test | comparison | mean | 95% interval | photos better |", "| --- | --- | ---: | --- | ---: |"]
    for test in tests:
        reference_methods = ("griddata",) if test == "sparse" else ("bicubic", "lanczos", "twin")
        for reference in reference_methods:
            if (test, reference) not in scores.rows or (test, "pconv") not in scores.rows:
                continue
            differences = scores.column(test, "pconv") - scores.column(test, reference)
            mean, low, high = paired_bootstrap(differences, config.bootstrap_resamples, config.seed)
            lines.append(f"| {test} | pconv - {reference} | {mean:+.2f} | [{low:+.2f}, {high:+.2f}] | "
                         f"{int((differences > 0).sum())}/{differences.size} |")
    return "\n".join(lines) + "\n"
