"""The upscaling engine against independent references: brute-force grid positions, hand-made canvases, one direct
network pass over the whole canvas, OpenCV's Lanczos for alpha, and the mask geometry for the stages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from pconv_studio.engine import CancelToken
from pconv_studio.engine.regions import Region, ResolutionConfig
from pconv_studio.engine.tiling import cover_tiles
from pconv_studio.engine.upscale import (
    MAX_SCALE, MIN_SCALE, Upscaler, check_scale, grid_canvas, grid_positions, upscale_alpha, upscaled_size,
)
from pconv_studio.errors import CancelledError, InputError, WeightsError
from pconv_studio.model import UPSCALE_INPUT_KEY, load_weights, network_reach, propagate_masks, save_weights

from .support import TINY_CONFIG

SMALL_TILES = ResolutionConfig(tile_size=64, tile_halo=64)  # 64 >= the tiny network's receptive radius (49)


@pytest.fixture(scope="module")
def upscaler(tiny_weights) -> Upscaler:
    return Upscaler(tiny_weights, device="cpu", precision="fp32", resolution=SMALL_TILES)


def _random(shape: tuple[int, ...], dtype=np.uint8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)


@pytest.mark.parametrize("scale", [2, 3, 4, 5, 8])
def test_integer_scales_put_pixel_x_at_s_x_plus_half_s(scale):
    x = np.arange(37)
    np.testing.assert_array_equal(grid_positions(37, float(scale)), scale * x + scale // 2)


@pytest.mark.parametrize("scale", [1.25, 1.3, 2.5, 2.9, 3.7, 6.66, 7.99, 8.0])
@pytest.mark.parametrize("count", [1, 7, 50])
def test_real_scales_put_each_pixel_at_the_output_pixel_holding_its_centre(scale, count):
    """Brute force in float64: of all output pixels [j, j + 1), the one whose centre j + 0.5 is nearest the input
    centre (x + 0.5) * s; on a tie (the centre on a pixel border) the pixel starting there, [j, j + 1) being
    half-open."""
    length = round(count * scale)
    centres = np.arange(length) + 0.5
    expected = []
    for x in range(count):
        distance = np.abs(centres - (x + 0.5) * scale)
        expected.append(np.flatnonzero(distance == distance.min()).max())
    positions = grid_positions(count, scale)
    assert positions.dtype == np.int64
    np.testing.assert_array_equal(positions, expected)


def test_output_size_rounds_each_side():
    assert upscaled_size(3, 4, 2.5) == (8, 10)  # 7.5 rounds to even
    assert upscaled_size(333, 500, 1.3) == (433, 650)  # 432.9, 650
    assert upscaled_size(1, 1, 8.0) == (8, 8)


@pytest.mark.parametrize("bad", [1.2, 8.01, 0.0, -2.0, float("nan"), float("inf"), True, "2", None])
def test_scales_outside_the_range_are_refused(bad):
    with pytest.raises(InputError, match="scale"):
        check_scale(bad)


def test_scales_in_the_range_are_floats():
    assert check_scale(MIN_SCALE) == 1.25 and check_scale(8) == MAX_SCALE and check_scale(np.float32(3.0)) == 3.0


def test_canvas_holds_every_input_pixel_at_its_position_and_hole_elsewhere():
    image = np.array([[10, 20, 30, 40], [50, 60, 70, 80], [90, 100, 110, 120]], np.uint8)
    # x2.5: rows floor(1.25), floor(3.75), floor(6.25) = 1, 3, 6 of 8; columns 1, 3, 6, 8 of 10 (written out)
    rows, cols = [1, 3, 6], [1, 3, 6, 8]
    expected = np.zeros((8, 10, 3))
    expected_valid = np.zeros((8, 10), bool)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            expected[row, col] = image[i, j] / 255.0
            expected_valid[row, col] = True
    canvas, valid = grid_canvas(image, 2.5, Region(0, 0, 8, 10))
    assert canvas.dtype == np.float32 and canvas.shape == (8, 10, 3)
    np.testing.assert_array_equal(valid, expected_valid)
    np.testing.assert_allclose(canvas, expected, atol=1e-7)
    window = Region(2, 3, 7, 9)  # a tile's window sees only the pixels landing in it, in its own frame
    canvas, valid = grid_canvas(image, 2.5, window)
    np.testing.assert_array_equal(valid, expected_valid[window.window])
    np.testing.assert_allclose(canvas, expected[window.window], atol=1e-7)


def test_cover_tiles_hold_every_pixel_once_with_windows_on_the_grid():
    shape = (300, 410)
    tiles = cover_tiles(shape, core_size=128, halo=40, grid=32)
    covered = np.zeros(shape, int)
    for tile in tiles:
        covered[tile.core.window] += 1
        window, core = tile.window, tile.core
        assert window.top == max(0, core.top - 64) and window.left == max(0, core.left - 64)  # 40 -> 64 on the grid
        assert window.bottom == min(300, core.bottom + 64) and window.right == min(410, core.right + 64)
    assert (covered == 1).all() and len(tiles) == 3 * 4
    with pytest.raises(ValueError):
        cover_tiles(shape, core_size=100, halo=40, grid=32)


def _whole_canvas_prediction(weights, colour: np.ndarray, scale: float) -> np.ndarray:
    """One direct `PConvUNet` pass (float64) over the whole canvas, built here from the formula."""
    height, width = colour.shape[:2]
    out_height, out_width = round(height * scale), round(width * scale)
    rows = np.minimum(np.floor((np.arange(height) + 0.5) * scale).astype(int), out_height - 1)
    cols = np.minimum(np.floor((np.arange(width) + 0.5) * scale).astype(int), out_width - 1)
    canvas = np.zeros((out_height, out_width, 3))
    valid = np.zeros((out_height, out_width))
    canvas[np.ix_(rows, cols)] = colour / float(np.iinfo(colour.dtype).max)
    valid[np.ix_(rows, cols)] = 1.0
    model, _ = load_weights(weights)
    with torch.no_grad():
        output = model.double()(torch.from_numpy(canvas).permute(2, 0, 1)[None], torch.from_numpy(valid)[None, None])
    return output.image[0].permute(1, 2, 0).numpy()


def test_tiled_upscale_with_the_full_halo_is_one_pass_over_the_whole_canvas(tiny_weights):
    """With a halo of the receptive radius the tiles compute what one pass over the whole canvas computes (16-bit
    shows float rounding to a few 1/65535); a small halo does not, which shows the comparison can fail."""
    colour = _random((40, 52, 3), np.uint16, seed=1)
    expected = np.clip(np.round(_whole_canvas_prediction(tiny_weights, colour, 2.5) * 65535), 0, 65535)
    assert network_reach(TINY_CONFIG).receptive_radius <= SMALL_TILES.tile_halo
    differences = {}
    for halo in (16, SMALL_TILES.tile_halo):
        upscaler = Upscaler(tiny_weights, device="cpu", precision="fp32",
                            resolution=ResolutionConfig(tile_size=64, tile_halo=halo))
        result = upscaler.upscale(colour, 2.5)
        assert result.pixels.shape == (100, 130, 3) and result.pixels.dtype == np.uint16 and result.tiles == 6
        differences[halo] = np.abs(result.pixels - expected)
    assert differences[SMALL_TILES.tile_halo].max() <= 3
    assert differences[16].max() > 100  # over thirty times the float rounding: the small halo changed the output


def test_stages_are_the_first_tiles_grid_propagated_through_the_layers(upscaler):
    colour = _random((40, 52, 3), seed=2)
    result = upscaler.upscale(colour, 3.0)
    window = cover_tiles((120, 156), 64, 64, TINY_CONFIG.size_multiple)[0].window
    assert result.stage_input_size == (window.height, window.width) == (120, 128)
    valid = np.zeros((120, 128), np.float32)
    valid[1::3, 1::3] = 1.0  # pixel x at 3x + 1
    expected = propagate_masks(torch.from_numpy(valid), TINY_CONFIG)
    assert result.stage_names == upscaler.model.stage_names and len(result.stage_masks) == len(expected)
    for got, mask in zip(result.stage_masks, expected):
        np.testing.assert_array_equal(got, mask[0, 0].numpy() == 0)
    assert result.stage_masks[0].any() and not result.stage_masks[-1].any()  # the grid's holes close


def test_alpha_is_opencvs_lanczos_clamped_to_its_neighbourhood_and_does_not_touch_the_colour(upscaler):
    rgba = _random((30, 41, 4), seed=3)
    result = upscaler.upscale(rgba, 3.0)
    assert result.pixels.shape == (90, 123, 4)
    alpha = rgba[..., 3].astype(np.int64)
    lanczos = cv2.resize(np.ascontiguousarray(rgba[..., 3]), (123, 90), interpolation=cv2.INTER_LANCZOS4)
    rows = np.minimum((np.arange(90) + 0.5) * 30 / 90, 29).astype(int)  # the source pixel holding the centre
    cols = np.minimum((np.arange(123) + 0.5) * 41 / 123, 40).astype(int)
    padded = np.pad(alpha, 1, mode="edge")
    windows = np.stack([padded[r:r + 30, c:c + 41] for r in range(3) for c in range(3)])
    low, high = windows.min(axis=0)[np.ix_(rows, cols)], windows.max(axis=0)[np.ix_(rows, cols)]
    np.testing.assert_array_equal(result.pixels[..., 3], np.clip(lanczos, low, high))
    np.testing.assert_array_equal(result.pixels[..., :3], upscaler.upscale(rgba[..., :3].copy(), 3.0).pixels)


def test_an_alpha_edge_does_not_ring():
    alpha = np.full((12, 16), 65535, np.uint16)
    alpha[:, :5] = 20000
    upscaled = upscale_alpha(alpha, (30, 40))
    lanczos = cv2.resize(alpha, (40, 30), interpolation=cv2.INTER_LANCZOS4)
    assert lanczos.min() < 20000 or lanczos.max() < 65535  # what the clamp is for: Lanczos alone rings here
    assert upscaled.min() == 20000 and upscaled.max() == 65535
    assert np.all(np.diff(upscaled.astype(int), axis=1) >= 0)  # a step stays monotonic


def test_sixteen_bits_stay_sixteen_bits_and_are_not_rounded_to_eight(upscaler):
    colour = _random((30, 40, 3), np.uint16, seed=4)
    result = upscaler.upscale(colour, 2.0)
    assert result.pixels.dtype == np.uint16 and result.pixels.shape == (60, 80, 3)
    assert (result.pixels % 257 != 0).mean() > 0.9  # 8-bit values widened to 16 bits would all be multiples of 257
    alpha = upscaler.upscale(np.dstack([colour, colour[..., 0]]), 2.0).pixels[..., 3]
    assert alpha.dtype == np.uint16 and (alpha % 257 != 0).mean() > 0.9


def test_grey_stays_grey(upscaler):
    grey = _random((30, 40), seed=5)
    result = upscaler.upscale(grey, 2.0)
    assert result.pixels.shape == (60, 80) and result.pixels.dtype == np.uint8
    as_colour = upscaler.upscale(np.dstack([grey] * 3), 2.0).pixels  # equal channels come back equal
    assert as_colour.shape == (60, 80, 3)
    np.testing.assert_array_equal(as_colour, np.dstack([result.pixels] * 3))
    grey_alpha = upscaler.upscale(np.dstack([grey, grey[::-1]]), 2.0).pixels
    assert grey_alpha.shape == (60, 80, 2)
    np.testing.assert_array_equal(grey_alpha[..., 0], result.pixels)


def test_grey_is_the_channel_mean_of_the_networks_colour_prediction(tiny_weights, upscaler):
    grey = _random((20, 24), seed=6)
    prediction = _whole_canvas_prediction(tiny_weights, np.dstack([grey] * 3), 2.0)
    expected = np.clip(np.round(prediction.mean(axis=2) * 255), 0, 255)
    difference = np.abs(upscaler.upscale(grey, 2.0).pixels - expected)
    assert difference.max() <= 1 and (difference == 0).mean() > 0.99


def test_oversize_outputs_and_other_pixels_are_refused_before_any_work(upscaler):
    huge = np.zeros((10_000, 10_001), np.uint8)  # calloc'd: never touched, so it costs no memory
    with pytest.raises(InputError, match="megapixels"):
        upscaler.upscale(huge, 2.0)  # 20000 x 20002 = 400.04 megapixels
    with pytest.raises(InputError, match="8- or 16-bit"):
        upscaler.upscale(np.zeros((8, 8, 3), np.float32), 2.0)
    with pytest.raises(InputError, match="channels"):
        upscaler.upscale(np.zeros((8, 8, 5), np.uint8), 2.0)
    with pytest.raises(InputError, match="scale"):
        upscaler.upscale(np.zeros((8, 8), np.uint8), 9.0)


def test_progress_per_tile_and_cancel_between_tiles(upscaler):
    seen: list[tuple[float, str]] = []
    result = upscaler.upscale(_random((40, 52, 3), seed=7), 2.5, progress=lambda f, m: seen.append((f, m)))
    tile_reports = [message for _, message in seen if message.startswith("tile")]
    assert tile_reports == [f"tile {n} of 6" for n in range(1, 7)] and result.tiles == 6
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    token = CancelToken()
    reports: list[str] = []

    def cancel_after_the_first_tile(fraction: float, message: str) -> None:
        reports.append(message)
        token.cancel()

    with pytest.raises(CancelledError):
        upscaler.upscale(_random((40, 52, 3), seed=7), 2.5, progress=cancel_after_the_first_tile, cancel=token)
    assert reports == ["tile 1 of 6"]


def test_no_installed_model_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    monkeypatch.setenv("PCONV_STUDIO_DATA", str(tmp_path))
    with pytest.raises(WeightsError, match="no upscaling model is installed"):
        Upscaler()


def test_a_bicubic_input_model_refines_opencv_bicubic_with_every_pixel_valid(tiny_weights):
    """input_kind "bicubic" (the plain twin): the network is given OpenCV's bicubic upscale with no hole, so its
    output equals one direct forward of the network on that image (computed here in float64)."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    upscaler = Upscaler(tiny_weights, device="cpu", precision="fp32", input_kind="bicubic")
    result = upscaler.upscale(pixels, 2.5)
    assert result.input_kind == "bicubic" and result.pixels.shape == (60, 50, 3)
    # no hole inside the image (only the padding to the network's multiple is one), from the first layer on
    assert not result.stage_masks[0][:30, :25].any() and not result.stage_masks[-1][:60, :50].any()
    interpolated = cv2.resize(pixels, (50, 60), interpolation=cv2.INTER_CUBIC).astype(np.float64) / 255
    model, _ = load_weights(tiny_weights)
    model = model.double().eval()
    with torch.no_grad():
        image = torch.from_numpy(interpolated).permute(2, 0, 1)[None]
        expected = model(image, torch.ones((1, 1, 60, 50), dtype=torch.float64)).image[0].permute(1, 2, 0).numpy()
    expected = np.clip(expected * 255 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(result.pixels.astype(int) - expected.astype(int)).max() <= 1


def test_the_weights_file_says_what_the_network_is_given(tiny_weights, tmp_path):
    model, _ = load_weights(tiny_weights)
    save_weights(model, tmp_path / "twin.safetensors", extra={UPSCALE_INPUT_KEY: "bicubic"})
    save_weights(model, tmp_path / "odd.safetensors", extra={UPSCALE_INPUT_KEY: "nearest"})
    assert Upscaler(tmp_path / "twin.safetensors", device="cpu").input_kind == "bicubic"
    assert Upscaler(tiny_weights, device="cpu").input_kind == "grid"
    with pytest.raises(WeightsError, match="unknown upscaling input 'nearest'"):
        Upscaler(tmp_path / "odd.safetensors", device="cpu")
