"""`inpaint --images ... --ray` on a local Ray started with 2 CPUs: the same files as the sequential run, the model
loaded once per actor, a damaged file reported and skipped. Skipped where Ray is not installed."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from pconv_studio.cli.main import main
from pconv_studio.engine import save_image, save_mask

from .support import gradient_image

LOADS_FILE = "PCONV_TEST_LOADS_FILE"


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """One local Ray for the module (starting one takes seconds): 2 CPU slots, so 2 actors."""
    ray = pytest.importorskip("ray")
    loads = tmp_path_factory.mktemp("ray") / "loads.txt"
    loads.touch()

    def count_model_loads() -> None:
        """Ray's worker_process_setup_hook (a local function, so Ray ships it by value): in every worker process,
        append the process id to `loads` each time the engine reads a weights file, independently of what the
        actors report about themselves."""
        from pconv_studio.engine import loaded_network

        original = loaded_network.load_weights

        def counted(*args, **kwargs):
            with open(os.environ[LOADS_FILE], "a", encoding="utf-8") as stream:
                stream.write(f"{os.getpid()}\n")
            return original(*args, **kwargs)

        loaded_network.load_weights = counted

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", configure_logging=False,
             runtime_env={"worker_process_setup_hook": count_model_loads,
                          # the workers import this checkout, as the test process does, not another installed copy
                          "env_vars": {LOADS_FILE: str(loads), "PYTHONPATH": str(Path(__file__).parents[1])}})
    yield loads
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """16 small photos (PNG and JPEG, each different), one mask, and a file that is not really a PNG."""
    folder = tmp_path_factory.mktemp("photos")
    images = folder / "images"
    images.mkdir()
    rng = np.random.default_rng(3)
    for index in range(16):
        picture = np.clip(gradient_image(48, 64).astype(int) + rng.integers(0, 50, (48, 64, 3)), 0, 255)
        save_image(images / f"p{index:02d}{'.jpg' if index % 4 == 0 else '.png'}", picture.astype(np.uint8))
    (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    hole = np.zeros((48, 64), bool)
    hole[14:34, 20:50] = True
    save_mask(folder / "mask.png", hole)
    return images, folder / "mask.png"


def _run(capfd, *args):
    code = main([str(a) for a in args])
    return code, capfd.readouterr().err


def _errors(err: str) -> list[str]:
    """The error lines (tqdm's \r updates may share a line with them), without Pillow's object addresses."""
    return [re.sub(r" at 0x[0-9a-f]+", "", line) for line in re.findall(r"pconv-studio: error: [^\r\n]*", err)]


@pytest.mark.slow
def test_ray_writes_the_sequential_files_with_one_model_load_per_actor(capfd, tmp_path, tiny_weights, ray_cluster,
                                                                       photos):
    images, mask = photos
    common = ("--images", images, "--mask", mask, "--weights", tiny_weights, "--device", "cpu")
    code, err = _run(capfd, "inpaint", *common, "--output", tmp_path / "sequential")
    reported = _errors(err)
    assert code == 2 and len(reported) == 2, err
    assert reported[0].startswith("pconv-studio: error: corrupt.png: corrupt.png is not an image this app can read")
    assert reported[1] == "pconv-studio: error: 1 of 17 photos failed"
    code, err = _run(capfd, "-v", "inpaint", *common, "--output", tmp_path / "ray", "--ray")
    assert code == 2
    assert _errors(err) == reported  # the same sentences as the sequential run
    sequential = sorted((tmp_path / "sequential").iterdir())
    assert len(sequential) == 16
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == [p.name for p in sequential]
    for path in sequential:
        assert (tmp_path / "ray" / path.name).read_bytes() == path.read_bytes(), path.name

    reports = re.findall(r"Ray worker pid (\d+) .*: model loaded (\d+) time\(s\), (\d+) photos", err)
    assert len(reports) == 2, err  # one actor per CPU slot
    assert all(loads == "1" for _, loads, _ in reports)
    assert sum(int(count) for _, _, count in reports) == 16  # the corrupt file failed in its read task
    loaded_in = ray_cluster.read_text().split()
    assert sorted(loaded_in) == sorted(pid for pid, _, _ in reports)  # the hook saw one load in each actor, no more
    assert str(os.getpid()) not in loaded_in  # the driver loaded no model


def test_a_model_the_workers_cannot_load_is_one_error_line(capfd, tmp_path, ray_cluster, photos):
    images, mask = photos
    code, err = _run(capfd, "inpaint", "--images", images, "--mask", mask, "--output", tmp_path / "out",
                     "--weights", tmp_path / "missing.safetensors", "--device", "cpu", "--ray")
    assert code == 2
    assert _errors(err) == [f"pconv-studio: error: weights file not found: {tmp_path / 'missing.safetensors'}"]


def test_without_ray_installed_the_option_says_how_to_get_it(capfd, tmp_path, tiny_weights, photos, monkeypatch):
    images, mask = photos
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code, err = _run(capfd, "inpaint", "--images", images, "--mask", mask, "--output", tmp_path / "out",
                     "--weights", tiny_weights, "--ray")
    assert code == 2 and "pip install 'pconv-studio[ray]'" in err
    assert not (tmp_path / "out").exists()
