"""Help: Keyboard Shortcuts and About."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

from gui.controllers.model_controller import ModelController
from gui.dialogs.prompts import Prompts
from gui.menus.actions import ActionRegistry


def build_help_menu(menu_bar: QMenuBar, actions: ActionRegistry, prompts: Prompts, models: ModelController,
                    dialog_parent: QWidget) -> QMenu:
    menu = menu_bar.addMenu("&Help")
    actions.add(menu, "help.shortcuts", "&Keyboard Shortcuts", lambda: prompts.show_shortcuts(dialog_parent),
                QKeySequence.StandardKey.HelpContents)
    actions.add(menu, "help.about", "&About Inkling", lambda: prompts.show_about(dialog_parent, models.active))
    return menu
