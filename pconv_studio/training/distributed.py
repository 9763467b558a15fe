"""Training on several processes with PyTorch's DistributedDataParallel, as started by `torchrun`.

`torchrun --nproc_per_node N [--nnodes M ...] -m pconv_studio train ...` runs N processes per node; each reads its
rank, the world size and its local rank from the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT). Without them (WORLD_SIZE unset or 1) training is the single-process loop unchanged.

Per rank: one GPU (cuda:LOCAL_RANK, NCCL) or, without CUDA or with `--device cpu`, the CPU (gloo); its own seed for
the data order and the masks (`rank_seed`); its share of the photos (every WORLD_SIZE-th file from its rank on) and
of the mask bank. DDP averages the gradients, so every rank holds the same weights after every step (its
constructor broadcasts rank 0's initial weights and buffers; batch-norm buffers are broadcast from rank 0 at every
forward unless SyncBatchNorm is asked for). Decisions that depend on a clock or a signal (stop, time budget,
fine-tuning by time, save by time) are agreed on by all ranks every step (`any_rank`), so no rank waits forever in
a collective another has left. Only rank 0 writes the log, the checkpoint and the weights; the checkpoint holds
every rank's generator states (data order, and DiffAugment draws when training adversarially), so `--resume`
with the same world size continues exactly. The discriminator of adversarial training: `share_adversarial`.
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputError

if TYPE_CHECKING:
    from .adversarial import AdversarialTraining

log = logging.getLogger(__name__)

AUGMENTATION_SEED_OFFSET = 2  # adversarial.py seeds its augmentation generator with the run's seed + 2


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the run: `rank` of `world_size` (0 of 1 for a single process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # "nccl" or "gloo"; None for a single process

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes logs, checkpoints and weights and validates."""
        return self.rank == 0

    def device(self) -> torch.device:
        """This rank's device: cuda:LOCAL_RANK under NCCL, else the CPU."""
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    def share(self, items: Sequence[Any]) -> list[Any]:
        """This rank's share of `items`: every world_size-th item from index `rank` on. Raises `InputError` if
        there are fewer items than ranks."""
        if len(items) < self.world_size:
            raise InputError(f"{len(items)} photos cannot be shared among {self.world_size} training processes: "
                             "give at least one photo per process")
        return list(items[self.rank::self.world_size])

    def rank_seed(self, seed: int) -> int:
        """The seed of this rank's data order and masks: `seed` itself for a single process, else a number drawn
        from (seed, rank) by numpy's SeedSequence (independent streams, the same on every machine)."""
        if not self.distributed:
            return seed
        return int(np.random.SeedSequence([seed, self.rank]).generate_state(1)[0] & 0x7FFF_FFFF)

    def any_rank(self, flags: Sequence[bool], device: torch.device) -> list[bool]:
        """Each flag true if it is true on any rank (one small all-reduce; `flags` unchanged for one process)."""
        if not self.distributed:
            return list(flags)
        values = torch.tensor([int(flag) for flag in flags], dtype=torch.int32, device=device)
        torch.distributed.all_reduce(values, op=torch.distributed.ReduceOp.MAX)
        return [bool(value) for value in values.tolist()]

    def mean(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The mean of each scalar over the ranks (for logging the loss of the whole global batch)."""
        if not self.distributed:
            return values
        names = list(values)
        stacked = torch.stack([values[name].float().to(self.device()) for name in names])  # NCCL: on the GPU
        torch.distributed.all_reduce(stacked, op=torch.distributed.ReduceOp.SUM)
        return dict(zip(names, stacked / self.world_size))

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value`, in rank order, on every rank (picklable objects)."""
        if not self.distributed:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(gathered, value)
        return gathered

    def broadcast_buffers(self, model: nn.Module) -> None:
        """Rank 0's buffers (batch-norm running statistics) on every rank. DDP does this at the start of every
        forward; after the last step each rank holds the statistics of its own last batch until this is called."""
        if self.distributed:
            for buffer in model.buffers():
                torch.distributed.broadcast(buffer, src=0)

    def average_gradients(self, module: nn.Module) -> None:
        """Each gradient of `module` replaced by its mean over the ranks (what DDP does for the generator)."""
        for parameter in module.parameters():
            if parameter.grad is not None:
                torch.distributed.all_reduce(parameter.grad, op=torch.distributed.ReduceOp.SUM)
                parameter.grad.div_(self.world_size)

    def share_adversarial(self, adversarial: AdversarialTraining, seed: int) -> None:
        """Adversarial training on every rank: the discriminator starts the same everywhere (it is made from
        the run's seed), its gradients are averaged before each of its optimiser's steps, so it stays the same;
        each rank draws its own DiffAugment augmentations. Not wrapped in DDP: the discriminator runs several
        times per step (twice, three times with R1), once with its parameters frozen, which DDP's reducer does
        not allow; averaging by hand is what StyleGAN2-ADA does too. Nothing to do for one process."""
        if not self.distributed:
            return
        adversarial.generator.manual_seed(self.rank_seed(seed + AUGMENTATION_SEED_OFFSET))
        discriminator = adversarial.discriminator
        adversarial.optimizer.register_step_pre_hook(lambda *_: self.average_gradients(discriminator))

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model DDP-wrapped (the module itself for one process)."""
        if not self.distributed:
            return model
        device_ids = [self.local_rank] if self.backend == "nccl" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


SINGLE_PROCESS = DistributedContext()


def _environment_int(name: str) -> int:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        raise InputError(f"the environment variable {name} is missing or not a number: start distributed training "
                         "with torchrun, which sets RANK, WORLD_SIZE and LOCAL_RANK") from None


def join_process_group(requested_device: str) -> tuple[DistributedContext, bool]:
    """This process's context from torchrun's environment, joining the process group if it is not joined yet.
    Returns (context, whether this call joined it, so the caller leaves it at the end). `requested_device` "cpu"
    (or no CUDA) trains on the CPU with gloo, anything else on cuda:LOCAL_RANK with NCCL."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return SINGLE_PROCESS, False
    rank, world_size = _environment_int("RANK"), _environment_int("WORLD_SIZE")
    local_rank = _environment_int("LOCAL_RANK")
    if requested_device not in ("auto", "cuda", "cpu"):
        raise InputError(f"--device {requested_device} under torchrun: use auto, cuda or cpu (each process takes "
                         "the GPU of its LOCAL_RANK)")
    use_cuda = requested_device != "cpu" and torch.cuda.is_available()
    if requested_device == "cuda" and not use_cuda:
        raise InputError("--device cuda: this torch build has no CUDA or sees no GPU")
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise InputError(f"LOCAL_RANK {local_rank} but this node has {torch.cuda.device_count()} GPU(s): "
                             "start at most one process per GPU (--nproc_per_node)")
        torch.cuda.set_device(local_rank)
    context = DistributedContext(rank, world_size, local_rank, "nccl" if use_cuda else "gloo")
    joined = not torch.distributed.is_initialized()
    if joined:
        torch.distributed.init_process_group(context.backend, device_id=context.device() if use_cuda else None)
    log.info("rank %d of %d (local rank %d), %s", rank, world_size, local_rank, context.backend)
    return context, joined


def leave_process_group(finished: bool) -> None:
    """Tear the process group down. First the garbage collector frees what the run left in reference cycles (DDP
    wrappers and their reducers hold the process group): a group that outlives `destroy_process_group` is destroyed
    during interpreter finalisation, where gloo's threads release tensors without a usable interpreter and the
    process aborts ("terminate called without an active exception", SIGABRT; pytorch/pytorch#179291). After a
    run that `finished`, every rank then meets the others, so none leaves while another still talks to it; after
    an error there is no meeting, which could wait for a rank that will never come."""
    gc.collect()
    if finished:
        torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def synchronise_batch_norm(model: nn.Module, context: DistributedContext) -> nn.Module:
    """Batch norm whose statistics are those of the global batch (SyncBatchNorm), for small per-GPU batches. Needs
    NCCL (PyTorch's SyncBatchNorm runs on GPUs only); a no-op with a notice for one process."""
    if not context.distributed:
        log.warning("--sync-batchnorm has no effect in a single process")
        return model
    if context.backend != "nccl":
        raise InputError("--sync-batchnorm needs GPUs (NCCL): PyTorch's SyncBatchNorm does not run on the CPU")
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)
