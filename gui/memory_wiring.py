"""Installing the memory on a window: its controller, its status-bar indicator and its saved settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from gui.controllers.memory_controller import MemoryController

if TYPE_CHECKING:
    from gui.main_window import MainWindow


def install_memory(window: MainWindow, data_dir: str | os.PathLike | None) -> MemoryController:
    """``window.memory``: created before the first model load, so that load gets the saved configuration."""
    settings = window.app_settings

    def save(document: bool, folders: list[str]) -> None:
        settings.memory_document = document
        settings.memory_folders = list(folders)
        window._save_settings()

    root = Path(data_dir) / "memory" if data_dir else None
    memory = MemoryController(window.bridge, settings.memory_document, settings.memory_folders, root, save, window)
    label = window.status.memory
    memory.stateChanged.connect(label.show_state)
    memory.indexingProgress.connect(label.show_indexing)
    memory.indexingEnded.connect(lambda _folder, _added: memory.state and label.show_state(memory.state))
    memory.message.connect(window._show_message)
    label.set_decoding_memory(window.suggestions.settings.memory)
    window.suggestions.settingsChanged.connect(lambda s: label.set_decoding_memory(s.memory))
    window.memory = memory
    return memory
