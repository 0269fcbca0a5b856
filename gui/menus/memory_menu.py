"""Model ▸ Memory: "This document", Add Folder…, Cancel Indexing, and each remembered folder with Forget."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMenu

from gui.controllers.memory_controller import format_bytes

if TYPE_CHECKING:
    from gui.main_window import MainWindow


def fill_memory_menu(window: MainWindow, menu: QMenu) -> None:
    """Filled afresh whenever the Model menu is: the folder list changes as folders are added and forgotten."""
    memory = window.memory
    document = window.add_action(menu, "memory.document", "This &Document", memory.set_document, checkable=True)
    document.blockSignals(True)
    document.setChecked(memory.document)
    document.blockSignals(False)
    document.setToolTip("Suggestions remember the names and phrases of the open document")
    add = window.add_action(menu, "memory.add_folder", "&Add Folder…", lambda: add_folder(window))
    add.setEnabled(not memory.is_indexing())
    cancel = window.add_action(menu, "memory.cancel_indexing", "&Cancel Indexing", memory.cancel_indexing)
    cancel.setEnabled(memory.is_indexing())
    menu.addSeparator()
    summaries = {f.folder: f for f in (memory.state.folders if memory.state else ())}
    if not memory.folders:
        empty = menu.addAction("No folders remembered")
        empty.setEnabled(False)
    for index, folder in enumerate(memory.folders):
        summary = summaries.get(folder)
        size = f"{summary.files} files, {format_bytes(summary.text_bytes)}" if summary else "not loaded"
        sub = menu.addMenu(f"{Path(folder).name}   ({size})")
        sub.setToolTip(folder)
        window.add_action(sub, f"memory.forget.{index}", "&Forget (delete its index)",
                          lambda f=folder: memory.forget(f))


def add_folder(window: MainWindow) -> None:
    folder = window.prompts.memory_folder(window, str(Path.home()))
    if folder:
        window.memory.add_folder(folder)
