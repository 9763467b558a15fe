"""Scores of a fill against the truth: distortion (PSNR, SSIM, hole L1), texture, and the seam at the hole's edge.

PSNR and SSIM reward blur: the mean of all plausible fills scores best. The texture statistics say whether the
fill carries the photo's fine detail:

- `texture_distance`: the sliced Wasserstein distance between 7x7 patches of the finest Laplacian band of the fill
  and of the truth, taken at the same places inside the hole (Karras et al. 2018, "Progressive Growing of GANs",
  section 5 and appendix D; here the finest band only). Lower is better; 0 for the truth itself. A blurred fill
  has too little energy in that band, added noise has the wrong structure: both score badly.
- `gradient_energy_ratio`: the fill's squared gradient magnitude summed over the hole, over the truth's. 1 is
  right, well below 1 a smear, above 1 noise or ringing.
- `seam_offset`: mean of the filled pixels within `width` px inside the hole's edge minus the mean of the photo
  within `width` px outside it, in 8-bit levels: a dark or bright band along the edge shows as an offset.

Inputs are HxWx3 (or HxW) uint8 or uint16 arrays, or floats in [0, 1]; holes are bool HxW, True = hole.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "psnr", "ssim", "hole_l1", "texture_distance", "gradient_energy_ratio", "seam_offset", "finest_laplacian_band",
    "TEXTURE_PATCH", "TEXTURE_PROJECTIONS", "TEXTURE_MAX_PATCHES",
]

_MAX_PSNR_DB = 100.0
TEXTURE_PATCH = 7  # px: the patch side of Karras et al.'s descriptor
TEXTURE_PROJECTIONS = 512  # random directions of the sliced Wasserstein distance
TEXTURE_MAX_PATCHES = 8192  # patch positions drawn in the hole (all of them when the hole has fewer)


def _unit_float(image: np.ndarray) -> np.ndarray:
    """uint8 or uint16 pixels, or floats already in [0, 1], as float64 on the [0, 1] scale."""
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float64) / 65535.0
    return image.astype(np.float64)


def psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels, peak 1.0; an exact fill counts as 100 dB."""
    mse = float(np.mean((_unit_float(reference) - _unit_float(estimate)) ** 2))
    return _MAX_PSNR_DB if mse == 0.0 else min(_MAX_PSNR_DB, 10.0 * math.log10(1.0 / mse))


def _gaussian_kernel(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    offsets = np.arange(size) - (size - 1) / 2
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def _filter_valid(plane: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of one float64 HxW plane (rows, then columns, in float64): only the outputs
    whose window lies inside the plane, so the border rule OpenCV applies elsewhere never enters."""
    half = kernel.size // 2
    return cv2.sepFilter2D(plane, cv2.CV_64F, kernel, kernel)[half:-half, half:-half]


def _ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The SSIM of one channel (float64 HxW planes on the [0, 1] scale) for every 11x11 window inside it."""
    c1, c2 = 0.01**2, 0.03**2
    kernel = _gaussian_kernel()
    mean_a, mean_b = _filter_valid(a, kernel), _filter_valid(b, kernel)
    var_a = _filter_valid(a * a, kernel) - mean_a**2
    var_b = _filter_valid(b * b, kernel) - mean_b**2
    covariance = _filter_valid(a * b, kernel) - mean_a * mean_b
    return ((2 * mean_a * mean_b + c1) * (2 * covariance + c2)) / ((mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2))


def ssim(reference: np.ndarray, estimate: np.ndarray, where: np.ndarray | None = None) -> float:
    """SSIM of Wang et al. 2004: 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, 'valid' filtering, per
    channel, averaged over the map and the channels; no downsampling.

    With `where` (bool HxW), the mean is over the windows centred on its pixels (those at least 5 px from the
    image border), e.g. the hole's; NaN when there are none. One channel at a time, so memory stays at a few
    planes of the image."""
    a, b = _unit_float(reference), _unit_float(estimate)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if min(a.shape[:2]) < 11:
        raise ValueError("SSIM needs images of at least 11x11 pixels")
    centres = None if where is None else where[5:-5, 5:-5]
    if centres is not None and not centres.any():
        return float("nan")
    means = []
    for channel in range(a.shape[2]):
        ssim_map = _ssim_map(np.ascontiguousarray(a[..., channel]), np.ascontiguousarray(b[..., channel]))
        means.append(ssim_map.mean() if centres is None else ssim_map[centres].mean())
    return float(np.mean(means))


def hole_l1(reference: np.ndarray, estimate: np.ndarray, hole: np.ndarray) -> float:
    """Mean absolute error over the hole's pixels and channels, on the [0, 1] scale."""
    return float(np.abs(_unit_float(reference)[hole] - _unit_float(estimate)[hole]).mean())


def finest_laplacian_band(image: np.ndarray) -> np.ndarray:
    """The finest level of a Laplacian pyramid (Burt and Adelson 1983): the image minus its 5-tap Gaussian
    pyrDown/pyrUp, float64 on the [0, 1] scale, HxWxC."""
    values = _unit_float(image)
    if values.ndim == 2:
        values = values[..., None]
    values = values.astype(np.float32)
    height, width = values.shape[:2]
    coarse = cv2.pyrUp(cv2.pyrDown(values), dstsize=(width, height))
    band = values - coarse.reshape(values.shape)
    return band.astype(np.float64)


def _patch_positions(hole: np.ndarray, seed: int, max_patches: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the patches: hole pixels at least half a patch from the image border, a fixed random subset."""
    half = TEXTURE_PATCH // 2
    inner = np.zeros_like(hole)
    inner[half:-half, half:-half] = hole[half:-half, half:-half]
    rows, cols = np.nonzero(inner)
    if rows.size > max_patches:
        chosen = np.sort(np.random.default_rng(seed).choice(rows.size, max_patches, replace=False))
        rows, cols = rows[chosen], cols[chosen]
    return rows, cols


def _patches(band: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(P, 7 * 7 * C) descriptors centred at (rows, cols)."""
    half = TEXTURE_PATCH // 2
    offsets = np.arange(-half, half + 1)
    window = band[(rows[:, None, None] + offsets[None, :, None]), (cols[:, None, None] + offsets[None, None, :])]
    return window.reshape(rows.size, -1)


def texture_distance(
    reference: np.ndarray, estimate: np.ndarray, hole: np.ndarray, seed: int = 0,
    max_patches: int = TEXTURE_MAX_PATCHES, projections: int = TEXTURE_PROJECTIONS,
) -> float:
    """Sliced Wasserstein distance between the 7x7 patches of the finest Laplacian band of `estimate` and of
    `reference`, centred on the same hole pixels (Karras et al. 2018). Lower is better; 0 for the truth.

    Both patch sets are normalised by the reference's per-channel mean and standard deviation (Karras et al.
    normalise each set by its own, which would hide a blurred fill's missing energy). The distance is the mean over
    `projections` fixed random unit directions of the mean absolute difference between the sorted projections
    (the 1-D Wasserstein-1 distance). Patch positions and directions come from `seed`, so the value repeats.
    Returns NaN when the hole has no pixel at least 3 px from the image border.
    """
    rows, cols = _patch_positions(hole, seed, max_patches)
    if rows.size == 0:
        return float("nan")
    truth_band, fill_band = finest_laplacian_band(reference), finest_laplacian_band(estimate)
    channels = truth_band.shape[2]
    truth, fill = _patches(truth_band, rows, cols), _patches(fill_band, rows, cols)
    by_channel = truth.reshape(rows.size, -1, channels)
    mean = by_channel.mean(axis=(0, 1))
    std = by_channel.std(axis=(0, 1)) + 1e-4  # a flat truth (std 0) still gives a finite distance
    truth = ((by_channel - mean) / std).reshape(rows.size, -1)
    fill = ((fill.reshape(rows.size, -1, channels) - mean) / std).reshape(rows.size, -1)
    directions = np.random.default_rng(seed + 1).standard_normal((truth.shape[1], projections))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    projected_truth = np.sort(truth @ directions, axis=0)
    projected_fill = np.sort(fill @ directions, axis=0)
    return float(np.abs(projected_truth - projected_fill).mean())


def _gradient_energy(image: np.ndarray) -> np.ndarray:
    """|grad|^2 per pixel (summed over channels), from central differences."""
    values = _unit_float(image)
    if values.ndim == 2:
        values = values[..., None]
    dy = np.zeros_like(values)
    dx = np.zeros_like(values)
    dy[1:-1] = (values[2:] - values[:-2]) / 2
    dx[:, 1:-1] = (values[:, 2:] - values[:, :-2]) / 2
    return (dx**2 + dy**2).sum(axis=2)


def gradient_energy_ratio(reference: np.ndarray, estimate: np.ndarray, hole: np.ndarray) -> float:
    """sum over the hole of |grad estimate|^2 over the same sum for `reference`: 1 is right, below 1 a smear.
    NaN when the truth is flat in the hole."""
    truth = float(_gradient_energy(reference)[hole].sum())
    return float(_gradient_energy(estimate)[hole].sum()) / truth if truth > 0 else float("nan")


def seam_offset(filled: np.ndarray, hole: np.ndarray, width: int = 10) -> float:
    """Mean of `filled` over the hole pixels within `width` px of the hole's edge, minus the mean over the known
    pixels within `width` px outside it, in 8-bit levels (for 16-bit input too: the [0, 1] scale times 255).

    On a flat or smoothly shaded photo this is near 0 for a fill without a seam; a dark band inside the edge makes
    it negative. Distances are Euclidean (OpenCV's exact distance transform)."""
    values = _unit_float(filled) * 255.0
    hole_u8 = hole.astype(np.uint8)
    inside = cv2.distanceTransform(hole_u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - hole_u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    rim_inside = hole & (inside <= width)
    rim_outside = ~hole & (outside <= width)
    if not rim_inside.any() or not rim_outside.any():
        return float("nan")
    return float(values[rim_inside].mean() - values[rim_outside].mean())
