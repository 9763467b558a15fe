"""Training samples (training/samples.py): grids, sparse samples, mosaics with masked seams, random scales, and the
loss leaving seam pixels out. References are written out here in numpy/float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pconv_studio.cli.main import main
from pconv_studio.training.loop import PhotoBatches, TrainConfig
from pconv_studio.training.losses import InpaintingLoss
from pconv_studio.training.samples import SampleConfig, make_samples, spread_on_grid

SIDE = 48


def _batches(photos, config, batch_size=6, seed=0):
    bank = np.zeros((4, SIDE, SIDE), bool)
    bank[:, 10:20, 10:30] = True
    return PhotoBatches(photos, bank, SIDE, batch_size, torch.device("cpu"), torch.Generator().manual_seed(seed),
                        config)


def _random_photo(seed, height=64, width=80):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_spread_on_grid_puts_pixel_x_y_at_s_x_plus_half_s():
    low = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    for scale, phase in ((2, (0, 1)), (3, (2, 0)), (4, (1, 3))):
        shape = (scale * 4 + phase[0], scale * 5 + phase[1])
        canvas, valid = spread_on_grid(low, scale, shape, phase)
        expected = np.zeros((2, 3, *shape))
        expected_valid = np.zeros((2, 1, *shape))
        for y in range(4):
            for x in range(5):
                row, col = phase[0] + scale * y + scale // 2, phase[1] + scale * x + scale // 2
                expected[:, :, row, col] = low[:, :, y, x].numpy()
                expected_valid[:, :, row, col] = 1
        np.testing.assert_array_equal(canvas.numpy(), expected)
        np.testing.assert_array_equal(valid.numpy(), expected_valid)


def test_grid_samples_hold_block_means_on_the_grid_and_the_full_crop_as_target():
    config = SampleConfig(holes=0.0, grids=1.0, grid_scales=(2, 3, 4))
    batches = _batches([_random_photo(1), _random_photo(2)], config, batch_size=12, seed=3)
    batch = batches.next_batch()
    checked_area = 0
    for inputs, valid, target in zip(batch.inputs.double(), batch.valid, batch.targets.double()):
        rows, cols = np.nonzero(valid[0].numpy())
        scale = int(np.diff(np.unique(rows))[0])
        phase = (rows.min() - scale // 2, cols.min() - scale // 2)
        assert 0 <= phase[0] < scale and 0 <= phase[1] < scale
        assert len(np.unique(rows)) == (SIDE - phase[0]) // scale and len(np.unique(cols)) == (SIDE - phase[1]) // scale
        truth = target.numpy()
        means = np.array([truth[:, r - scale // 2: r - scale // 2 + scale, c - scale // 2: c - scale // 2 + scale]
                          .mean(axis=(1, 2)) for r, c in zip(rows, cols)])
        values = inputs.numpy()[:, rows, cols].T
        if np.allclose(values, means, atol=1e-6):
            checked_area += 1
        else:  # the antialiased bicubic kernel: close to the block mean, never point samples
            assert np.abs(values - means).mean() < 0.08
        assert np.all(inputs.numpy()[:, valid[0].numpy() == 0] == 0)
    assert checked_area > 0


def test_the_plain_twin_sees_a_bicubic_upscale_with_every_grid_pixel_valid():
    config = SampleConfig(holes=0.0, grids=1.0, grid_input="bicubic", grid_scales=(4,))
    batch = _batches([_random_photo(4)], config, batch_size=4).next_batch()
    for valid in batch.valid[:, 0].numpy():  # one rectangle, short of the crop by the phase and the remainder only
        rows, cols = np.nonzero(valid.any(axis=1))[0], np.nonzero(valid.any(axis=0))[0]
        assert valid[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1].all()
        assert rows.size % 4 == 0 and cols.size % 4 == 0 and min(rows.size, cols.size) >= SIDE - 2 * 3
    difference = (batch.inputs - batch.targets).abs()[batch.valid.expand_as(batch.inputs) > 0]
    assert 0 < difference.mean() < 0.35  # an interpolation of the crop, not the crop itself, not noise


def test_sparse_samples_keep_their_fraction_of_the_crop_own_pixels():
    config = SampleConfig(holes=0.0, sparse=1.0, sparse_keep=(0.2, 0.3))
    batch = _batches([_random_photo(5)], config, batch_size=8).next_batch()
    kept = batch.valid.mean(dim=(1, 2, 3))
    assert torch.all((kept > 0.17) & (kept < 0.33))
    torch.testing.assert_close(batch.inputs, batch.targets * batch.valid)


def test_mosaics_are_four_photos_with_a_masked_seam_band_left_out_of_the_losses():
    colours = [(200, 0, 0), (0, 200, 0), (0, 0, 200), (200, 200, 0), (0, 200, 200)]
    photos = [np.broadcast_to(np.array(c, np.uint8), (64, 80, 3)).copy() for c in colours]
    config = SampleConfig(holes=1.0, mosaic=1.0, seam=6)
    batch = _batches(photos, config, batch_size=16, seed=2).next_batch()
    assert batch.counted is not None
    cut_samples = 0
    for target, valid, counted in zip(batch.targets, batch.valid, batch.counted):
        seam = counted[0] == 0
        assert torch.all(valid[0][seam] == 0)  # the band is hole
        columns = torch.nonzero(seam.all(dim=0)).flatten()
        rows = torch.nonzero(seam.all(dim=1)).flatten()
        for band in (columns, rows):  # each band is one run of at most 6 px (clipped at the crop's edge)
            if band.numel():
                assert band.numel() <= 6 and torch.all(torch.diff(band) == 1)
        if columns.numel() == 6 and rows.numel() == 6:
            cut_samples += 1
            w, h = int(columns[3]), int(rows[3])  # the cut is 3 px into a 6 px band
            quadrants = [target[:, :h, :w], target[:, :h, w:], target[:, h:, :w], target[:, h:, w:]]
            for quadrant in quadrants:  # each quadrant is one flat photo
                assert torch.all(quadrant == quadrant[:, :1, :1])
    assert cut_samples > 0


def test_random_scale_crops_are_resized_squares_of_the_photo():
    ramp = np.repeat(np.linspace(0, 255, 200)[None, :, None], 3, axis=2).repeat(100, axis=0).round().astype(np.uint8)
    config = SampleConfig(random_scale=1.0)
    batch = _batches([ramp], config, batch_size=8).next_batch()
    native = 255 / 199 / 255  # the ramp's step per pixel, on the [0, 1] scale
    slopes = []
    for target in batch.targets.double():
        steps = target[0, SIDE // 2, 4:-4].diff().abs()  # mirrored crops run backwards
        slopes.append(steps.mean().item())
        assert steps.std() < 0.25 * steps.mean() + 1e-3  # still a ramp: a linear resize of a window
    assert min(slopes) > 0.45 * native and max(slopes) < 2.1 * native  # squares of side crop/2 to 2 crop
    assert min(slopes) < 0.9 * native < 1.1 * native < max(slopes)  # zoomed in on some, out on others


def test_the_loss_ignores_uncounted_pixels_entirely():
    torch.manual_seed(0)
    target = torch.rand(2, 3, 16, 16)
    valid = (torch.rand(2, 1, 16, 16) > 0.4).float()
    counted = torch.ones(2, 1, 16, 16)
    counted[:, :, :, 7:10] = 0
    prediction = torch.rand(2, 3, 16, 16, requires_grad=True)
    terms = InpaintingLoss()(prediction, target, valid, counted)
    terms["total"].backward()
    assert torch.all(prediction.grad[:, :, :, 7:10] == 0)
    changed = prediction.detach().clone()
    changed[:, :, :, 7:10] = 5.0
    again = InpaintingLoss()(changed, target, valid, counted)
    for name in ("valid", "hole", "tv", "total"):
        assert again[name].item() == pytest.approx(terms[name].item())
    error = (prediction.detach().double() - target.double()).abs() * counted.double()
    assert terms["hole"].item() == pytest.approx(float((error * (1 - valid.double())).sum() / target.numel()))


def test_plain_samples_are_the_hole_batches_of_before():
    batch = _batches([_random_photo(6)], SampleConfig(), batch_size=4).next_batch()
    assert batch.counted is None and torch.equal(batch.inputs, batch.targets)
    assert torch.all((1 - batch.valid).sum(dim=(1, 2, 3)) == 200)


@pytest.mark.parametrize("options, message", [
    (["--samples", "holes=1,pixels=2"], "KIND=WEIGHT"),
    (["--samples", "holes=0"], "not all 0"),
    (["--seam", "4"], "needs mosaic"),
    (["--mosaic", "0.5", "--random-scale", "0.5"], "alternatives"),
    (["--grid-scales", "1,2", "--samples", "grids=1"], ">= 2"),
])
def test_train_refuses_bad_sample_options(options, message, tmp_path, capsys):
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "out"), *options]) != 0
    assert message in capsys.readouterr().err


def test_sample_settings_survive_the_checkpoint_config(tmp_path):
    config = TrainConfig(tmp_path, tmp_path, samples=SampleConfig(holes=1, grids=2, grid_scales=(2, 4), mosaic=0.3,
                                                                  seam=8))
    assert TrainConfig.from_json(config.to_json()) == config


def test_a_mix_without_mosaics_counts_every_pixel():
    targets = torch.rand(3, 3, SIDE, SIDE)
    batch = make_samples(targets.clone(), torch.ones(3, 1, SIDE, SIDE), SampleConfig(holes=1, sparse=1),
                         torch.Generator().manual_seed(0), lambda n, side: torch.rand(n, 3, side, side), SIDE)
    assert batch.counted is None and torch.equal(batch.targets, targets)


def test_an_upscale_is_scored_at_every_pixel_and_without_tv():
    """Grid samples composite nothing: every pixel's error takes the hole weight, and the TV term (the seam between a
    fill and the photo) is 0; hole samples in the same batch keep the paper's terms."""
    config = SampleConfig(holes=1.0, grids=1.0)
    batch = _batches([_random_photo(7)], config, batch_size=8, seed=1).next_batch()
    assert batch.predicted is not None
    grid = batch.predicted.amin(dim=(1, 2, 3)) == 1
    assert 0 < int(grid.sum()) < 8
    torch.testing.assert_close(batch.predicted[~grid], 1 - batch.valid[~grid])
    prediction = torch.rand_like(batch.targets)
    terms = InpaintingLoss()(prediction[grid], batch.targets[grid], batch.valid[grid], None, batch.predicted[grid])
    error = (prediction[grid].double() - batch.targets[grid].double()).abs()
    assert terms["hole"].item() == pytest.approx(error.mean().item(), rel=1e-5)
    assert terms["valid"].item() == 0 and terms["tv"].item() == 0
    holes = InpaintingLoss()(prediction[~grid], batch.targets[~grid], batch.valid[~grid])
    again = InpaintingLoss()(prediction[~grid], batch.targets[~grid], batch.valid[~grid], None, batch.predicted[~grid])
    for name in ("valid", "hole", "tv", "total"):
        assert again[name].item() == pytest.approx(holes[name].item())
