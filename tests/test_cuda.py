"""The CUDA path against the CPU and the float64 reference. Skipped without a CUDA GPU (run on a GPU machine)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from pconv_studio.engine import Inpainter
from pconv_studio.engine.runner import NetworkRunner
from pconv_studio.model import PartialConv2d, PConvUNet, get_preset, load_weights
from pconv_studio.paths import default_weights_path

from .support import gradient_image, make_weights
from .test_partial_conv import holey_mask, reference

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

AUTOCAST_DTYPES = [torch.float16, torch.bfloat16]


@pytest.mark.parametrize("dtype", AUTOCAST_DTYPES)
@pytest.mark.parametrize("kernel, stride", [(3, 1), (5, 2), (7, 2)])
def test_autocast_partial_conv_against_float64(dtype, kernel, stride):
    rng = np.random.default_rng(kernel + stride)
    x = rng.standard_normal((2, 16, 24, 22))
    mask = holey_mask(rng, (2, 1, 24, 22))
    layer = PartialConv2d(16, 8, kernel, stride=stride, padding=kernel // 2).double()
    expected_y, expected_mask = reference(
        x, np.broadcast_to(mask, x.shape), layer.weight.detach().numpy(), layer.bias.detach().numpy(),
        stride, kernel // 2, 1,
    )
    layer = layer.float().cuda()
    with torch.no_grad(), torch.autocast("cuda", dtype=dtype):
        y, new_mask = layer(torch.from_numpy(x).float().cuda(), torch.from_numpy(mask).float().cuda())
    assert new_mask.dtype == torch.float32
    np.testing.assert_array_equal(new_mask.cpu().numpy(), expected_mask)
    y = y.double().cpu().numpy()
    assert np.isfinite(y).all()
    assert np.linalg.norm(y - expected_y) / np.linalg.norm(expected_y) < 1e-2


def test_fp16_all_hole_windows_give_no_nan_or_inf():
    torch.manual_seed(0)
    layer = PartialConv2d(32, 32, 7, padding=3).cuda()
    x = torch.randn(1, 32, 64, 64, device="cuda") * 100
    mask = torch.ones(1, 1, 64, 64, device="cuda")
    mask[..., 8:56, 8:56] = 0
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
        y, new_mask = layer(x, mask)
    assert torch.isfinite(y).all()
    assert (y[..., 12:52, 12:52] == 0).all() and (new_mask[..., 12:52, 12:52] == 0).all()


@pytest.mark.parametrize("preset", ["compact", "paper"])
def test_mask_path_is_bit_exact_against_the_cpu(preset):
    torch.manual_seed(2)
    net = PConvUNet(get_preset(preset)).eval()
    image = torch.rand(1, 3, 300, 460)
    valid = (torch.rand(1, 1, 300, 460) > 0.6).float()
    valid[..., 50:250, 100:300] = 0
    with torch.no_grad():
        on_cpu = net(image, valid).stage_masks
        net = net.cuda().to(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            on_gpu = net(image.cuda(), valid.cuda()).stage_masks
    for cpu_mask, gpu_mask in zip(on_cpu, on_gpu):
        assert torch.equal(cpu_mask, gpu_mask.cpu())


def _weights_for_engine_test(tmp_path: Path) -> Path:
    """The trained model when there is one (an untrained network's outputs are not a fair precision test)."""
    chosen = os.environ.get("PCONV_TEST_WEIGHTS")
    if chosen:
        return Path(chosen)
    if default_weights_path().is_file():
        return default_weights_path()
    return make_weights(tmp_path / "tiny.safetensors")


def test_engine_on_cuda_matches_the_cpu(tmp_path):
    weights = _weights_for_engine_test(tmp_path)
    pixels = gradient_image(700, 900)
    pixels[::7] //= 2  # some texture
    hole = np.zeros((700, 900), bool)
    hole[100:300, 200:500] = True
    hole[600:680, 10:90] = True
    on_cpu = Inpainter(weights, device="cpu", precision="fp32").inpaint(pixels, hole)
    on_gpu = Inpainter(weights, device="cuda").inpaint(pixels, hole)
    assert on_gpu.device.startswith("CUDA")
    np.testing.assert_array_equal(on_gpu.pixels[~hole], pixels[~hole])
    difference = np.abs(on_gpu.pixels[hole].astype(float) - on_cpu.pixels[hole].astype(float)) / 255.0
    assert difference.mean() < 1 / 255


def test_out_of_memory_falls_back_without_failing(tmp_path, monkeypatch):
    weights = make_weights(tmp_path / "tiny.safetensors")
    inpainter = Inpainter(weights, device="cuda")
    real_forward = inpainter._forward
    calls = []

    def forward_that_runs_out_of_memory(rgb, valid):
        calls.append(inpainter.device_choice.device.type)
        if inpainter.device_choice.device.type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_forward(rgb, valid)

    monkeypatch.setattr(inpainter, "_forward", forward_that_runs_out_of_memory)
    pixels = gradient_image(600, 600)
    hole = np.zeros((600, 600), bool)
    hole[200:400, 200:400] = True
    result = inpainter.inpaint(pixels, hole)
    assert calls[-1] == "cpu" and "cuda" in calls
    assert any("smaller" in n or "retried" in n for n in result.notices)
    assert any("CPU" in n for n in result.notices)
    np.testing.assert_array_equal(result.pixels[~hole], pixels[~hole])


def _runner_inputs(seed: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    valid = np.ones((height, width), bool)
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    valid[top:top + height // 3, left:left + width // 3] = False
    return pixels, valid


def _trained_or_tiny_network(tmp_path: Path) -> PConvUNet:
    model, _ = load_weights(_weights_for_engine_test(tmp_path))
    return model.fold_batch_norms().cuda().to(memory_format=torch.channels_last)


def _assert_same_fill(got, expected) -> None:
    (composite, stages), (expected_composite, expected_stages) = got, expected
    difference = np.abs(composite.astype(int) - expected_composite.astype(int))
    assert difference.max() <= 1 and difference.mean() < 0.01
    assert len(stages) == len(expected_stages)
    for stage, expected_stage in zip(stages, expected_stages):
        np.testing.assert_array_equal(stage, expected_stage)


def test_cuda_graph_replays_follow_new_inputs(tmp_path):
    """A replay must read the inputs copied in for this call, not the ones it was captured with."""
    network = _trained_or_tiny_network(tmp_path)
    graphed = NetworkRunner(network, torch.device("cuda"), graphs="on")
    eager = NetworkRunner(network, torch.device("cuda"), graphs="off")
    for seed in range(4):  # the 2nd call captures, the 3rd and 4th replay with new pixels and a new hole
        pixels, valid = _runner_inputs(seed, 200, 264)
        _assert_same_fill(graphed(pixels, valid), eager(pixels, valid))
    assert graphed.graph_count == 1 and eager.graph_count == 0


def test_cuda_graph_cache_is_bounded_and_auto_mode_agrees(tmp_path):
    network = _trained_or_tiny_network(tmp_path)
    graphed = NetworkRunner(network, torch.device("cuda"), graphs="on", capacity=2)
    automatic = NetworkRunner(network, torch.device("cuda"), graphs="auto")
    eager = NetworkRunner(network, torch.device("cuda"), graphs="off")
    sizes = [(128, 128), (96, 160), (160, 96)]
    for round_ in range(3):
        for index, (height, width) in enumerate(sizes):
            pixels, valid = _runner_inputs(10 * round_ + index, height, width)
            expected = eager(pixels, valid)
            _assert_same_fill(graphed(pixels, valid), expected)
            _assert_same_fill(automatic(pixels, valid), expected)
    assert graphed.graph_count == 2


def test_engine_replaying_graphs_matches_the_cpu(tmp_path):
    weights = _weights_for_engine_test(tmp_path)
    pixels = gradient_image(512, 512)
    pixels[::5] //= 3
    hole = np.zeros((512, 512), bool)
    hole[150:330, 120:400] = True
    on_cpu = Inpainter(weights, device="cpu", precision="fp32").inpaint(pixels, hole)
    on_gpu = Inpainter(weights, device="cuda", cuda_graphs="on")
    for _ in range(3):  # eager, capture, replay
        result = on_gpu.inpaint(pixels, hole)
        np.testing.assert_array_equal(result.pixels[~hole], pixels[~hole])
        difference = np.abs(result.pixels[hole].astype(float) - on_cpu.pixels[hole].astype(float)) / 255.0
        assert difference.mean() < 1 / 255
    assert on_gpu._runner.graph_count == 1
