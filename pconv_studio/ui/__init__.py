"""The desktop app (PySide6): a window that observes the Qt-free document model in `editing.document`."""
