"""The network step the engine runs: composite and rounding against a float64 reference, stages against geometry."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from pconv_studio.engine.runner import NetworkRunner
from pconv_studio.model import PConvUNet, propagate_masks

from .support import TINY_CONFIG


@pytest.fixture(scope="module")
def network() -> PConvUNet:
    torch.manual_seed(4)
    return PConvUNet(TINY_CONFIG).eval()


def _photo_and_valid(height: int = 45, width: int = 61) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    valid = np.ones((height, width), bool)
    valid[8:30, 12:40] = False
    valid[-6:, -10:] = False  # touching the border
    return pixels, valid


def _float64_prediction(network: PConvUNet, rgb: np.ndarray, valid: np.ndarray) -> np.ndarray:
    image = torch.from_numpy(rgb.astype(np.float64)).permute(2, 0, 1)[None]
    mask = torch.from_numpy(valid.astype(np.float64))[None, None]
    with torch.no_grad():
        return copy.deepcopy(network).double()(image, mask).image[0].permute(1, 2, 0).numpy()


def test_eight_bit_step_keeps_valid_pixels_and_rounds_the_prediction_once(network):
    pixels, valid = _photo_and_valid()
    composite, _ = NetworkRunner(network, torch.device("cpu"))(pixels, valid)
    assert composite.dtype == np.uint8 and composite.shape == pixels.shape
    np.testing.assert_array_equal(composite[valid], pixels[valid])
    prediction = _float64_prediction(network, pixels / 255.0, valid)
    expected = np.clip(np.round(prediction * 255.0), 0, 255)
    difference = np.abs(composite[~valid].astype(float) - expected[~valid])
    assert difference.max() <= 1 and difference.mean() < 0.05  # 1 only where float32 lands on the other side of .5


def test_float_step_returns_floats_with_the_input_outside_the_hole(network):
    pixels, valid = _photo_and_valid()
    rgb = pixels.astype(np.float32) / 255.0
    composite, _ = NetworkRunner(network, torch.device("cpu"))(rgb, valid)
    assert composite.dtype == np.float32
    np.testing.assert_array_equal(composite[valid], rgb[valid])
    prediction = _float64_prediction(network, rgb.astype(np.float64), valid)
    np.testing.assert_allclose(composite[~valid], prediction[~valid], atol=1e-4)


def test_stage_masks_are_the_geometric_propagation(network):
    pixels, valid = _photo_and_valid()
    _, stages = NetworkRunner(network, torch.device("cpu"))(pixels, valid)
    expected = propagate_masks(torch.from_numpy(valid.astype(np.float32)), TINY_CONFIG)
    assert len(stages) == len(expected)
    for stage, geometry in zip(stages, expected):
        assert stage.dtype == bool
        np.testing.assert_array_equal(stage, geometry[0, 0].numpy() == 0)


def test_graph_modes(network):
    with pytest.raises(ValueError, match="graphs must be one of"):
        NetworkRunner(network, torch.device("cpu"), graphs="always")  # type: ignore[arg-type]
    assert NetworkRunner(network, torch.device("cpu"), graphs="on").graphs_mode == "off"  # CUDA graphs need CUDA
