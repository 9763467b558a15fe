"""Batch runs too big for one sitting: shards for job arrays (Slurm, Kubernetes), restarts that skip what was done.

A photo's shard depends on its file name alone (CRC-32 of the name modulo the shard count), so shards 0/N ... N-1/N
cover a folder exactly once, on any machine and Python version, and adding photos to the folder never moves a
photo that was already assigned to another shard. Outputs are written atomically (a temporary file, then a
rename), so an output that exists is complete: `--skip-existing` trusts it.
"""

from __future__ import annotations

import re
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0 <= index < count), as written on the command line: "K/N"."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise InputError(f"--shard {self.index}/{self.count}: K/N needs N >= 1 and 0 <= K < N (e.g. 0/4 ... 3/4)")

    def holds(self, path: Path) -> bool:
        """Whether the photo `path` (by its file name) belongs to this shard."""
        return zlib.crc32(path.name.encode("utf-8", "surrogateescape")) % self.count == self.index


def parse_shard(text: str) -> Shard:
    """"K/N" -> `Shard(K, N)`; `InputError` for anything else. Slurm arrays pass K as $SLURM_ARRAY_TASK_ID."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise InputError(f"--shard {text!r}: write it as K/N, e.g. --shard 0/4 for the first of 4 shards")
    return Shard(int(match.group(1)), int(match.group(2)))


@dataclass
class BatchTally:
    """What a batch did; failures are reported as they happen (one line each) and counted."""

    total: int
    failures: int = 0

    def fail(self, name: str, message: str) -> None:
        self.failures += 1
        print(f"pconv-studio: error: {name}: {message}", file=sys.stderr)

    def exit_code(self) -> int:
        """0 when every photo was filled; 2 (after one summary line) when any failed."""
        if self.failures:
            print(f"pconv-studio: error: {self.failures} of {self.total} photos failed", file=sys.stderr)
            return 2
        return 0
