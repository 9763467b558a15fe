"""PartialConv2d against an independent float64 reference written from the paper's formula."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from pconv_studio.model import MaskGroups, PartialConv2d


def reference(x, mask, weight, bias, stride, padding, dilation):
    """y = W.(X*M) * (kh*kw*C)/sum(M) + b where sum(M) > 0 else 0, new_mask = sum(M) > 0; plain float64 loops.

    x: (N,C,H,W), mask: (N,C,H,W) (already broadcast), weight: (O,C,kh,kw)."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    mp = np.pad(mask, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    out_w = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, o, out_h, out_w))
    new_mask = np.zeros((n, 1, out_h, out_w))
    for b_, i, j in itertools.product(range(n), range(out_h), range(out_w)):
        rows = i * stride + dilation * np.arange(kh)
        cols = j * stride + dilation * np.arange(kw)
        xw = xp[b_][:, rows][:, :, cols]
        mw = mp[b_][:, rows][:, :, cols]
        total = mw.sum()
        if total > 0:
            y[b_, :, i, j] = np.tensordot(weight, xw * mw, axes=3) * (kh * kw * c) / total
            if bias is not None:
                y[b_, :, i, j] += bias
            new_mask[b_, 0, i, j] = 1.0
    return y, new_mask


def holey_mask(rng, shape):
    """Random pixels plus a large block of zeros, so that some windows are entirely hole."""
    mask = (rng.random(shape) > 0.4).astype(np.float64)
    mask[..., 2:19, 1:18] = 0.0
    return mask


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_float64_reference(kernel, stride, dilation, per_channel, bias):
    rng = np.random.default_rng(kernel * 100 + stride * 10 + dilation + 1000 * per_channel + 7 * bias)
    channels_in, channels_out, height, width = 3, 4, 24, 22
    padding = dilation * (kernel // 2)
    x = rng.standard_normal((2, channels_in, height, width))
    mask = holey_mask(rng, (2, channels_in if per_channel else 1, height, width))
    layer = PartialConv2d(channels_in, channels_out, kernel, stride=stride, padding=padding, dilation=dilation, bias=bias)
    layer.double()
    with torch.no_grad():
        y, new_mask = layer(torch.from_numpy(x), torch.from_numpy(mask))
    expected_y, expected_mask = reference(
        x, np.broadcast_to(mask, x.shape), layer.weight.detach().numpy(),
        None if not bias else layer.bias.detach().numpy(), stride, padding, dilation,
    )
    assert expected_mask.min() == 0.0 and expected_mask.max() == 1.0  # some windows are entirely hole
    np.testing.assert_array_equal(new_mask.numpy(), expected_mask)
    np.testing.assert_allclose(y.numpy(), expected_y, rtol=1e-10, atol=1e-10)


def test_mask_none_is_partial_padding():
    """No mask = everything valid, but the zero padding is hole: border windows are renormalised."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 6, 7))
    layer = PartialConv2d(2, 3, 3, padding=1).double()
    with torch.no_grad():
        y, new_mask = layer(torch.from_numpy(x))
    expected_y, expected_mask = reference(
        x, np.ones_like(x), layer.weight.detach().numpy(), layer.bias.detach().numpy(), 1, 1, 1
    )
    np.testing.assert_array_equal(new_mask.numpy(), expected_mask)
    np.testing.assert_allclose(y.numpy(), expected_y, rtol=1e-10, atol=1e-10)
    # a corner window sees 4 of 9 positions: its raw conv is scaled by 9/4, unlike a zero-padded nn.Conv2d
    plain = torch.nn.functional.conv2d(torch.from_numpy(x), layer.weight, None, padding=1)
    corner_bias = layer.bias.detach().numpy()
    np.testing.assert_allclose(y[0, :, 0, 0].numpy() - corner_bias, plain[0, :, 0, 0].detach().numpy() * 9 / 4)


def test_mask_groups_match_the_expanded_mask():
    """A concatenation of parts with their own single-channel masks equals the full per-channel mask."""
    rng = np.random.default_rng(5)
    first = (rng.random((1, 1, 9, 9)) > 0.5).astype(np.float64)
    second = (rng.random((1, 1, 9, 9)) > 0.7).astype(np.float64)
    x = rng.standard_normal((1, 5, 9, 9))
    full = np.concatenate([np.repeat(first, 3, axis=1), np.repeat(second, 2, axis=1)], axis=1)
    layer = PartialConv2d(5, 2, 3, padding=1).double()
    groups = MaskGroups((torch.from_numpy(first), torch.from_numpy(second)), (3, 2))
    with torch.no_grad():
        y, new_mask = layer(torch.from_numpy(x), groups)
    expected_y, expected_mask = reference(
        x, full, layer.weight.detach().numpy(), layer.bias.detach().numpy(), 1, 1, 1
    )
    np.testing.assert_array_equal(new_mask.numpy(), expected_mask)
    np.testing.assert_allclose(y.numpy(), expected_y, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_gives_no_nan_and_exact_masks(dtype):
    torch.manual_seed(0)
    x = torch.randn(2, 8, 32, 32) * 50
    mask = torch.ones(2, 1, 32, 32)
    mask[:, :, 4:28, 4:28] = 0  # windows entirely inside are all-hole
    layer = PartialConv2d(8, 16, 3, padding=1)
    with torch.no_grad():
        exact_y, exact_mask = layer(x, mask)
        with torch.autocast("cpu", dtype=dtype):
            y, new_mask = layer(x, mask)
    assert new_mask.dtype == torch.float32
    assert torch.equal(new_mask, exact_mask)
    assert torch.isfinite(y).all()
    assert (y[:, :, 6:26, 6:26] == 0).all()
    relative = (y.float() - exact_y).norm() / exact_y.norm()
    assert relative < 2e-2


def test_rejects_masks_of_the_wrong_shape():
    layer = PartialConv2d(3, 4, 3, padding=1)
    with pytest.raises(ValueError, match="mask"):
        layer(torch.zeros(1, 3, 8, 8), torch.ones(1, 2, 8, 8))
    with pytest.raises(ValueError, match="size"):
        layer(torch.zeros(1, 3, 8, 8), torch.ones(1, 1, 7, 8))
