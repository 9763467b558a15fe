"""Batches for job arrays and restarts: `--shard K/N`, `--skip-existing`, one `--mask` for every photo."""

from __future__ import annotations

import numpy as np
import pytest

from pconv_studio.cli.main import main
from pconv_studio.engine import load_image, save_image, save_mask

from .support import gradient_image

COUNT = 12


@pytest.fixture
def batch(tmp_path):
    """COUNT small photos (different pixels each), one hole mask for all of them."""
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(7)
    pixels = {}
    for index in range(COUNT):
        picture = np.clip(gradient_image(36, 44).astype(int) + rng.integers(0, 60, (36, 44, 3)), 0, 255)
        pixels[f"photo{index:02d}"] = picture.astype(np.uint8)
        save_image(images / f"photo{index:02d}.png", pixels[f"photo{index:02d}"])
    hole = np.zeros((36, 44), bool)
    hole[10:22, 12:30] = True
    save_mask(tmp_path / "logo.png", hole)
    return images, tmp_path / "logo.png", pixels, hole


def _run(capfd, *args):
    code = main([str(a) for a in args])
    return code, capfd.readouterr().err


def test_shards_cover_the_folder_exactly_once(capfd, tmp_path, tiny_weights, batch):
    images, logo, pixels, _ = batch
    written = []
    for shard in ("0/2", "1/2"):
        out = tmp_path / f"shard{shard[0]}"
        code, err = _run(capfd, "inpaint", "--images", images, "--mask", logo, "--output", out, "--shard", shard,
                         "--weights", tiny_weights)
        assert code == 0, err
        written.append({p.stem for p in out.iterdir()} if out.exists() else set())
    assert not written[0] & written[1]
    assert written[0] | written[1] == set(pixels)
    assert written[0] and written[1]  # 12 names split by CRC-32: neither shard is empty


def test_one_mask_for_every_photo_fills_each_like_its_own_mask(capfd, tmp_path, tiny_weights, batch):
    images, logo, pixels, hole = batch
    masks = tmp_path / "masks"
    masks.mkdir()
    for stem in pixels:
        save_mask(masks / f"{stem}.png", hole)
    assert _run(capfd, "inpaint", "--images", images, "--mask", logo, "--output", tmp_path / "one",
                "--weights", tiny_weights)[0] == 0
    assert _run(capfd, "inpaint", "--images", images, "--masks", masks, "--output", tmp_path / "each",
                "--weights", tiny_weights)[0] == 0
    for stem, picture in pixels.items():
        filled = load_image(tmp_path / "one" / f"{stem}.png")
        np.testing.assert_array_equal(filled[~hole], picture[~hole])
        assert (tmp_path / "one" / f"{stem}.png").read_bytes() == (tmp_path / "each" / f"{stem}.png").read_bytes()


def test_a_rerun_with_skip_existing_fills_nothing_and_a_restart_fills_only_what_is_missing(
        capfd, tmp_path, tiny_weights, batch):
    images, logo, pixels, _ = batch
    out = tmp_path / "out"
    args = ("inpaint", "--images", images, "--mask", logo, "--output", out, "--weights", tiny_weights)
    assert _run(capfd, *args)[0] == 0
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino, p.read_bytes()) for p in out.iterdir()}
    assert len(before) == COUNT

    code, err = _run(capfd, "-v", *args, "--skip-existing")
    assert code == 0, err
    assert "nothing to fill" in err and "inpainting" not in err  # no model loaded, no progress bar
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_ino, p.read_bytes()) for p in out.iterdir()} == before

    for name in ("photo03.png", "photo08.png"):  # a run stopped before these two
        (out / name).unlink()
    code, err = _run(capfd, "-v", *args, "--skip-existing")
    assert code == 0, err
    assert "skipping 10 photo(s) whose output exists" in err
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino, p.read_bytes()) for p in out.iterdir()}
    assert set(after) == set(before)
    for name, (mtime, inode, data) in after.items():
        if name in ("photo03.png", "photo08.png"):
            assert data == before[name][2]  # written again, the same file
        else:
            assert (mtime, inode) == before[name][:2]  # untouched


@pytest.mark.parametrize("extra, message", [
    (("--shard", "2/2"), "0 <= K < N"),
    (("--shard", "1-of-2"), "write it as K/N"),
    (("--masks", "MASKS"), "either --masks DIR"),
])
def test_bad_batch_options_are_one_line_before_work(capfd, tmp_path, tiny_weights, batch, extra, message):
    images, logo, _, _ = batch
    extra = tuple(str(images) if value == "MASKS" else value for value in extra)
    code, err = _run(capfd, "inpaint", "--images", images, "--mask", logo, "--output", tmp_path / "out",
                     "--weights", tiny_weights, *extra)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "out").exists()


def test_batch_options_without_images_are_refused(capfd, tmp_path, tiny_weights, batch):
    images, logo, _, _ = batch
    code, err = _run(capfd, "inpaint", images / "photo00.png", logo, "-o", tmp_path / "out.png", "--shard", "0/2",
                     "--skip-existing", "--weights", tiny_weights)
    assert code == 2 and "only with --images DIR (batch mode): --shard, --skip-existing" in err


def test_photos_of_two_shards_that_would_write_one_file_are_refused_in_each(capfd, tmp_path, tiny_weights, batch):
    images, logo, _, _ = batch
    save_image(images / "photo00.jpg", gradient_image(36, 44))  # photo00.png and photo00.jpg: both photo00.png
    for shard in ("0/2", "1/2"):
        code, err = _run(capfd, "inpaint", "--images", images, "--mask", logo, "--output", tmp_path / "out",
                         "--shard", shard, "--weights", tiny_weights)
        assert code == 2 and "photo00.jpg and photo00.png would both be written to" in err, err
    assert not (tmp_path / "out").exists()
