"""The U-Net: shapes for any size, and geometry-only propagation equal to the network's own masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pconv_studio.model import (
    PartialConv2d, PConvUNet, UNetConfig, get_preset, layer_specs, propagate_masks, propagate_ratios,
)

from .support import TINY_CONFIG


@pytest.mark.parametrize("height, width", [(37, 53), (64, 64), (101, 30)])
def test_output_has_the_input_size_and_stages_halve(height, width):
    torch.manual_seed(0)
    net = PConvUNet(TINY_CONFIG).eval()
    image = torch.rand(2, 3, height, width)
    valid = (torch.rand(2, 1, height, width) > 0.3).float()
    with torch.no_grad():
        out = net(image, valid)
    assert out.image.shape == image.shape
    multiple = 2 ** TINY_CONFIG.levels
    padded = (-(-height // multiple) * multiple, -(-width // multiple) * multiple)
    levels = TINY_CONFIG.levels
    expected_sizes = [(padded[0] >> (i + 1), padded[1] >> (i + 1)) for i in range(levels)]
    expected_sizes += [(padded[0] >> i, padded[1] >> i) for i in range(levels - 1, -1, -1)]
    assert [tuple(m.shape[-2:]) for m in out.stage_masks] == expected_sizes
    assert out.stage_names == ["enc1", "enc2", "enc3", "enc4", "dec4", "dec3", "dec2", "dec1"]


def test_paper_preset_matches_the_paper():
    config = get_preset("paper")
    params = sum(p.numel() for p in PConvUNet(config).parameters())
    assert 32e6 < params < 34e6  # "about 33 M"
    specs = layer_specs(config)
    assert [s.kernel for s in specs[:8]] == [7, 5, 5, 3, 3, 3, 3, 3]
    assert [s.out_channels for s in specs[8:]] == [512, 512, 512, 512, 256, 128, 64, 3]
    assert not specs[0].batch_norm and all(s.batch_norm for s in specs[1:15]) and not specs[15].batch_norm


@pytest.mark.parametrize("preset", ["compact", "paper"])
def test_propagation_equals_the_network_stages(preset):
    torch.manual_seed(1)
    config = get_preset(preset)
    net = PConvUNet(config).eval()
    rng = np.random.default_rng(2)
    hole = np.zeros((150, 211), np.uint8)
    for _ in range(6):
        cv2.line(hole, tuple(int(v) for v in rng.integers(0, 150, 2)), tuple(int(v) for v in rng.integers(0, 211, 2)), 1, 25)
    valid = torch.from_numpy(1.0 - hole.astype(np.float32))[None, None]
    with torch.no_grad():
        out = net(torch.rand(1, 3, 150, 211), valid)
    geometry = propagate_masks(valid[0, 0], config)
    assert len(geometry) == len(out.stage_masks)
    for from_geometry, from_network in zip(geometry, out.stage_masks):
        assert torch.equal(from_geometry, from_network)


def _hole_fraction(mask: torch.Tensor) -> float:
    return float((mask == 0).float().mean())


@pytest.mark.parametrize("shape", ["square", "strokes"])
def test_a_half_hole_shrinks_monotonically_and_is_gone_at_the_bottleneck(shape):
    config = get_preset("paper")
    size = 512
    if shape == "square":
        side = int(round(size * 0.5**0.5))
        hole = np.zeros((size, size), bool)
        start = (size - side) // 2
        hole[start:start + side, start:start + side] = True
    else:
        rng = np.random.default_rng(4)
        canvas = np.zeros((size, size), np.uint8)
        while canvas.mean() < 0.5:
            points = rng.integers(0, size, (2, 2))
            cv2.line(canvas, tuple(map(int, points[0])), tuple(map(int, points[1])), 1, int(rng.integers(20, 60)))
        hole = canvas.astype(bool)
    assert 0.49 < hole.mean() < 0.6
    stages = propagate_masks(torch.from_numpy(~hole).float(), config)
    fractions = [_hole_fraction(m) for m in stages[: config.levels]]
    assert all(later <= earlier for earlier, later in zip(fractions, fractions[1:]))
    assert fractions[-1] == 0.0
    assert all(_hole_fraction(m) == 0.0 for m in stages[config.levels:])


def test_config_round_trips_and_validates():
    assert UNetConfig.from_json(TINY_CONFIG.to_json()) == TINY_CONFIG
    with pytest.raises(ValueError):
        UNetConfig(name="bad", encoder_channels=(8, 16), encoder_kernels=(3,))
    with pytest.raises(ValueError):
        UNetConfig(name="bad", encoder_channels=(8, 16), encoder_kernels=(3, 4))


@pytest.mark.parametrize("preset", ["compact", "paper"])
def test_folded_batch_norms_give_the_same_fill(preset):
    """Folding is exact algebra, so in float64 the folded network agrees with batch norm's own formula to 1e-9."""
    torch.manual_seed(3)
    net = PConvUNet(get_preset(preset)).double()
    for module in net.modules():  # statistics far from the identity, so a wrong fold cannot hide
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.2, 3.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
    net.eval()
    image = torch.rand(1, 3, 96, 128, dtype=torch.float64)
    valid = torch.ones(1, 1, 96, 128, dtype=torch.float64)
    valid[..., 20:70, 30:100] = 0
    with torch.no_grad():
        expected = net(image, valid)
        folded = net.fold_batch_norms()
        got = folded(image, valid)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(got.image, expected.image, rtol=0, atol=1e-9)
    for mask, expected_mask in zip(got.stage_masks, expected.stage_masks):
        assert torch.equal(mask, expected_mask)


def test_folding_refuses_a_network_in_training_mode():
    with pytest.raises(RuntimeError, match="eval"):
        PConvUNet(TINY_CONFIG).fold_batch_norms()


def test_propagated_ratios_are_the_ratio_every_partial_conv_applies():
    """Each PartialConv2d's own ratio, read back from its output in float64: y = conv(x * M) * ratio + b * m'.
    Positive weights, biases and image (and batch norms at their initial statistics) keep every feature
    positive, so conv(x * M) > 0 wherever sum(M) > 0."""
    torch.manual_seed(0)
    net = PConvUNet(TINY_CONFIG).double().eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, PartialConv2d):
                module.weight.uniform_(0.01, 0.1)
                if module.bias is not None:  # layers followed by a batch norm have none
                    module.bias.uniform_(0.01, 0.1)
    hole = np.zeros((48, 80), bool)
    hole[10:30, 20:45] = True  # a rectangle
    rows, columns = np.mgrid[0:48, 0:80]
    hole |= (rows - 35) ** 2 + (columns - 62) ** 2 <= 8 ** 2  # and a disc
    valid = torch.from_numpy((~hole).astype(np.float64))[None, None]
    seen = []

    def read_ratio(module, args, kwargs, output):
        x, mask = args
        raw = F.conv2d(x * module._as_groups(x, mask).expand(), module.weight, None, module.stride, module.padding)
        y, new_mask = output
        bias = module.bias.view(1, -1, 1, 1) * new_mask if module.bias is not None else 0.0
        ratio = torch.where(new_mask > 0, (y - bias) / raw, 0.0)
        assert (raw[new_mask.expand_as(raw) > 0] > 0).all()
        assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-12)  # one ratio for all channels
        seen.append(ratio[:, :1])

    handles = [m.register_forward_hook(read_ratio, with_kwargs=True) for m in net.modules()
               if isinstance(m, PartialConv2d)]
    with torch.no_grad():
        net(0.6 + 0.4 * torch.rand(1, 3, 48, 80, dtype=torch.float64), valid)  # above 0.5: positive features
    for handle in handles:
        handle.remove()
    predicted = propagate_ratios(valid, TINY_CONFIG)
    assert len(seen) == len(predicted) == len(layer_specs(TINY_CONFIG))
    for spec, layer, geometry in zip(layer_specs(TINY_CONFIG), seen, predicted):
        np.testing.assert_allclose(geometry.double().numpy(), layer.numpy(), rtol=1e-6, err_msg=spec.name)
    first = predicted[0][0, 0]
    assert first[2, 30] == 1.0  # inside the valid part (input rows 1-7, columns 57-63): no re-weighting
    assert first[0, 0] == pytest.approx(49 / 16)  # the corner: a 7x7 window with 4x4 of it inside the image
    assert first.max() > 4 and (first == 0).any()  # the hole's rim is re-weighted; its middle gets no input
