"""`pconv-studio --selftest`: fill the bundled sample with the bundled model, headless, and check the result.

It answers one question for an installer, a CI job or a support request: does this installation work? The same
code runs from a checkout, an installed wheel and a frozen bundle, because every file is found through
`pconv_studio.paths`. No Qt is imported, so it runs without a display.

Exit status 0 means every check passed; 1 means a check failed, with the reason on stderr (and, for an error
nobody foresaw, such as a library missing from a broken installation, its traceback too).
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

import numpy as np

from .errors import PConvError
from .paths import data_folder

__all__ = ["run_selftest", "SelftestFailure", "find_sample"]

SAMPLE_STEM = "sample"
SAMPLE_MASK_NAME = "sample_mask.png"


class SelftestFailure(Exception):
    """One check failed; the message says which and why."""


def find_sample(resources: Path) -> tuple[Path, Path]:
    """The bundled sample photo (`sample.<image suffix>`) and its mask, or `SelftestFailure` naming what is missing."""
    from .engine import SUPPORTED_SUFFIXES

    photos = sorted(p for p in resources.glob(f"{SAMPLE_STEM}.*") if p.suffix.lower() in SUPPORTED_SUFFIXES)
    mask = resources / SAMPLE_MASK_NAME
    if not photos:
        raise SelftestFailure(f"the bundled sample photo ({SAMPLE_STEM}.jpg or .png) is missing from {resources}")
    if not mask.is_file():
        raise SelftestFailure(f"the bundled sample mask {SAMPLE_MASK_NAME} is missing from {resources}")
    return photos[0], mask


def _check_network_output(_module, _inputs, output) -> None:
    """Forward hook on the network: the raw prediction must be finite (the pasted-back pixels are integers, where
    a NaN would silently become some value)."""
    import torch

    if not bool(torch.isfinite(output.image).all()):
        raise SelftestFailure("the network produced NaN or infinite values")


def _check_result(original: np.ndarray, hole: np.ndarray, filled: np.ndarray) -> None:
    if filled.shape != original.shape or filled.dtype != original.dtype:
        raise SelftestFailure(
            f"the result is {filled.shape} {filled.dtype}, the photo {original.shape} {original.dtype}"
        )
    outside = ~hole
    changed_outside = int(np.count_nonzero(np.any((filled != original).reshape(*hole.shape, -1), axis=2) & outside))
    if changed_outside:
        raise SelftestFailure(f"{changed_outside} pixels outside the hole changed (they must stay bit-identical)")
    if np.array_equal(filled[hole], original[hole]):
        raise SelftestFailure("the hole was not filled: its pixels are unchanged")


def _selftest(device: str, weights: str | Path | None) -> list[str]:
    """Run every step; return the report lines, or raise `SelftestFailure` / `PConvError`."""
    started = time.perf_counter()
    resources = data_folder("resources")
    photo_path, mask_path = find_sample(resources)

    from .engine import Inpainter, load_image, load_mask

    pixels = load_image(photo_path)
    hole = load_mask(mask_path)
    if hole.shape != pixels.shape[:2]:
        raise SelftestFailure(
            f"the sample mask is {hole.shape[1]}x{hole.shape[0]}, the photo {pixels.shape[1]}x{pixels.shape[0]}"
        )
    if not hole.any():
        raise SelftestFailure(f"the sample mask {mask_path.name} has no hole")

    load_started = time.perf_counter()
    inpainter = Inpainter(weights, device=device)
    load_seconds = time.perf_counter() - load_started
    hook = inpainter.model.register_forward_hook(_check_network_output)
    try:
        result = inpainter.inpaint(pixels, hole)
    finally:
        hook.remove()
    _check_result(pixels, hole, result.pixels)

    import torch

    height, width = hole.shape
    lines = [
        f"model:   {inpainter.model_name} from {inpainter.weights_path}",
        f"sample:  {photo_path.name} {width}x{height}, hole {100.0 * hole.mean():.1f}% ({mask_path.name})",
        f"torch:   {torch.__version__} (CUDA {torch.version.cuda or 'none'}), {torch.get_num_threads()} CPU threads",
        f"device:  {result.device}",
        f"time:    fill {result.seconds:.2f} s, model load {load_seconds:.2f} s, "
        f"total {time.perf_counter() - started:.2f} s",
    ]
    lines.extend(f"notice:  {notice}" for notice in result.notices)
    return lines


def run_selftest(device: str = "auto", weights: str | Path | None = None) -> int:
    """Fill the bundled sample and check it. Prints a short report; returns 0 if every check passed, else 1."""
    try:
        lines = _selftest(device, weights)
    except (SelftestFailure, PConvError) as error:
        print(f"pconv-studio selftest FAILED: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # a broken installation can fail anywhere: report it, do not crash the check
        print(f"pconv-studio selftest FAILED: unexpected {type(error).__name__}: {error}", file=sys.stderr)
        traceback.print_exc()
        return 1
    for line in lines:
        print(line)
    print("pconv-studio selftest passed")
    return 0
