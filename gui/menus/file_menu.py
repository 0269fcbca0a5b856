"""File: New, Open…, Open Recent, Save, Save As…, Quit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar

from gui.controllers.document_controller import DocumentController
from gui.menus.actions import ActionRegistry
from gui.preferences import Preferences


class RecentFilesMenu(QMenu):
    """Open Recent: refilled whenever the list changes (a disabled menu never opens, so it cannot wait for that)."""

    def __init__(self, preferences: Preferences, documents: DocumentController, parent: QMenu) -> None:
        super().__init__("Open &Recent", parent)
        self.setObjectName("recentMenu")
        self.preferences = preferences
        self.documents = documents
        self.aboutToShow.connect(self.refill)
        preferences.recentFilesChanged.connect(self.refill)
        self.refill()

    def refill(self) -> None:
        self.clear()
        paths = self.preferences.settings.recent_files
        for number, path in enumerate(paths, start=1):
            label = f"&{number} {Path(path).name}" if number < 10 else Path(path).name
            action = QAction(label, self)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _checked=False, p=path: self.documents.open(p))
            self.addAction(action)
        if paths:
            self.addSeparator()
            clear = self.addAction("Clear Recent Files")
            clear.triggered.connect(self.preferences.clear_recent_files)
        self.setEnabled(bool(paths))


def build_file_menu(menu_bar: QMenuBar, actions: ActionRegistry, documents: DocumentController,
                    preferences: Preferences, quit_app: Callable[[], object]) -> RecentFilesMenu:
    """The File menu; returns its Open Recent submenu."""
    menu = menu_bar.addMenu("&File")
    actions.add(menu, "file.new", "&New", documents.new, QKeySequence.StandardKey.New)
    actions.add(menu, "file.open", "&Open…", lambda: documents.open(), QKeySequence.StandardKey.Open)
    recent = RecentFilesMenu(preferences, documents, menu)
    menu.addMenu(recent)
    menu.addSeparator()
    actions.add(menu, "file.save", "&Save", documents.save, QKeySequence.StandardKey.Save)
    actions.add(menu, "file.save_as", "Save &As…", documents.save_as, QKeySequence.StandardKey.SaveAs)
    menu.addSeparator()
    actions.add(menu, "file.quit", "&Quit", quit_app, QKeySequence("Ctrl+Q"))  # Windows has no standard Quit key
    return recent
