"""Where the file and folder dialogs start: the last folder the user picked something in, kept across runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from gui.settings.settings_store import AppSettings


class FolderMemory:
    def __init__(self, settings: AppSettings, save: Callable[[], None]) -> None:
        self.settings = settings
        self._save = save

    def start(self) -> str:
        """The last folder used, while it still exists; the home folder before any was used."""
        folder = self.settings.last_folder
        return folder if folder and os.path.isdir(folder) else os.path.expanduser("~")

    def used(self, folder: str | os.PathLike) -> None:
        folder = os.path.abspath(folder)
        if folder != self.settings.last_folder:
            self.settings.last_folder = folder
            self._save()

    def used_file(self, path: str | os.PathLike) -> None:
        self.used(Path(path).parent)


def home_folder() -> str:
    return os.path.expanduser("~")
