"""Model ▸ Memory: "This document", Add Folder…, Cancel Indexing, and each remembered folder with Forget."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMenu, QWidget

from engine.byte_sizes import format_bytes
from gui.controllers.memory_controller import MemoryController
from gui.dialogs.prompts import Prompts
from gui.menus.actions import ActionRegistry


def fill_memory_menu(menu: QMenu, memory: MemoryController, actions: ActionRegistry, prompts: Prompts,
                     dialog_parent: QWidget) -> None:
    """Filled afresh whenever the Model menu is: the folder list changes as folders are added and forgotten."""
    document = actions.add_entry(menu, "memory.document", "This &Document", memory.set_document, checkable=True)
    document.blockSignals(True)
    document.setChecked(memory.document)
    document.blockSignals(False)
    document.setToolTip("Suggestions remember the names and phrases of the open document")

    def add_folder() -> None:
        folder = prompts.memory_folder(dialog_parent, str(Path.home()))
        if folder:
            memory.add_folder(folder)

    add = actions.add_entry(menu, "memory.add_folder", "&Add Folder…", add_folder)
    add.setEnabled(not memory.is_indexing())
    cancel = actions.add_entry(menu, "memory.cancel_indexing", "&Cancel Indexing", memory.cancel_indexing)
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
        actions.add_entry(sub, f"memory.forget.{index}", "&Forget (delete its index)",
                          lambda f=folder: memory.forget(f))
