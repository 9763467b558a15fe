"""One error hierarchy. Library code raises these; the CLI and the UI each translate them in one place."""


class PConvError(Exception):
    """Base of every error a user should see as one clear sentence."""


class WeightsError(PConvError):
    """A weights file is missing, unreadable, corrupt or does not match its architecture."""


class ImageIOError(PConvError):
    """An image or mask cannot be read or written."""


class InputError(PConvError):
    """The request itself is wrong: mask size differs from the image, the hole covers everything, ..."""


class DeviceError(PConvError):
    """The requested device is not available, or ran out of memory with nothing left to fall back to."""


class CancelledError(PConvError):
    """The user cancelled a long-running job; nothing was changed."""


class DamagedFileError(ImageIOError):
    """An image file could only partly be read (cut short, or its data is broken)."""
