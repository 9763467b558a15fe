"""The irregular-mask generator: bins, determinism, border variety, and the GPU-side flips of the bank."""

import cv2
import numpy as np
import pytest
import torch

from pconv_studio.training.masks import (
    HOLE_RATIO_BINS, OBJECT_AREA, OBJECT_COUNT, RETOUCH_MASK_KINDS, WIRE_COUNT, WIRE_MIN_EXTENT, WIRE_WIDTH,
    MaskGenerator, augment_masks, build_mask_bank, mask_rng, random_mask, retouch_mask,
)


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


# --- retouching masks: measured on the rasterised mask with OpenCV's own components, distances and thinning ------

RETOUCH_SIZES = [(900, 1200), (1600, 2560), (3000, 2000)]


def _components(mask: np.ndarray) -> list[np.ndarray]:
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return [labels == label for label in range(1, count)]


@pytest.mark.parametrize("height, width", RETOUCH_SIZES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_objects_are_a_few_separate_blobs_of_one_to_three_percent(height, width, seed):
    mask = retouch_mask("objects", height, width, mask_rng(seed, 7))
    blobs = _components(mask)
    assert OBJECT_COUNT[0] <= len(blobs) <= OBJECT_COUNT[1]
    for blob in blobs:
        assert OBJECT_AREA[0] <= blob.mean() <= OBJECT_AREA[1], blob.mean()
    # none touches the border, and no two merge even when grown by half the promised gap (1.5% of the short side)
    assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    assert len(_components(distance <= 0.015 * min(height, width))) == len(blobs)


def test_object_outlines_are_ragged_not_convex():
    mask = retouch_mask("objects", 1600, 2560, mask_rng(3, 7))
    for blob in _components(mask):
        contours, _ = cv2.findContours(blob.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        hull = cv2.convexHull(contours[0])
        assert blob.sum() < 0.95 * cv2.contourArea(hull)  # brush dabs leave notches a convex shape has not


@pytest.mark.parametrize("height, width", RETOUCH_SIZES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wires_are_long_strokes_half_to_one_and_a_half_percent_of_the_short_side_wide(height, width, seed):
    mask = retouch_mask("wires", height, width, mask_rng(seed, 8))
    short = min(height, width)
    wires = _components(mask)
    assert WIRE_COUNT[0] <= len(wires) <= WIRE_COUNT[1]
    for wire in wires:
        # width at a skeleton pixel: a stripe k px wide puts its centre (k + 1) / 2 from the nearest outside pixel
        distance = cv2.distanceTransform(wire.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        skeleton = cv2.ximgproc.thinning(wire.astype(np.uint8) * 255) > 0
        widths = 2 * distance[skeleton & (distance > 0)] - 1
        # 1 px of rasterisation either way; skeleton pixels at the frame's edge measure less, so take the median
        assert WIRE_WIDTH[0] * short - 1 <= np.median(widths) <= WIRE_WIDTH[1] * short + 1, np.median(widths)
        assert widths.max() <= WIRE_WIDTH[1] * short + 2.5  # round joints widen a bend by at most a pixel or so
        rows, cols = np.nonzero(wire)
        extent = max((cols.max() - cols.min() + 1) / width, (rows.max() - rows.min() + 1) / height)
        assert extent >= WIRE_MIN_EXTENT


@pytest.mark.parametrize("kind", RETOUCH_MASK_KINDS)
def test_retouch_masks_repeat_for_a_seed_and_differ_across_seeds(kind):
    first = retouch_mask(kind, 700, 1000, mask_rng(5, 1))
    assert first.dtype == bool and first.shape == (700, 1000)
    assert np.array_equal(first, retouch_mask(kind, 700, 1000, mask_rng(5, 1)))
    assert not np.array_equal(first, retouch_mask(kind, 700, 1000, mask_rng(6, 1)))


def test_retouch_masks_refuse_unknown_kinds_and_photos_too_small():
    with pytest.raises(ValueError, match="scratches"):
        retouch_mask("scratches", 500, 500, mask_rng(0))
    with pytest.raises(ValueError, match="too small"):
        retouch_mask("wires", 40, 60, mask_rng(0))
