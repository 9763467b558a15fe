"""Device choice: CUDA, then Apple MPS, then CPU, or the one asked for, with the reason in words."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from ..errors import DeviceError

__all__ = [
    "DeviceChoice", "autocast_dtype", "cpu_has_native_bf16", "describe_device", "precision_name", "select_device",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceChoice:
    """The device to run on and a one-line description for the status bar (e.g. "CUDA: NVIDIA H100")."""

    device: torch.device
    description: str


def _cuda_unavailable_reason() -> str:
    if torch.version.cuda is None:
        return "this torch build has no CUDA"
    return "no CUDA GPU was found"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(requested: str = "auto") -> DeviceChoice:
    """`requested` is "auto", "cuda", "cuda:N", "mps" or "cpu"; an unavailable explicit request is a DeviceError."""
    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return _cuda_choice(torch.device("cuda", torch.cuda.current_device()))
        if _mps_available():
            return DeviceChoice(torch.device("mps"), "MPS: Apple GPU")
        return DeviceChoice(torch.device("cpu"), f"CPU: {_cuda_unavailable_reason()}")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"CUDA was requested but {_cuda_unavailable_reason()}")
        try:
            device = torch.device(requested)
        except RuntimeError as error:
            raise DeviceError(f"not a device name: {requested!r}") from error
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise DeviceError(f"there is no GPU {index}: {torch.cuda.device_count()} found")
        return _cuda_choice(torch.device("cuda", index))
    if requested == "mps":
        if not _mps_available():
            raise DeviceError("MPS was requested but this machine or torch build has no Apple GPU support")
        return DeviceChoice(torch.device("mps"), "MPS: Apple GPU")
    if requested == "cpu":
        return DeviceChoice(torch.device("cpu"), "CPU: chosen by the user")
    raise DeviceError(f"unknown device {requested!r}: use auto, cuda, cuda:N, mps or cpu")


def _cuda_choice(device: torch.device) -> DeviceChoice:
    name = torch.cuda.get_device_name(device)
    log.info("using %s", name)
    return DeviceChoice(device, f"CUDA: {name}")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AMX or AVX512-BF16), where oneDNN's bf16 convolutions are
    several times faster than float32; elsewhere bf16 is emulated and slower."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision for the network's convolutions: bf16 where the GPU has it, else fp16; bf16 on a CPU
    with native bf16; None (float32) elsewhere, MPS included."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def precision_name(dtype: torch.dtype | None) -> str:
    """How logs, the status bar and benchmarks name an autocast precision (None: no autocast, float32)."""
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


def describe_device(choice: DeviceChoice, dtype: torch.dtype | None) -> str:
    """The device and, where the convolutions run in reduced precision `dtype`, which: "CUDA: NVIDIA H100, bf16"."""
    return choice.description + ("" if dtype is None else f", {precision_name(dtype)}")
