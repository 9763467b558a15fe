"""The fill scores against hand-made images and closed forms."""

import cv2
import numpy as np
import pytest

from pconv_studio.training.metrics import gradient_energy_ratio, seam_offset, texture_distance


def _texture(seed: int, size: int = 160) -> np.ndarray:
    """A gravel-like RGB texture: smoothed white noise at two scales over a colour gradient."""
    rng = np.random.default_rng(seed)
    fine = cv2.GaussianBlur(rng.normal(0, 1, (size, size, 3)).astype(np.float32), (0, 0), 0.8)
    coarse = cv2.GaussianBlur(rng.normal(0, 1, (size, size, 3)).astype(np.float32), (0, 0), 4)
    ramp = np.linspace(80, 170, size, dtype=np.float32)[None, :, None]
    return np.clip(ramp + 30 * fine + 60 * coarse, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_texture_distance_ranks_truth_then_real_texture_then_blur(seed):
    truth = _texture(seed)
    hole = np.zeros(truth.shape[:2], bool)
    hole[40:120, 30:130] = True

    def filled(values: np.ndarray) -> np.ndarray:
        return np.where(hole[..., None], values, truth)

    moved = filled(_texture(seed + 100))  # the same kind of texture, other content: a plausible fill
    blurred = filled(cv2.GaussianBlur(truth, (0, 0), 3))
    noisy = filled(np.clip(cv2.GaussianBlur(truth, (0, 0), 3) + np.random.default_rng(seed).normal(0, 25, truth.shape),
                           0, 255).astype(np.uint8))
    scores = {name: texture_distance(truth, image, hole) for name, image in
              [("truth", truth), ("moved", moved), ("blur", blurred), ("noise", noisy)]}
    assert scores["truth"] == 0.0
    assert scores["truth"] < scores["moved"] < scores["blur"]
    assert scores["noise"] > scores["moved"]
    assert texture_distance(truth, moved, hole) == scores["moved"]  # fixed positions and projections: it repeats


def test_texture_distance_of_a_shift_is_a_wasserstein_distance_of_sorted_values():
    """A constant offset of the band changes every projection by the same amount: W1 = |offset . direction|
    averaged over directions. A flat fill of a flat truth adds no band energy at all."""
    flat = np.full((40, 40, 3), 120, np.uint8)
    hole = np.zeros((40, 40), bool)
    hole[10:30, 10:30] = True
    assert texture_distance(flat, np.where(hole[..., None], np.uint8(121), flat).astype(np.uint8), hole[:, :]) > 0
    assert texture_distance(flat, flat.copy(), hole) == 0.0


def test_gradient_energy_ratio_closed_form():
    """A ramp of slope a in the truth and 2a in the fill: central differences give (2a)^2 / a^2 = 4."""
    x = np.arange(64, dtype=np.float64)
    truth = np.repeat((x / 255.0)[None, :, None], 64, axis=0).repeat(3, axis=2)
    steeper = np.repeat((2 * x / 255.0)[None, :, None], 64, axis=0).repeat(3, axis=2)
    hole = np.zeros((64, 64), bool)
    hole[10:50, 10:50] = True
    assert gradient_energy_ratio(truth, steeper, hole) == pytest.approx(4.0)
    assert gradient_energy_ratio(truth, np.full_like(truth, 0.5), hole) == 0.0


def test_seam_offset_measures_a_dark_band_inside_the_edge():
    photo = np.full((100, 100, 3), 180, np.uint8)
    hole = np.zeros((100, 100), bool)
    hole[30:70, 30:70] = True
    assert seam_offset(photo, hole) == 0.0
    banded = photo.copy()
    banded[30:70, 30:70] = 170  # the whole inner rim (and the centre) 10 levels darker
    assert seam_offset(banded, hole) == pytest.approx(-10.0)
    deep = photo.copy()
    deep[45:55, 45:55] = 100  # farther than 10 px from the edge: not the seam's business
    assert seam_offset(deep, hole) == 0.0
    assert seam_offset(photo.astype(np.uint16) * 257, hole, width=10) == 0.0
