"""Distributed training: `torchrun --standalone --nproc_per_node=2` on the CPU (gloo), 20 steps of the tiny network
on 32 px crops, plain and adversarial: both ranks end with bit-identical weights (the discriminator's too), rank 0
alone writes (one checkpoint, one log), and a run stopped at step 10 and resumed ends where the uninterrupted run
ends, bit for bit."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pconv_studio.engine import save_image
from pconv_studio.training.distributed import SINGLE_PROCESS, DistributedContext

from .support import gradient_image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for index in range(6):
        shape = (40, 56) if index % 2 else (56, 40)
        save_image(folder / f"photo{index}.png",
                   (gradient_image(*shape) // 2 + rng.integers(0, 40, (*shape, 3))).astype(np.uint8))
    return folder


def _torchrun(photos: Path, out: Path, weights: Path, *extra: str) -> None:
    """Two ranks on the CPU; each saves the weights it holds at the end into `out`/ranks."""
    (out / "ranks").mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PCONV_RANK_WEIGHTS": str(out / "ranks"),
                   "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(ROOT / "tests" / "ddp_worker.py"), "train", str(photos), "--out", str(out), "--init", str(weights),
               "--batch-size", "2", "--crop", "32", "--short-side", "40", "--mask-bank", "12", "--device", "cpu",
               "--precision", "fp32", "--log-every", "5", "--checkpoint-every", "1000", *extra]
    finished = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-4000:]


def _ranks(out: Path) -> list[dict[str, torch.Tensor]]:
    return [torch.load(out / "ranks" / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]


def _assert_same(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> None:
    assert left.keys() == right.keys()
    for name, tensor in left.items():
        assert torch.equal(tensor, right[name]), name


ADVERSARIAL = ("--adversarial", "--disc-channels", "8,8", "--r1-every", "4", "--disc-warmup", "2")  # R1 at 0, 4, ...


@pytest.mark.slow
@pytest.mark.parametrize("training", [(), ADVERSARIAL], ids=["plain", "adversarial"])
def test_two_cpu_ranks_agree_bit_for_bit_and_a_resume_continues_exactly(photos, tiny_weights, tmp_path, training):
    straight = tmp_path / "straight"
    _torchrun(photos, straight, tiny_weights, "--steps", "20", *training)  # fine-tunes (frozen encoder BN) from 16
    rank0, rank1 = _ranks(straight)
    _assert_same(rank0, rank1)
    assert any(name.startswith("discriminator.") for name in rank0) == bool(training)
    checkpoint = torch.load(straight / "checkpoint.pt", weights_only=True)
    _assert_same(checkpoint["model"], {k: v for k, v in rank0.items() if not k.startswith("discriminator.")})
    if training:
        _assert_same(checkpoint["adversarial"]["discriminator"],
                     {k[len("discriminator."):]: v for k, v in rank0.items() if k.startswith("discriminator.")})
        augmentations = [state["augmentations"] for state in checkpoint["generators"]]
        assert not torch.equal(*augmentations)  # each rank its own DiffAugment draws
    assert checkpoint["step"] == 20 and checkpoint["finetune_from"] == 16 and checkpoint["world_size"] == 2
    assert checkpoint["samples_seen"] == 20 * 2 * 2  # per-rank batch 2, two ranks
    assert sorted(p.name for p in straight.iterdir()) == ["checkpoint.pt", "model.safetensors", "ranks",
                                                          "train_log.csv"]
    with (straight / "train_log.csv").open() as handle:  # one writer: one row per logged step
        assert [int(row["step"]) for row in csv.DictReader(handle)] == [5, 10, 15, 20]

    resumed = tmp_path / "resumed"
    _torchrun(photos, resumed, tiny_weights, "--steps", "10", "--finetune-fraction", "0", *training)
    halfway = torch.load(resumed / "checkpoint.pt", weights_only=True)
    assert halfway["step"] == 10 and len(halfway["generators"]) == 2
    assert not torch.equal(*(state["data"] for state in halfway["generators"]))  # each rank its own data order
    _torchrun(photos, resumed, tiny_weights, "--resume", str(resumed / "checkpoint.pt"), "--steps", "20",
              "--finetune-fraction", "0.2")
    _assert_same(*_ranks(resumed))
    final = torch.load(resumed / "checkpoint.pt", weights_only=True)
    _assert_same(final["model"], checkpoint["model"])
    if training:
        _assert_same(final["adversarial"]["discriminator"], checkpoint["adversarial"]["discriminator"])
        _assert_same(final["adversarial"]["average"], checkpoint["adversarial"]["average"])


def test_ranks_share_the_photos_exactly_once_with_seeds_of_their_own():
    ranks = [DistributedContext(rank, 3, rank, "gloo") for rank in range(3)]
    shares = [context.share(list(range(10))) for context in ranks]
    assert sorted(sum(shares, [])) == list(range(10))
    assert len({context.rank_seed(5) for context in ranks}) == 3
    assert SINGLE_PROCESS.rank_seed(5) == 5 and SINGLE_PROCESS.share([1, 2]) == [1, 2]
