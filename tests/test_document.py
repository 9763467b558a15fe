"""The document model without Qt: strokes as single undo steps, fills that touch only the hole, dirty tracking,
observers told exactly what changed; and proof that the engine never imports Qt."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pconv_studio.editing.document import Change, Document
from pconv_studio.engine.inpainter import Region
from tests.support import gradient_image


@pytest.fixture
def document() -> Document:
    return Document(gradient_image(60, 80))


def test_a_stroke_is_one_undo_step(document: Document):
    changes: list[Change] = []
    document.subscribe(changes.append)
    document.begin_stroke()
    document.paint_stroke((10, 10), (10, 10), 3, True)
    document.paint_stroke((10, 10), (40, 20), 3, True)
    assert document.hole.any() and not document.can_undo  # painting shows at once, undo waits for the end
    dab_regions = [c.region for c in changes if c.mask]
    assert len(dab_regions) == 2 and dab_regions[0].width <= 8  # observers redraw only the dab
    painted = document.hole.copy()
    edit = document.end_stroke("Brush stroke")
    rows, columns = np.nonzero(painted)
    assert edit.region == Region(rows.min(), columns.min(), rows.max() + 1, columns.max() + 1)
    assert edit.region == Region(7, 7, 23, 43)  # centres within 3 px of (10..40, 10..20)
    np.testing.assert_array_equal(edit.hole_after, painted[7:23, 7:43])
    assert not edit.hole_before.any() and edit.pixels_before is None
    assert document.dirty and document.undo_label == "Brush stroke"
    document.undo()
    assert not document.hole.any() and not document.dirty
    document.redo()
    np.testing.assert_array_equal(document.hole, painted)


def test_an_empty_stroke_records_nothing(document: Document):
    document.begin_stroke()
    document.paint_stroke((-50, -50), (-40, -40), 2, True)
    assert document.end_stroke("Brush stroke") is None
    assert not document.can_undo and not document.dirty
    document.hole[5, 5] = True  # an eraser stroke over nothing changes nothing either
    document.begin_stroke()
    document.paint_stroke((50, 50), (60, 50), 2, False)
    assert document.end_stroke("Eraser stroke") is None


def test_whole_mask_edits_store_only_the_changed_box(document: Document):
    edit = document.edit_mask("Rectangle", lambda hole: hole.__setitem__((slice(5, 9), slice(20, 30)), True))
    assert edit.region == Region(5, 20, 9, 30) and edit.hole_after.shape == (4, 10)
    assert document.edit_mask("Nothing", lambda hole: None) is None
    imported = np.zeros((60, 80), bool)
    imported[50:55, 0:3] = True
    edit = document.replace_mask("Import mask", imported)
    assert edit.region == Region(5, 0, 55, 30)
    document.undo()
    assert document.hole[5:9, 20:30].all() and document.hole.sum() == 40
    with pytest.raises(Exception, match="mask is 3x2"):
        document.replace_mask("Import mask", np.zeros((2, 3), bool))


def test_a_fill_changes_only_hole_pixels_and_keeps_strokes_painted_meanwhile(document: Document):
    document.edit_mask("Rectangle", lambda hole: hole.__setitem__((slice(10, 20), slice(10, 30)), True))
    filled_hole = document.hole.copy()
    result = np.full_like(document.pixels, 200)  # a fill result that (wrongly) changed everything
    document.begin_stroke()  # painted while the fill ran
    document.paint_stroke((60, 40), (70, 40), 2, True)
    document.end_stroke("Brush stroke")
    stroke = document.hole & ~filled_hole
    edit = document.apply_fill("Inpaint", filled_hole, result)
    assert edit.region == Region(10, 10, 20, 30)
    assert (document.pixels[filled_hole] == 200).all()
    np.testing.assert_array_equal(document.pixels[~filled_hole], document.original[~filled_hole])
    np.testing.assert_array_equal(document.hole, stroke)
    document.undo()
    np.testing.assert_array_equal(document.pixels, document.original)
    np.testing.assert_array_equal(document.hole, filled_hole | stroke)
    document.redo()
    assert (document.pixels[filled_hole] == 200).all()


def test_the_original_is_never_modified_and_a_new_edit_drops_redo(document: Document):
    original = document.original.copy()
    with pytest.raises(ValueError):
        document.original[0, 0] = 1
    document.edit_mask("a", lambda hole: hole.__setitem__((0, 0), True))
    document.apply_fill("Inpaint", document.hole.copy(), np.zeros_like(document.pixels))
    document.undo()
    assert document.can_redo
    document.edit_mask("b", lambda hole: hole.__setitem__((1, 1), True))
    assert not document.can_redo
    np.testing.assert_array_equal(document.original, original)


def test_dirty_follows_the_save_point(document: Document, tmp_path):
    document.edit_mask("a", lambda hole: hole.__setitem__((0, 0), True))
    document.mark_saved(tmp_path / "x.png")
    assert not document.dirty and document.saved_path == tmp_path / "x.png"
    document.undo()
    assert document.dirty  # undoing past the save point is unsaved work too
    document.redo()
    assert not document.dirty


def test_undo_waits_for_the_stroke_to_end(document: Document):
    document.edit_mask("a", lambda hole: hole.__setitem__((0, 0), True))
    document.begin_stroke()
    assert document.undo() is None and document.hole[0, 0]
    with pytest.raises(RuntimeError):
        document.begin_stroke()
    document.end_stroke("Brush stroke")
    assert document.undo() is not None


def test_sixteen_bit_grey_and_alpha_documents(tmp_path):
    for pixels in (gradient_image(20, 30, 1, np.uint16), gradient_image(20, 30, 4, np.uint16)):
        document = Document(pixels, tmp_path / "p.png")
        hole = np.zeros((20, 30), bool)
        hole[5:10, 5:10] = True
        filled = pixels.copy()
        filled[hole] = 1234
        document.apply_fill("Inpaint", hole, filled)
        assert document.pixels.dtype == np.uint16 and (document.pixels[hole] == 1234).all()
        np.testing.assert_array_equal(document.pixels[~hole], pixels[~hole])


def test_the_engine_editing_and_the_model_never_import_qt():
    code = ("import sys, pconv_studio.engine, pconv_studio.editing.document, pconv_studio.editing.mask_ops, "
            "pconv_studio.model, pconv_studio.cli.main; "
            "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
