"""Where the bundled weights and resources are, whether we run from a checkout, an installed wheel or a frozen
(PyInstaller) bundle. Each layout puts the two folders somewhere else; this is the one place that knows."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = [
    "DEFAULT_DETAILED_WEIGHTS_NAME", "DEFAULT_UPSCALE_WEIGHTS_NAME", "DEFAULT_WEIGHTS_NAME", "data_folder",
    "default_weights_path", "detailed_weights_path", "upscale_weights_path",
]

DEFAULT_WEIGHTS_NAME = "pconv_compact.safetensors"
DETAILED_SUFFIX = "_detailed"  # NAME_detailed.safetensors is the detailed fine-tune of NAME.safetensors
DEFAULT_DETAILED_WEIGHTS_NAME = DEFAULT_WEIGHTS_NAME.replace(".safetensors", f"{DETAILED_SUFFIX}.safetensors")
DEFAULT_UPSCALE_WEIGHTS_NAME = "pconv_compact_upscale.safetensors"  # the upscaling model (weights/UPSCALE_MODEL_CARD.md)
UPSCALE_GRID_WEIGHTS_NAME = "pconv_compact_upscale_grid.safetensors"  # the partial-convolution grid model (same card)


def _candidates(name: str) -> list[Path]:
    package = Path(__file__).resolve().parent
    found = []
    override = os.environ.get("PCONV_STUDIO_DATA")
    if override:
        found.append(Path(override) / name)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        found.append(Path(bundle) / name)
    found.append(package / "_data" / name)  # installed wheel (see pyproject's force-include)
    found.append(package.parent / name)  # source checkout or editable install
    return found


def data_folder(name: str) -> Path:
    """The `weights` or `resources` folder; the first candidate that exists, else the checkout's path."""
    candidates = _candidates(name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[-1]


def default_weights_path() -> Path:
    """The shipped model. It may not exist yet (before training): the engine says so."""
    return data_folder("weights") / DEFAULT_WEIGHTS_NAME


def upscale_weights_path() -> Path:
    """The shipped upscaling model (`engine/upscale.py`). It may not exist: the engine says so."""
    return data_folder("weights") / DEFAULT_UPSCALE_WEIGHTS_NAME


def upscale_grid_weights_path() -> Path:
    """The partial-convolution grid upscaling model, kept in the checkout for study and evaluation (not bundled)."""
    return data_folder("weights") / UPSCALE_GRID_WEIGHTS_NAME


def detailed_weights_path(faithful: Path) -> Path:
    """The detailed model that belongs to the faithful model `faithful`: NAME_detailed.safetensors beside
    NAME.safetensors (for the shipped model, DEFAULT_DETAILED_WEIGHTS_NAME). It may not exist: the engine says so."""
    faithful = Path(faithful)
    return faithful.with_name(f"{faithful.stem}{DETAILED_SUFFIX}{faithful.suffix}")
