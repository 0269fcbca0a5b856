"""The toolbar: file basics, the suggestions switch, Suggest Now, and the Alternatives panel."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QSize, Qt, SignalInstance
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QStyle, QToolBar, QWidget

from gui.menus.actions import ActionRegistry


def build_toolbar(actions: ActionRegistry, suggest_now: Callable[[], None], theme_changed: SignalInstance,
                  parent: QWidget) -> QToolBar:
    """Made of the menus' actions, so it comes after them; ``theme_changed`` restyles its two switches."""
    bar = QToolBar("Main Toolbar", parent)
    bar.setObjectName("mainToolbar")
    bar.setMovable(False)
    bar.setIconSize(QSize(18, 18))
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    theme_changed.connect(_CheckedStyle(bar).restyle)
    style = parent.style()
    for name, icon in (("file.new", QStyle.StandardPixmap.SP_FileIcon),
                       ("file.open", QStyle.StandardPixmap.SP_DialogOpenButton),
                       ("file.save", QStyle.StandardPixmap.SP_DialogSaveButton)):
        action = actions[name]
        action.setIcon(style.standardIcon(icon))
        bar.addAction(action)
    bar.addSeparator()
    suggestions = actions["view.suggestions"]
    suggestions.setToolTip("Suggestions on or off (Ctrl+Shift+Space)")
    bar.addAction(suggestions)
    suggest_now_action = actions.add(None, "edit.suggest_now", "Suggest Now", suggest_now)
    suggest_now_action.setToolTip("Ask for a suggestion at the cursor now (Ctrl+Space in the editor)")
    bar.addAction(suggest_now_action)
    bar.addSeparator()
    bar.addAction(actions["view.alternatives"])
    return bar


class _CheckedStyle(QObject):
    """Fusion draws a checked tool button only a shade darker, which vanishes in the dark palette; the two switches
    (Suggestions, Alternatives) must show at a glance whether they are on, in either theme. A child of the toolbar,
    so the theme's signal lets go of it with the window."""

    def __init__(self, bar: QToolBar) -> None:
        super().__init__(bar)
        self.bar = bar
        self.restyle()

    def restyle(self) -> None:
        # Concrete colours, set again on every theme change: a style sheet's palette(...) is resolved only once.
        palette = QApplication.palette()
        highlight = palette.color(QPalette.ColorRole.Highlight).name()
        text = palette.color(QPalette.ColorRole.HighlightedText).name()
        self.bar.setStyleSheet(f"QToolButton:checked {{ background-color: {highlight}; color: {text};"
                               " border-radius: 3px; }")
