"""The status bar and its widgets, one per module."""

from gui.statusbar.status_bar import StatusBar

__all__ = ["StatusBar"]
