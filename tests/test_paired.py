"""The paired bootstrap (training/paired.py) and the arms table (training/arms.py) against hand-made numbers."""

from __future__ import annotations

import numpy as np
import pytest

from pconv_studio.training.arms import ArmScores, ArmsConfig, format_arms_markdown
from pconv_studio.training.paired import paired_bootstrap


def test_the_mean_is_over_all_pairs_and_the_interval_holds_it():
    differences = np.array([[1.0, 3.0], [2.0, np.nan], [0.0, 2.0]])
    mean, low, high = paired_bootstrap(differences, resamples=2000, seed=1)
    assert mean == pytest.approx(8.0 / 5.0)
    assert low <= mean <= high
    assert low >= 2.0 / 3.0 - 1e-9 and high <= 2.0 + 1e-9  # the extremes: a draw of only the last or first photo


def test_the_interval_is_the_normal_one_for_many_photos():
    rng = np.random.default_rng(0)
    values = rng.normal(0.3, 1.0, 400)
    mean, low, high = paired_bootstrap(values, resamples=4000, seed=0)
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert mean == pytest.approx(values.mean())
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.1)


def test_photos_not_pairs_are_resampled():
    """Two photos, each with many identical pairs: the interval spans the photos, not the pairs."""
    differences = np.array([[0.0] * 50, [1.0] * 50])
    _, low, high = paired_bootstrap(differences, resamples=2000, seed=0)
    assert low == pytest.approx(0.0) and high == pytest.approx(1.0)


def test_nothing_to_bootstrap_is_an_error():
    with pytest.raises(ValueError):
        paired_bootstrap(np.full((3, 2), np.nan))


def _scores(shift_masked: float) -> ArmScores:
    rng = np.random.default_rng(0)
    base = rng.normal(25.0, 2.0, (8, 6, 2))
    arms = {"none": base, "mosaic": base + 0.05, "masked": base + shift_masked + rng.normal(0, 0.01, base.shape),
            "scale": base + 0.1}
    return ArmScores(tuple(arms), arms, {name: np.zeros_like(base) for name in arms})


def test_the_adoption_rule_follows_the_margin():
    config = ArmsConfig(bootstrap_resamples=500)
    adopted = format_arms_markdown(_scores(0.3), config, "none", "masked", "scale")
    assert "met: adopt" in adopted and "| masked - none | +0.29" in adopted
    refused = format_arms_markdown(_scores(0.1), config, "none", "masked", "scale")
    assert "not met: do not adopt" in refused
