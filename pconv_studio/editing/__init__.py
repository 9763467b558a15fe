"""Editing: the document being retouched (pixels, hole mask, undo history) and the hole-mask operations.

Plain Python + numpy/OpenCV; no Qt. It uses the engine's regions and resolution plan, never the reverse.
"""
