"""Weights files: self-describing, and every broken file is a clear WeightsError."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from pconv_studio.errors import WeightsError
from pconv_studio.model import PConvUNet, get_preset, interpolate_networks, load_weights, save_weights

from .support import TINY_CONFIG, make_weights


def test_round_trip_restores_config_and_tensors(tmp_path):
    torch.manual_seed(0)
    net = PConvUNet(TINY_CONFIG)
    save_weights(net, tmp_path / "w.safetensors", extra={"steps": "12"})
    loaded, metadata = load_weights(tmp_path / "w.safetensors")
    assert loaded.config == TINY_CONFIG and metadata["steps"] == "12"
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name])
    assert not loaded.training


def test_half_precision_files_load_as_float32(tmp_path):
    make_weights(tmp_path / "w.safetensors")
    net = PConvUNet(TINY_CONFIG)
    save_weights(net, tmp_path / "h.safetensors", half=True)
    loaded, _ = load_weights(tmp_path / "h.safetensors")
    weight = loaded.layers[0].conv.weight
    assert weight.dtype == torch.float32
    assert torch.allclose(weight, net.layers[0].conv.weight, rtol=1e-3, atol=1e-4)


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_weights(tmp_path / "nope.safetensors")


def test_corrupt_file(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(WeightsError, match="not a valid safetensors"):
        load_weights(path)


def test_truncated_file(tmp_path):
    path = make_weights(tmp_path / "w.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="corrupt"):
        load_weights(path)


def test_foreign_safetensors_file(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(WeightsError, match="not PConv Studio weights"):
        load_weights(path)


def test_mismatched_architecture(tmp_path):
    path = make_weights(tmp_path / "w.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    tensors["layers.0.conv.weight"] = torch.zeros(3, 3, 3, 3)
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(WeightsError, match="does not match"):
        load_weights(path)


def test_interpolated_network_is_the_elementwise_blend_in_float64():
    torch.manual_seed(0)
    faithful, detailed = PConvUNet(get_preset("compact")), PConvUNet(get_preset("compact"))
    with torch.no_grad():
        for parameter in detailed.parameters():
            parameter.add_(torch.randn_like(parameter))
        for module in detailed.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_var.mul_(3.0)
    blended = interpolate_networks(faithful, detailed, 0.25)
    a, b, c = faithful.state_dict(), detailed.state_dict(), blended.state_dict()
    for name in a:
        if a[name].is_floating_point():
            expected = 0.75 * a[name].double() + 0.25 * b[name].double()
            assert torch.allclose(c[name].double(), expected, atol=1e-6), name
    for t, source in ((0.0, a), (1.0, b)):
        exact = interpolate_networks(faithful, detailed, t).state_dict()
        assert all(torch.equal(exact[name], source[name]) for name in source if source[name].is_floating_point())


def test_networks_of_two_architectures_do_not_blend():
    with pytest.raises(WeightsError):
        interpolate_networks(PConvUNet(get_preset("compact")), PConvUNet(get_preset("paper")), 0.5)
