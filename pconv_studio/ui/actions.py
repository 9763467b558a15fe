"""The window's actions, menus and tool bar in one place: every shortcut of the app is listed here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QSpinBox, QToolBar

from .canvas import MAX_BRUSH, MIN_BRUSH

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["DEVICES", "WindowActions", "install_actions"]

DEVICES = (("auto", "Automatic"), ("cpu", "CPU"), ("cuda", "CUDA GPU"), ("mps", "Apple GPU (MPS)"))
SHORTCUTS = (  # (what, keys): Help → Keyboard shortcuts shows them as a table
    ("Brush, eraser, rectangle, lasso", "B, E (or the right button), R, L"),
    ("Brush size", "[ and ], or Alt+wheel"),
    ("Zoom at the cursor", "Wheel"),
    ("Fit, 100%, zoom in, zoom out", "Ctrl+0, Ctrl+1, Ctrl+=, Ctrl+-"),
    ("Pan", "Space+drag, or the middle button"),
    ("Inpaint, cancel", "Ctrl+Enter, Esc"),
    ("Upscale the photo", "Ctrl+Alt+U"),
    ("Before/after", "Hold Tab or \\; O toggles"),
    ("Undo, redo", "Ctrl+Z; Ctrl+Shift+Z or Ctrl+Y"),
    ("Invert, clear the mask", "Ctrl+I, Ctrl+D"),
    ("Grow, shrink the mask", "Ctrl+Alt+G, Ctrl+Alt+H"),
    ("Hide or show the panel", "P"),
    ("Open, paste", "Ctrl+O, Ctrl+V"),
    ("Save, save as", "Ctrl+S, Ctrl+Shift+S"),
    ("Copy the result", "Ctrl+C"),
)
TOOL_KEYS = (("brush", "&Brush", "B"), ("eraser", "&Eraser", "E"), ("rectangle", "&Rectangle", "R"),
             ("lasso", "&Lasso", "L"))


@dataclass
class WindowActions:
    open: QAction
    recent_menu: object
    paste: QAction
    save: QAction
    save_as: QAction
    copy: QAction
    undo: QAction
    redo: QAction
    inpaint: QAction
    upscale: QAction
    upscale_on_grid: QAction
    cancel: QAction
    auto_run: QAction
    detail_transfer: QAction
    show_original: QAction
    tools: dict[str, QAction]
    devices: dict[str, QAction]
    document_actions: list[QAction]  # enabled only with a photo open
    brush_spin: QSpinBox


def _action(window: "MainWindow", text: str, slot: Callable | None = None, shortcut: object = None,
            tip: str = "", checkable: bool = False) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        shortcuts = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(f"{tip} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
                          if shortcut is not None else tip)
    action.setCheckable(checkable)
    if slot is not None:
        (action.toggled if checkable else action.triggered).connect(slot)
    return action


def install_actions(window: "MainWindow") -> WindowActions:
    """Create the actions, fill the menu bar and the tool bar, and return the actions the window updates."""
    w = window
    menus = w.menuBar()
    file_menu = menus.addMenu("&File")
    open_action = _action(w, "&Open…", w.open_dialog, QKeySequence.StandardKey.Open, "Open a photo")
    paste = _action(w, "&Paste image", w.paste_image, QKeySequence.StandardKey.Paste, "Open the clipboard's image")
    save = _action(w, "&Save result", w.save, QKeySequence.StandardKey.Save, "Save the result")
    save_as = _action(w, "Save result &as…", w.save_as, "Ctrl+Shift+S", "Save the result under a new name")
    copy = _action(w, "&Copy result", w.copy_result, QKeySequence.StandardKey.Copy, "Copy the result")
    quality = _action(w, "&JPEG quality…", w.ask_jpeg_quality, tip="Quality of JPEG and WebP files written")
    import_mask = _action(w, "&Import mask…", w.import_mask_dialog, tip="Load a mask image (white = hole)")
    export_mask = _action(w, "E&xport mask…", w.export_mask_dialog, tip="Save the mask (white = hole)")
    file_menu.addAction(open_action)
    recent_menu = file_menu.addMenu("Open &recent")
    file_menu.addAction(paste)
    file_menu.addSeparator()
    for action in (save, save_as, copy, quality):
        file_menu.addAction(action)
    file_menu.addSeparator()
    file_menu.addAction(import_mask)
    file_menu.addAction(export_mask)
    file_menu.addSeparator()
    file_menu.addAction(_action(w, "&Quit", w.close, QKeySequence.StandardKey.Quit))

    edit_menu = menus.addMenu("&Edit")
    undo = _action(w, "&Undo", w.editor.undo, "Ctrl+Z", "Undo")
    redo = _action(w, "&Redo", w.editor.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo")
    invert = _action(w, "&Invert mask", w.editor.invert, "Ctrl+I", "Swap hole and kept pixels")
    clear = _action(w, "&Clear mask", w.editor.clear, "Ctrl+D", "Remove the whole mask")
    grow = _action(w, "&Grow mask…", lambda: w.resize_mask(grow=True), "Ctrl+Alt+G", "Widen the hole by N px")
    shrink = _action(w, "&Shrink mask…", lambda: w.resize_mask(grow=False), "Ctrl+Alt+H", "Narrow the hole by N px")
    for action in (undo, redo, None, invert, clear, grow, shrink):
        edit_menu.addSeparator() if action is None else edit_menu.addAction(action)

    image_menu = menus.addMenu("I&mage")
    upscale = _action(w, "&Upscale…", w.upscaling.start, "Ctrl+Alt+U",
                      "Enlarge the photo 1.25 to 8 times with the network (one undo step)")
    upscale_on_grid = _action(w, "Upscale on a &grid with partial convolutions", w.set_upscale_on_grid,
                              tip="The research model: the photo's pixels on a grid, the holes between filled by "
                              "partial convolutions, shown shrinking in the panel (softer than the default, "
                              "which refines a bicubic upscale: docs/upscaling.md)", checkable=True)
    image_menu.addAction(upscale)
    image_menu.addAction(upscale_on_grid)

    tool_menu = menus.addMenu("&Tools")
    group = QActionGroup(w)
    tools = {}
    for name, text, key in TOOL_KEYS:
        tools[name] = _action(w, text, None, key, f"{text.replace('&', '')} tool", checkable=True)
        tools[name].triggered.connect(lambda _=False, tool=name: w.set_tool(tool))
        group.addAction(tools[name])
        tool_menu.addAction(tools[name])
    tool_menu.addSeparator()
    smaller = _action(w, "S&maller brush", lambda: w.canvas.step_brush_size(-1), "[", "Smaller brush")
    larger = _action(w, "Lar&ger brush", lambda: w.canvas.step_brush_size(1), "]", "Larger brush")
    tool_menu.addAction(smaller)
    tool_menu.addAction(larger)

    run_menu = menus.addMenu("&Inpaint")
    inpaint = _action(w, "&Inpaint", w.run_inpaint, ["Ctrl+Return", "Ctrl+Enter"], "Fill the hole")
    cancel = _action(w, "&Cancel", w.inpaint.cancel, "Esc", "Stop the fill (or the upscale) and keep the mask")
    auto_run = _action(w, "Fill after each &stroke", w.set_auto_run, tip="Fill whenever a stroke ends",
                       checkable=True)
    detail_transfer = _action(w, "Carry the photo's fine &detail into large fills", w.set_detail_transfer,
                              tip="On photos larger than 512 px, wide holes get the photo's own fine texture "
                              "(detail transfer); off: a smoother fill", checkable=True)
    for action in (inpaint, cancel, auto_run, detail_transfer):
        run_menu.addAction(action)
    device_menu = run_menu.addMenu("&Device")
    device_group = QActionGroup(w)
    devices = {}
    for name, text in DEVICES:
        devices[name] = _action(w, text, checkable=True)
        devices[name].triggered.connect(lambda _=False, device=name: w.choose_device(device))
        device_group.addAction(devices[name])
        device_menu.addAction(devices[name])

    view_menu = menus.addMenu("&View")
    show_original = _action(w, "Show &original", w.set_showing_original, "O",
                            "Before/after: show the untouched photo (or hold Tab or \\)", checkable=True)
    view_menu.addAction(_action(w, "&Fit to window", w.canvas.fit, "Ctrl+0"))
    view_menu.addAction(_action(w, "&Actual pixels (100%)", w.canvas.actual_size, "Ctrl+1"))
    view_menu.addAction(_action(w, "Zoom &in", lambda: w.canvas.zoom_by(1.25), ["Ctrl+=", "Ctrl++"]))
    view_menu.addAction(_action(w, "Zoom o&ut", lambda: w.canvas.zoom_by(0.8), "Ctrl+-"))
    view_menu.addSeparator()
    view_menu.addAction(show_original)
    panel_toggle = w.panel.toggleViewAction()  # the panel collapses (and comes back) with P
    panel_toggle.setShortcut(QKeySequence("P"))
    view_menu.addAction(panel_toggle)
    help_menu = menus.addMenu("&Help")
    help_menu.addAction(_action(w, "&Keyboard shortcuts", lambda: w.dialogs.show_table(
        "Keyboard shortcuts", ("What", "Keys"), SHORTCUTS)))

    brush_spin = QSpinBox()
    brush_spin.setRange(MIN_BRUSH, MAX_BRUSH)
    brush_spin.setSuffix(" px")
    brush_spin.setToolTip("Brush size ([ and ], or Alt+wheel)")
    brush_spin.valueChanged.connect(w.canvas.set_brush_size)
    for action, short in ((save, "Save"), (show_original, "Original")):  # the tool bar fits an 800 px window
        action.setIconText(short)
    bar = QToolBar("Tools")
    bar.setObjectName("toolBar")
    bar.setMovable(False)
    for action in (open_action, save, None, undo, redo, None, *tools.values()):
        bar.addSeparator() if action is None else bar.addAction(action)
    bar.addWidget(QLabel("  Size "))
    bar.addWidget(brush_spin)
    bar.addSeparator()
    for action in (inpaint, cancel, None, show_original):  # "Fill after each stroke" lives in the Inpaint menu
        bar.addSeparator() if action is None else bar.addAction(action)
    bar.widgetForAction(inpaint).setStyleSheet(
        "QToolButton { font-weight: bold; padding: 3px 12px; color: white; background: #2f6fd6; border-radius: 4px; }"
        "QToolButton:disabled { background: palette(mid); color: palette(light); }")
    w.addToolBar(bar)
    document_actions = [save, save_as, copy, import_mask, export_mask, invert, clear, grow, shrink, show_original,
                        *tools.values()]
    return WindowActions(open_action, recent_menu, paste, save, save_as, copy, undo, redo, inpaint, upscale,
                         upscale_on_grid, cancel,
                         auto_run, detail_transfer, show_original, tools, devices, document_actions,
                         brush_spin)
