"""The bundled demo: its mask covers the whole spoon, and the file is what `resources/make_resources.py` draws."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from pconv_studio.engine import load_image, load_mask
from pconv_studio.paths import data_folder

# Points on the spoon's outline, marked by hand on sample.jpg (x, y in pixels; see resources/README.md): the
# handle above the cup, the thin shaft along the cup's side, the neck, the bowl's dark rim, and the bowl's
# reflection on the cup's foot. A fill leaves a ghost of any of them it is not asked to fill.
SPOON_OUTLINE = {
    "handle tip": (415, 68), "handle edge": (412, 120),
    "shaft": (403, 158), "shaft, middle": (399, 170), "shaft, low": (396, 182),
    "neck": (392, 194), "neck, middle": (383, 215), "neck, low": (376, 235),
    "rim, top left": (337, 247), "rim, left": (326, 280), "rim, lower left": (338, 318), "rim, bottom": (370, 327),
    "rim, lower right": (398, 310), "rim, right": (407, 270),
    "reflection": (320, 250), "reflection, right": (345, 247),
}
MARGIN = 2  # px around each point that must be hole too


@pytest.fixture(scope="module")
def demo():
    resources = data_folder("resources")
    return load_image(resources / "sample.jpg"), load_mask(resources / "sample_mask.png")


@pytest.mark.parametrize("name", SPOON_OUTLINE)
def test_the_demo_mask_covers_the_spoon_outline(demo, name):
    _, hole = demo
    x, y = SPOON_OUTLINE[name]
    assert hole[y - MARGIN:y + MARGIN + 1, x - MARGIN:x + MARGIN + 1].all(), name


def test_the_demo_mask_is_what_make_resources_draws_and_leaves_the_cup_mostly_alone(demo):
    pixels, hole = demo
    path = data_folder("resources") / "make_resources.py"
    spec = importlib.util.spec_from_file_location("make_resources", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    np.testing.assert_array_equal(module.spoon_mask(pixels.shape[:2]), hole)
    assert 0.05 < hole.mean() < 0.08  # the spoon and its margin, not a blanket over the cup
