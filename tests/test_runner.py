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
    composite, _ = NetworkRunner(network, torch.device("cpu"), precision="fp32")(pixels, valid)
    assert composite.dtype == np.uint8 and composite.shape == pixels.shape
    np.testing.assert_array_equal(composite[valid], pixels[valid])
    prediction = _float64_prediction(network, pixels / 255.0, valid)
    expected = np.clip(np.round(prediction * 255.0), 0, 255)
    difference = np.abs(composite[~valid].astype(float) - expected[~valid])
    assert difference.max() <= 1 and difference.mean() < 0.05  # 1 only where float32 lands on the other side of .5


def test_float_step_returns_floats_with_the_input_outside_the_hole(network):
    pixels, valid = _photo_and_valid()
    rgb = pixels.astype(np.float32) / 255.0
    composite, _ = NetworkRunner(network, torch.device("cpu"), precision="fp32")(rgb, valid)
    assert composite.dtype == np.float32
    np.testing.assert_array_equal(composite[valid], rgb[valid])
    prediction = _float64_prediction(network, rgb.astype(np.float64), valid)
    np.testing.assert_allclose(composite[~valid], prediction[~valid], atol=1e-4)


@pytest.mark.parametrize("precision", ["auto", "fp32"])  # auto: bf16 on a CPU that has it; masks stay exact
def test_stage_masks_are_the_geometric_propagation(network, precision):
    pixels, valid = _photo_and_valid()
    _, stages = NetworkRunner(network, torch.device("cpu"), precision=precision)(pixels, valid)
    expected = propagate_masks(torch.from_numpy(valid.astype(np.float32)), TINY_CONFIG)
    assert len(stages) == len(expected)
    for stage, geometry in zip(stages, expected):
        assert stage.dtype == bool
        np.testing.assert_array_equal(stage, geometry[0, 0].numpy() == 0)


def test_graph_modes_and_precisions(network):
    with pytest.raises(ValueError, match="graphs must be one of"):
        NetworkRunner(network, torch.device("cpu"), graphs="always")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="precision must be one of"):
        NetworkRunner(network, torch.device("cpu"), precision="fp8")  # type: ignore[arg-type]
    assert NetworkRunner(network, torch.device("cpu"), graphs="on").graphs_mode == "off"  # CUDA graphs need CUDA
    assert NetworkRunner(network, torch.device("cpu"), precision="fp32").dtype is None


class _ReplayingGraph:
    """Stands in for a CUDA graph on the CPU: a replay reruns the captured call on the static inputs and writes
    the results into the captured outputs, as a real replay does. Proves the runner's bookkeeping, not CUDA."""

    faulty = False  # a faulty graph writes a fill that is off by a few levels

    def __init__(self, function, inputs, outputs) -> None:
        self.function, self.inputs, self.outputs = function, inputs, outputs
        self.replays = 0

    def replay(self) -> None:
        self.replays += 1
        composite, holes, _ = self.function(*self.inputs)
        self.outputs[0].copy_(composite // 2 if self.faulty else composite)
        self.outputs[1].copy_(holes)


@pytest.fixture()
def runner_with_stand_in_graphs(network, monkeypatch):
    import pconv_studio.engine.runner as runner_module

    graphs: list[_ReplayingGraph] = []

    def capture(function, *inputs, pool=None):
        outputs = function(*inputs)
        graphs.append(_ReplayingGraph(function, inputs, outputs))
        return graphs[-1], outputs

    monkeypatch.setattr(runner_module, "capture_cuda_graph", capture)
    monkeypatch.setattr(torch.cuda, "graph_pool_handle", lambda: None)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    runner = NetworkRunner(network, torch.device("cpu"), capacity=2)
    runner.graphs_mode = "on"
    return runner, graphs


def _varied_inputs(seed: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    valid = rng.random((height, width)) > 0.3
    return pixels, valid


def test_replays_read_each_call_s_own_inputs(network, runner_with_stand_in_graphs):
    runner, graphs = runner_with_stand_in_graphs
    eager = NetworkRunner(network, torch.device("cpu"), graphs="off")
    inputs = [_varied_inputs(seed, 40, 56) for seed in range(4)]
    originals = [pixels.copy() for pixels, _ in inputs]
    for pixels, valid in inputs:  # the 1st call runs eagerly, the 2nd captures, all later ones bring new inputs
        composite, stages = runner(pixels, valid)
        expected_composite, expected_stages = eager(pixels, valid)
        np.testing.assert_array_equal(composite, expected_composite)
        for stage, expected in zip(stages, expected_stages):
            np.testing.assert_array_equal(stage, expected)
    for (pixels, _), original in zip(inputs, originals):  # a caller's pixels are never a graph's buffer
        np.testing.assert_array_equal(pixels, original)
    # a capture only records the kernels, so the capturing call replays too: calls 2, 3 and 4
    assert len(graphs) == 1 and graphs[0].replays == 3


def test_only_the_most_recent_sizes_keep_a_graph(runner_with_stand_in_graphs):
    runner, graphs = runner_with_stand_in_graphs
    sizes = [(32, 32), (40, 24), (24, 40)]
    for _ in range(2):
        for height, width in sizes:
            runner(*_varied_inputs(height, height, width))
    assert len(graphs) == 3 and runner.graph_count == 2  # capacity 2: the oldest was dropped
    runner.reset()
    assert runner.graph_count == 0


def test_auto_mode_drops_a_graph_whose_fill_differs(network, runner_with_stand_in_graphs, monkeypatch):
    runner, graphs = runner_with_stand_in_graphs
    runner.graphs_mode = "auto"
    monkeypatch.setattr(_ReplayingGraph, "faulty", True)
    eager = NetworkRunner(network, torch.device("cpu"), graphs="off")
    for seed in range(3):
        pixels, valid = _varied_inputs(seed, 40, 56)
        np.testing.assert_array_equal(runner(pixels, valid)[0], eager(pixels, valid)[0])
    assert len(graphs) == 1 and runner.graph_count == 0  # captured once, checked, dropped, never captured again
