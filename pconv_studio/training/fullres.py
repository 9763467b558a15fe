"""Full-resolution evaluation: fills of the holes a retoucher paints, at each photo's own size.

Protocol: every photo is used as it is stored (no resizing, no cropping). For each mask kind ("objects",
"wires"; `masks.retouch_mask`) and photo i, the hole comes from `mask_rng(seed, kind index, i)`, so it depends
only on the seed, the kind, the photo's place in the sorted list and its size, never on the methods chosen.
Every method fills the same photo and hole; its output is composited with the photo outside the hole, then
scored against the photo over the hole's pixels only:

- PSNR (dB) over the hole's pixels and three channels, peak 1.0 (`metrics.psnr` on the hole's pixels);
- SSIM over the 11x11 windows centred on hole pixels (`metrics.ssim` with `where`);
- L1: mean absolute difference over the hole's pixels and channels, on the [0, 1] scale;
- texture: `metrics.texture_distance` (sliced Wasserstein distance of 7x7 patches of the finest Laplacian band,
  Karras et al. 2018; lower is better, 0 for the truth);
- gradient: `metrics.gradient_energy_ratio` (1 is right, well below 1 a smear);
- seam: `metrics.seam_offset` of the fill minus that of the photo itself, 8-bit levels: the mean error of the fill
  within 10 px inside the hole's edge (a dark band inside the edge reads negative);
- seconds: the fill alone, wall clock; peak MB: the process's resident memory during the fill above what it held
  before (`PeakMemory`: the kernel's RSS high-water mark, reset before each fill);
- paths: for the model, how the engine filled each hole group (`InpaintResult.fills`), or "refused" where the
  engine refused the hole (then scored as `evaluation.refused_fill`, the known pixels' mean colour).

Photos are decoded one at a time, so memory holds one photo and its fills.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from collections import Counter
from dataclasses import astuple, dataclass, fields, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..engine.imageio import load_image
from ..engine.inpainter import GroupFill, Inpainter, ResolutionConfig
from ..errors import InputError
from .evaluation import CLASSICAL_METHODS, as_rgb8, classical_method, refused_fill
from .masks import RETOUCH_MASK_KINDS, mask_rng, retouch_mask
from .metrics import gradient_energy_ratio, hole_l1, psnr, seam_offset, ssim, texture_distance
from .peak_memory import PeakMemory

__all__ = [
    "Fill", "FillMethod", "FULLRES_METHODS", "MODEL_STRATEGIES", "FullResolutionConfig", "PhotoScore",
    "FullResolutionReport", "fullres_mask", "build_fill_methods", "score_fill",
    "evaluate_full_resolution", "format_fullres_markdown", "format_targets", "read_scores",
]

log = logging.getLogger(__name__)

# the model's ResolutionConfig overrides per method: "model" is the engine's default, the others change one field
MODEL_STRATEGIES: dict[str, dict[str, object]] = {
    "scaled": {"strategy": "scaled"},
    "model": {},
    "detail-on": {"detail_transfer": True},
    "detail-off": {"detail_transfer": False},
}
FULLRES_METHODS = ("scaled", "model", "telea", "navier-stokes")


@dataclass(frozen=True)
class Fill:
    """A method's output (RGB uint8 HxWx3) and, for the model, how each hole group was filled, in words."""

    pixels: np.ndarray
    paths: tuple[str, ...] = ()


FillMethod = Callable[[np.ndarray, np.ndarray], Fill]
"""(RGB uint8 HxWx3, hole bool HxW with True = hole) -> Fill."""


@dataclass(frozen=True)
class FullResolutionConfig:
    kinds: tuple[str, ...] = RETOUCH_MASK_KINDS
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [kind for kind in self.kinds if kind not in RETOUCH_MASK_KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"mask kinds must be some of {', '.join(RETOUCH_MASK_KINDS)}, got {self.kinds}")


@dataclass(frozen=True)
class PhotoScore:
    """One method on one photo and mask: a row of the per-photo CSV."""

    photo: str
    kind: str
    method: str
    height: int
    width: int
    hole_fraction: float
    psnr: float
    ssim: float
    hole_l1: float
    texture: float
    gradient: float
    seam: float
    seconds: float
    peak_mb: float
    paths: str


@dataclass(frozen=True)
class FullResolutionReport:
    kinds: tuple[str, ...]
    methods: tuple[str, ...]
    rows: tuple[PhotoScore, ...]

    def rows_of(self, kind: str, method: str) -> list[PhotoScore]:
        return [row for row in self.rows if row.kind == kind and row.method == method]

    def mean(self, kind: str, method: str, field: str, absolute: bool = False) -> float:
        """The mean of a score field (of its magnitude with `absolute`) over the photos; NaN values (no
        texture patch, no memory measure) are left out."""
        values = np.array([getattr(row, field) for row in self.rows_of(kind, method)], np.float64)
        values = np.abs(values) if absolute else values
        return float(values[~np.isnan(values)].mean()) if (~np.isnan(values)).any() else float("nan")

    def path_counts(self, kind: str, method: str) -> Counter[str]:
        """How many hole groups went through each path, over all photos."""
        counts: Counter[str] = Counter()
        for row in self.rows_of(kind, method):
            counts.update(path for path in row.paths.split("; ") if path)
        return counts

    def to_csv(self) -> str:
        """A header and one line per row (floats to 9 significant digits); `read_scores` reads it back."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(field.name for field in fields(PhotoScore))
        for row in self.rows:
            writer.writerow(f"{value:.9g}" if isinstance(value, float) else value for value in astuple(row))
        return buffer.getvalue()

    def reusing(self, earlier: Sequence[PhotoScore]) -> "FullResolutionReport":
        """This report plus the rows of `earlier` (e.g. `read_scores` of an earlier run's CSV) for methods this
        run did not fill and for this run's photos and kinds, so a slow evaluation can add methods without
        refilling the others. Every method taken over must cover all of this run's photos and kinds, with the same
        sizes and hole fractions (the masks are seeded, so the same seed gives the same holes); otherwise
        `InputError`."""
        holes = {(row.photo, row.kind): (row.height, row.width, row.hole_fraction) for row in self.rows}
        taken = [row for row in earlier if row.method not in self.methods and (row.photo, row.kind) in holes]
        for method in dict.fromkeys(row.method for row in taken):
            rows = {(row.photo, row.kind): (row.height, row.width, row.hole_fraction)
                    for row in taken if row.method == method}
            if set(rows) != set(holes):
                raise InputError(f"the earlier scores of {method} miss some of this run's photos or mask kinds")
            if any(rows[key][:2] != holes[key][:2] or not math.isclose(rows[key][2], holes[key][2], rel_tol=1e-6)
                   for key in holes):
                raise InputError(f"the earlier scores of {method} were made with other holes (another seed?)")
        methods = sorted(dict.fromkeys([*self.methods, *(row.method for row in taken)]), key=_method_order)
        return FullResolutionReport(self.kinds, tuple(methods), self.rows + tuple(taken))


def _method_order(name: str) -> int:
    """Tables list the model's strategies first, then the classical methods, each in their own order."""
    order = (*MODEL_STRATEGIES, *CLASSICAL_METHODS)
    return order.index(name) if name in order else len(order)


def read_scores(text: str) -> list[PhotoScore]:
    """The rows of a CSV written by `FullResolutionReport.to_csv`; a malformed file is an `InputError`."""
    types = {"str": str, "int": int, "float": float}
    kinds = {field.name: types[str(field.type)] for field in fields(PhotoScore)}
    try:
        return [PhotoScore(**{name: kinds[name](line[name]) for name in kinds})
                for line in csv.DictReader(io.StringIO(text))]
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"not a full-resolution scores file ({error})") from error


def fullres_mask(kind: str, index: int, height: int, width: int, seed: int) -> np.ndarray:
    """The hole of `kind` for the photo at `index` (in name order) of size height x width."""
    return retouch_mask(kind, height, width, mask_rng(seed, RETOUCH_MASK_KINDS.index(kind), index))


def _describe_fills(fills: Sequence[GroupFill]) -> tuple[str, ...]:
    """'tiled at 1.00' per hole group (the engine's crop of a group of holes), from `InpaintResult.fills`."""
    return tuple(f"{fill.path} at {fill.scale:.2f}" for fill in fills)


def _model_method(weights: Path | None, device: str, options: Mapping[str, object]) -> FillMethod:
    inpainter = Inpainter(weights, device=device, resolution=replace(ResolutionConfig(), **options))

    def fill(image: np.ndarray, hole: np.ndarray) -> Fill:
        try:
            result = inpainter.inpaint(image, hole)
        except InputError as error:
            return Fill(refused_fill(image, hole, error), ("refused",))
        return Fill(result.pixels, _describe_fills(result.fills))

    return fill


def _classical(name: str, seed: int) -> FillMethod:
    method = classical_method(name, seed)
    return lambda image, hole: Fill(method(image, hole))


def build_fill_methods(
    names: Sequence[str], weights: Path | None = None, device: str = "auto", seed: int = 0
) -> dict[str, FillMethod]:
    """Methods by name: the model under `MODEL_STRATEGIES` (loading `weights`, None: the shipped model), or a
    classical method of `evaluation.classical_method`."""
    return {
        name: _model_method(weights, device, MODEL_STRATEGIES[name]) if name in MODEL_STRATEGIES
        else _classical(name, seed)
        for name in names
    }


def score_fill(truth: np.ndarray, filled: np.ndarray, hole: np.ndarray, seed: int = 0) -> dict[str, float]:
    """The hole-pixel scores of a composited fill (RGB uint8) against the truth: the metric fields of
    `PhotoScore`."""
    return {
        "psnr": psnr(truth[hole], filled[hole]),
        "ssim": ssim(truth, filled, where=hole),
        "hole_l1": hole_l1(truth, filled, hole),
        "texture": texture_distance(truth, filled, hole, seed=seed),
        "gradient": gradient_energy_ratio(truth, filled, hole),
        "seam": seam_offset(filled, hole) - seam_offset(truth, hole),
    }


def evaluate_full_resolution(
    photos: Sequence[Path],
    methods: Mapping[str, FillMethod],
    config: FullResolutionConfig = FullResolutionConfig(),
    progress: Callable[[int, int], None] | None = None,
    keep: Callable[[str, str, np.ndarray, np.ndarray, Mapping[str, np.ndarray]], None] | None = None,
) -> FullResolutionReport:
    """Fill every (photo, kind) hole with every method at the photo's own size, composite, score.

    `keep(photo name, kind, truth, hole, {method: composited fill})` is called once per photo and kind (e.g. to
    cut figure crops) before the fills are dropped."""
    if not photos:
        raise InputError("no photos to evaluate on")
    if not methods:
        raise InputError("no methods to evaluate")
    rows: list[PhotoScore] = []
    total, done = len(photos) * len(config.kinds) * len(methods), 0
    for index, path in enumerate(photos):
        truth = as_rgb8(load_image(path))
        height, width = truth.shape[:2]
        for kind in config.kinds:
            hole = fullres_mask(kind, index, height, width, config.seed)
            composites: dict[str, np.ndarray] = {}
            for name, method in methods.items():
                with PeakMemory() as memory:
                    started = time.perf_counter()
                    fill = method(truth, hole)
                    seconds = time.perf_counter() - started
                composite = np.where(hole[..., None], fill.pixels, truth)
                scores = score_fill(truth, composite, hole, config.seed)
                rows.append(PhotoScore(
                    path.stem, kind, name, height, width, float(hole.mean()), seconds=seconds,
                    peak_mb=memory.added_mb, paths="; ".join(fill.paths), **scores,
                ))
                log.info("%s %s %s: %.2f dB, texture %.3f, %.2f s", path.stem, kind, name, scores["psnr"],
                         scores["texture"], seconds)
                if keep is not None:
                    composites[name] = composite
                done += 1
                if progress is not None:
                    progress(done, total)
            if keep is not None:
                keep(path.stem, kind, truth, hole, composites)
    return FullResolutionReport(tuple(config.kinds), tuple(methods), tuple(rows))


# --- output ---------------------------------------------------------------------------------------------------

_COLUMNS = (  # header, field, format, magnitude, scale
    ("hole PSNR dB", "psnr", "{:.2f}", False, 1.0),
    ("hole SSIM", "ssim", "{:.4f}", False, 1.0),
    ("hole L1 %", "hole_l1", "{:.2f}", False, 100.0),
    ("texture", "texture", "{:.3f}", False, 1.0),
    ("gradient", "gradient", "{:.2f}", False, 1.0),
    ("seam", "seam", "{:+.2f}", False, 1.0),
    ("abs seam", "seam", "{:.2f}", True, 1.0),
    ("s/photo", "seconds", "{:.2f}", False, 1.0),
    ("peak MB", "peak_mb", "{:.0f}", False, 1.0),
)


def _paths_cell(counts: Counter[str]) -> str:
    """'tiled x23 at 1.00, two scales x6 at 0.26-0.53': hole groups per path, with the range of their scales."""
    groups: dict[str, list[tuple[float, int]]] = {}
    for described, count in counts.items():
        path, _, scale = described.rpartition(" at ")
        groups.setdefault(path or described, []).append((float(scale) if path else math.nan, count))
    cells = []
    for path, scales in sorted(groups.items()):
        low, high = min(s for s, _ in scales), max(s for s, _ in scales)
        at = "" if math.isnan(low) else f" at {low:.2f}" if low == high else f" at {low:.2f}-{high:.2f}"
        cells.append(f"{path} x{sum(count for _, count in scales)}{at}")
    return ", ".join(cells) or "-"


def format_fullres_markdown(report: FullResolutionReport) -> str:
    """One table per mask kind: a row per method, means over the photos, and the paths the hole groups took."""
    photos = len({row.photo for row in report.rows})
    header = "| method | " + " | ".join(column[0] for column in _COLUMNS) + " | paths (hole groups) |\n"
    header += "|---|" + "---:|" * len(_COLUMNS) + "---|\n"
    parts = []
    for kind in report.kinds:
        hole = np.mean([row.hole_fraction for row in report.rows if row.kind == kind]) * 100
        lines = []
        for method in report.methods:
            cells = [fmt.format(report.mean(kind, method, field, absolute) * scale)
                     for _, field, fmt, absolute, scale in _COLUMNS]
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {_paths_cell(report.path_counts(kind, method))} |")
        parts.append(f"### {kind} ({photos} photos, holes {hole:.1f}% of the photo on average)\n\n{header}"
                     + "\n".join(lines) + "\n")
    return "\n".join(parts)


def format_targets(report: FullResolutionReport, new: str = "model", old: str = "scaled") -> str:
    """The issue's targets, `new` against `old`: wires at least 1.0 dB more hole PSNR; objects a texture distance
    at most half, with hole PSNR no more than 0.2 dB lower. Empty when a method or kind is missing."""
    if new not in report.methods or old not in report.methods:
        return ""
    lines = []
    if "wires" in report.kinds:
        gain = report.mean("wires", new, "psnr") - report.mean("wires", old, "psnr")
        lines.append(f"- wires: hole PSNR {gain:+.2f} dB against {old} (target >= +1.00 dB): "
                     f"{'met' if gain >= 1.0 else 'missed'}")
    if "objects" in report.kinds:
        ratio = report.mean("objects", new, "texture") / report.mean("objects", old, "texture")
        gain = report.mean("objects", new, "psnr") - report.mean("objects", old, "psnr")
        met = ratio <= 0.5 and gain >= -0.2
        lines.append(f"- objects: texture distance {ratio:.3f} x {old}'s (target <= 0.5) with hole PSNR "
                     f"{gain:+.2f} dB (target >= -0.20 dB): {'met' if met else 'missed'}")
    return "\n".join(lines)
