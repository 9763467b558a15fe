"""`pconv-studio upscale` end to end with a tiny network: sizes, kept bit depth and alpha, one clear error line and
no output for bad requests, the input untouched, and nothing left behind by Ctrl+C."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pconv_studio.cli.main import main
from pconv_studio.engine import save_image
from pconv_studio.engine.imageio import read_image
from pconv_studio.engine.upscale import Upscaler

from .support import gradient_image


@pytest.fixture
def photo(tmp_path):
    """A 16-bit RGBA PNG, 30x41."""
    pixels = np.dstack([gradient_image(30, 41, dtype=np.uint16), gradient_image(30, 41, 1, np.uint16)[:, ::-1]])
    path = tmp_path / "photo.png"
    save_image(path, pixels)
    return path, pixels


def _run(capsys, *args):
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_upscales_keeping_bit_depth_and_alpha_and_reports_with_v(capsys, tmp_path, photo, tiny_weights):
    image, pixels = photo
    before = image.read_bytes()
    out = tmp_path / "out.png"
    code, err = _run(capsys, "-v", "upscale", image, "-o", out, "--scale", "2.5", "--weights", tiny_weights,
                     "--device", "cpu")
    assert code == 0, err
    result, info = read_image(out)
    assert result.shape == (75, 102, 4) and result.dtype == np.uint16  # round(30 * 2.5) = 75, round(102.5) = 102
    assert info.notices == ()
    assert image.read_bytes() == before  # the input is untouched
    assert "(41x30) -> " in err and "(102x75), x2.5 in 1 tile, " in err and " s on CPU" in err


def test_bad_requests_give_one_line_and_no_output(capsys, tmp_path, photo, tiny_weights):
    image, _ = photo
    (tmp_path / "folder.png").mkdir()
    cases = {
        "scale too large": (["--scale", "9", "-o", tmp_path / "o.png"], "scale must lie between"),
        "scale too small": (["--scale", "1", "-o", tmp_path / "o.png"], "scale must lie between"),
        "output is the input": (["--scale", "2", "-o", image], "is an input file"),
        "unknown format": (["--scale", "2", "-o", tmp_path / "o.xyz"], "must end in one of"),
        "output is a folder": (["--scale", "2", "-o", tmp_path / "folder.png"], "it is a folder"),
    }
    before = _files(tmp_path)
    for name, (extra, message) in cases.items():
        code, err = _run(capsys, "upscale", image, "--weights", tiny_weights, "--device", "cpu", *extra)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("pconv-studio: error: "), (name, err)
        assert message in lines[0], (name, lines[0])
    code, err = _run(capsys, "upscale", tmp_path / "missing.png", "-o", tmp_path / "o.png", "--scale", "2",
                     "--weights", tiny_weights)
    assert code == 2 and "file not found" in err
    assert _files(tmp_path) == before


def test_ctrl_c_during_the_upscale_writes_nothing(capsys, tmp_path, photo, tiny_weights, monkeypatch):
    """Ctrl+C raises KeyboardInterrupt wherever the main thread is; here, as the network pass starts."""
    image, _ = photo
    calls = []

    def interrupted_tile(self, *args):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(Upscaler, "_tile", interrupted_tile)
    before = _files(tmp_path)
    code, err = _run(capsys, "upscale", image, "-o", tmp_path / "out.png", "--scale", "4", "--weights",
                     tiny_weights, "--device", "cpu")
    assert code == 130 and "interrupted" in err and len(calls) == 1
    assert _files(tmp_path) == before


def test_ctrl_c_while_writing_leaves_no_temporary_file(capsys, tmp_path, photo, tiny_weights, monkeypatch):
    image, _ = photo

    def interrupted_replace(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted_replace)
    before = _files(tmp_path)
    code, _ = _run(capsys, "upscale", image, "-o", tmp_path / "out.png", "--scale", "2", "--weights",
                   tiny_weights, "--device", "cpu")
    assert code == 130 and _files(tmp_path) == before
