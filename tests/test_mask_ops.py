"""Mask operations against independent references (per-pixel loops, distance sums), and the panel's stages
against `propagate_masks` and the network itself."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pconv_studio.editing import mask_ops
from pconv_studio.engine import Inpainter, ResolutionConfig
from pconv_studio.engine.inpainter import Region, network_hole, network_size
from pconv_studio.model import propagate_masks, propagate_ratios
from tests.support import TINY_CONFIG, gradient_image


def centres(shape):
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]]
    return columns + 0.5, rows + 0.5


def test_a_dab_is_the_disc_of_pixel_centres_within_the_radius():
    mask = np.zeros((40, 50), bool)
    region = mask_ops.paint_capsule(mask, (20.3, 15.8), (20.3, 15.8), 6.5)
    xs, ys = centres(mask.shape)
    np.testing.assert_array_equal(mask, (xs - 20.3) ** 2 + (ys - 15.8) ** 2 <= 6.5 ** 2)
    painted = mask_ops.bounding_region(mask)  # the returned box may be a little larger, never smaller
    assert region.union(painted) == region and region.height <= painted.height + 2


def test_a_capsule_matches_a_pixel_by_pixel_reference_and_erases():
    mask = np.zeros((60, 80), bool)
    start, end, radius = (5.2, 50.1), (70.7, 12.4), 4.0
    mask_ops.paint_capsule(mask, start, end, radius)
    expected = np.zeros_like(mask)
    for row in range(60):
        for column in range(80):
            point = np.array([column + 0.5, row + 0.5])
            a, b = np.array(start), np.array(end)
            t = min(max(np.dot(point - a, b - a) / np.dot(b - a, b - a), 0.0), 1.0)
            expected[row, column] = np.linalg.norm(point - (a + t * (b - a))) <= radius
    np.testing.assert_array_equal(mask, expected)
    mask_ops.paint_capsule(mask, start, end, radius, value=False)
    assert not mask.any()


def test_shapes_outside_the_image_change_nothing():
    mask = np.zeros((10, 10), bool)
    assert mask_ops.paint_capsule(mask, (-20, -20), (-15, -30), 3) is None
    assert mask_ops.fill_rectangle(mask, (12, 0), (30, 5)) is None
    assert mask_ops.fill_polygon(mask, [(1, 1), (5, 5)]) is None
    assert not mask.any()


def test_rectangle_covers_the_centres_between_its_corners_in_any_order():
    mask = np.zeros((20, 30), bool)
    mask_ops.fill_rectangle(mask, (25.2, 14.9), (4.6, 3.5))
    xs, ys = centres(mask.shape)
    np.testing.assert_array_equal(mask, (xs >= 4.6) & (xs <= 25.2) & (ys >= 3.5) & (ys <= 14.9))


def test_polygon_uses_the_even_odd_rule_on_pixel_centres():
    star = [(50 + 40 * math.cos(a), 50 + 40 * math.sin(a)) for a in np.arange(5) * 4 * math.pi / 5 + 0.1]
    mask = np.zeros((100, 100), bool)
    mask_ops.fill_polygon(mask, star)
    expected = np.zeros_like(mask)
    for row in range(100):
        for column in range(100):
            x, y, inside = column + 0.5, row + 0.5, False
            for (x0, y0), (x1, y1) in zip(star, star[1:] + star[:1]):
                if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
                    inside = not inside
            expected[row, column] = inside
    np.testing.assert_array_equal(mask, expected)
    assert not mask[50, 50]  # the pentagon in the middle of a self-crossing star is outside


def test_grow_and_shrink_use_euclidean_distance():
    mask = np.zeros((41, 41), bool)
    mask[20, 20] = True
    mask_ops.grow(mask, 5)
    xs, ys = centres(mask.shape)
    disc = (xs - 20.5) ** 2 + (ys - 20.5) ** 2 <= 25
    np.testing.assert_array_equal(mask, disc)
    mask_ops.shrink(mask, 5)
    assert mask.sum() == 1 and mask[20, 20]
    border = np.zeros((10, 10), bool)
    border[:, :4] = True
    mask_ops.shrink(border, 2)  # the image border is not "valid": the hole shrinks from its inner side only
    assert border[:, :2].all() and not border[:, 2:].any()


def test_invert_clear_and_changed_region():
    mask = np.zeros((5, 6), bool)
    mask[1:3, 2:4] = True
    before = mask.copy()
    mask_ops.invert(mask)
    assert mask.sum() == 26
    assert mask_ops.changed_region(before, mask) == Region(0, 0, 5, 6)
    mask_ops.clear(mask)
    assert not mask.any()
    assert mask_ops.changed_region(mask, mask) is None


def test_live_stages_match_propagate_masks_cropped_to_the_photo():
    hole = np.zeros((100, 130), bool)  # not a multiple of 16: the network pads to 112 x 144
    hole[30:60, 40:90] = True
    stack = mask_ops.propagated_stages(hole, TINY_CONFIG, ResolutionConfig())
    assert stack.region == Region(0, 0, 100, 130) and stack.network_size == (100, 130)
    reference = propagate_masks(torch.from_numpy((~hole).astype(np.float32)), TINY_CONFIG)
    assert [s.stride for s in stack.stages] == [2, 4, 8, 16, 8, 4, 2, 1]
    ratios = propagate_ratios(torch.from_numpy((~hole).astype(np.float32)), TINY_CONFIG)
    largest = 1.0
    for stage, padded, ratio in zip(stack.stages, reference, ratios):
        rows, columns = -(-100 // stage.stride), -(-130 // stage.stride)
        np.testing.assert_array_equal(stage.hole, padded[0, 0, :rows, :columns].numpy() == 0)
        np.testing.assert_array_equal(stage.scaling, ratio[0, 0, :rows, :columns].numpy())
        np.testing.assert_array_equal(stage.scaling == 0, stage.hole)  # no valid input exactly where still hole
        largest = max(largest, float(ratio[0, 0, :rows, :columns].max()))
    assert stack.max_scaling == largest > 1
    assert stack.stages[0].hole_percent > 5 and stack.first_clear_index is not None
    overlay = stack.photo_mask(1)
    rows, columns = np.mgrid[0:100, 0:130]
    np.testing.assert_array_equal(overlay, stack.stages[1].hole[rows // 4, columns // 4])
    assert mask_ops.propagated_stages(np.zeros((10, 10), bool), TINY_CONFIG, ResolutionConfig()) is None


@pytest.mark.parametrize("rows, path", [((100, 180), "two scales"), ((100, 110), "tiled")])
def test_stages_the_panel_predicts_are_those_of_the_pass_that_fills(tiny_weights, rows, path):
    """The geometry-only stages are the network's own for the pass the fill shows: the coarse pass of two scales
    (a crop scaled down to the working size), or the tile that fills the most pixels (at full resolution)."""
    pixels = gradient_image(300, 700)
    hole = np.zeros((300, 700), bool)
    hole[rows[0]:rows[1], 200:500] = True
    resolution = ResolutionConfig(working_size=256, tile_size=256, tile_halo=32)
    result = Inpainter(tiny_weights, device="cpu", resolution=resolution).inpaint(pixels, hole)
    assert [fill.path for fill in result.fills] == [path]
    from_network = mask_ops.stages_from_result(result, TINY_CONFIG, hole)
    predicted = mask_ops.propagated_stages(hole, TINY_CONFIG, resolution)
    assert from_network.from_network and not predicted.from_network
    assert from_network.region == predicted.region == mask_ops.staged_region(hole, resolution, TINY_CONFIG)
    region = predicted.region
    if path == "two scales":
        assert region.width > 256  # the crop is scaled down to the working size
        assert predicted.network_size == (round(region.height * 256 / region.width), 256)
    else:
        assert predicted.network_size == (region.height, region.width) and region.width <= 256 + 2 * 32
    for computed, geometric in zip(from_network.stages, predicted.stages):
        np.testing.assert_array_equal(computed.hole, geometric.hole)
        np.testing.assert_array_equal(computed.scaling, geometric.scaling)
    assert from_network.photo_mask(0).shape == (region.height, region.width)


@pytest.mark.parametrize("size", [(500, 600), (600, 200)])
def test_network_hole_marks_a_small_pixel_hole_if_any_photo_pixel_under_it_is(size):
    hole = np.zeros(size, bool)
    hole[size[0] // 2, size[1] // 2] = True
    region = Region(0, 0, *size)
    network = network_size(region, 64)
    assert max(network) == 64 and abs(network[0] / network[1] - size[0] / size[1]) < 0.1
    small = network_hole(hole, network)
    assert small.shape == network and small.sum() >= 1


def test_is_degenerate_needs_a_block_of_min_shape_width_screen_pixel_centres():
    def square(low, high):
        return [(low, low), (high, low), (high, high), (low, high)]

    assert mask_ops.MIN_SHAPE_WIDTH == 3
    assert not mask_ops.is_degenerate(square(0.0, 3.0))  # centres 0.5, 1.5, 2.5: a 3x3 block
    assert mask_ops.is_degenerate(square(0.6, 3.4))  # centres 1.5, 2.5 only
    assert mask_ops.is_degenerate(square(0.3, 1.7), scale=2.0)  # the same square on screen
    assert not mask_ops.is_degenerate(square(0.3, 1.7), scale=3.0)  # (0.9, 5.1): centres 1.5 .. 4.5
    sliver = [(0.0, 0.0), (100.0, 40.0), (100.0, 42.0)]  # 2 px at its widest
    assert mask_ops.is_degenerate(sliver) and not mask_ops.is_degenerate(sliver, scale=4.0)
    bow_tie = [(0.0, 0.0), (20.0, 20.0), (20.0, 0.0), (0.0, 20.0)]  # self-crossing: signed area 0, real lobes
    assert not mask_ops.is_degenerate(bow_tie)
    assert mask_ops.is_degenerate([(5.0, 5.0), (50.0, 50.0)])
