"""``DocumentController``: the file behind the editor — New, Open, Save, Save As, recent files, the title.

Nothing is lost on the way: replacing the text asks first when there are unsaved changes, saving is atomic, and a
file that is not UTF-8, is binary or is very large gets a clear question or message instead of a bad guess.

The file is watched while it is open. What it was on disk when last read or written (``DiskStamp``) is compared
before every save: a file another program changed asks Overwrite / Reload / Save As / Cancel (Cancel is the default)
and one deleted behind the app asks before it is created again; a change while the text is unmodified offers to
reload it. A read-only file asks before it is replaced.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, Signal
from PySide6.QtWidgets import QWidget

from engine.owned_files import remove_leftover_temporaries
from gui.dialogs.prompts import Prompts
from gui.documents.disk_stamp import DiskChange, DiskStamp, change_since, current_stamp
from gui.documents.document_io import (
    FALLBACK_ENCODINGS,
    LARGE_FILE_BYTES,
    NEWLINE_NAMES,
    DocumentError,
    NotUtf8Error,
    file_size,
    read_document,
    write_document,
)
from gui.editor.ghost_text_editor import GhostTextEditor
from gui.settings.last_folder import FolderMemory, documents_folder

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
        self.folders: FolderMemory | None = None  # the main window's documents' folder; without one the dialogs
        # start in the user's documents folder
        self.encoding = "utf-8"
        self.newline = "\n"
        self.disk: DiskStamp | None = None  # the file as last read or written here
        self._declined_reload: DiskStamp | None = None  # a change the writer chose not to reload: not asked again
        self._asking = False
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._file_changed)
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
        self._set_file(path, document.encoding, document.newline, document.stamp)
        _clean_leftovers(path)
        self._used_folder_of(path)
        self.fileOpened.emit(str(path))
        notes = []
        long_lines = self.editor.long_lines.note(path.name)
        if long_lines:
            notes.append(long_lines)
        if document.encoding not in ("utf-8", "utf-8-sig"):
            notes.append(f"Opened {path.name} as {document.encoding}; it will be saved the same way.")
        if document.mixed_line_endings:
            notes.append(f"{path.name} has mixed line endings ({document.describe_line_endings()}); it will be "
                         f"saved with {NEWLINE_NAMES[document.newline]} throughout.")
        if notes:
            self.message.emit(" ".join(notes))
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
        if self._write(Path(path)):
            self.fileOpened.emit(str(path))
            return True
        return False

    def maybe_save(self) -> bool:
        """Before the text goes away: True when it is safe to continue (saved, discarded, unchanged, or a
        document never saved whose text is empty: there is nothing to lose)."""
        if not self.is_modified() or (self.path is None and self.editor.document().isEmpty()):
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
        # The recovered text is weighed against the file as it is now: the writer chose it knowing both.
        self._set_file(target, encoding, newline, current_stamp(target) if target is not None else None)
        self.editor.document().setModified(True)
        long_lines = self.editor.long_lines.note(self.display_name)
        if long_lines:
            self.message.emit(long_lines)

    # --- helpers -------------------------------------------------------------------------------------------

    def _start_folder(self) -> str:
        if self.path is not None:
            return str(self.path.parent)
        return self.folders.start() if self.folders is not None else documents_folder()

    def _used_folder_of(self, path: Path) -> None:
        if self.folders is not None:
            self.folders.used_file(path)

    def _write(self, path: Path) -> bool:
        if path == self.path and self.disk is not None:
            change = change_since(self.disk, path)
            if change is not DiskChange.UNCHANGED:
                answer = self.prompts.file_changed_on_disk(self._parent, path.name,
                                                           deleted=change is DiskChange.DELETED)
                if answer == "reload" and change is DiskChange.CHANGED:
                    self.load(path)  # the file's text replaces the writer's, as they chose; nothing was saved
                    return False
                if answer == "save_as":
                    return self.save_as()
                if answer != "overwrite":
                    return False
        if _is_read_only(path) and not self.prompts.confirm_replace_read_only(self._parent, path.name):
            return False
        text = self.editor.toPlainText()
        encoding = self.encoding if path == self.path else "utf-8"
        try:
            try:
                stamp = write_document(path, text, encoding, self.newline)
            except DocumentError as exc:
                if encoding.startswith("utf-8") or not isinstance(exc.__cause__, UnicodeEncodeError):
                    raise
                if not self.prompts.confirm_save_as_utf8(self._parent, str(exc)):
                    return False
                encoding = "utf-8"
                stamp = write_document(path, text, encoding, self.newline)
        except DocumentError as exc:
            self.prompts.error(self._parent, "Cannot save", str(exc))
            return False
        self._set_file(path, encoding, self.newline, stamp)
        _clean_leftovers(path)
        self._used_folder_of(path)
        self.editor.document().setModified(False)
        self.fileSaved.emit(str(path))
        self.message.emit(f"Saved {path.name}")
        return True

    def _set_file(self, path: Path | None, encoding: str, newline: str, disk: DiskStamp | None = None) -> None:
        self.path = path
        self.encoding = encoding
        self.newline = newline
        self.disk = disk
        self._declined_reload = None
        self._watch()
        self._update_title()

    # --- the file changed behind the app -------------------------------------------------------------------

    def _watch(self) -> None:
        """Watch the open file. Called again after each change: a file replaced by a rename (as every atomic save,
        ours included, does) is no longer watched under its old name."""
        watched = self._watcher.files()
        if watched:
            self._watcher.removePaths(watched)
        if self.path is not None and self.path.exists():
            self._watcher.addPath(str(self.path))

    def _file_changed(self, changed: str) -> None:
        if self.path is None or Path(changed) != self.path or self._asking:
            return
        self._watch()
        if self.disk is None:
            return
        change = change_since(self.disk, self.path)
        if change is DiskChange.UNCHANGED:
            return  # our own save, or a touch
        name = self.path.name
        if change is DiskChange.DELETED:
            self.message.emit(f"{name} was deleted or moved on disk; saving will ask before creating it again.")
            return
        if self.is_modified():
            self.message.emit(f"{name} was changed on disk by another program; saving will ask before "
                              "overwriting it.")
            return
        now = current_stamp(self.path)
        if now is not None and now == self._declined_reload:
            return
        self._asking = True
        try:
            if self.prompts.offer_reload(self._parent, name):
                self.load(self.path)
                self.message.emit(f"Reloaded {name}: it was changed on disk")
            else:
                self._declined_reload = now
        finally:
            self._asking = False


def _is_read_only(path: Path) -> bool:
    """An existing file its owner made read-only (checked on the mode too: for root every file is writable)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    writable_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    return not (mode & writable_bits) or not os.access(path, os.W_OK)


def _clean_leftovers(path: Path) -> None:
    """Temporaries of our own an interrupted save left beside the file (beside the link's target for a link)."""
    remove_leftover_temporaries(os.path.realpath(path))
