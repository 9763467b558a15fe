"""What the `Inpainter` and the `Upscaler` share: a weights file loaded once, batch norms folded, run by a
`NetworkRunner` on the chosen device."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import WeightsError
from ..model import PConvUNet, UNetConfig, load_weights
from .device import describe_device, select_device
from .regions import ResolutionConfig
from .runner import GraphMode, Precision, runner_on

__all__ = ["LoadedNetwork"]


class LoadedNetwork:
    """`weights=None` takes `default` (the shipped file); a missing default is a `WeightsError` that says `missing`
    (what is not installed) and `remedy` (what to do). `composite` is the runner's: True pastes the prediction into the hole
    only (inpainting), False takes it everywhere (upscaling). Subclasses call `_move_model()` once set up."""

    composite = True

    def __init__(
        self, weights: str | Path | None, default: Path, missing: str, remedy: str, device: str,
        resolution: ResolutionConfig, cuda_graphs: GraphMode, precision: Precision,
    ) -> None:
        self.weights_path = Path(weights) if weights is not None else default
        if weights is None and not self.weights_path.is_file():
            raise WeightsError(f"{missing} ({self.weights_path.name} is missing from {self.weights_path.parent}); "
                               f"{remedy}")
        self.model: PConvUNet
        self.model, self.metadata = load_weights(self.weights_path)
        self.model.fold_batch_norms()
        self.resolution = resolution
        self.cuda_graphs: GraphMode = cuda_graphs
        self.precision: Precision = precision
        self.device_choice = select_device(device)

    @property
    def config(self) -> UNetConfig:
        return self.model.config

    @property
    def model_name(self) -> str:
        return f"{self.weights_path.stem} ({self.config.name})"

    @property
    def device_description(self) -> str:
        """The device and, where the convolutions run in reduced precision, which: "CUDA: NVIDIA H100, bf16"."""
        return describe_device(self.device_choice, self._runner.dtype)

    def set_device(self, requested: str) -> None:
        """Switch device; on failure keep the current one and raise `DeviceError`."""
        self.device_choice = select_device(requested)
        self._move_model()

    def _move_model(self) -> None:
        """Weights move once (`runner_on`), then `_moved` tells the subclass."""
        device = self.device_choice.device
        self._runner = runner_on(self.model, device, self.cuda_graphs, self.precision, composite=self.composite)
        self._moved(device)

    def _moved(self, device: torch.device) -> None:
        """Called after every move; a subclass drops what it keeps on other devices."""
