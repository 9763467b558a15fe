"""Training arms compared on the same holes: fine-tunes from the same weights with equal steps and seeds, which
differ in one setting (issue 14: no mosaic, mosaic with unmasked seams, mosaic with masked seams, random-scale
crops as the control).

Every arm fills the same (photo, bin, repeat) holes, drawn from `mask_rng(seed, repeat, bin, photo)`; its fill is
composited and scored by PSNR over the whole image (as `evaluation.py`) and by `texture_distance` in the hole.
Differences between two arms are paired per photo, bin and repeat, and their interval is a bootstrap over photos
(`paired.paired_bootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..engine.inpainter import Inpainter
from .masks import HOLE_RATIO_BINS, mask_rng, random_mask
from .metrics import psnr, texture_distance
from .paired import paired_bootstrap

__all__ = ["ArmsConfig", "ArmScores", "compare_arms", "format_arms_markdown"]

_JUDGED_BINS = (1, 2, 3, 4, 5)  # 0.1-0.6: the bins the adoption rule speaks of


@dataclass(frozen=True)
class ArmsConfig:
    size: int = 256  # px, square centre crops of the photos
    repeats: int = 2  # holes per photo and bin
    seed: int = 0
    bootstrap_resamples: int = 10_000
    adopt_margin_db: float = 0.15  # masked seams must beat no mosaic by this much (issue 14)


@dataclass(frozen=True)
class ArmScores:
    """psnr[arm] and texture[arm]: float64 (photos, bins, repeats)."""

    arms: tuple[str, ...]
    psnr: dict[str, np.ndarray]
    texture: dict[str, np.ndarray]


def compare_arms(
    photos: Sequence[np.ndarray], weights: dict[str, Path], config: ArmsConfig = ArmsConfig(), device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> ArmScores:
    """Fill every hole with every arm's weights (square RGB uint8 photos of `config.size`)."""
    inpainters = {name: Inpainter(path, device=device) for name, path in weights.items()}
    shape = (len(photos), len(HOLE_RATIO_BINS), config.repeats)
    psnrs = {name: np.full(shape, np.nan) for name in weights}
    textures = {name: np.full(shape, np.nan) for name in weights}
    total, done = int(np.prod(shape)), 0
    for index, photo in enumerate(photos):
        for b, ratio_bin in enumerate(HOLE_RATIO_BINS):
            for repeat in range(config.repeats):
                hole = random_mask(config.size, config.size, ratio_bin, mask_rng(config.seed, repeat, b, index))
                for name, inpainter in inpainters.items():
                    filled = np.where(hole[..., None], inpainter.inpaint(photo, hole).pixels, photo)
                    psnrs[name][index, b, repeat] = psnr(photo, filled)
                    textures[name][index, b, repeat] = texture_distance(photo, filled, hole)
                done += 1
                if progress is not None:
                    progress(done, total)
    return ArmScores(tuple(weights), psnrs, textures)


def _difference(scores: ArmScores, first: str, second: str, config: ArmsConfig) -> tuple[float, float, float]:
    differences = (scores.psnr[first] - scores.psnr[second])[:, _JUDGED_BINS, :]
    return paired_bootstrap(differences, config.bootstrap_resamples, config.seed)


def format_arms_markdown(scores: ArmScores, config: ArmsConfig, reference: str, candidate: str | None = None,
                         control: str | None = None) -> str:
    """Mean PSNR per arm and bin, every arm against `reference` over the 0.1-0.6 bins with 95% intervals, and the
    adoption rule's verdict for `candidate` (beat `reference` by `adopt_margin_db` with the interval above 0, and
    beat `control`)."""
    bins = [f"{low:.2f}-{high:.2f}" for low, high in HOLE_RATIO_BINS]
    photos = next(iter(scores.psnr.values())).shape[0]
    lines = [f"{photos} photos x {len(bins)} bins x {config.repeats} holes, {config.size} px; PSNR (dB) over the "
             "whole image after compositing.", "",
             "| arm | " + " | ".join(bins) + " | 0.1-0.6 | texture distance 0.1-0.6 |",
             "| --- |" + " ---: |" * (len(bins) + 2)]
    for arm in scores.arms:
        per_bin = [f"{np.nanmean(scores.psnr[arm][:, b]):.2f}" for b in range(len(bins))]
        judged = np.nanmean(scores.psnr[arm][:, _JUDGED_BINS])
        texture = np.nanmean(scores.texture[arm][:, _JUDGED_BINS])
        lines.append(f"| {arm} | " + " | ".join(per_bin) + f" | {judged:.2f} | {texture:.3f} |")
    lines += ["", "Paired differences over the 0.1-0.6 bins (dB), 95% bootstrap interval over photos:", "",
              "| comparison | mean | 95% interval |", "| --- | ---: | --- |"]
    pairs = [(arm, reference) for arm in scores.arms if arm != reference]
    if candidate is not None and control is not None:
        pairs.append((candidate, control))
    results = {}
    for first, second in pairs:
        results[first, second] = _difference(scores, first, second, config)
        mean, low, high = results[first, second]
        lines.append(f"| {first} - {second} | {mean:+.3f} | [{low:+.3f}, {high:+.3f}] |")
    if candidate is not None and control is not None:
        mean, low, _ = results[candidate, reference]
        beats_control = results[candidate, control][0] > 0
        adopt = mean >= config.adopt_margin_db and low > 0 and beats_control
        lines += ["", f"Adoption rule ({candidate} beats {reference} by at least {config.adopt_margin_db} dB with the "
                  f"interval above 0, and beats {control}): **{'met: adopt' if adopt else 'not met: do not adopt'}**."]
    return "\n".join(lines) + "\n"
