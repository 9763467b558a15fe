"""Evaluation: the model against classical inpainting, per hole-ratio bin, with the same numbers every run.

Protocol: photos are resized (short side) and centre-cropped to `size`; for every bin and photo a mask is drawn
from `mask_rng(seed, bin, photo)`, so the masks depend only on the seed, never on the methods chosen. Every method
gets the same photo and hole, its output is composited with the original outside the hole, and then scored:

- PSNR (dB) over the whole image and all three channels, peak 1.0; an exact fill (MSE 0) counts as 100 dB.
- SSIM of Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, 'valid' filtering (no
  padding), computed on each RGB channel and averaged over channels; no downsampling of the image.
- L1 over the hole: mean absolute difference over hole pixels and channels, on the [0, 1] scale.
- Texture distance: `metrics.texture_distance` (sliced Wasserstein distance between 7x7 patches of the finest
  Laplacian band inside the hole, Karras et al. 2018; lower is better), seed 0, so it repeats.
- Gradient-energy ratio: `metrics.gradient_energy_ratio`, fill over truth inside the hole (1 is right, below 1
  a smear).

Scores are per-photo values averaged over the photos of a bin (the two texture statistics over the photos where
they are defined: a hole with no pixel 3 px from the border, or a flat truth, has none); seconds per image time
the fill alone. A method named `model@T` is the network interpolated between the shipped weights and a detailed
fine-tune of them at t = T (`interpolate_networks`).
"""

from __future__ import annotations

import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import cv2
import numpy as np

from ..errors import ImageIOError, InputError
from ..engine.imageio import SUPPORTED_SUFFIXES, eight_bit, image_files, load_image
from ..engine.inpainter import Inpainter
from ..model import interpolate_networks, load_weights, save_weights
from ..paths import default_weights_path
from .masks import HOLE_RATIO_BINS, mask_rng, random_mask
from .metrics import gradient_energy_ratio, hole_l1, psnr, ssim, texture_distance

__all__ = [
    "Method", "EvaluationConfig", "MethodScore", "EvaluationReport", "CLASSICAL_METHODS", "DEFAULT_METHODS",
    "as_rgb8", "list_photos", "load_photos", "load_evaluation_photos", "resize_short_side",
    "centre_crop",
    "evaluation_masks", "classical_method", "patchmatch_available", "refused_fill", "build_methods",
    "blended_method_name", "parse_blended_method", "evaluate", "format_markdown", "plot_report", "FillCallback",
]

log = logging.getLogger(__name__)

Method = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""A fill: (RGB uint8 HxWx3, hole bool HxW with True = hole) -> RGB uint8 HxWx3."""
FillCallback = Callable[[int, int, str, np.ndarray], None]
"""Told of every scored fill: (bin index, photo index, method, composited RGB uint8 HxWx3)."""
_BLEND_SEPARATOR = "@"

CLASSICAL_METHODS = ("telea", "navier-stokes", "fsr-fast", "patchmatch")
# FSR takes about 2 s per 256x256 image, too slow for a default over hundreds of fills; ask for it by name.
DEFAULT_METHODS = ("model", "telea", "navier-stokes", "patchmatch")
_INPAINT_RADIUS = 3  # px, OpenCV's own example value for Telea and Navier-Stokes
_PATCHMATCH_PATCH_SIZE = 3  # patch radius; 3 is what pypatchmatch's examples use


@dataclass(frozen=True)
class EvaluationConfig:
    size: int = 256  # px: photos are resized and centre-cropped to size x size
    bins: tuple[tuple[float, float], ...] = HOLE_RATIO_BINS
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ValueError("the evaluation size must be at least 16 px")
        if not self.bins:
            raise ValueError("at least one hole-ratio bin is needed")


# --- photos and masks -----------------------------------------------------------------------------------------


def as_rgb8(pixels: np.ndarray) -> np.ndarray:
    """Any decoded photo (grey, RGB, RGBA; 8 or 16 bits) as RGB uint8, the form training and evaluation use."""
    pixels = eight_bit(pixels)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return np.ascontiguousarray(pixels[..., :3])


def list_photos(folder: Path) -> list[Path]:
    """The image files of a folder, sorted by name; an error if there are none."""
    paths = image_files(folder)
    if not paths:
        raise ImageIOError(f"no photos in {folder} (looked for {', '.join(SUPPORTED_SUFFIXES)})")
    return paths


def load_photos(
    folder: Path, transform: Callable[[np.ndarray], np.ndarray] | None = None, limit: int | None = None
) -> list[np.ndarray]:
    """Decode the photos of a folder (the first `limit` by name) as RGB uint8, then `transform` them; on threads."""

    def one(path: Path) -> np.ndarray:
        pixels = as_rgb8(load_image(path))
        return transform(pixels) if transform is not None else pixels

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, list_photos(folder)[:limit]))


def resize_short_side(pixels: np.ndarray, short_side: int) -> np.ndarray:
    """Scale so the short side is `short_side`: area filter when shrinking, cubic when enlarging."""
    height, width = pixels.shape[:2]
    scale = short_side / min(height, width)
    if scale == 1.0:
        return pixels
    size = (max(short_side, round(width * scale)), max(short_side, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
    return cv2.resize(pixels, size, interpolation=interpolation)


def centre_crop(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """The centred height x width window, as a contiguous array."""
    top = (pixels.shape[0] - height) // 2
    left = (pixels.shape[1] - width) // 2
    return np.ascontiguousarray(pixels[top : top + height, left : left + width])


def load_evaluation_photos(folder: Path, size: int, limit: int | None = None) -> list[np.ndarray]:
    """Photos resized so the short side is `size`, then centre-cropped to size x size."""
    return load_photos(folder, lambda pixels: centre_crop(resize_short_side(pixels, size), size, size), limit)


def evaluation_masks(photo_count: int, config: EvaluationConfig) -> list[list[np.ndarray]]:
    """masks[b][i]: the hole for photo i in bin b, from its own seeded generator."""
    return [
        [random_mask(config.size, config.size, ratio_bin, mask_rng(config.seed, b, i)) for i in range(photo_count)]
        for b, ratio_bin in enumerate(config.bins)
    ]


# --- methods --------------------------------------------------------------------------------------------------


def patchmatch_available() -> bool:
    try:
        import patchmatch
    except ImportError:
        return False
    return bool(patchmatch.patchmatch_available)


def _opencv_inpaint(flag: int) -> Method:
    def fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        return cv2.inpaint(image, hole.astype(np.uint8), _INPAINT_RADIUS, flag)  # non-zero = hole

    return fill


def _fsr_fast(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    result = np.empty_like(image)
    valid = np.where(hole, 0, 255).astype(np.uint8)  # FSR's mask is the opposite: non-zero = valid
    cv2.xphoto.inpaint(image[..., ::-1].copy(), valid, result, cv2.xphoto.INPAINT_FSR_FAST)  # wants BGR
    return np.ascontiguousarray(result[..., ::-1])


def _patchmatch(seed: int) -> Method:
    import patchmatch

    def fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        patchmatch.set_random_seed(seed)  # its search is randomised; a fixed seed makes it repeatable
        return patchmatch.inpaint(image, hole.astype(np.uint8), patch_size=_PATCHMATCH_PATCH_SIZE)

    return fill


def classical_method(name: str, seed: int = 0) -> Method:
    """One of `CLASSICAL_METHODS`; patchmatch needs the `pypatchmatch` package."""
    if name == "telea":
        return _opencv_inpaint(cv2.INPAINT_TELEA)
    if name == "navier-stokes":
        return _opencv_inpaint(cv2.INPAINT_NS)
    if name == "fsr-fast":
        return _fsr_fast
    if name == "patchmatch":
        if not patchmatch_available():
            raise InputError("patchmatch needs the pypatchmatch package (pip install pypatchmatch)")
        return _patchmatch(seed)
    raise InputError(f"unknown method {name!r}: choose from model, {', '.join(CLASSICAL_METHODS)}")


def refused_fill(image: np.ndarray, hole: np.ndarray, error: InputError) -> np.ndarray:
    """What a hole the engine refused to fill (`InputError`: the network cannot close it) is scored as: the known
    pixels' mean colour, with a warning, so one refusal does not end a run."""
    log.warning("the model refused a %.0f%% hole (%s): scored as a mean-colour fill", 100 * hole.mean(), error)
    return np.where(hole[..., None], image[~hole].mean(axis=0).round().astype(image.dtype), image)


def _model_method(inpainter: Inpainter) -> Method:
    """The engine as a method; a refused hole is scored as `refused_fill`."""

    def fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        try:
            return inpainter.inpaint(image, hole).pixels
        except InputError as error:
            return refused_fill(image, hole, error)

    return fill


def blended_method_name(t: float) -> str:
    """The method name of the network interpolated at `t`: "model@0.25"."""
    return f"model{_BLEND_SEPARATOR}{t:g}"


def parse_blended_method(name: str) -> float | None:
    """t of a "model@T" name, None for any other name; an error for a malformed or out-of-range T."""
    if not name.startswith("model" + _BLEND_SEPARATOR):
        return None
    text = name.split(_BLEND_SEPARATOR, 1)[1]
    try:
        t = float(text)
    except ValueError:
        raise InputError(f"{name}: the detail after '@' must be a number in [0, 1]") from None
    if not 0.0 <= t <= 1.0:
        raise InputError(f"{name}: the detail must lie in [0, 1]")
    return t


def _blended_inpainter(weights: Path | None, detail_weights: Path, t: float, device: str) -> Inpainter:
    """The app's `Inpainter` on the network interpolated at `t` between `weights` (None: the shipped model) and
    `detail_weights`: the blend is written to a temporary float32 weights file, which the `Inpainter` loads."""
    faithful, _ = load_weights(weights if weights is not None else default_weights_path())
    detailed, _ = load_weights(detail_weights)
    with tempfile.TemporaryDirectory(prefix="pconv-blend-") as folder:
        path = Path(folder) / f"blend_{t:g}.safetensors"
        save_weights(interpolate_networks(faithful, detailed, t), path, extra={"detail": f"{t:g}"})
        return Inpainter(path, device=device)


def build_methods(
    names: Sequence[str], weights: Path | None = None, device: str = "auto", seed: int = 0,
    detail_weights: Path | None = None,
) -> dict[str, Method]:
    """Methods by name; "model" loads `weights` (None: the shipped model) through the app's `Inpainter`;
    "model@T" interpolates it with `detail_weights` at t = T (`parse_blended_method`)."""
    methods: dict[str, Method] = {}
    for name in names:
        t = parse_blended_method(name)
        if name == "model":
            methods[name] = _model_method(Inpainter(weights, device=device))
        elif t is not None:
            if detail_weights is None:
                raise InputError(f"{name} needs the detailed weights to blend with (--detail-weights)")
            methods[name] = _model_method(_blended_inpainter(weights, detail_weights, t, device))
        else:
            methods[name] = classical_method(name, seed)
    return methods


# --- the run --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodScore:
    """Means over the photos of one bin (`ratio_bin` None: over all bins)."""

    method: str
    ratio_bin: tuple[float, float] | None
    psnr: float
    ssim: float
    hole_l1: float
    texture_distance: float  # NaN when no photo of the bin has a defined value
    gradient_energy_ratio: float
    seconds_per_image: float
    images: int


@dataclass(frozen=True)
class EvaluationReport:
    methods: tuple[str, ...]
    bins: tuple[tuple[float, float], ...]
    scores: tuple[MethodScore, ...]
    size: int
    photos: int

    def score(self, method: str, ratio_bin: tuple[float, float] | None) -> MethodScore:
        return next(s for s in self.scores if s.method == method and s.ratio_bin == ratio_bin)


def _mean_score(method: str, ratio_bin: tuple[float, float] | None, rows: list[tuple[float, ...]]) -> MethodScore:
    """Column means over the photos; NaN entries (undefined texture statistics) are left out."""
    values = np.asarray(rows, dtype=np.float64)
    defined = np.isfinite(values)
    sums = np.where(defined, values, 0.0).sum(axis=0)
    counts = defined.sum(axis=0)
    means = np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=counts > 0)
    return MethodScore(method, ratio_bin, *map(float, means), images=len(rows))


def evaluate(
    photos: Sequence[np.ndarray],
    methods: Mapping[str, Method],
    config: EvaluationConfig = EvaluationConfig(),
    progress: Callable[[int, int], None] | None = None,
    on_fill: FillCallback | None = None,
) -> EvaluationReport:
    """Fill every (bin, photo) hole with every method, composite, score. Photos must be size x size RGB uint8.
    `on_fill` sees every composite (e.g. to lay out a sheet of fills)."""
    if not photos:
        raise InputError("no photos to evaluate on")
    if not methods:
        raise InputError("no methods to evaluate")
    for photo in photos:
        if photo.shape != (config.size, config.size, 3) or photo.dtype != np.uint8:
            raise InputError(f"evaluation photos must be {config.size}x{config.size} RGB uint8, got {photo.shape}")
    masks = evaluation_masks(len(photos), config)
    rows: dict[tuple[str, int], list[tuple[float, ...]]] = {
        (name, b): [] for name in methods for b in range(len(config.bins))
    }
    total, done = len(config.bins) * len(photos) * len(methods), 0
    for b in range(len(config.bins)):
        for index, (photo, hole) in enumerate(zip(photos, masks[b])):
            for name, method in methods.items():
                started = time.perf_counter()
                filled = method(photo, hole)
                seconds = time.perf_counter() - started
                result = np.where(hole[..., None], filled, photo)
                if on_fill is not None:
                    on_fill(b, index, name, result)
                rows[name, b].append((
                    psnr(photo, result), ssim(photo, result), hole_l1(photo, result, hole),
                    texture_distance(photo, result, hole), gradient_energy_ratio(photo, result, hole), seconds,
                ))
                done += 1
                if progress is not None:
                    progress(done, total)
    scores = []
    for name in methods:
        for b, ratio_bin in enumerate(config.bins):
            scores.append(_mean_score(name, ratio_bin, rows[name, b]))
        scores.append(_mean_score(name, None, [row for b in range(len(config.bins)) for row in rows[name, b]]))
    return EvaluationReport(tuple(methods), tuple(config.bins), tuple(scores), config.size, len(photos))


# --- output ---------------------------------------------------------------------------------------------------


def _bin_label(ratio_bin: tuple[float, float] | None) -> str:
    return "all" if ratio_bin is None else f"{ratio_bin[0]:.2f}-{ratio_bin[1]:.2f}"


_TABLES = (
    ("PSNR (dB, higher is better)", "psnr", "{:.2f}"),
    ("SSIM (higher is better)", "ssim", "{:.4f}"),
    ("L1 over the hole (%, lower is better)", "hole_l1", "{:.2f}"),
    ("Texture distance (sliced Wasserstein, lower is better)", "texture_distance", "{:.3f}"),
    ("Gradient-energy ratio in the hole (fill / truth, 1 is right)", "gradient_energy_ratio", "{:.2f}"),
)


def format_markdown(report: EvaluationReport) -> str:
    """One table per metric (rows: hole-ratio bins, columns: methods), then seconds per image."""
    header = "| hole ratio | " + " | ".join(report.methods) + " |\n|---|" + "---:|" * len(report.methods) + "\n"
    parts = [f"{report.photos} photos at {report.size}x{report.size}, one mask per photo and bin.\n"]
    for title, field, fmt in _TABLES:
        lines = []
        for ratio_bin in (*report.bins, None):
            values = []
            for method in report.methods:
                value = getattr(report.score(method, ratio_bin), field)
                values.append(fmt.format(value * 100 if field == "hole_l1" else value))
            lines.append(f"| {_bin_label(ratio_bin)} | " + " | ".join(values) + " |")
        parts.append(f"### {title}\n\n{header}" + "\n".join(lines) + "\n")
    seconds = " | ".join(f"{report.score(m, None).seconds_per_image:.3f}" for m in report.methods)
    parts.append(
        "### Seconds per image\n\n| | " + " | ".join(report.methods) + " |\n|---|"
        + "---:|" * len(report.methods) + f"\n| s/image | {seconds} |\n"
    )
    return "\n".join(parts)


def plot_report(report: EvaluationReport, path: Path) -> None:
    """A PNG chart: a bar panel per metric (bins on the x axis, one bar per method), and the distortion-texture
    plane: each method's PSNR against its texture distance over all bins (up and left is better; Blau and
    Michaeli, "The Perception-Distortion Tradeoff", CVPR 2018). matplotlib is imported only here."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(16, 8.5), layout="constrained")
    FigureCanvasAgg(figure)
    labels = [_bin_label(b) for b in report.bins]
    positions = np.arange(len(labels))
    width = 0.8 / len(report.methods)
    axes = figure.subplots(2, 3).ravel()
    for axis, (title, field, _) in zip(axes, _TABLES):
        for index, method in enumerate(report.methods):
            values = [getattr(report.score(method, b), field) * (100 if field == "hole_l1" else 1) for b in report.bins]
            axis.bar(positions + (index - (len(report.methods) - 1) / 2) * width, values, width, label=method)
        axis.set_title(title, fontsize=10)
        axis.set_xticks(positions, labels, fontsize=8)
        axis.set_xlabel("hole ratio")
    plane = axes[len(_TABLES)]
    points = [(report.score(m, None).texture_distance, report.score(m, None).psnr) for m in report.methods]
    finite = [p for p in points if all(map(np.isfinite, p))] or [(0.0, 0.0)]
    span = np.ptp(np.asarray(finite), axis=0) + 1e-9
    placed: list[tuple[float, float]] = []
    for index, (method, (texture, psnr_db)) in enumerate(zip(report.methods, points)):
        plane.scatter(texture, psnr_db, color=f"C{index}", s=40, zorder=3)
        # labels of points closer than 4% of the axes' spans are stacked downwards instead of overprinted
        crowd = sum(abs(texture - x) < 0.04 * span[0] and abs(psnr_db - y) < 0.04 * span[1] for x, y in placed)
        placed.append((texture, psnr_db))
        plane.annotate(method, (texture, psnr_db), textcoords="offset points", xytext=(5, 4 - 10 * crowd),
                       fontsize=8)
    plane.set_title("Distortion vs texture, all bins (up and left is better)", fontsize=10)
    plane.set_xlabel("texture distance (lower is better)")
    plane.set_ylabel("PSNR (dB)")
    plane.grid(alpha=0.3)
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
