"""Adversarial fine-tuning: the fake labels by hand, R1 against finite differences, the EMA formula, DiffAugment's
geometry, and a tiny run that logs the discriminator's accuracy and resumes bit for bit."""

from __future__ import annotations

import copy
import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pconv_studio.cli.main import main
from pconv_studio.engine.imageio import save_image
from pconv_studio.model import PConvUNet, UNetConfig, load_weights
from pconv_studio.training.adversarial import ADVERSARIAL_TERMS, AdversarialConfig, AdversarialTraining, WeightAverage
from pconv_studio.training.losses import InpaintingLoss
from pconv_studio.training.discriminator import PatchDiscriminator, diff_augment, hole_patch_labels, r1_penalty
from pconv_studio.training.loop import Batch, TrainConfig, read_checkpoint_config, train, train_step

from .support import gradient_image, make_weights

TINY = UNetConfig(name="tiny", encoder_channels=(8, 16, 16), encoder_kernels=(3, 3, 3))


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    for index in range(4):
        noise = rng.integers(0, 60, (40, 48, 3))
        save_image(folder / f"photo{index}.png", (gradient_image(40, 48) // 2 + noise).astype(np.uint8))
    return folder


def test_fake_labels_cover_exactly_the_cells_touching_the_hole():
    hole = torch.zeros(1, 1, 32, 32)
    hole[0, 0, 9, 17] = 1  # cell (1, 2) of the 8-px grid
    hole[0, 0, 15, 15] = 1  # the last pixel of cell (1, 1)
    hole[0, 0, 24:32, 0:9] = 1  # cell (3, 0) whole, and one column into cell (3, 1)
    expected = torch.zeros(1, 1, 4, 4)
    for row, col in [(1, 2), (1, 1), (3, 0), (3, 1)]:
        expected[0, 0, row, col] = 1
    assert torch.equal(hole_patch_labels(hole, 8), expected)
    assert hole_patch_labels(torch.zeros(1, 1, 16, 16), 4).sum() == 0
    with pytest.raises(ValueError, match="multiples"):
        hole_patch_labels(torch.zeros(1, 1, 30, 32), 8)


def test_discriminator_output_grid_matches_its_stride():
    discriminator = PatchDiscriminator((4, 8, 8))
    logits, features = discriminator(torch.rand(2, 3, 48, 32))
    assert discriminator.stride == 8 and logits.shape == (2, 1, 6, 4)
    assert [f.shape[1:] for f in features] == [(4, 24, 16), (8, 12, 8), (8, 6, 4)]


def test_r1_matches_central_finite_differences():
    torch.manual_seed(3)
    discriminator = PatchDiscriminator((3, 4)).double()
    discriminator(torch.rand(1, 3, 8, 8, dtype=torch.float64))  # one power iteration, then freeze (eval)
    discriminator.eval()
    images = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    gamma, step = 0.7, 1e-6
    squared_norms = []
    for sample in images:
        flat = sample.flatten()
        gradient = np.zeros(flat.numel())
        for index in range(flat.numel()):
            plus, minus = flat.clone(), flat.clone()
            plus[index] += step
            minus[index] -= step
            with torch.no_grad():
                up = discriminator(plus.view(1, 3, 8, 8))[0].sum().item()
                down = discriminator(minus.view(1, 3, 8, 8))[0].sum().item()
            gradient[index] = (up - down) / (2 * step)
        squared_norms.append(float(np.sum(gradient**2)))
    expected = gamma / 2 * np.mean(squared_norms)
    assert r1_penalty(discriminator, images, gamma).item() == pytest.approx(expected, rel=1e-6)


def test_weight_average_follows_the_ema_formula():
    torch.manual_seed(0)
    model = PConvUNet(TINY)
    start = {name: p.detach().double().clone() for name, p in model.named_parameters()}
    average = WeightAverage(model, decay=0.9)
    new_values = []
    for round_index in range(2):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.copy_(torch.randn_like(parameter))
            model.layers[1].norm.running_mean.fill_(float(round_index + 5))
        new_values.append({name: p.detach().double().clone() for name, p in model.named_parameters()})
        average.update(model)
    averaged = dict(average.model.named_parameters())
    for name, first in start.items():
        expected = 0.9 * (0.9 * first + 0.1 * new_values[0][name]) + 0.1 * new_values[1][name]
        assert torch.allclose(averaged[name].double(), expected, rtol=1e-6, atol=1e-7), name
    assert torch.all(average.model.layers[1].norm.running_mean == 6.0)  # buffers are copied, not averaged
    assert not any(p.requires_grad for p in average.model.parameters())


def _shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """`image` (C, H, W) moved down by dy and right by dx, zeros coming in: written with slices, no indexing maths."""
    height, width = image.shape[-2:]
    out = torch.zeros_like(image)
    out[:, max(dy, 0): height + min(dy, 0), max(dx, 0): width + min(dx, 0)] = \
        image[:, max(-dy, 0): height - max(dy, 0), max(-dx, 0): width - max(dx, 0)]
    return out


def test_translation_moves_the_hole_with_its_image_and_pairs_share_parameters():
    torch.manual_seed(0)
    images = torch.rand(3, 3, 32, 32)
    hole = (torch.rand(3, 1, 32, 32) > 0.7).float()
    generator = torch.Generator().manual_seed(5)
    moved, moved_hole = diff_augment(torch.cat([images, hole], 1), hole, generator, ("translation",))
    for index in range(3):
        shifts = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                  if torch.equal(moved[index, :3], _shifted(images[index], dy, dx))]
        assert len(shifts) == 1, shifts  # a zero-filled shift of at most 1/8 of the side
        assert torch.equal(moved_hole[index], _shifted(hole[index], *shifts[0]))
        assert torch.equal(moved[index, 3:], moved_hole[index])

    both = torch.cat([images, images.flip(-1)])
    augmented, _ = diff_augment(both, torch.cat([hole, hole]), generator, pairs=2)
    cut_first, cut_second = augmented[:3] == 0, augmented[3:] == 0
    assert torch.equal(cut_first.all(1), cut_second.all(1))  # cutout (and translation) fall alike on each pair
    first, second = diff_augment(both, torch.cat([hole, hole]), torch.Generator().manual_seed(9), ("color",), 2)[0].chunk(2)
    # colour: the same brightness, saturation and contrast map a pair's pixels: the flipped image stays the mirror
    assert torch.allclose(first.flip(-1), second, atol=1e-5)


def _config(photos: Path, out: Path, **changes) -> TrainConfig:
    settings = dict(train_dir=photos, out_dir=out, architecture=TINY, steps=4, batch_size=2, crop_size=32,
                    short_side=40, mask_bank_size=8, log_every=1, device="cpu", precision="fp32",
                    finetune_fraction=0.0, tv_weight=0.01,
                    adversarial=AdversarialConfig(discriminator_channels=(4, 8), r1_every=2, ema_decay=0.5))
    settings.update(changes)
    return TrainConfig(**settings)


def _read_log(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_a_tiny_adversarial_run_logs_finite_terms_and_the_discriminator_accuracy(photo_folder, tmp_path):
    result = train(_config(photo_folder, tmp_path))
    rows = _read_log(result.log_file)
    assert [int(row["step"]) for row in rows] == [1, 2, 3, 4]
    for row in rows:
        for name in ("total", "hole", *ADVERSARIAL_TERMS):
            assert math.isfinite(float(row[name])), (name, row[name])
        assert 0.0 <= float(row["d_real_accuracy"]) <= 1.0 and 0.0 <= float(row["d_fake_accuracy"]) <= 1.0
        assert float(row["adversarial_grad_ratio"]) == pytest.approx(1.0, rel=1e-4)  # the calibration's target
    assert float(rows[0]["r1"]) > 0  # step 0 is an R1 step

    checkpoint = torch.load(result.checkpoint_file, weights_only=True)
    exported, metadata = load_weights(result.weights_file)
    assert "feature matching" in metadata["loss"] and "0.01 TV" in metadata["loss"]
    for name, tensor in exported.state_dict().items():  # the file holds the average (as float16), not the model
        assert torch.equal(tensor, checkpoint["adversarial"]["average"][name].half().to(tensor.dtype)), name
    assert any(not torch.equal(checkpoint["model"][k], checkpoint["adversarial"]["average"][k])
               for k in checkpoint["model"] if checkpoint["model"][k].is_floating_point())


def test_an_adversarial_run_resumes_bit_for_bit(photo_folder, tmp_path):
    straight = train(_config(photo_folder, tmp_path / "straight", keep_snapshots=True, checkpoint_every=2))
    polls = iter([False, False, False, True])  # "stop" before the fourth step
    interrupted = train(_config(photo_folder, tmp_path / "resumed"), should_stop=lambda: next(polls))
    assert interrupted.step == 3
    resumed = train(_config(photo_folder, tmp_path / "resumed"), resume=interrupted.checkpoint_file)
    assert resumed.step == 4

    expected = torch.load(straight.checkpoint_file, weights_only=True)
    got = torch.load(resumed.checkpoint_file, weights_only=True)
    for part in ("discriminator", "average"):
        for name, tensor in expected["adversarial"][part].items():
            assert torch.equal(tensor, got["adversarial"][part][name]), (part, name)
    for name, tensor in expected["model"].items():
        assert torch.equal(tensor, got["model"][name]), name
    for index, state in expected["adversarial"]["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg"], got["adversarial"]["optimizer"]["state"][index]["exp_avg"])
    assert torch.equal(expected["adversarial"]["generator"], got["adversarial"]["generator"])
    columns = ("total", *ADVERSARIAL_TERMS)
    straight_rows, resumed_rows = _read_log(straight.log_file), _read_log(resumed.log_file)
    assert [[r[c] for c in columns] for r in straight_rows] == [[r[c] for c in columns] for r in resumed_rows]
    snapshots = sorted(p.name for p in (tmp_path / "straight" / "snapshots").iterdir())
    assert snapshots == ["step_000002.safetensors", "step_000004.safetensors"]


def test_adversarial_options_are_checked(photo_folder, tmp_path, capsys):
    with pytest.raises(ValueError, match="multiple of the discriminator's stride"):
        _config(photo_folder, tmp_path, crop_size=30)
    with pytest.raises(ValueError, match="bf16 or fp32"):
        _config(photo_folder, tmp_path, precision="fp16")
    assert main(["train", str(photo_folder), "--out", str(tmp_path / "o"), "--disc-channels", "8,8"]) == 2
    assert "need --adversarial" in capsys.readouterr().err
    assert main(["train", str(photo_folder), "--out", str(tmp_path / "o"), "--adversarial", "--augment", "zoom"]) == 2
    assert "unknown augmentations" in capsys.readouterr().err



def test_cli_adversarial_options_reach_the_run(photo_folder, tmp_path, capsys):
    init = make_weights(tmp_path / "init.safetensors", TINY)
    out = tmp_path / "out"
    code = main(["train", str(photo_folder), "--out", str(out), "--init", str(init), "--steps", "1",
                 "--batch-size", "2", "--crop", "32", "--short-side", "40", "--mask-bank", "4", "--device", "cpu",
                 "--precision", "fp32", "--tv-weight", "0.02", "--adversarial", "--disc-channels", "4,8",
                 "--disc-lr", "1e-4", "--adv-ratio", "0.3", "--fm-ratio", "0", "--r1-gamma", "0.5", "--r1-every", "4",
                 "--ema-decay", "0.9", "--augment", "translation", "--disc-warmup", "3"])
    assert code == 0, capsys.readouterr().err
    config = read_checkpoint_config(out / "checkpoint.pt")
    assert config.tv_weight == 0.02
    assert config.adversarial == AdversarialConfig(
        discriminator_channels=(4, 8), discriminator_learning_rate=1e-4, adversarial_ratio=0.3,
        feature_matching_ratio=0.0, r1_gamma=0.5, r1_every=4, ema_decay=0.9, augmentations=("translation",), warmup_steps=3)


def test_during_the_warm_up_the_generator_takes_the_plain_reconstruction_step():
    images = torch.from_numpy(gradient_image(32, 32)).permute(2, 0, 1).float().div(255).repeat(2, 1, 1, 1)
    valid = torch.ones(2, 1, 32, 32)
    valid[:, :, 6:20, 9:27] = 0
    torch.manual_seed(0)
    model = PConvUNet(TINY).train()
    plain = copy.deepcopy(model)
    criterion = InpaintingLoss(tv_weight=0.01)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    adversarial = AdversarialTraining(AdversarialConfig(discriminator_channels=(4, 8), warmup_steps=2), model,
                                      torch.device("cpu"), seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    terms = adversarial.step(model, criterion, optimizer, scaler, images, valid, None, step=1)
    assert terms["adversarial_weight"] == 0 and terms["feature_matching_weight"] == 0
    assert 0.0 <= float(terms["d_fake_accuracy"]) <= 1.0  # the discriminator did train
    train_step(plain, criterion, torch.optim.Adam(plain.parameters(), lr=1e-3), scaler,
               Batch(images, valid, images, None), None)
    for (name, mine), theirs in zip(model.named_parameters(), plain.parameters()):
        assert torch.equal(mine, theirs), name
    after = adversarial.step(model, criterion, optimizer, scaler, images, valid, None, step=2)
    assert after["adversarial_weight"] > 0
