"""Suggestion: re-roll, step through the suggestions made here, and the model's next-token candidates."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar

from gui.controllers.branch_controller import EDITOR, BranchController
from gui.controllers.reroll_controller import RerollController
from gui.menus.actions import ActionRegistry


def build_suggestion_menu(menu_bar: QMenuBar, actions: ActionRegistry, rerolls: RerollController,
                          branching: BranchController) -> QMenu:
    menu = menu_bar.addMenu("S&uggestion")
    reroll = actions.add(menu, "suggestion.reroll", "&Re-roll", rerolls.reroll, QKeySequence("Alt+R"))
    reroll.setStatusTip("A new suggestion at the same place with another seed (always sampled)")
    # Alt+Shift+[ arrives as Alt+[ with Shift, as Alt+{, or as Alt+{ with Shift, depending on the platform.
    previous = actions.add(menu, "suggestion.previous", "&Previous Suggestion Here", lambda: rerolls.step(-1))
    previous.setShortcuts([QKeySequence(k) for k in ("Alt+Shift+[", "Alt+{", "Alt+Shift+{")])
    following = actions.add(menu, "suggestion.next", "&Next Suggestion Here", lambda: rerolls.step(+1))
    following.setShortcuts([QKeySequence(k) for k in ("Alt+Shift+]", "Alt+}", "Alt+Shift+}")])
    menu.addSeparator()
    candidates = actions.add(menu, "suggestion.candidates", "&What Else Could Come First?",
                             lambda: branching.inspect(EDITOR, 0))
    candidates.setStatusTip("The model's top first tokens for the suggestion (hover a word of it for that point)")
    return menu
