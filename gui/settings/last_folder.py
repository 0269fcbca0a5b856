"""Where the file and folder dialogs start, kept across runs: documents and models each have their own folder.

Open and Save As start in the current document's folder, else where the last document was opened or saved, else
the user's documents folder; the model dialogs start where the last model was opened, else the home folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from platformdirs import user_documents_dir

from gui.settings.settings_store import AppSettings


def home_folder() -> str:
    return os.path.expanduser("~")


def documents_folder() -> str:
    """The user's documents folder (platformdirs) while it exists, else the home folder."""
    folder = user_documents_dir()
    return folder if os.path.isdir(folder) else home_folder()


class FolderMemory:
    """One remembered folder: ``field`` of the settings (``last_folder``: models; ``last_document_folder``:
    documents), and ``default`` before any was used or once it is gone."""

    def __init__(self, settings: AppSettings, save: Callable[[], None], *, field: str = "last_folder",
                 default: Callable[[], str] = home_folder) -> None:
        self.settings = settings
        self._save = save
        self._field = field
        self._default = default

    @property
    def last(self) -> str:
        return getattr(self.settings, self._field)

    def start(self) -> str:
        """The last folder used, while it still exists; the default before any was used."""
        folder = self.last
        return folder if folder and os.path.isdir(folder) else self._default()

    def used(self, folder: str | os.PathLike) -> None:
        folder = os.path.abspath(folder)
        if folder != self.last:
            setattr(self.settings, self._field, folder)
            self._save()

    def used_file(self, path: str | os.PathLike) -> None:
        self.used(Path(path).parent)


def document_folders(settings: AppSettings, save: Callable[[], None]) -> FolderMemory:
    """Where the last document was opened or saved; the user's documents folder before that."""
    return FolderMemory(settings, save, field="last_document_folder", default=documents_folder)
