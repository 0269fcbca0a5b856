"""Light and dark appearance; "system" follows the desktop's colour scheme, also when it changes."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("system", "light", "dark")


def dark_palette() -> QPalette:
    palette = QPalette()
    roles = QPalette.ColorRole
    window, base, text = QColor(37, 38, 41), QColor(29, 30, 33), QColor(226, 226, 222)
    for role, color in (
        (roles.Window, window), (roles.WindowText, text), (roles.Base, base), (roles.AlternateBase, window),
        (roles.ToolTipBase, QColor(52, 53, 57)), (roles.ToolTipText, text), (roles.Text, text),
        (roles.Button, QColor(48, 49, 53)), (roles.ButtonText, text), (roles.BrightText, QColor(255, 110, 110)),
        (roles.Highlight, QColor(78, 132, 204)), (roles.HighlightedText, QColor(255, 255, 255)),
        (roles.Link, QColor(120, 170, 240)), (roles.PlaceholderText, QColor(140, 141, 145)),
        (roles.Mid, QColor(60, 61, 65)), (roles.Dark, QColor(22, 23, 25)), (roles.Light, QColor(70, 71, 76)),
    ):
        palette.setColor(role, color)
    for role in (roles.Text, roles.WindowText, roles.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 121, 125))
    return palette


def light_palette() -> QPalette:
    palette = QApplication.style().standardPalette()
    palette.setColor(QPalette.ColorRole.Base, QColor(253, 253, 251))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(58, 110, 190))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor(128, 128, 128))
    return palette


def system_prefers_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


class ThemeManager(QObject):
    """Applies a theme to the whole application and re-applies "system" when the desktop switches."""

    changed = Signal()  # after a palette was applied

    def __init__(self, app: QApplication, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.mode = "system"
        if sys.platform != "darwin":  # the native macOS style follows the system by itself
            app.setStyle("Fusion")
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_changed)

    @classmethod
    def for_app(cls, app: QApplication) -> ThemeManager:
        """One manager per application, shared by every window."""
        manager = app.findChild(ThemeManager, "themeManager")
        if manager is None:
            manager = cls(app, app)
            manager.setObjectName("themeManager")
        return manager

    def apply(self, mode: str) -> None:
        self.mode = mode if mode in THEMES else "system"
        dark = system_prefers_dark() if self.mode == "system" else self.mode == "dark"
        self.app.setPalette(dark_palette() if dark else light_palette())
        self.changed.emit()

    def is_dark(self) -> bool:
        return self.app.palette().color(QPalette.ColorRole.Base).lightness() < 128

    def _system_changed(self, _scheme) -> None:
        if self.mode == "system":
            self.apply("system")
