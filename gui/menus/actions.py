"""``ActionRegistry``: every named action of the app, so tests and code trigger exactly what a user would click.

Names are dotted by menu ("file.save", "model.device.cpu"). An action made by ``add`` is also added to the shortcut
host (the main window), so its shortcut works while the menu bar is hidden. A menu that is rebuilt on every opening
makes its entries with ``add_entry`` instead: they belong to that menu, so clearing it deletes them rather than
leaving them behind on the window.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget


class ActionRegistry:
    def __init__(self, shortcut_host: QWidget) -> None:
        self.host = shortcut_host
        self.named: dict[str, QAction] = {}

    def __getitem__(self, name: str) -> QAction:
        return self.named[name]

    def register(self, name: str, action: QAction) -> QAction:
        """Name an action made elsewhere (a group's item, a dock's toggle)."""
        self.named[name] = action
        return action

    def add(self, menu: QMenu | None, name: str, text: str, slot: Callable, shortcut=None,
            checkable: bool = False) -> QAction:
        """An action that lives as long as the window, in ``menu`` (or only as a shortcut / toolbar button)."""
        action = _action(QAction(text, self.host), slot, shortcut, checkable)
        if menu is not None:
            menu.addAction(action)
        self.host.addAction(action)  # shortcuts work even while the menu bar is hidden
        return self.register(name, action)

    def add_entry(self, menu: QMenu, name: str, text: str, slot: Callable, checkable: bool = False) -> QAction:
        """An entry of a menu that is refilled: owned by ``menu``, deleted when the menu is cleared."""
        action = _action(QAction(text, menu), slot, None, checkable)
        menu.addAction(action)
        return self.register(name, action)


def _action(action: QAction, slot: Callable, shortcut, checkable: bool) -> QAction:
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setCheckable(checkable)
    if checkable:
        action.toggled.connect(slot)
    else:
        action.triggered.connect(lambda _checked=False: slot())
    return action


def clear_menu(menu: QMenu) -> None:
    """Empty a menu that is about to be refilled, submenus included (``QMenu.clear`` leaves those behind)."""
    for action in menu.actions():
        submenu = action.menu()
        if submenu is not None and submenu.parent() is menu:
            submenu.deleteLater()
    menu.clear()
