"""Fill style: the Inpainter's blend of a faithful and a detailed model, its cache, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pconv_studio.engine import Inpainter, ResolutionConfig
from pconv_studio.engine.blend import LruCache, NetworkBlend, check_detail
from pconv_studio.errors import InputError, WeightsError
from pconv_studio.model import UNetConfig, load_weights
from pconv_studio.paths import detailed_weights_path

from .support import blend_by_hand, gradient_image, make_detailed_weights, make_weights

RESOLUTION = ResolutionConfig(working_size=128)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A faithful tiny network and a perturbed copy of it as its detailed model, beside it under the default name."""
    folder = tmp_path_factory.mktemp("blend")
    faithful = make_weights(folder / "tiny.safetensors")
    detailed = make_detailed_weights(faithful, detailed_weights_path(faithful))
    assert detailed.name == "tiny_detailed.safetensors"
    return faithful, detailed


@pytest.fixture(scope="module")
def scene():
    pixels = gradient_image(90, 110)
    pixels[::7, ::5] = (200, 40, 90)  # some structure for the networks to disagree about
    hole = np.zeros((90, 110), bool)
    hole[20:55, 30:70] = True
    hole[80:, 100:] = True
    return pixels, hole


def _engine(weights, **kwargs) -> Inpainter:
    return Inpainter(weights, device="cpu", resolution=RESOLUTION, precision="fp32", **kwargs)


def test_the_ends_of_the_blend_are_the_two_models_bit_exact(pair, scene):
    faithful, detailed = pair
    pixels, hole = scene
    faithful_fill = _engine(faithful).inpaint(pixels, hole).pixels
    detailed_fill = _engine(detailed).inpaint(pixels, hole).pixels
    assert (faithful_fill != detailed_fill).any()  # the two models disagree, so the test can tell them apart
    blended = _engine(faithful, detail=1.0)
    assert blended.detail_problem is None and blended.detail_weights_path == detailed
    np.testing.assert_array_equal(blended.inpaint(pixels, hole).pixels, detailed_fill)
    blended.set_detail(0.0)
    np.testing.assert_array_equal(blended.inpaint(pixels, hole).pixels, faithful_fill)


def test_blends_made_fresh_at_the_ends_equal_the_folded_models(pair):
    faithful, detailed = pair
    blend = NetworkBlend(faithful, detailed)  # nothing kept: t = 0 is blended too
    for t, path in ((0.0, faithful), (1.0, detailed)):
        reference, _ = load_weights(path)
        reference.fold_batch_norms()
        expected = reference.state_dict()
        for name, value in blend.network(t).state_dict().items():
            assert torch.equal(value, expected[name]), (t, name)


@pytest.mark.parametrize("t", [0.5, 0.3])
def test_a_midway_blend_fills_like_weights_blended_by_hand(pair, scene, tmp_path, t):
    faithful, detailed = pair
    pixels, hole = scene
    by_hand = _engine(blend_by_hand(faithful, detailed, t, tmp_path / "hand.safetensors"))
    engine = _engine(faithful)
    engine.set_detail(t)
    assert engine.detail == t
    expected_weights = by_hand.model.state_dict()
    for name, value in engine.model.state_dict().items():  # folded after blending, as the hand-made one was
        torch.testing.assert_close(value, expected_weights[name], rtol=1e-6, atol=1e-7)
    ours = engine.inpaint(pixels, hole).pixels
    np.testing.assert_array_equal(ours, by_hand.inpaint(pixels, hole).pixels)
    faithful_fill = _engine(faithful).inpaint(pixels, hole).pixels
    assert (np.abs(ours.astype(int) - faithful_fill.astype(int)) > 1).any()  # the blend is not the faithful model


def test_folding_before_blending_would_be_wrong(pair):
    """Why the blend keeps unfolded networks: folding divides by the running variance, so blending the folded
    weights is not the folded blend. Proves the perturbed pair exercises that difference."""
    faithful, detailed = pair
    folded = []
    for path in (faithful, detailed):
        model, _ = load_weights(path)
        folded.append(model.fold_batch_norms().state_dict())
    blended = NetworkBlend(faithful, detailed).network(0.5).state_dict()
    name = next(name for name in blended if name.endswith("conv.weight") and "layers.1." in name)
    naive = 0.5 * folded[0][name] + 0.5 * folded[1][name]
    assert not torch.allclose(blended[name], naive, rtol=1e-3, atol=1e-5)


def test_a_repeated_t_returns_the_cached_network_and_old_ones_are_evicted(pair):
    faithful, detailed = pair
    blend = NetworkBlend(faithful, detailed, capacity=2)
    first = blend.network(0.25)
    assert blend.network(0.25) is first
    second = blend.network(0.75)
    assert blend.network(0.25) is first  # 0.25 is now the most recently used
    blend.network(0.5)  # evicts 0.75, the least recently used
    assert blend.network(0.25) is first
    assert blend.network(0.75) is not second


def test_the_inpainter_reuses_a_recent_blend(pair):
    faithful, _ = pair
    engine = _engine(faithful)
    start = engine.model
    engine.set_detail(0.5)
    half = engine.model
    assert half is not start
    engine.set_detail(0.25)
    engine.set_detail(0.5)
    assert engine.model is half
    engine.set_detail(0.0)
    assert engine.model is start


def test_blends_left_on_another_device_are_dropped(pair):
    faithful, detailed = pair
    blend = NetworkBlend(faithful, detailed)
    elsewhere = blend.network(0.5).to("meta")
    kept = blend.network(0.25)
    blend.drop_elsewhere(torch.device("cpu"))
    assert blend.network(0.25) is kept
    assert blend.network(0.5) is not elsewhere


def test_lru_cache_order():
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2
    with pytest.raises(ValueError):
        LruCache(0)


@pytest.mark.parametrize("t", [-0.01, 1.01, float("nan"), float("inf")])
def test_t_outside_zero_to_one_is_an_input_error(pair, t):
    faithful, _ = pair
    with pytest.raises(InputError, match="between 0"):
        check_detail(t)
    engine = _engine(faithful)
    with pytest.raises(InputError):
        engine.set_detail(t)
    assert engine.detail == 0.0


def test_without_a_detailed_model_only_the_faithful_style_works(tmp_path, scene):
    faithful = make_weights(tmp_path / "alone.safetensors")
    engine = _engine(faithful)
    assert "alone_detailed.safetensors is missing" in engine.detail_problem
    model = engine.model
    with pytest.raises(WeightsError, match="detailed model is not installed"):
        engine.set_detail(0.5)
    assert engine.detail == 0.0 and engine.model is model
    engine.set_detail(0.0)  # the faithful style needs nothing more
    pixels, hole = scene
    assert engine.inpaint(pixels, hole).pixels[hole].any()
    with pytest.raises(WeightsError, match="detailed model is not installed"):
        _engine(faithful, detail=0.5)


def test_a_named_detailed_file_must_exist_and_match(tmp_path):
    faithful = make_weights(tmp_path / "f.safetensors")
    with pytest.raises(WeightsError, match="missing.safetensors is missing"):
        _engine(faithful, detail_weights=tmp_path / "missing.safetensors")
    other = UNetConfig(name="other", encoder_channels=(8, 16, 16, 16), encoder_kernels=(5, 5, 3, 3))
    make_weights(detailed_weights_path(faithful), config=other)
    assert "only two weights of one architecture blend" in _engine(faithful).detail_problem
    with pytest.raises(WeightsError, match="architecture"):
        _engine(faithful, detail_weights=detailed_weights_path(faithful))
