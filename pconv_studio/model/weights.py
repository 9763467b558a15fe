"""Weights files: safetensors whose metadata names the architecture config, so a file is self-describing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import WeightsError
from .config import UNetConfig
from .unet import PConvUNet

__all__ = [
    "save_weights", "load_weights", "read_weights_config", "read_weights_metadata", "interpolate_networks",
    "UPSCALE_INPUT_KEY", "UPSCALE_INPUTS",
]

log = logging.getLogger(__name__)

_CONFIG_KEY = "pconv_config"
# An upscaling model's metadata says what it was trained to be given: "grid" (the pixels on a sparse grid, the rest
# hole) or "bicubic" (the bicubic upscale, every pixel valid); engine/upscale.py reads it, the training writes it.
UPSCALE_INPUT_KEY = "upscale_input"
UPSCALE_INPUTS = ("grid", "bicubic")
_FORMAT_KEY = "format"
_FORMAT = "pconv-studio/1"


def save_weights(model: PConvUNet, path: Path, extra: dict[str, str] | None = None, half: bool = False) -> None:
    """Write the model's state and config atomically. `half` stores float16 to halve the file (loaded as float32)."""
    path = Path(path)
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        if half and tensor.is_floating_point():
            tensor = tensor.half()
        tensors[name] = tensor
    metadata = {_FORMAT_KEY: _FORMAT, _CONFIG_KEY: model.config.to_json(), **(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    save_file(tensors, str(temporary), metadata=metadata)
    temporary.replace(path)


def read_weights_metadata(path: Path) -> dict[str, str]:
    """The metadata block of a weights file, without loading the tensors."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        with path.open("rb") as handle:
            header_size = int.from_bytes(handle.read(8), "little")
            if not 0 < header_size < 100_000_000:
                raise ValueError("bad header size")
            header = json.loads(handle.read(header_size))
        metadata = header.get("__metadata__") or {}
    except (OSError, ValueError) as error:
        raise WeightsError(f"{path.name} is not a valid safetensors weights file ({error})") from error
    if metadata.get(_FORMAT_KEY) != _FORMAT or _CONFIG_KEY not in metadata:
        raise WeightsError(f"{path.name} is a safetensors file but not PConv Studio weights (no architecture in it)")
    return metadata


def _config_of(path: Path, metadata: dict[str, str]) -> UNetConfig:
    try:
        return UNetConfig.from_json(metadata[_CONFIG_KEY])
    except (ValueError, TypeError, KeyError) as error:
        raise WeightsError(f"{path.name}: the architecture in its metadata is invalid ({error})") from error


def read_weights_config(path: Path) -> UNetConfig:
    """The architecture a weights file is for, from its metadata alone (no tensor is read). Raises `WeightsError`."""
    return _config_of(Path(path), read_weights_metadata(path))


def load_weights(path: Path, map_location: str | torch.device = "cpu") -> tuple[PConvUNet, dict[str, str]]:
    """Build the network named in the file's metadata and load its weights; returns (model in eval mode, metadata)."""
    path = Path(path)
    metadata = read_weights_metadata(path)
    config = _config_of(path, metadata)
    try:
        tensors = load_file(str(path), device=str(map_location))
    except Exception as error:  # safetensors raises its own error type, whose name differs between versions
        raise WeightsError(f"{path.name} is corrupt: {error}") from error
    model = PConvUNet(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape)
    if missing or unexpected or wrong_shape:
        raise WeightsError(
            f"{path.name} does not match its architecture {config.name!r}: "
            f"{len(missing)} missing, {len(unexpected)} unexpected, {len(wrong_shape)} wrongly shaped tensors"
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    model.to(map_location).eval()
    log.info("loaded %s (%s, %d tensors)", path.name, config.name, len(tensors))
    return model, metadata


def interpolate_networks(faithful: PConvUNet, detailed: PConvUNet, t: float) -> PConvUNet:
    """Network interpolation (Wang et al., "ESRGAN", ECCV 2018 workshops, section 3.4): a new network whose
    parameters and batch-norm statistics are (1 - t) * faithful + t * detailed, elementwise.

    Both networks must share one architecture and should share a starting point (a fine-tune of one from the
    other), or the midway weights mean nothing. `t` in [0, 1]; t = 0 and t = 1 return exact copies. Integer
    buffers (batch norm's step counter) are taken from `faithful`. Raises `WeightsError` for two architectures.
    """
    if faithful.config != detailed.config:
        raise WeightsError(f"cannot blend a {faithful.config.name!r} network with a {detailed.config.name!r} one")
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"the blend t must lie in [0, 1], not {t}")
    blended = PConvUNet(faithful.config)
    ours, theirs = faithful.state_dict(), detailed.state_dict()
    state = {}
    for name, value in ours.items():
        other = theirs[name].to(value.device)
        if not value.is_floating_point() or t == 0.0:
            state[name] = value.clone()
        elif t == 1.0:
            state[name] = other.clone()
        else:
            state[name] = torch.lerp(value.double(), other.double(), t).to(value.dtype)
    blended.load_state_dict(state)
    return blended.to(next(faithful.parameters()).device).train(faithful.training)
