"""Replaces PyInstaller's hook for PySide6.QtGui (build.spec puts this folder first in `hookspath`): the same
collection minus the Qt plugins a desktop widgets app never loads. Dropping them here, before PyInstaller's
binary dependency analysis, also keeps out the libraries only they link (QtNetwork for VNC, EGLFS, GTK 3 and its
cairo/pango stack, the virtual keyboard's QtQuick)."""

import fnmatch
import os

from PyInstaller.utils.hooks.qt import add_qt6_dependencies

UNUSED_PLUGINS = [
    "platforms/libqeglfs.so", "platforms/libqlinuxfb.so", "platforms/libqvnc.so", "platforms/libqvkkhrdisplay.so",
    "platforms/libqminimalegl.so", "egldeviceintegrations/*", "generic/*",
    "platforminputcontexts/libqtvirtualkeyboardplugin.so", "platformthemes/libqgtk3.so", "imageformats/libqpdf.*",
    "wayland-graphics-integration-server/*",
]


def _unused(source: str) -> bool:
    plugin = "/".join(source.replace(os.sep, "/").split("/")[-2:])
    return any(fnmatch.fnmatch(plugin, pattern) for pattern in UNUSED_PLUGINS)


hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = [(source, destination) for source, destination in binaries if not _unused(source)]
