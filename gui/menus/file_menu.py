"""File: New, Open…, Open Recent, Save, Save As…, Quit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:
    from gui.main_window import MainWindow


def build_file_menu(window: MainWindow) -> QMenu:
    menu = window.menuBar().addMenu("&File")
    docs = window.documents
    window.add_action(menu, "file.new", "&New", docs.new, QKeySequence.StandardKey.New)
    window.add_action(menu, "file.open", "&Open…", lambda: docs.open(), QKeySequence.StandardKey.Open)
    recent = menu.addMenu("Open &Recent")
    recent.setObjectName("recentMenu")
    window.recent_menu = recent
    recent.aboutToShow.connect(lambda: fill_recent_menu(window))
    fill_recent_menu(window)
    menu.addSeparator()
    window.add_action(menu, "file.save", "&Save", docs.save, QKeySequence.StandardKey.Save)
    window.add_action(menu, "file.save_as", "Save &As…", docs.save_as, QKeySequence.StandardKey.SaveAs)
    menu.addSeparator()
    window.add_action(menu, "file.quit", "&Quit", window.close, QKeySequence("Ctrl+Q"))  # Windows has no standard Quit key
    return menu


def fill_recent_menu(window: MainWindow) -> None:
    menu = window.recent_menu
    menu.clear()
    paths = window.app_settings.recent_files
    for number, path in enumerate(paths, start=1):
        label = f"&{number} {Path(path).name}" if number < 10 else Path(path).name
        action = QAction(label, menu)
        action.setToolTip(path)
        action.setStatusTip(path)
        action.triggered.connect(lambda _checked=False, p=path: window.documents.open(p))
        menu.addAction(action)
    if paths:
        menu.addSeparator()
        clear = menu.addAction("Clear Recent Files")
        clear.triggered.connect(window.clear_recent_files)
    menu.setEnabled(bool(paths))
