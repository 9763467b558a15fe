"""Shared fixtures. Qt must run offscreen in tests: the platform is chosen here, before anything imports Qt."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.support import make_weights  # noqa: E402


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny network's weights file: plumbing only, never presented as a result."""
    return make_weights(tmp_path_factory.mktemp("weights") / "tiny.safetensors")
