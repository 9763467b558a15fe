"""Training: the loss against closed forms, one step learns, exact resume, fast-path fallback, the CLI's errors."""

from __future__ import annotations

import copy
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from pconv_studio.cli.main import main
from pconv_studio.engine.imageio import save_image
from pconv_studio.training.losses import InpaintingLoss, load_vgg16_features
from pconv_studio.training.loop import (
    Batch, FastPath, PhotoBatches, TrainConfig, _choose_fast_path, train, train_step,
)
from pconv_studio.errors import WeightsError
from pconv_studio.model import PConvUNet, UNetConfig, load_weights, read_weights_metadata

from .support import gradient_image, make_weights

TINY = UNetConfig(name="tiny", encoder_channels=(8, 16, 16), encoder_kernels=(3, 3, 3))


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> Path:
    """Six small synthetic photos, landscape and portrait."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for index in range(6):
        shape = (40, 56) if index % 2 else (56, 40)
        noise = rng.integers(0, 40, (*shape, 3))
        save_image(folder / f"photo{index}.png", (gradient_image(*shape) // 2 + noise).astype(np.uint8))
    return folder


def _config(photos: Path, out: Path, **changes) -> TrainConfig:
    settings = dict(train_dir=photos, out_dir=out, architecture=TINY, steps=3, batch_size=2, crop_size=32,
                    short_side=40, mask_bank_size=12, log_every=1, device="cpu", precision="fp32",
                    finetune_fraction=0.4)
    settings.update(changes)
    return TrainConfig(**settings)


def _batch(batch_size: int = 2, crop: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch of gradient photos with a hand-made square hole in each."""
    images = torch.from_numpy(gradient_image(crop, crop)).permute(2, 0, 1).float().div(255).repeat(batch_size, 1, 1, 1)
    valid = torch.ones(batch_size, 1, crop, crop)
    valid[:, :, 8:20, 10:24] = 0
    return images, valid


def test_l1_and_tv_terms_match_their_closed_forms():
    height, width, offset = 9, 11, 0.25
    target = torch.full((1, 3, height, width), 0.5)
    hole = np.zeros((height, width), bool)
    hole[2:5, 3:7] = True
    hole[6, 8] = True
    valid = torch.from_numpy(~hole).float()[None, None]
    terms = InpaintingLoss()(target + offset, target, valid)

    elements = 3 * height * width
    boundary_pairs = np.sum(hole[:, 1:] != hole[:, :-1]) + np.sum(hole[1:, :] != hole[:-1, :])
    expected = {
        "valid": offset * 3 * (~hole).sum() / elements,
        "hole": offset * 3 * hole.sum() / elements,
        "tv": offset * 3 * boundary_pairs / elements,  # the composite jumps by `offset` across the hole's edge
    }
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value, rel=1e-6), name
    assert terms["total"].item() == pytest.approx(expected["valid"] + 6 * expected["hole"] + 0.1 * expected["tv"],
                                                  rel=1e-6)
    assert terms["perceptual"].item() == 0 and terms["style"].item() == 0


def _torchvision_vgg16_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under torchvision's vgg16 key names, deeper layers and classifier included."""
    generator = torch.Generator().manual_seed(seed)
    widths = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 512)]
    state = {}
    for index, (cin, cout) in zip((0, 2, 5, 7, 10, 12, 14, 17), widths):
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=generator) * 0.05
        state[f"features.{index}.bias"] = torch.zeros(cout)
    state["classifier.6.bias"] = torch.zeros(1000)
    return state


def test_vgg_terms_load_a_torchvision_state_dict_and_vanish_for_a_perfect_fill(tmp_path):
    state = _torchvision_vgg16_state()
    save_file(state, str(tmp_path / "vgg16.safetensors"))
    torch.save(state, tmp_path / "vgg16.pth")
    vgg = load_vgg16_features(tmp_path / "vgg16.safetensors")
    assert torch.equal(load_vgg16_features(tmp_path / "vgg16.pth").features[2].weight, state["features.2.weight"])
    images, valid = _batch()
    loss = InpaintingLoss(vgg)
    perfect = loss(images, images, valid)
    assert perfect["perceptual"].item() == 0 and perfect["style"].item() == 0
    wrong = loss(images.flip(-1), images, valid)
    assert wrong["perceptual"].item() > 0 and wrong["style"].item() > 0
    base = wrong["valid"] + 6 * wrong["hole"] + 0.1 * wrong["tv"]
    assert wrong["total"].item() == pytest.approx((base + 0.05 * wrong["perceptual"] + 120 * wrong["style"]).item())

    del state["features.12.weight"]
    save_file(state, str(tmp_path / "broken.safetensors"))
    with pytest.raises(WeightsError):
        load_vgg16_features(tmp_path / "broken.safetensors")


def test_one_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = PConvUNet(TINY).train()
    criterion = InpaintingLoss()
    images, valid = _batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    before = train_step(model, criterion, optimizer, scaler, Batch(images, valid, images, None), None)["total"].item()
    with torch.no_grad():
        after = criterion(model(images, valid).image, images, valid)["total"].item()
    assert after < before


def test_batches_are_photo_crops_with_masks_from_the_bank():
    photo = gradient_image(40, 56)
    bank = np.zeros((1, 32, 32), bool)
    bank[0, :5, :] = True  # a band along one edge: under any flip or transpose, 5 x 32 hole pixels
    batches = PhotoBatches([photo], bank, 32, 8, torch.device("cpu"), torch.Generator().manual_seed(0))
    images, valid = batches.next_batch()[:2]
    assert images.shape == (8, 3, 32, 32) and valid.shape == (8, 1, 32, 32)
    assert torch.all((1 - valid).sum(dim=(1, 2, 3)) == 5 * 32)
    pixels = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    for crop in images:  # every crop is a window of the photo, maybe mirrored left-right
        windows = [pixels[:, y:y + 32, x:x + 32] for y in range(9) for x in range(25)]
        assert any(torch.equal(crop, w) or torch.equal(crop, w.flip(-1)) for w in windows)


def test_resume_gives_the_same_next_step_as_an_uninterrupted_run(photo_folder, tmp_path):
    straight = train(_config(photo_folder, tmp_path / "straight"))
    assert straight.step == 3 and straight.stop_reason == "steps"

    polls = iter([False, False, True])  # "stop" before the third step
    interrupted = train(_config(photo_folder, tmp_path / "resumed"), should_stop=lambda: next(polls))
    assert interrupted.step == 2 and interrupted.stop_reason == "cancelled"
    resumed = train(_config(photo_folder, tmp_path / "resumed"), resume=interrupted.checkpoint_file)
    assert resumed.step == 3

    expected = torch.load(straight.checkpoint_file, weights_only=True)
    got = torch.load(resumed.checkpoint_file, weights_only=True)
    assert expected["finetune_from"] == got["finetune_from"] == 2  # the third step fine-tunes, in both runs
    for name, tensor in expected["model"].items():
        assert torch.equal(tensor, got["model"][name]), name
    with (tmp_path / "resumed" / "train_log.csv").open() as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == [1, 2, 3]



def test_a_spent_time_budget_still_leaves_loadable_weights(photo_folder, tmp_path):
    result = train(_config(photo_folder, tmp_path, time_budget_s=1e-6))
    assert result.stop_reason == "time budget"
    model, metadata = load_weights(result.weights_file)
    assert model.config == TINY and metadata["steps"] == str(result.step)


def test_a_failing_fast_path_falls_back_and_leaves_the_model_untouched():
    class RefusesChannelsLast(InpaintingLoss):
        def forward(self, prediction, target, valid, counted=None, predicted=None):
            if not target.is_contiguous():
                raise RuntimeError("no NHWC kernel here")
            return super().forward(prediction, target, valid, counted, predicted)

    torch.manual_seed(0)
    model = PConvUNet(TINY).train()
    before = copy.deepcopy(model.state_dict())
    batches = PhotoBatches([gradient_image(40, 40)], np.zeros((2, 32, 32), bool), 32, 2, torch.device("cpu"),
                           torch.Generator().manual_seed(0))
    path, _ = _choose_fast_path(model, RefusesChannelsLast(), batches, FastPath(None, True, False))
    assert path == FastPath(None, False, False)
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())
    assert all(parameter.grad is None for parameter in model.parameters())


def test_training_code_imports_neither_qt_nor_matplotlib():
    code = ("import sys, pconv_studio.training.loop, pconv_studio.cli.train, pconv_studio.cli.evaluate; "
            "print(sorted(m for m in ('PySide6', 'matplotlib') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_cli_trains_from_init_weights_and_validates(photo_folder, tmp_path, capsys):
    init = make_weights(tmp_path / "init.safetensors", TINY)
    out = tmp_path / "out"
    code = main(["train", str(photo_folder), "--val", str(photo_folder), "--out", str(out), "--init", str(init),
                 "--steps", "2", "--batch-size", "2", "--crop", "32", "--short-side", "40", "--mask-bank", "6",
                 "--device", "cpu", "--precision", "fp32"])
    assert code == 0, capsys.readouterr().err
    assert read_weights_metadata(out / "model.safetensors")["steps"] == "2"
    validation = (out / "validation.md").read_text()
    assert "| 0.50-0.60 |" in validation and "| all |" in validation


def _one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pconv-studio: error: "), lines
    return lines[0]


def test_cli_errors_are_one_line_and_exit_code_2(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", str(empty), "--out", str(tmp_path / "o"), "--device", "cpu"]) == 2
    assert "no photos in" in _one_error_line(capsys)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "not_really.jpg").write_bytes(b"this is not a JPEG")
    assert main(["train", str(broken), "--out", str(tmp_path / "o"), "--device", "cpu"]) == 2
    assert "not_really.jpg" in _one_error_line(capsys)

    assert main(["train", str(broken), "--out", str(tmp_path / "o"), "--init", str(tmp_path / "none.safetensors")]) == 2
    assert "not found" in _one_error_line(capsys)

    assert main(["train", "--resume", str(tmp_path / "none.pt")]) == 2
    assert "checkpoint not found" in _one_error_line(capsys)
