"""`pconv-studio --selftest`: passes on a working installation, fails with a reason on a broken one.

Every test builds its own data folder (weights/ and resources/) and points `PCONV_STUDIO_DATA` at it, so the
result never depends on what the checkout's weights/ or resources/ hold.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pconv_studio.cli.main import main
from pconv_studio.engine import save_image, save_mask
from pconv_studio.model import PConvUNet, save_weights
from pconv_studio.paths import DEFAULT_WEIGHTS_NAME
from pconv_studio.selftest import run_selftest

from .support import TINY_CONFIG, gradient_image, make_weights

HEIGHT, WIDTH = 96, 128


def _hole() -> np.ndarray:
    hole = np.zeros((HEIGHT, WIDTH), dtype=bool)
    hole[30:60, 40:90] = True
    return hole


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    """A complete data folder: untrained tiny weights under the shipped name, a sample photo and its mask."""
    root = tmp_path / "data"
    make_weights(root / "weights" / DEFAULT_WEIGHTS_NAME)
    (root / "resources").mkdir()
    save_image(root / "resources" / "sample.png", gradient_image(HEIGHT, WIDTH))
    save_mask(root / "resources" / "sample_mask.png", _hole())
    monkeypatch.setenv("PCONV_STUDIO_DATA", str(root))
    return root


def test_passes_and_reports_device_and_time(data, capsys):
    assert run_selftest(device="cpu") == 0
    out = capsys.readouterr().out
    assert "device:  CPU: chosen by the user" in out
    assert "time:    fill" in out
    assert str(data / "weights" / DEFAULT_WEIGHTS_NAME) in out
    assert out.rstrip().endswith("selftest passed")


def test_cli_flag_runs_it_with_an_explicit_weights_file(data, tmp_path, capsys):
    other = make_weights(tmp_path / "other.safetensors", seed=1)
    (data / "weights" / DEFAULT_WEIGHTS_NAME).unlink()
    assert main(["--selftest", "--device", "cpu", "--weights", str(other)]) == 0
    assert str(other) in capsys.readouterr().out


def test_missing_weights_fail_with_the_reason(data, capsys):
    (data / "weights" / DEFAULT_WEIGHTS_NAME).unlink()
    assert main(["--selftest"]) == 1
    err = capsys.readouterr().err
    assert "selftest FAILED" in err and "no trained model is installed" in err


def test_missing_sample_fails_with_the_reason(data, capsys):
    (data / "resources" / "sample.png").unlink()
    assert run_selftest() == 1
    assert "sample photo" in capsys.readouterr().err


def test_missing_mask_fails_with_the_reason(data, capsys):
    (data / "resources" / "sample_mask.png").unlink()
    assert run_selftest() == 1
    assert "sample_mask.png is missing" in capsys.readouterr().err


def test_mask_of_another_size_fails(data, capsys):
    save_mask(data / "resources" / "sample_mask.png", np.ones((HEIGHT // 2, WIDTH // 2), dtype=bool))
    assert run_selftest() == 1
    assert "the sample mask is" in capsys.readouterr().err


def test_network_that_outputs_nan_fails(data, capsys):
    net = PConvUNet(TINY_CONFIG)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.fill_(float("nan"))
    save_weights(net, data / "weights" / DEFAULT_WEIGHTS_NAME)
    assert run_selftest(device="cpu") == 1
    assert "NaN" in capsys.readouterr().err


def test_unexpected_error_fails_with_its_type_and_message(data, monkeypatch, capsys):
    def broken(*_args, **_kwargs):
        raise OSError("libtorch_cpu.so: cannot open shared object file")

    monkeypatch.setattr("pconv_studio.engine.Inpainter", broken)
    assert run_selftest() == 1
    err = capsys.readouterr().err
    assert "selftest FAILED: unexpected OSError: libtorch_cpu.so" in err and "Traceback" in err


@pytest.mark.slow
def test_runs_headless_without_importing_qt(data):
    """The way an installer or CI calls it: a fresh process, no display, and Qt never loaded."""
    code = (
        "import sys\n"
        "from pconv_studio.cli.main import main\n"
        "code = main(['--selftest'])\n"
        "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt was imported'\n"
        "sys.exit(code)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    completed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert completed.returncode == 0, completed.stderr
    assert "selftest passed" in completed.stdout
