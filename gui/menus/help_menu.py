"""Help: Keyboard Shortcuts and About."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:
    from gui.main_window import MainWindow


def build_help_menu(window: MainWindow) -> QMenu:
    menu = window.menuBar().addMenu("&Help")
    window.add_action(menu, "help.shortcuts", "&Keyboard Shortcuts", window.show_shortcuts,
                      QKeySequence.StandardKey.HelpContents)
    window.add_action(menu, "help.about", "&About Inkling", window.show_about)
    return menu
