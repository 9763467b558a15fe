"""Adversarial fine-tuning of the inpainting network: one generator + discriminator iteration, and the weight average.

Each `AdversarialTraining.step`:
1. the generator fills the batch; the composite (truth outside the hole, fill inside) is the fake image;
2. discriminator step: non-saturating loss on DiffAugmented real photos (every cell real) and composites (cells
   touching the hole fake, the rest real), plus the lazy R1 penalty every `r1_every` steps, scaled by
   `r1_every` (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020, section 3.1;
   Adam's rate and betas corrected by r1_every / (r1_every + 1) as there);
3. generator step: the reconstruction loss (`InpaintingLoss`) + w_adv * non-saturating loss on the hole cells +
   w_fm * feature matching (L1 between the discriminator's features of the composite and of the photo, both
   augmented with the same parameters; Wang et al., "pix2pixHD", CVPR 2018, eq. 4). The weights are calibrated
   every step: w = ratio * ||d(6 hole L1)/d output|| / ||d(term)/d output||, so each term sends the output a
   gradient of a fixed size relative to the hole L1's (the idea of Esser et al.'s adaptive weight, "Taming
   Transformers", CVPR 2021, eq. 7, measured at the output image rather than at a layer);
   During the first `warmup_steps` both weights are 0: a discriminator at chance level sends a gradient of no
   meaning, which the calibration would otherwise scale up to the hole L1's size (the CPU run darkened its fills
   so: docs/training.md);
4. the exponential moving average of the generator's weights moves: ema <- decay * ema + (1 - decay) * weights
   (batch-norm statistics copied), and the average is what gets exported.

Every random draw (augmentations) comes from one CPU generator kept in the checkpoint with the discriminator, its
optimiser and the average, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..model import PConvUNet
from .discriminator import AUGMENTATIONS, PatchDiscriminator, diff_augment, hole_patch_labels, r1_penalty
from .losses import HOLE_WEIGHT, InpaintingLoss

__all__ = ["AdversarialConfig", "AdversarialTraining", "WeightAverage", "ADVERSARIAL_TERMS"]

# logged beside LOSS_TERMS: the generator's terms and calibrated weights, then the discriminator's side
ADVERSARIAL_TERMS = (
    "adversarial", "feature_matching", "adversarial_weight", "feature_matching_weight", "adversarial_grad_ratio",
    "discriminator", "r1", "d_real_accuracy", "d_fake_accuracy",
)
_MAX_WEIGHT = 1e4  # cap on a calibrated weight, for a discriminator whose gradient has all but vanished


@dataclass(frozen=True)
class AdversarialConfig:
    discriminator_channels: tuple[int, ...] = (64, 128, 256, 256)  # 5x5 stride-2 layers: stride 16
    discriminator_learning_rate: float = 2e-4
    adversarial_ratio: float = 1.0  # ||grad of w_adv * adversarial|| / ||grad of 6 hole L1||, at the output
    feature_matching_ratio: float = 0.5  # the same for the feature-matching term (0: off)
    r1_gamma: float = 0.1
    r1_every: int = 16  # steps between R1 penalties (lazy regularisation)
    ema_decay: float = 0.999  # per step; the exported weights are this average
    warmup_steps: int = 0  # the discriminator trains alone this long: the generator sees no adversarial terms yet
    augmentations: tuple[str, ...] = AUGMENTATIONS

    def __post_init__(self) -> None:
        object.__setattr__(self, "discriminator_channels", tuple(self.discriminator_channels))
        object.__setattr__(self, "augmentations", tuple(self.augmentations))
        if not self.discriminator_channels or min(self.discriminator_channels) < 1:
            raise ValueError("the discriminator needs at least one layer, each with a positive width")
        if self.discriminator_learning_rate <= 0 or self.r1_every < 1:
            raise ValueError("the discriminator's learning rate and the R1 interval must be positive")
        if self.warmup_steps < 0:
            raise ValueError("the discriminator's warm-up must be >= 0 steps")
        if min(self.adversarial_ratio, self.feature_matching_ratio, self.r1_gamma) < 0:
            raise ValueError("the adversarial and feature-matching ratios and R1's gamma must be >= 0")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("the weight average's decay must lie in [0, 1)")
        unknown = set(self.augmentations) - set(AUGMENTATIONS)
        if unknown:
            raise ValueError(f"unknown augmentations {sorted(unknown)}; choose from {', '.join(AUGMENTATIONS)}")

    @property
    def stride(self) -> int:
        """Pixels per discriminator cell along each side: crops must be multiples of it."""
        return 2 ** len(self.discriminator_channels)

    def to_dict(self) -> dict:
        return asdict(self)


class WeightAverage:
    """An exponential moving average of a network's parameters; buffers (batch-norm statistics) are copied.

    `update(model)`: average <- decay * average + (1 - decay) * model, elementwise, in the parameters' dtype.
    `model` is the averaged copy (eval mode, no gradients).
    """

    def __init__(self, model: PConvUNet, decay: float) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        averaged = list(self.model.parameters())
        current = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(averaged, current, 1.0 - self.decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers()):
            mine.copy_(theirs)


def _grad_norm(term: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    if not term.requires_grad:
        return term.new_zeros(())
    (gradient,) = torch.autograd.grad(term, output, retain_graph=True)
    return gradient.float().norm()


class AdversarialTraining:
    """The discriminator, its optimiser, the generator's weight average and the augmentation draws of one run."""

    def __init__(self, config: AdversarialConfig, model: PConvUNet, device: torch.device, seed: int) -> None:
        self.config = config
        self.model = model
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            self.discriminator = PatchDiscriminator(config.discriminator_channels, model.config.image_channels)
        self.discriminator.to(device).train()
        lazy = config.r1_every / (config.r1_every + 1)
        self.optimizer = torch.optim.Adam(
            self.discriminator.parameters(), lr=config.discriminator_learning_rate * lazy,
            betas=(0.0, 0.99**lazy),
        )
        self.average = WeightAverage(model, config.ema_decay)
        self.generator = torch.Generator().manual_seed(seed + 2)
        self.last_r1 = 0.0

    def _augment(self, images: torch.Tensor, hole: torch.Tensor, pairs: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        return diff_augment(images, hole, self.generator, self.config.augmentations, pairs)

    def step(
        self,
        forward_model: nn.Module,
        criterion: InpaintingLoss,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        images: torch.Tensor,
        valid: torch.Tensor,
        dtype: torch.dtype | None,
        step: int,
    ) -> dict[str, torch.Tensor]:
        """One discriminator and one generator update at global step `step` (0-based; R1 runs when it divides by
        `r1_every`). Returns `LOSS_TERMS` + `ADVERSARIAL_TERMS`, detached, on the device."""
        config, discriminator = self.config, self.discriminator
        stride = discriminator.stride

        def autocast() -> torch.autocast:
            return torch.autocast(images.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

        hole = 1.0 - valid
        with autocast():
            output = forward_model(images, valid).image
        composite = valid * images + hole * output

        # the discriminator: real photos, every cell real; composites, the cells touching the hole fake
        discriminator.requires_grad_(True)
        real_input, _ = self._augment(images, hole)
        fake_input, fake_hole = self._augment(composite.detach().float(), hole)
        with autocast():
            logits, _ = discriminator(torch.cat([real_input, fake_input]))
        real_logits, fake_logits = logits.float().chunk(2)
        fake_cells = hole_patch_labels(fake_hole, stride)
        # balanced: the real cells (all of a photo's, and the composite's away from the hole) and the fake ones
        # are averaged apart, or the few hole cells would drown among the real ones
        real_cells = 1.0 - fake_cells
        d_loss = (F.softplus(-real_logits).sum() + (real_cells * F.softplus(-fake_logits)).sum()) / (
            real_logits.numel() + real_cells.sum()
        ) + (fake_cells * F.softplus(fake_logits)).sum() / fake_cells.sum().clamp_min(1.0)
        d_total = d_loss
        if config.r1_gamma > 0 and step % config.r1_every == 0:
            r1 = r1_penalty(discriminator, images, config.r1_gamma, lambda x: self._augment(x, hole)[0])
            self.last_r1 = float(r1.detach())
            d_total = d_total + config.r1_every * r1
        self.optimizer.zero_grad(set_to_none=True)
        d_total.backward()
        self.optimizer.step()
        real_accuracy = (real_logits.detach() > 0).float().mean()
        fake_accuracy = (fake_cells * (fake_logits.detach() < 0).float()).sum() / fake_cells.sum().clamp_min(1.0)

        # the generator: reconstruction + calibrated adversarial and feature-matching terms
        discriminator.requires_grad_(False)
        pair, pair_hole = self._augment(torch.cat([images, composite]), torch.cat([hole, hole]), pairs=2)
        with autocast():
            logits, features = discriminator(pair)
        generated_logits = logits.float().chunk(2)[1]
        hole_cells = hole_patch_labels(pair_hole.chunk(2)[1], stride)
        adversarial = (hole_cells * F.softplus(-generated_logits)).sum() / hole_cells.sum().clamp_min(1.0)
        matching = [F.l1_loss(f.float().chunk(2)[1], f.float().chunk(2)[0].detach()) for f in features]
        feature_matching = torch.stack(matching).mean()
        with autocast():
            terms = criterion(output, images, valid)
        reference = _grad_norm(HOLE_WEIGHT * terms["hole"], output)
        adversarial_norm = _grad_norm(adversarial, output)
        matching_norm = _grad_norm(feature_matching, output) if config.feature_matching_ratio > 0 else None

        def calibrated(ratio: float, norm: torch.Tensor | None) -> torch.Tensor:
            if norm is None or step < config.warmup_steps:
                return reference.new_zeros(())
            return torch.where(norm > 0, ratio * reference / norm.clamp_min(1e-30), 0.0).clamp(max=_MAX_WEIGHT)

        adversarial_weight = calibrated(config.adversarial_ratio, adversarial_norm)
        matching_weight = calibrated(config.feature_matching_ratio, matching_norm)
        total = terms["total"] + adversarial_weight * adversarial + matching_weight * feature_matching
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(optimizer)
        scaler.update()
        self.average.update(self.model)

        terms = {name: value.detach() for name, value in terms.items()}
        terms.update(
            total=total.detach(), adversarial=adversarial.detach(), feature_matching=feature_matching.detach(),
            adversarial_weight=adversarial_weight, feature_matching_weight=matching_weight,
            adversarial_grad_ratio=adversarial_weight * adversarial_norm / reference.clamp_min(1e-30),
            discriminator=d_loss.detach(), r1=torch.tensor(self.last_r1), d_real_accuracy=real_accuracy,
            d_fake_accuracy=fake_accuracy,
        )
        return terms

    def state_dict(self) -> dict:
        return {
            "discriminator": self.discriminator.state_dict(), "optimizer": self.optimizer.state_dict(),
            "average": self.average.model.state_dict(), "generator": self.generator.get_state(),
            "last_r1": self.last_r1, "config": self.config.to_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.average.model.load_state_dict(state["average"])
        self.generator.set_state(state["generator"])
        self.last_r1 = float(state["last_r1"])
