"""Fill style: a blend of the faithful model and its detailed fine-tune, t in [0, 1] (0 = faithful, 1 = detailed).

The network at t is `interpolate_networks(faithful, detailed, t)` (ESRGAN's network interpolation, Wang et al.
2018, section 3.4: every weight (1 - t) * faithful + t * detailed), blended from the two unfolded networks kept on
the host and then batch-norm folded for inference. Batch norm must be blended before folding: folding divides
by the running variance, so a blend of folded weights is not the fold of the blended network. Blending the
`compact` model takes about 0.06 s on a 2-core CPU; the last few blends are kept, so going back to a t is free.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Generic, Hashable, TypeVar

import torch

from ..errors import InputError, WeightsError
from ..model import PConvUNet, UNetConfig, interpolate_networks, load_weights, read_weights_config

__all__ = ["BLEND_CACHE_SIZE", "DEFAULT_DETAIL", "LruCache", "NetworkBlend", "check_detail", "detailed_model_problem"]

log = logging.getLogger(__name__)

# The t the CLI uses when --detail is not given and a detailed model is installed (the app starts there too).
# Chosen from the table across t in weights/MODEL_CARD.md; 0.0 until a detailed model ships.
DEFAULT_DETAIL = 0.0
BLEND_CACHE_SIZE = 4  # blended networks kept: the compact model is 26 MB of float32 weights each

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A dict that keeps the `capacity` most recently used entries and forgets the least recently used."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("an LRU cache holds at least one entry")
        self.capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: K) -> V | None:
        """The value for `key` (now the most recently used), or None."""
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            evicted, _ = self._entries.popitem(last=False)
            log.debug("cache: forgot %r", evicted)

    def discard_if(self, predicate) -> None:
        """Forget every entry whose value makes `predicate(value)` true."""
        for key in [key for key, value in self._entries.items() if predicate(value)]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()


def check_detail(t: float) -> float:
    """`t` as a float in [0, 1]; anything else (NaN included) is an `InputError`."""
    t = float(t)
    if not 0.0 <= t <= 1.0:
        raise InputError(f"the fill style (detail) must lie between 0 (faithful) and 1 (detailed), not {t:g}")
    return t


def detailed_model_problem(faithful: UNetConfig, detailed_path: Path) -> str | None:
    """Why the detailed model at `detailed_path` cannot be blended with a `faithful` network (one sentence), or
    None if it can. Reads the file's metadata only."""
    detailed_path = Path(detailed_path)
    if not detailed_path.is_file():
        return (f"the detailed model is not installed ({detailed_path.name} is missing from {detailed_path.parent})")
    try:
        config = read_weights_config(detailed_path)
    except WeightsError as error:
        return f"the detailed model cannot be used: {error}"
    if config != faithful:
        return (f"the detailed model {detailed_path.name} is a {config.name!r} network, the faithful one a "
                f"{faithful.name!r} one: only two weights of one architecture blend")
    return None


class NetworkBlend:
    """The two networks of a fill-style blend and the folded blends made from them.

    Both weights files are read on the first blend (until then nothing but the paths is held) and kept as
    unfolded float32 networks on the CPU. `network(t)` returns an eval-mode, batch-norm-folded network; the same
    t returns the same object while it is among the `capacity` most recently used, so a caller may move it to
    a device once and find it there again. Raises `WeightsError` for unreadable or mismatched files.
    """

    def __init__(self, faithful_path: Path, detailed_path: Path, capacity: int = BLEND_CACHE_SIZE) -> None:
        self.faithful_path = Path(faithful_path)
        self.detailed_path = Path(detailed_path)
        self._sources: tuple[PConvUNet, PConvUNet] | None = None
        self._networks: LruCache[float, PConvUNet] = LruCache(capacity)

    def keep(self, t: float, network: PConvUNet) -> None:
        """Take an already folded network as the blend at `t` (the faithful model, loaded anyway, is t = 0)."""
        self._networks.put(check_detail(t), network)

    def network(self, t: float) -> PConvUNet:
        t = check_detail(t)
        cached = self._networks.get(t)
        if cached is not None:
            return cached
        faithful, detailed = self._load_sources()
        network = interpolate_networks(faithful, detailed, t).eval().fold_batch_norms()
        self._networks.put(t, network)
        log.info("blended %s and %s at t = %g", self.faithful_path.name, self.detailed_path.name, t)
        return network

    def drop_elsewhere(self, device: torch.device) -> None:
        """Forget the blends that are not on `device` (after a device switch, so a GPU left behind is freed)."""
        self._networks.discard_if(lambda network: not _is_on(network, device))

    def _load_sources(self) -> tuple[PConvUNet, PConvUNet]:
        if self._sources is None:
            faithful, _ = load_weights(self.faithful_path)
            detailed, _ = load_weights(self.detailed_path)
            if faithful.config != detailed.config:
                raise WeightsError(f"{self.detailed_path.name} and {self.faithful_path.name} are networks of two "
                                   "architectures: only two weights of one architecture blend")
            self._sources = faithful, detailed
        return self._sources


def _is_on(network: PConvUNet, device: torch.device) -> bool:
    """Whether the network's weights are on `device` (a device without an index matches any of its kind)."""
    where = next(network.parameters()).device
    return where.type == device.type and (device.index is None or where.index == device.index)
