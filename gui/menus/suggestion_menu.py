"""Suggestion: re-roll, step through the suggestions made here, and the model's next-token candidates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu

from gui.suggestions.branching import EDITOR

if TYPE_CHECKING:
    from gui.main_window import MainWindow


def build_suggestion_menu(window: MainWindow) -> QMenu:
    """The menu, placed before View."""
    menu = QMenu("S&uggestion", window)
    reroll = window.add_action(menu, "suggestion.reroll", "&Re-roll", window.rerolls.reroll, QKeySequence("Alt+R"))
    reroll.setStatusTip("A new suggestion at the same place with another seed (always sampled)")
    # Alt+Shift+[ arrives as Alt+[ with Shift, as Alt+{, or as Alt+{ with Shift, depending on the platform.
    previous = window.add_action(menu, "suggestion.previous", "&Previous Suggestion Here",
                                 lambda: window.rerolls.step(-1))
    previous.setShortcuts([QKeySequence(k) for k in ("Alt+Shift+[", "Alt+{", "Alt+Shift+{")])
    following = window.add_action(menu, "suggestion.next", "&Next Suggestion Here", lambda: window.rerolls.step(+1))
    following.setShortcuts([QKeySequence(k) for k in ("Alt+Shift+]", "Alt+}", "Alt+Shift+}")])
    menu.addSeparator()
    candidates = window.add_action(menu, "suggestion.candidates", "&What Else Could Come First?",
                                   lambda: window.branching.inspect(EDITOR, 0))
    candidates.setStatusTip("The model's top first tokens for the suggestion (hover a word of it for that point)")
    view = next((a for a in window.menuBar().actions() if a.text().replace("&", "") == "View"), None)
    if view is not None:
        window.menuBar().insertMenu(view, menu)
    else:
        window.menuBar().addMenu(menu)
    return menu
