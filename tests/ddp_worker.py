"""One torchrun process of the distributed-training test: `pconv-studio train ARGS...`, then this rank's weights as
the process holds them (the module it handed to DDP and, when training adversarially, the discriminator), saved
to $PCONV_RANK_WEIGHTS/rank{RANK}.pt, so the test can compare the ranks with each other and with the checkpoint
rank 0 wrote."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from pconv_studio.cli.main import main
from pconv_studio.training.distributed import DistributedContext

wrapped: list[torch.nn.Module] = []
discriminators: list[torch.nn.Module] = []
_wrap, _share_adversarial = DistributedContext.wrap, DistributedContext.share_adversarial


def _keep(self: DistributedContext, model: torch.nn.Module) -> torch.nn.Module:
    wrapped.append(model)
    return _wrap(self, model)


def _keep_discriminator(self: DistributedContext, adversarial, seed: int) -> None:
    discriminators.append(adversarial.discriminator)
    _share_adversarial(self, adversarial, seed)


DistributedContext.wrap = _keep  # type: ignore[method-assign]
DistributedContext.share_adversarial = _keep_discriminator  # type: ignore[method-assign]
code = main(sys.argv[1:])
state = {name: tensor.detach().cpu() for name, tensor in wrapped[-1].state_dict().items()}
if discriminators:
    state.update({f"discriminator.{name}": tensor.detach().cpu()
                  for name, tensor in discriminators[-1].state_dict().items()})
torch.save(state, Path(os.environ["PCONV_RANK_WEIGHTS"]) / f"rank{os.environ['RANK']}.pt")
sys.exit(code)
