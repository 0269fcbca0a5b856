"""Crash recovery: unsaved text is copied to a recovery file every few seconds.

Each running window owns one session file ``<id>.json`` plus a ``QLockFile`` ``<id>.lock`` in the recovery folder
(``INKLING_DATA_DIR``/recovery when set, else the platformdirs user data folder). A clean close deletes both. A
session file whose lock is not held by a live process was left by a crash; the next start offers to restore it.
The lock is checked by process id only (no age limit), so a long-running window is never mistaken for a crash.

A snapshot is offered only when it is worth restoring (``weigh_against_disk``): newer than its file on disk and
different from it. One the file already holds is deleted; one older than the file (saved after the snapshot, then a
crash before the snapshot was dropped) is set aside as ``<id>.json.stale``, never offered over the newer save.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_path
from PySide6.QtCore import QLockFile, QObject, QTimer

from gui.documents.document_io import DocumentError, atomic_write_bytes, read_document

DEFAULT_INTERVAL_MS = 3000


def recovery_dir() -> Path:
    override = os.environ.get("INKLING_DATA_DIR")
    base = Path(override) if override else user_data_path("inkling", appauthor=False)
    return base / "recovery"


@dataclass(frozen=True)
class RecoveredDocument:
    session_file: Path
    text: str
    path: str | None  # the file the text belonged to, if it had been saved before
    saved_at: float  # time.time() of the snapshot
    notes: str | None = None  # the sidecar JSON (where accepted text came from, suggestion history) at that time
    cursor: int | None = None  # where the cursor was (a character offset), to put the writer back there

    @property
    def title(self) -> str:
        return Path(self.path).name if self.path else "Untitled"


@dataclass(frozen=True)
class DiskVerdict:
    """How a snapshot compares with its file on disk: ``offer`` it or not, and a sentence saying why."""

    offer: bool
    same: bool  # the file already holds exactly this text
    note: str


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def weigh_against_disk(document: RecoveredDocument) -> DiskVerdict:
    """Whether ``document`` should be offered: only when it differs from its file and is newer than it."""
    if not document.path:
        return DiskVerdict(True, False, "")
    path = Path(document.path)
    name = path.name
    try:
        modified = path.stat().st_mtime
        on_disk = read_document(path, None).text
    except FileNotFoundError:
        return DiskVerdict(True, False, f"{name} no longer exists on disk.")
    except (OSError, DocumentError) as exc:
        return DiskVerdict(True, False, f"{name} could not be read to compare it with this text ({exc}).")
    if on_disk == document.text:
        return DiskVerdict(False, True, f"{name} on disk already holds this text.")
    if modified >= document.saved_at:
        return DiskVerdict(False, False, f"{name} on disk (saved {_when(modified)}) is newer than the unsaved "
                                         f"text from {_when(document.saved_at)}.")
    return DiskVerdict(True, False, f"This unsaved text (from {_when(document.saved_at)}) is newer than {name} on "
                                    f"disk (saved {_when(modified)}) and differs from it.")


def _new_lock(lock_path: Path) -> QLockFile:
    lock = QLockFile(str(lock_path))
    lock.setStaleLockTime(0)  # stale only when its process is gone
    return lock


class RecoveryStore:
    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder) if folder is not None else recovery_dir()
        self.session_id = uuid.uuid4().hex
        self._lock: QLockFile | None = None
        self._adopted: list[tuple[Path, QLockFile]] = []

    @property
    def session_file(self) -> Path:
        return self.folder / f"{self.session_id}.json"

    def write(self, text: str, path: str | None, notes: str | None = None, cursor: int | None = None) -> None:
        """Snapshot ``text`` (and its sidecar ``notes``); raises ``DocumentError`` when the folder cannot be
        written."""
        if self._lock is None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DocumentError(f"Cannot create the recovery folder {self.folder}: {exc.strerror}") from exc
            lock = _new_lock(self.folder / f"{self.session_id}.lock")
            if not lock.tryLock(0):
                raise DocumentError(f"Cannot lock the recovery file in {self.folder}")
            self._lock = lock
        payload = {"version": 1, "text": text, "path": path, "saved_at": time.time(), "pid": os.getpid(),
                   "notes": notes, "cursor": cursor}
        atomic_write_bytes(self.session_file, json.dumps(payload, ensure_ascii=False).encode("utf-8"), private=True)
        self._forget_adopted()

    def discard(self) -> None:
        """The text is safe (saved, or deliberately thrown away): remove this session's snapshot."""
        with contextlib.suppress(FileNotFoundError):
            self.session_file.unlink()

    def close(self) -> None:
        self.discard()
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
        self._forget_adopted()

    def orphans(self) -> list[RecoveredDocument]:
        """Snapshots left by sessions that ended without closing cleanly, newest first.

        Their locks are taken so no other window offers the same text. A restored one is deleted by the next
        ``write`` (its text then lives in this session's snapshot); ``discard_orphans`` / ``keep_orphans`` let go
        of the others."""
        if not self.folder.is_dir():
            return []
        found = []
        for session_file in self.folder.glob("*.json"):
            if session_file.stem == self.session_id:
                continue
            lock = _new_lock(session_file.with_suffix(".lock"))
            if not lock.tryLock(0):
                continue  # a live window owns it
            try:
                data = json.loads(session_file.read_text(encoding="utf-8"))
                notes, cursor = data.get("notes"), data.get("cursor")
                document = RecoveredDocument(session_file, str(data["text"]), data.get("path"),
                                             float(data.get("saved_at", 0)), notes if isinstance(notes, str) else None,
                                             cursor if isinstance(cursor, int) else None)
            except (OSError, ValueError, KeyError, TypeError):
                lock.unlock()
                continue  # unreadable: left where it is for a person to look at
            self._adopted.append((session_file, lock))
            found.append(document)
        return sorted(found, key=lambda d: d.saved_at, reverse=True)

    def discard_orphans(self, documents: list[RecoveredDocument]) -> None:
        """Delete snapshots the user chose to throw away."""
        self._let_go(documents, delete=True)

    def keep_orphans(self, documents: list[RecoveredDocument]) -> None:
        """Leave snapshots for a later start (unlocked, untouched)."""
        self._let_go(documents, delete=False)

    def set_aside(self, documents: list[RecoveredDocument]) -> list[Path]:
        """Rename snapshots that must not be offered (older than their saved file) to ``<id>.json.stale``, where
        no start offers them again and a person can still read them; returns the new names."""
        kept = [d.session_file.with_name(d.session_file.name + ".stale") for d in documents]
        self._let_go(documents, delete=False, rename=True)
        return kept

    def _let_go(self, documents: list[RecoveredDocument], delete: bool, rename: bool = False) -> None:
        chosen = {d.session_file for d in documents}
        for session_file, lock in list(self._adopted):
            if session_file in chosen:
                if delete:
                    with contextlib.suppress(FileNotFoundError):
                        session_file.unlink()
                elif rename:
                    with contextlib.suppress(OSError):
                        os.replace(session_file, session_file.with_name(session_file.name + ".stale"))
                lock.unlock()
                self._adopted.remove((session_file, lock))

    def _forget_adopted(self) -> None:
        """Adopted snapshots whose text now lives in our own snapshot (or was discarded) can go."""
        for session_file, lock in self._adopted:
            with contextlib.suppress(FileNotFoundError):
                session_file.unlink()
            lock.unlock()
        self._adopted.clear()


class RecoveryAutosaver(QObject):
    """Every ``interval_ms``, snapshot the text if it changed and is unsaved; drop the snapshot once saved."""

    def __init__(self, store: RecoveryStore, snapshot: Callable[[], tuple[str, str | None, bool, int]],
                 on_error: Callable[[str], None], interval_ms: int = DEFAULT_INTERVAL_MS,
                 parent: QObject | None = None, notes: Callable[[], str | None] | None = None,
                 cursor: Callable[[], int] | None = None) -> None:
        """``snapshot()`` returns (text, file path, has unsaved changes, revision number); ``notes()`` and
        ``cursor()``, asked only when a snapshot is written, the sidecar JSON that goes with the text and the
        cursor's position in it."""
        super().__init__(parent)
        self.store = store
        self._snapshot = snapshot
        self._notes = notes
        self._cursor = cursor
        self._on_error = on_error
        self._written_revision: int | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.save_now)
        self._timer.start()
        self._reported_error = False

    def set_interval(self, interval_ms: int) -> None:
        self._timer.setInterval(interval_ms)

    def save_now(self) -> None:
        text, path, modified, revision = self._snapshot()
        if not modified:
            if self._written_revision is not None:
                self.store.discard()
                self._written_revision = None
            return
        if revision == self._written_revision:
            return
        try:
            self.store.write(text, path, self._notes() if self._notes else None,
                             self._cursor() if self._cursor else None)
        except (DocumentError, OSError) as exc:
            if not self._reported_error:  # once, not every few seconds
                self._reported_error = True
                self._on_error(f"Crash recovery is not working: {exc}")
            return
        self._reported_error = False
        self._written_revision = revision

    def stop(self) -> None:
        self._timer.stop()
