"""A size-changing replacement of the photo (the app's upscale) as one undo step, without Qt; and the
nearest-neighbour mask resize that carries the painted mask along."""

from __future__ import annotations

import numpy as np
import pytest

from pconv_studio.editing.document import Change, Document
from pconv_studio.editing.mask_ops import resize_nearest
from pconv_studio.engine.inpainter import Region
from pconv_studio.errors import InputError
from tests.support import gradient_image


@pytest.fixture
def document() -> Document:
    document = Document(gradient_image(30, 40))
    document.edit_mask("Rectangle", lambda hole: hole.__setitem__((slice(5, 9), slice(10, 20)), True))
    return document


def enlarged(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Every pixel repeated factor x factor times (a stand-in for an upscaler's result)."""
    return np.kron(pixels, np.ones((factor, factor, 1), pixels.dtype))


def test_replace_image_is_one_undo_step_that_restores_photo_size_and_mask_exactly(document: Document):
    original_pixels, original_hole = document.pixels.copy(), document.hole.copy()
    changes: list[Change] = []
    document.subscribe(changes.append)
    new_pixels = enlarged(original_pixels, 2) // 2 + 1  # visibly different values
    new_hole = np.zeros((60, 80), bool)
    new_hole[10:18, 20:40] = True
    edit = document.replace_image("Upscale ×2", new_pixels, new_hole)
    assert (document.height, document.width) == (60, 80) and edit.region == Region(0, 0, 60, 80)
    np.testing.assert_array_equal(document.pixels, new_pixels)
    np.testing.assert_array_equal(document.hole, new_hole)
    assert document.dirty and document.undo_label == "Upscale ×2"
    assert changes[-1] == Change(mask=True, pixels=True, state=True, resized=True)
    new_pixels[:] = 0  # the document took a copy
    assert document.pixels.max() > 0

    document.undo()
    assert (document.height, document.width) == (30, 40)
    np.testing.assert_array_equal(document.pixels, original_pixels)
    np.testing.assert_array_equal(document.hole, original_hole)
    assert changes[-1].resized and document.undo_label == "Rectangle"
    document.redo()
    assert (document.height, document.width) == (60, 80)
    np.testing.assert_array_equal(document.hole[10:18, 20:40], np.ones((8, 20), bool))
    assert document.hole.sum() == 8 * 20


def test_edits_after_the_replacement_undo_back_to_the_exact_original(document: Document):
    original_pixels, original_hole = document.pixels.copy(), document.hole.copy()
    big = enlarged(original_pixels, 3)
    document.replace_image("Upscale ×3", big, resize_nearest(original_hole, 90, 120))
    # work on the enlarged photo: a stroke and a fill write into the document's arrays in place
    document.begin_stroke()
    document.paint_stroke((70, 70), (80, 75), 4, True)
    document.end_stroke("Brush stroke")
    after_stroke = document.hole.copy()
    filled = np.full_like(document.pixels, 250)
    document.apply_fill("Inpaint", document.hole.copy(), filled)
    assert (document.pixels[after_stroke] == 250).all() and not document.hole.any()
    for _ in range(3):
        document.undo()
    np.testing.assert_array_equal(document.pixels, original_pixels)
    np.testing.assert_array_equal(document.hole, original_hole)
    assert document.undo_label == "Rectangle"  # the step before the upscale
    for _ in range(3):
        document.redo()
    assert (document.height, document.width) == (90, 120)
    np.testing.assert_array_equal(document.pixels[~after_stroke], big[~after_stroke])
    assert (document.pixels[after_stroke] == 250).all()
    document.undo()  # the fill
    document.undo()  # the stroke
    np.testing.assert_array_equal(document.pixels, big)
    np.testing.assert_array_equal(document.hole, resize_nearest(original_hole, 90, 120))


def test_a_new_edit_after_undoing_the_replacement_drops_it(document: Document):
    document.replace_image("Upscale ×2", enlarged(document.pixels, 2), np.zeros((60, 80), bool))
    document.undo()
    document.edit_mask("Clear mask", lambda hole: hole.__setitem__(Ellipsis, False))
    assert not document.can_redo and (document.height, document.width) == (30, 40)


def test_replace_image_refuses_another_dtype_channels_or_mask_size_and_changes_nothing(document: Document):
    pixels, hole = document.pixels.copy(), document.hole.copy()
    with pytest.raises(ValueError, match="dtype and channels"):
        document.replace_image("x", enlarged(pixels, 2).astype(np.uint16), np.zeros((60, 80), bool))
    with pytest.raises(ValueError, match="dtype and channels"):
        document.replace_image("x", enlarged(pixels, 2)[..., :1], np.zeros((60, 80), bool))
    with pytest.raises(InputError):
        document.replace_image("x", enlarged(pixels, 2), np.zeros((30, 40), bool))
    document.begin_stroke()
    with pytest.raises(ValueError, match="stroke"):
        document.replace_image("x", enlarged(pixels, 2), np.zeros((60, 80), bool))
    document.end_stroke("Brush stroke")
    np.testing.assert_array_equal(document.pixels, pixels)
    np.testing.assert_array_equal(document.hole, hole)
    assert document.undo_label == "Rectangle"


def test_resize_nearest_repeats_pixels_at_integer_scales():
    rng = np.random.default_rng(3)
    mask = rng.random((7, 9)) < 0.4
    np.testing.assert_array_equal(resize_nearest(mask, 14, 18), np.kron(mask, np.ones((2, 2), bool)))
    np.testing.assert_array_equal(resize_nearest(mask, 28, 36), np.kron(mask, np.ones((4, 4), bool)))


def test_resize_nearest_takes_the_pixel_under_each_output_centre():
    mask = np.array([[True, False, True],
                     [False, True, False]])
    # 2x3 -> 3x4: output row centres 0.5, 1.5, 2.5 land on input rows 0.33, 1.0, 1.67 -> 0, 1, 1;
    # column centres 0.5 .. 3.5 land on 0.375, 1.125, 1.875, 2.625 -> 0, 1, 1, 2
    expected = np.array([[True, False, False, True],
                         [False, True, True, False],
                         [False, True, True, False]])
    np.testing.assert_array_equal(resize_nearest(mask, 3, 4), expected)
