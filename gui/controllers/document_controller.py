"""``DocumentController``: the file behind the editor — New, Open, Save, Save As, recent files, the title.

Nothing is lost on the way: replacing the text asks first when there are unsaved changes, saving is atomic, and a
file that is not UTF-8, is binary or is very large gets a clear question or message instead of a bad guess.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from gui.dialogs.prompts import Prompts
from gui.documents.document_io import (
    FALLBACK_ENCODINGS,
    LARGE_FILE_BYTES,
    DocumentError,
    NotUtf8Error,
    file_size,
    read_document,
    write_document,
)
from gui.documents.last_folder import FolderMemory, home_folder
from gui.editor.ghost_text_editor import GhostTextEditor

UNTITLED = "Untitled"


class DocumentController(QObject):
    titleChanged = Signal(str)
    fileOpened = Signal(str)  # path, for recent files
    fileSaved = Signal(str)
    message = Signal(str)  # for the status bar

    def __init__(self, editor: GhostTextEditor, prompts: Prompts, dialog_parent: QWidget) -> None:
        super().__init__(dialog_parent)
        self.editor = editor
        self.prompts = prompts
        self._parent = dialog_parent
        self.path: Path | None = None
        self.folders: FolderMemory | None = None  # the main window's; without one the dialogs start at home
        self.encoding = "utf-8"
        self.newline = "\n"
        editor.document().modificationChanged.connect(lambda _modified: self._update_title())
        self._update_title()

    # --- state ---------------------------------------------------------------------------------------------

    @property
    def display_name(self) -> str:
        return self.path.name if self.path else UNTITLED

    def is_modified(self) -> bool:
        return self.editor.document().isModified()

    def title(self) -> str:
        mark = "● " if self.is_modified() else ""  # the unsaved mark
        return f"{mark}{self.display_name} — Inkling"

    def _update_title(self) -> None:
        self.titleChanged.emit(self.title())

    # --- commands ------------------------------------------------------------------------------------------

    def new(self) -> bool:
        if not self.maybe_save():
            return False
        self.editor.replace_text("")
        self._set_file(None, "utf-8", "\n")
        return True

    def open(self, path: str | None = None) -> bool:
        """Open ``path`` (or ask for one); False when the user cancelled or the file could not be read."""
        if not self.maybe_save():
            return False
        if path is None:
            path = self.prompts.open_file_path(self._parent, self._start_folder())
            if not path:
                return False
            if self.folders is not None:
                self.folders.used_file(path)
        return self.load(path)

    def load(self, path: str | os.PathLike) -> bool:
        """Replace the text with the file's (no unsaved-changes question: callers ask first)."""
        path = Path(path)
        try:
            size = file_size(path)
        except OSError as exc:
            self.prompts.error(self._parent, "Cannot open file", f"Cannot open {path}: {exc.strerror or exc}")
            return False
        if size > LARGE_FILE_BYTES and not self.prompts.confirm_large_file(self._parent, path.name, size):
            return False
        try:
            try:
                document = read_document(path)
            except NotUtf8Error as exc:
                encoding = self.prompts.choose_encoding(self._parent, path.name, str(exc), FALLBACK_ENCODINGS)
                if not encoding:
                    return False
                document = read_document(path, encoding)
        except DocumentError as exc:
            self.prompts.error(self._parent, "Cannot open file", str(exc))
            return False
        self.editor.replace_text(document.text)
        self._set_file(path, document.encoding, document.newline)
        self.fileOpened.emit(str(path))
        if document.encoding not in ("utf-8", "utf-8-sig"):
            self.message.emit(f"Opened {path.name} as {document.encoding}; it will be saved the same way.")
        return True

    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        return self._write(self.path)

    def save_as(self) -> bool:
        suggested = str(self.path) if self.path else os.path.join(self._start_folder(), f"{UNTITLED}.txt")
        path = self.prompts.save_file_path(self._parent, suggested)
        if not path:
            return False
        if self.folders is not None:
            self.folders.used_file(path)
        if self._write(Path(path)):
            self.fileOpened.emit(str(path))
            return True
        return False

    def maybe_save(self) -> bool:
        """Before the text goes away: True when it is safe to continue (saved, discarded, or unchanged)."""
        if not self.is_modified():
            return True
        answer = self.prompts.ask_save_changes(self._parent, self.display_name)
        if answer == "save":
            return self.save()
        return answer == "discard"

    def restore(self, text: str, path: str | None) -> None:
        """Put recovered text back, marked unsaved; it belongs to ``path`` if that file still exists."""
        self.editor.replace_text(text)
        target = Path(path) if path else None
        encoding, newline = "utf-8", "\n"
        if target is not None and target.is_file():
            try:
                saved = read_document(target)
                encoding, newline = saved.encoding, saved.newline
            except DocumentError:
                pass  # keep UTF-8; the user is asked again only if saving needs it
        self._set_file(target, encoding, newline)
        self.editor.document().setModified(True)

    # --- helpers -------------------------------------------------------------------------------------------

    def _start_folder(self) -> str:
        if self.path is not None:
            return str(self.path.parent)
        return self.folders.start() if self.folders is not None else home_folder()

    def _write(self, path: Path) -> bool:
        text = self.editor.toPlainText()
        encoding = self.encoding if path == self.path else "utf-8"
        try:
            try:
                write_document(path, text, encoding, self.newline)
            except DocumentError as exc:
                if encoding.startswith("utf-8") or not isinstance(exc.__cause__, UnicodeEncodeError):
                    raise
                if not self.prompts.confirm_save_as_utf8(self._parent, str(exc)):
                    return False
                encoding = "utf-8"
                write_document(path, text, encoding, self.newline)
        except DocumentError as exc:
            self.prompts.error(self._parent, "Cannot save", str(exc))
            return False
        self._set_file(path, encoding, self.newline)
        self.editor.document().setModified(False)
        self.fileSaved.emit(str(path))
        self.message.emit(f"Saved {path.name}")
        return True

    def _set_file(self, path: Path | None, encoding: str, newline: str) -> None:
        self.path = path
        self.encoding = encoding
        self.newline = newline
        self._update_title()
