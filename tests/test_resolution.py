"""Full-resolution fills: the network's reach, tiles against one whole-image pass, the path each hole takes, the
seam at the hole's edge, detail from the photo, and holes the network cannot close."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from pconv_studio.engine import Inpainter, ResolutionConfig
from pconv_studio.engine.detail import DetailConfig, _window, transfer_detail
from pconv_studio.engine.inpainter import describe_fills
from pconv_studio.errors import InputError
from pconv_studio.model import PConvUNet, network_reach
from pconv_studio.paths import default_weights_path
from pconv_studio.training.metrics import gradient_energy_ratio, seam_offset, texture_distance

from .support import TINY_CONFIG, gradient_image, make_weights


def _closing_columns(network: PConvUNet, width: int) -> list[int]:
    """For every phase a of the 2^levels grid: the first column still hole after the network's last layer, minus a,
    for valid columns [0, a). Read from the network's own forward pass."""
    multiple = network.config.size_multiple
    reaches = []
    for edge in range(1, multiple + 1):
        valid = torch.zeros((1, 1, multiple, width))
        valid[..., :edge] = 1
        with torch.no_grad():
            last = network(torch.rand((1, 3, multiple, width)), valid).stage_masks[-1][0, 0, multiple // 2]
        reaches.append(int((last == 0).nonzero()[0]) - edge)
    return reaches


def test_network_reach_is_what_the_network_itself_closes():
    reaches = _closing_columns(PConvUNet(TINY_CONFIG).eval(), width=256)
    reach = network_reach(TINY_CONFIG)
    assert reach.closes == min(reaches) and reach.receptive_radius == max(reaches)


def test_receptive_radius_bounds_how_far_a_pixel_influences_the_output():
    torch.manual_seed(0)
    network = PConvUNet(TINY_CONFIG).double().eval()
    radius = network_reach(TINY_CONFIG).receptive_radius
    image = torch.rand((1, 3, 32, 192), dtype=torch.float64)
    valid = torch.ones((1, 1, 32, 192))
    farthest = 0
    for column in range(64, 64 + TINY_CONFIG.size_multiple):  # every phase
        changed = image.clone()
        changed[..., 16, column] += 0.5
        with torch.no_grad():
            difference = (network(changed, valid).image - network(image, valid).image).abs().amax(dim=(0, 1, 2))
        columns = (difference > 0).nonzero().flatten()
        farthest = max(farthest, int((columns - column).abs().max()))
    assert farthest == radius


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return make_weights(tmp_path_factory.mktemp("w") / "tiny.safetensors")


def _strokes(height: int, width: int, thickness: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hole = np.zeros((height, width), np.uint8)
    for _ in range(count):
        a, b = rng.integers(0, [width, height], 2), rng.integers(0, [width, height], 2)
        cv2.line(hole, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, thickness)
    return hole.astype(bool)


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (height, width, 3)).astype(np.float32), (0, 0), 2)
    return np.clip(gradient_image(height, width).astype(np.float32) * 0.6 + 50 + 60 * texture, 0, 255).astype(np.uint8)


def test_tiled_fill_with_the_full_halo_is_the_whole_image_fill(tiny_path):
    """Tiles aligned to the network's grid, with a halo of the receptive radius, compute exactly what one pass over
    the whole photo computes (up to float rounding: a 16-bit photo shows it to 1/65535); a small halo does not,
    which shows the comparison can fail."""
    photo = _photo(160, 224).astype(np.uint16) * 257
    hole = _strokes(160, 224, thickness=5, count=6, seed=1)
    whole = Inpainter(tiny_path, device="cpu", precision="fp32", resolution=ResolutionConfig(working_size=256))
    reference = whole.inpaint(photo, hole)
    assert [fill.path for fill in reference.fills] == ["full resolution"]
    radius = network_reach(TINY_CONFIG).receptive_radius
    differences = {}
    for halo in (16, radius):
        tiled = Inpainter(tiny_path, device="cpu", precision="fp32", resolution=ResolutionConfig(
            working_size=64, tile_size=64, tile_halo=halo))
        result = tiled.inpaint(photo, hole)
        assert {fill.path for fill in result.fills} == {"tiled"} and sum(fill.tiles for fill in result.fills) > 4
        np.testing.assert_array_equal(result.pixels[~hole], photo[~hole])
        differences[halo] = np.abs(result.pixels.astype(int) - reference.pixels.astype(int))[hole]
    assert differences[radius].max() <= 2 and (differences[radius] == 0).mean() > 0.99
    assert differences[16].max() > 20  # ten times the float rounding: the small halo changed the fill


def test_each_region_reports_the_path_that_filled_it(tiny_path):
    photo = _photo(400, 400)
    config = dict(working_size=96, tile_size=64, tile_halo=16)
    spot = np.zeros((400, 400), bool)
    spot[20:30, 20:30] = True
    strokes = _strokes(400, 400, thickness=6, count=3, seed=2)
    strokes[:150] = False
    blob = np.zeros((400, 400), bool)
    cv2.circle(blob.view(np.uint8), (300, 80), 40, 1, -1)
    inpainter = Inpainter(tiny_path, device="cpu", resolution=ResolutionConfig(**config))
    paths = {}
    for name, hole in (("spot", spot), ("strokes", strokes), ("blob", blob)):
        fills = inpainter.inpaint(photo, hole).fills
        assert len(fills) == 1
        paths[name] = fills[0]
    assert paths["spot"].path == "full resolution" and paths["spot"].scale == 1.0
    assert paths["strokes"].path == "tiled" and paths["strokes"].tiles >= 2
    assert paths["blob"].path == "two scales" and paths["blob"].scale < 1.0 and paths["blob"].tiles >= 1
    scaled = Inpainter(tiny_path, device="cpu", resolution=ResolutionConfig(strategy="scaled", **config))
    fill = scaled.inpaint(photo, blob).fills[0]
    assert fill.path == "scaled" and fill.scale == paths["blob"].scale
    assert describe_fills([paths["spot"], paths["blob"]]).startswith("2 regions: full resolution; two scales (coarse")


def test_a_hole_the_network_cannot_close_is_refused_and_nothing_is_written(tiny_path):
    photo = _photo(400, 400)
    hole = ~_strokes(400, 400, thickness=8, count=1, seed=3)  # one stroke kept: almost everything is hole
    before = photo.copy()
    inpainter = Inpainter(tiny_path, device="cpu", resolution=ResolutionConfig(working_size=64))
    with pytest.raises(InputError, match="too far from any pixel"):
        inpainter.inpaint(photo, hole)
    np.testing.assert_array_equal(photo, before)


@pytest.fixture(scope="module")
def shipped():
    if not default_weights_path().is_file():
        pytest.skip("the shipped model is not installed")
    return Inpainter(device="cpu", precision="fp32")


@pytest.mark.slow
@pytest.mark.parametrize("factor", [2, 4, 8])
@pytest.mark.parametrize("kind", ["flat", "shaded"])
def test_no_band_inside_the_hole_edge_at_any_scale(shipped, kind, factor):
    """The mean of the fill within 10 px inside the hole's edge against the photo's within 10 px outside, on a flat
    and on a smoothly shaded photo scaled 2x-8x. Tolerance 1.5 levels: the shipped network's own rim at full
    resolution (a photo that needs no scaling) measures 0.5-1 level, and 8-bit rounding adds up to 0.5; the band
    of the scaled fills this replaces widened that rim by the scale factor (-2.2 levels on the sample photo at
    6.7x, -8 on a 4-megapixel photo)."""
    base = 300
    if kind == "flat":
        photo = np.broadcast_to(np.array([183, 150, 120], np.uint8), (base, base, 3))
    else:
        rng = np.random.default_rng(0)
        field = cv2.GaussianBlur(rng.normal(0, 1, (base, base, 3)).astype(np.float32), (0, 0), 12)
        photo = np.clip(140 + 800 * field, 0, 255).astype(np.uint8)
    photo = cv2.resize(np.ascontiguousarray(photo), (base * factor, base * factor), interpolation=cv2.INTER_CUBIC)
    size = base * factor
    y, x = np.mgrid[:size, :size]
    hole = (x - size / 2) ** 2 / 1.2 + (y - size / 2) ** 2 < (50 * factor) ** 2
    result = shipped.inpaint(photo, hole)
    assert result.fills[0].path in ("full resolution", "two scales")
    assert abs(seam_offset(result.pixels, hole)) <= 1.5


def test_overlap_add_window_keeps_constant_power():
    for length in (2, 5, 16):
        window = _window(length)
        np.testing.assert_allclose(window[:length] ** 2 + window[length:] ** 2, 1.0, atol=1e-12)


def _striped_photo(size: int = 256) -> np.ndarray:
    """Fine texture the working size cannot hold: stripes of period 3 px plus grain, over a slow gradient."""
    rng = np.random.default_rng(4)
    y, x = np.mgrid[:size, :size]
    stripes = 40 * np.sin(2 * np.pi * (x + 0.3 * y) / 3.0)
    base = 120 + 40 * x / size
    grain = rng.normal(0, 8, (size, size))
    return np.clip(base + stripes + grain, 0, 255).astype(np.uint8)[..., None].repeat(3, axis=2)


def test_detail_transfer_brings_back_the_texture_a_coarse_fill_lacks():
    truth = _striped_photo()
    hole = np.zeros(truth.shape[:2], bool)
    hole[80:180, 90:170] = True
    small_size = (64, 64)  # a 4x coarser working size
    coarse_small = cv2.resize(truth, small_size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    coarse = cv2.resize(cv2.resize(truth, small_size, interpolation=cv2.INTER_AREA), truth.shape[1::-1],
                        interpolation=cv2.INTER_CUBIC)  # the best a coarse fill can do: the truth, scaled
    detail = transfer_detail(truth, ~hole, coarse_small, hole, DetailConfig(cell=4, strength=1.0))
    assert not detail[~hole].any()
    restored = np.where(hole[..., None], np.clip(coarse + detail + 0.5, 0, 255).astype(np.uint8), truth)
    plain = np.where(hole[..., None], coarse, truth)
    assert gradient_energy_ratio(truth, plain, hole) < 0.2
    assert 0.5 < gradient_energy_ratio(truth, restored, hole) < 1.5
    assert texture_distance(truth, restored, hole) < 0.5 * texture_distance(truth, plain, hole)


def test_detail_transfer_never_reads_the_hole_and_repeats_exactly():
    truth = _striped_photo()
    hole = np.zeros(truth.shape[:2], bool)
    hole[60:200, 100:150] = True
    coarse_small = cv2.resize(truth, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    garbage = truth.copy()
    garbage[hole] = np.random.default_rng(5).integers(0, 256, (int(hole.sum()), 3))
    config = DetailConfig(cell=4)  # blocks small enough for this small photo to have known ones
    first = transfer_detail(truth, ~hole, coarse_small, hole, config)
    assert np.abs(first[hole]).mean() > 1.0
    np.testing.assert_array_equal(transfer_detail(garbage, ~hole, coarse_small, hole, config), first)
    np.testing.assert_array_equal(transfer_detail(truth, ~hole, coarse_small, hole, config), first)


def test_tiles_cover_every_pixel_to_fill_once_on_the_grid():
    """Against a brute-force reference: every pixel to fill lies in exactly one core, cores lie inside their
    cells of the core grid, and every window starts on the network's grid and holds its core plus the halo."""
    from pconv_studio.engine.tiling import plan_tiles

    rng = np.random.default_rng(6)
    shape = (700, 900)
    to_fill = np.zeros(shape, bool)
    to_fill[100:110, 50:850] = True  # a thin horizontal stroke: thin windows
    to_fill[rng.integers(300, 700, 40), rng.integers(0, 900, 40)] = True
    origin = (0, 0)
    tiles = plan_tiles(to_fill, origin, shape, core_size=256, halo=40, grid=32)
    covered = np.zeros(shape, int)
    for tile in tiles:
        core, window = tile.core, tile.window
        covered[core.window] += 1
        assert core.top // 256 == (core.bottom - 1) // 256 and core.left // 256 == (core.right - 1) // 256
        assert window.top % 32 == 0 and window.left % 32 == 0
        assert window.top == max(0, core.top - 64) and window.bottom == min(700, core.bottom + 64)
    assert (covered[to_fill] == 1).all() and covered.max() == 1
    stroke_tiles = [tile for tile in tiles if tile.core.top <= 100 < tile.core.bottom]
    assert all(tile.core.height <= 64 for tile in stroke_tiles)
