"""The shipped upscaling models (weights/UPSCALE_MODEL_CARD.md) against OpenCV's interpolation on the bundled
sample photo: downscaled with Pillow's antialiased bicubic, upscaled back, PSNR on the BT.601 luminance."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pconv_studio.engine.imageio import load_image
from pconv_studio.engine.upscale import Upscaler
from pconv_studio.model import UPSCALE_INPUT_KEY, read_weights_metadata
from pconv_studio.paths import data_folder, upscale_grid_weights_path, upscale_weights_path
from pconv_studio.training.metrics import psnr
from pconv_studio.training.upscale_evaluation import downscale_bicubic, luma

GRID_MODEL = upscale_grid_weights_path()


def _score(truth: np.ndarray, estimate: np.ndarray, shave: int) -> float:
    inner = (slice(shave, -shave), slice(shave, -shave))
    return psnr(luma(truth)[inner] / 255, luma(estimate)[inner] / 255)


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    photo = load_image(data_folder("resources") / "sample.jpg")[..., :3]
    return np.ascontiguousarray(photo[: photo.shape[0] // 60 * 60, : photo.shape[1] // 60 * 60])


def test_the_shipped_files_say_what_their_network_is_given():
    assert read_weights_metadata(upscale_weights_path())[UPSCALE_INPUT_KEY] == "bicubic"
    assert read_weights_metadata(GRID_MODEL)[UPSCALE_INPUT_KEY] == "grid"


@pytest.mark.parametrize("scale", [2, 4])
def test_the_default_upscaler_beats_bicubic_interpolation(truth, scale):
    low = downscale_bicubic(truth, scale)
    bicubic = cv2.resize(low, truth.shape[1::-1], interpolation=cv2.INTER_CUBIC)
    upscaled = Upscaler(device="cpu").upscale(low, scale).pixels
    assert _score(truth, upscaled, scale) > _score(truth, bicubic, scale) + 0.2


def test_the_grid_model_beats_nearest_neighbour_at_x4(truth):
    low = downscale_bicubic(truth, 4)
    nearest = cv2.resize(low, truth.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    upscaled = Upscaler(GRID_MODEL, device="cpu").upscale(low, 4).pixels
    assert _score(truth, upscaled, 4) > _score(truth, nearest, 4) + 0.5
