"""The engine: pixels outside the hole are bit-identical, crops are bounded, bad requests are clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from pconv_studio.engine import CancelToken, Inpainter, ResolutionConfig, plan_regions
from pconv_studio.engine.device import cpu_has_native_bf16
from pconv_studio.errors import CancelledError, InputError, WeightsError
from pconv_studio.paths import default_weights_path

from .support import gradient_image, make_weights


@pytest.fixture(scope="module")
def inpainter(tmp_path_factory):
    path = make_weights(tmp_path_factory.mktemp("w") / "tiny.safetensors")
    return Inpainter(path, device="cpu", resolution=ResolutionConfig(working_size=128))


def _hole(height, width):
    hole = np.zeros((height, width), bool)
    hole[10:30, 20:45] = True
    hole[height - 15:, width - 9:] = True  # touching the border
    return hole


@pytest.mark.parametrize(
    "channels, dtype", [(3, np.uint8), (3, np.uint16), (4, np.uint8), (4, np.uint16), (1, np.uint8)]
)
def test_outside_the_hole_is_bit_identical(inpainter, channels, dtype):
    pixels = gradient_image(70, 90, channels, dtype)
    if channels == 4:
        pixels[..., 3] = 77
    hole = _hole(70, 90)
    result = inpainter.inpaint(pixels, hole)
    assert result.pixels.dtype == dtype and result.pixels.shape == pixels.shape
    np.testing.assert_array_equal(result.pixels[~hole], pixels[~hole])
    if channels == 4:
        assert (result.pixels[..., 3] == 77).all()  # alpha is kept, in the hole too
    changed = result.pixels[hole] != pixels[hole]
    assert changed.mean() > 0.5
    assert pixels is not result.pixels


@pytest.mark.parametrize("strategy, bound", [("scaled", 128), ("auto", 64 + 2 * 32)])
def test_large_photo_is_filled_in_bounded_crops(tmp_path, monkeypatch, strategy, bound):
    """Memory is bounded by the working size (scaled) or the tile's core plus its halo (auto), not the photo."""
    inpainter = Inpainter(make_weights(tmp_path / "tiny.safetensors"), device="cpu", resolution=ResolutionConfig(
        working_size=128, strategy=strategy, tile_size=64, tile_halo=32))
    seen_sizes = []
    original_forward = inpainter._forward

    def recording_forward(rgb, valid):
        seen_sizes.append(rgb.shape[:2])
        return original_forward(rgb, valid)

    monkeypatch.setattr(inpainter, "_forward", recording_forward)
    height, width = 1500, 2000
    pixels = gradient_image(height, width)
    hole = np.zeros((height, width), bool)
    hole[100:400, 100:700] = True  # a large hole: scaled down
    hole[1300:1310, 1900:1905] = True  # a small, distant one: its own crop at full resolution
    result = inpainter.inpaint(pixels, hole)
    assert len(result.regions) == 2
    assert max(max(size) for size in seen_sizes) <= 128
    np.testing.assert_array_equal(result.pixels[~hole], pixels[~hole])
    assert (result.pixels[hole] != pixels[hole]).any(axis=-1).mean() > 0.5


def test_every_hole_pixel_has_one_owner_whose_crop_contains_it():
    rng = np.random.default_rng(0)
    hole = rng.random((300, 400)) > 0.999
    hole[50:60, 50:200] = True
    plan = plan_regions(hole, ResolutionConfig(working_size=128, group_distance=8))
    owners = np.zeros(hole.shape, int)
    for index, region in enumerate(plan.regions):
        owned = plan.owned(index, hole)
        assert owned.shape == (region.height, region.width) and owned.any()  # no crop without a hole to fill
        assert not (owned & ~hole[region.window]).any()
        owners[region.window] += owned
    assert (owners[hole] == 1).all()


def test_small_holes_keep_full_resolution_and_near_ones_share_a_crop():
    resolution = ResolutionConfig(working_size=256)
    hole = np.zeros((1200, 1600), bool)
    hole[100:110, 100:110] = True  # two spots 40 px apart: one full-resolution crop
    hole[100:110, 150:160] = True
    hole[100:110, 1400:1410] = True  # a distant spot: a crop of its own, not one crop scaled to hold all three
    hole[600:900, 600:1000] = True  # a large hole, and a spot beside it that must not be filled at its scale
    hole[750:760, 1100:1110] = True
    plan = plan_regions(hole, resolution)
    sizes = sorted((r.height, r.width) for r in plan.regions)
    assert len(plan.regions) == 4
    assert sizes[:3] == [(256, 256)] * 3 and max(sizes[3]) > 256  # three at full resolution, the large one scaled
    large = max(plan.regions, key=lambda r: r.height * r.width)
    beside = next(r for r in plan.regions if r.top <= 750 < r.bottom and r.left <= 1100 < r.right and r is not large)
    assert large.overlaps(beside)
    assert plan.owned(plan.regions.index(beside), hole)[750 - beside.top, 1100 - beside.left]
    assert plan.owned(plan.regions.index(large), hole)[700 - large.top, 700 - large.left]


def test_pieces_of_one_large_painted_area_share_a_crop():
    """Two large holes whose crops overlap are both scaled down anyway: they fill in one pass, like one hole."""
    hole = np.zeros((1500, 2000), bool)
    hole[250:750, 250:750] = True
    hole[850:1350, 850:1350] = True  # 100 px apart: two groups, crops of about 1000 px that overlap
    plan = plan_regions(hole, ResolutionConfig(working_size=512))
    assert len(plan.regions) == 1


def test_overlapping_crops_each_fill_their_own_hole(inpainter, monkeypatch):
    seen = []
    pixels = gradient_image(300, 400)
    hole = np.zeros((300, 400), bool)
    hole[110:190, 180:280] = True  # large: a scaled crop
    hole[140:150, 120:130] = True  # a spot beside it: a full-resolution crop of its own that overlaps the other
    original_forward = inpainter._forward

    def recording_forward(rgb, valid):
        seen.append((rgb.shape[:2], int((~valid).sum())))
        return original_forward(rgb, valid)

    monkeypatch.setattr(inpainter, "_forward", recording_forward)
    result = inpainter.inpaint(pixels, hole)
    assert len(result.regions) == 2 and result.regions[0].overlaps(result.regions[1])
    spot_crop = next(r for r in result.regions if (r.height, r.width) == (128, 128))
    assert ((128, 128), int(hole[spot_crop.top:spot_crop.bottom, spot_crop.left:spot_crop.right].sum())) in seen
    assert int(hole[spot_crop.top:spot_crop.bottom, spot_crop.left:spot_crop.right].sum()) > 100  # sees both holes
    np.testing.assert_array_equal(result.pixels[~hole], pixels[~hole])
    assert (result.pixels[hole] != pixels[hole]).any(axis=-1).mean() > 0.5


def test_empty_mask_returns_the_image_with_a_notice(inpainter):
    pixels = gradient_image(40, 40)
    result = inpainter.inpaint(pixels, np.zeros((40, 40), bool))
    np.testing.assert_array_equal(result.pixels, pixels)
    assert result.notices and "empty" in result.notices[0]


def test_bad_requests(inpainter):
    pixels = gradient_image(40, 40)
    with pytest.raises(InputError, match="whole image"):
        inpainter.inpaint(pixels, np.ones((40, 40), bool))
    with pytest.raises(InputError, match="mask is 41x40 but the image is 40x40"):
        inpainter.inpaint(pixels, np.zeros((40, 41), bool))


def test_cancel_raises_and_changes_nothing(inpainter):
    pixels = gradient_image(40, 40)
    before = pixels.copy()
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        inpainter.inpaint(pixels, _hole(40, 40)[:40, :40], cancel=token)
    np.testing.assert_array_equal(pixels, before)


def test_progress_reaches_one(inpainter):
    reports = []
    inpainter.inpaint(gradient_image(50, 60), _hole(50, 60), progress=lambda f, m: reports.append(f))
    assert reports[0] == 0.0 and reports[-1] == 1.0


def test_no_trained_model_is_said_plainly(monkeypatch, tmp_path):
    monkeypatch.setattr("pconv_studio.engine.inpainter.default_weights_path", lambda: tmp_path / "none.safetensors")
    with pytest.raises(WeightsError, match="no trained model is installed"):
        Inpainter()


def test_stage_masks_come_from_the_network(inpainter):
    result = inpainter.inpaint(gradient_image(64, 64), _hole(64, 64))
    assert result.stage_names == ["enc1", "enc2", "enc3", "enc4", "dec4", "dec3", "dec2", "dec1"]
    assert result.stage_masks[0].dtype == bool and result.stage_masks[0].shape == (32, 32)  # enc1 halves the 64x64 crop
    assert result.stage_masks[-1].sum() == 0


def test_eight_bit_fill_on_the_device_matches_the_host_conversion(inpainter):
    """A full-size 8-bit colour crop is converted, composited and rounded on the device; the same photo stored
    in 16 bits takes the host path. Both must give the same fill, to within one 8-bit step."""
    pixels = gradient_image(70, 90)
    pixels[::5] //= 3
    hole = _hole(70, 90)
    on_device = inpainter.inpaint(pixels, hole).pixels
    on_host = inpainter.inpaint(pixels.astype(np.uint16) * 257, hole).pixels
    on_host_as_8_bit = np.round(on_host[hole] / 257.0)
    assert np.abs(on_device[hole].astype(float) - on_host_as_8_bit).max() <= 1


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16")
def test_bf16_on_the_cpu_fills_like_float32(tmp_path):
    """On a CPU with native bf16 the engine's default precision is bf16: the fill must stay within a fraction of
    an 8-bit level of float32's on average (the shipped model where there is one: an untrained network's outputs
    are no fair precision test), and the pixels outside the hole untouched."""
    weights = default_weights_path() if default_weights_path().is_file() else make_weights(tmp_path / "t.safetensors")
    pixels = gradient_image(300, 420)
    pixels[::5] //= 3
    hole = np.zeros((300, 420), bool)
    hole[80:200, 120:260] = True
    fast = Inpainter(weights, device="cpu")
    exact = Inpainter(weights, device="cpu", precision="fp32")
    assert fast.device_description.endswith(", bf16") and not exact.device_description.endswith("bf16")
    reduced, full = fast.inpaint(pixels, hole).pixels, exact.inpaint(pixels, hole).pixels
    np.testing.assert_array_equal(reduced[~hole], pixels[~hole])
    assert np.abs(reduced[hole].astype(float) - full[hole].astype(float)).mean() < 1.0
