"""The Qt binding itself: PySide6 6.12.0 on Python 3.11 drops a reference to None on every call of a method
that returns nothing (6.11.3 does not; Python 3.12+ hides it because None is immortal there). A few thousand
such calls, a minute of painting, and the interpreter aborts with "deallocating None"."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtWidgets import QWidget

pytestmark = pytest.mark.gui


def test_calls_that_return_nothing_keep_none_alive(qtbot):
    widget = QWidget()
    qtbot.addWidget(widget)
    before = sys.getrefcount(None)
    for _ in range(100):
        widget.update()
    lost = before - sys.getrefcount(None)
    assert lost < 50, (f"this PySide6 loses a reference to None per call ({lost} in 100): the app would abort "
                       "after a few thousand calls; use PySide6-Essentials < 6.12 on Python < 3.12")
