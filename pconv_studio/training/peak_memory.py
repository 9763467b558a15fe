"""Peak host memory of one piece of work, from the kernel's own accounting of the process's resident set.

Linux keeps the process's RSS high-water mark in /proc/self/status (VmHWM) and resets it to the current RSS when
"5" is written to /proc/self/clear_refs (Linux 4.0+, proc(5)). Reset before the work and read after it, the mark
is the true peak of every resident page the work touched, whoever allocated it (numpy, OpenCV, torch's CPU
allocator, the JPEG decoder): not sampled, so no short spike is missed. Before the reset Python's garbage is
collected and glibc returns free heap memory to the system (malloc_trim), so memory freed by earlier work does
not sit in the baseline and make the work look smaller than it is. Where either file is missing (not Linux) the
measure is NaN.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import re
from pathlib import Path
from types import TracebackType

__all__ = ["PeakMemory", "resident_mb"]

log = logging.getLogger(__name__)

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_RESET_PEAK = "5"  # proc(5): "reset the peak resident set size (VmHWM) to the current RSS"


def _status_mb(field: str) -> float:
    """A kB field of /proc/self/status in MiB; NaN where it cannot be read."""
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return float("nan")
    return int(match.group(1)) / 1024 if match else float("nan")


def resident_mb() -> float:
    """The process's resident set now, MiB (NaN where /proc is missing)."""
    return _status_mb("VmRSS")


def _trim_heap() -> None:
    """Hand glibc's free heap memory back to the system; nothing where there is no glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    malloc_trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(0)


class PeakMemory:
    """`with PeakMemory() as memory: work()`, then `memory.peak_mb` (the process's RSS peak during the work) and
    `memory.added_mb` (that peak above the RSS at the start: what the work itself needed), both MiB."""

    def __init__(self) -> None:
        self.baseline_mb = float("nan")
        self.peak_mb = float("nan")

    @property
    def added_mb(self) -> float:
        return self.peak_mb - self.baseline_mb

    def __enter__(self) -> "PeakMemory":
        gc.collect()
        _trim_heap()
        try:
            _CLEAR_REFS.write_text(_RESET_PEAK)
        except OSError as error:
            log.warning("cannot reset the RSS high-water mark (%s): peak memory is not measured", error)
            return self
        self.baseline_mb = resident_mb()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.baseline_mb == self.baseline_mb:  # not NaN: the mark was reset
            self.peak_mb = _status_mb("VmHWM")
