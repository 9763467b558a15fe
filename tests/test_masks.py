"""The irregular-mask generator: bins, determinism, border variety, and the GPU-side flips of the bank."""

import numpy as np
import pytest
import torch

from pconv_studio.training.masks import HOLE_RATIO_BINS, MaskGenerator, augment_masks, build_mask_bank, random_mask


@pytest.mark.parametrize("height, width", [(64, 64), (40, 72)])
def test_every_mask_lands_in_its_bin(height, width):
    generator = MaskGenerator(seed=11)
    for low, high in HOLE_RATIO_BINS:
        for _ in range(6):
            mask = generator(height, width, (low, high))
            assert mask.shape == (height, width) and mask.dtype == bool
            ratio = mask.sum() / (height * width)
            assert low <= ratio <= high, (low, high, ratio)


def test_the_same_seed_gives_the_same_masks_and_another_seed_others():
    first = [MaskGenerator(5)(48, 48) for _ in range(4)]
    again = [MaskGenerator(5)(48, 48) for _ in range(4)]
    other = [MaskGenerator(6)(48, 48) for _ in range(4)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_the_bank_is_reproducible_and_cycles_through_the_bins():
    bank = build_mask_bank(12, 48, seed=3)
    assert bank.shape == (12, 48, 48) and bank.dtype == bool
    assert np.array_equal(bank, build_mask_bank(12, 48, seed=3))
    for index, mask in enumerate(bank):
        low, high = HOLE_RATIO_BINS[index % len(HOLE_RATIO_BINS)]
        assert low <= mask.mean() <= high


def test_some_holes_touch_the_border_and_some_keep_off_it():
    masks = [random_mask(64, 64, (0.05, 0.15), np.random.default_rng(seed)) for seed in range(40)]
    touching = [bool(m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()) for m in masks]
    assert 0 < sum(touching) < len(touching)


def test_a_bin_outside_0_to_1_is_refused():
    with pytest.raises(ValueError):
        random_mask(32, 32, (0.5, 1.2), np.random.default_rng(0))


def test_augment_masks_applies_the_eight_symmetries_like_numpy():
    rng = np.random.default_rng(0)
    masks = rng.random((8, 5, 5)) > 0.5
    variants = np.arange(8)
    result = augment_masks(torch.from_numpy(masks), torch.from_numpy(variants)).numpy()
    for mask, variant, got in zip(masks, variants, result):
        expected = mask
        if variant & 1:
            expected = expected[:, ::-1]
        if variant & 2:
            expected = expected[::-1, :]
        if variant & 4:
            expected = expected.T
        assert np.array_equal(got, expected), variant
