"""The propagation panel's view of an upscale, without Qt: the grid's hole and the stages the network computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pconv_studio.editing.mask_ops import stages_from_upscale, upscale_grid_hole
from pconv_studio.engine.inpainter import Region
from pconv_studio.engine.upscale import Upscaler
from tests.support import TINY_CONFIG, gradient_image


def test_the_grid_hole_is_open_exactly_where_input_pixels_land():
    # x2: input pixel x lands on 2x + 1 (the output pixel holding its centre)
    expected = np.ones((4, 6), bool)
    for row in (1, 3):
        for column in (1, 3, 5):
            expected[row, column] = False
    np.testing.assert_array_equal(upscale_grid_hole((2, 3), 2.0, 4, 6), expected)
    # x2.5: centres 0.5 and 1.5 land at 1.25 and 3.75 -> output pixels 1 and 3 of 5
    expected = np.ones((5, 5), bool)
    expected[np.ix_([1, 3], [1, 3])] = False
    np.testing.assert_array_equal(upscale_grid_hole((2, 2), 2.5, 5, 5), expected)
    # only the top-left 3 x 5 px: the second row of samples lies below it
    np.testing.assert_array_equal(upscale_grid_hole((2, 2), 2.5, 3, 5), expected[:3])


def first_layer_reference(hole: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """A strided partial convolution's output mask, window by window: hole where no valid input pixel (inside
    the image; the border pads with hole) falls in the kernel's window."""
    pad = kernel // 2
    rows, columns = -(-hole.shape[0] // stride), -(-hole.shape[1] // stride)
    out = np.ones((rows, columns), bool)
    for i in range(rows):
        for j in range(columns):
            top, left = i * stride - pad, j * stride - pad
            window = hole[max(0, top):top + kernel, max(0, left):left + kernel]
            out[i, j] = window.all()
    return out


def test_an_upscale_reports_the_grid_stages_its_network_computed(tiny_weights: Path):
    photo = gradient_image(40, 48)
    result = Upscaler(tiny_weights, device="cpu").upscale(photo, 8)
    stack = stages_from_upscale(result, TINY_CONFIG, photo.shape[:2])
    assert stack is not None and stack.upscale == 8 and stack.from_network
    assert stack.region == Region(0, 0, 320, 384) and stack.network_size == (320, 384)
    assert [stage.name for stage in stack.stages][:3] == ["grid", "enc1", "enc2"]
    grid = upscale_grid_hole((40, 48), 8.0, 320, 384)
    np.testing.assert_array_equal(stack.stages[0].hole, grid)
    assert stack.stages[0].hole_percent == pytest.approx(100 * 63 / 64)  # one pixel in 64 is known
    # enc1 is a 7x7 stride-2 partial convolution: a window 7 px wide catches a sample every 8 px only sometimes
    reference = first_layer_reference(grid, TINY_CONFIG.encoder_kernels[0], 2)
    np.testing.assert_array_equal(stack.stages[1].hole, reference)
    assert 0 < stack.stages[1].hole_percent < stack.stages[0].hole_percent
    assert stack.stages[-1].hole_percent == 0  # the network closed the grid
