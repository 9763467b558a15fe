"""The engine: pixels outside the hole are bit-identical, crops are bounded, bad requests are clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from pconv_studio.engine import CancelToken, Inpainter, ResolutionConfig, plan_regions
from pconv_studio.errors import CancelledError, InputError, WeightsError

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


def test_large_photo_is_filled_in_bounded_crops(inpainter, monkeypatch):
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
    assert plan.owner.shape == hole.shape
    assert (plan.owner[hole] >= 1).all() and plan.owner[hole].max() == len(plan.regions)
    for index, region in enumerate(plan.regions, start=1):
        rows, columns = np.nonzero(hole & (plan.owner == index))
        assert rows.size > 0  # no crop without a hole to fill
        assert region.top <= rows.min() and rows.max() < region.bottom
        assert region.left <= columns.min() and columns.max() < region.right


def test_distant_holes_keep_full_resolution_and_near_ones_share_a_crop():
    """Two spots 200 px apart in a large photo: their 256 px crops overlap, but one crop for both would have to
    be scaled down, so each keeps its own full-resolution crop. Two spots 50 px apart share one."""
    resolution = ResolutionConfig(working_size=256)
    hole = np.zeros((1200, 1600), bool)
    hole[500:510, 500:510] = True
    hole[500:510, 700:710] = True
    distant = plan_regions(hole, resolution)
    assert len(distant.regions) == 2
    assert all((r.height, r.width) == (256, 256) for r in distant.regions)
    assert distant.regions[0].overlaps(distant.regions[1])
    hole[500:510, 700:710] = False
    hole[500:510, 550:560] = True
    near = plan_regions(hole, resolution)
    assert len(near.regions) == 1 and (near.regions[0].height, near.regions[0].width) == (256, 256)


def test_overlapping_crops_each_fill_their_own_hole_at_full_resolution(inpainter, monkeypatch):
    seen_sizes = []
    original_forward = inpainter._forward

    def recording_forward(rgb, valid):
        seen_sizes.append((rgb.shape[:2], int((~valid).sum())))
        return original_forward(rgb, valid)

    monkeypatch.setattr(inpainter, "_forward", recording_forward)
    pixels = gradient_image(300, 400)
    hole = np.zeros((300, 400), bool)
    hole[140:150, 100:110] = True
    hole[140:150, 160:170] = True  # 60 px apart: 128 px crops of their own, overlapping, each with both holes
    result = inpainter.inpaint(pixels, hole)
    assert len(result.regions) == 2 and result.regions[0].overlaps(result.regions[1])
    # full resolution, and each crop masks every hole pixel inside it, its neighbour's too
    holes_inside = [int(hole[r.top:r.bottom, r.left:r.right].sum()) for r in result.regions]
    assert holes_inside[0] > 100 and holes_inside[1] > 100
    assert seen_sizes == [((128, 128), holes_inside[0]), ((128, 128), holes_inside[1])]
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
