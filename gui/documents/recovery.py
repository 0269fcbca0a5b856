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
import errno
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_path
from PySide6.QtCore import QLockFile, QObject, QTimer, Signal

from engine.owned_files import NotOwnFileError, owned_file
from gui.documents.document_io import DocumentError, read_document
from gui.documents.text_mirror import PIECE_CHARS, plain_text

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


class RecoveryError(DocumentError):
    """A snapshot could not be written; ``disk_full`` when that is because the disk has no room."""

    def __init__(self, message: str, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


_DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _too_little_space(folder: Path, size: int) -> bool:
    """Whether the disk holding ``folder`` lacks room for ``size`` bytes and a margin (what is free to this user:
    root's reserved blocks do not count)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free < size + _SPACE_MARGIN
    except OSError:
        return False


_SPACE_MARGIN = 64 * 1024  # a lock file, the temporary's metadata, a little slack


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{max(1, size // 1000)} kB"


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
        """Snapshot ``text`` (and its sidecar ``notes``), then let go of the snapshots it replaces; raises
        ``RecoveryError`` when the folder cannot be written."""
        self.write_snapshot(text, path, notes, cursor)
        self.forget_adopted()

    def write_snapshot(self, text: str, path: str | None, notes: str | None = None, cursor: int | None = None) -> None:
        """Only the snapshot file (and its lock): safe on a thread of its own, as long as one write runs at a time.
        ``RecoveryError`` (``disk_full`` set where the disk is full) when the folder cannot be written."""
        header = {"version": 1, "path": path, "saved_at": time.time(), "pid": os.getpid(), "notes": notes,
                  "cursor": cursor}
        size = len(text) + len(notes or "")  # about the file's size, for telling a full disk
        if self._lock is None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._failure(f"Cannot create the recovery folder {self.folder}: {exc.strerror}", exc,
                                    size) from exc
            lock = _new_lock(self.folder / f"{self.session_id}.lock")
            # QLockFile says only that it failed; on a full disk it cannot write the lock's few bytes either.
            if not lock.tryLock(0):
                raise self._failure(f"Cannot lock the recovery file in {self.folder}", None, size)
            self._lock = lock
        try:
            with owned_file(self.session_file, private=True) as stream:
                # The text is serialised a piece at a time: one json.dumps of a 19 MB string holds the GIL ~70 ms,
                # which on this writer thread would stall the GUI thread all the same.
                stream.write(json.dumps(header, ensure_ascii=False)[:-1].encode("utf-8") + b', "text": "')
                for start in range(0, len(text), PIECE_CHARS):
                    stream.write(json.dumps(text[start:start + PIECE_CHARS], ensure_ascii=False)[1:-1]
                                 .encode("utf-8"))
                stream.write(b'"}')
        except NotOwnFileError as exc:
            raise RecoveryError(str(exc)) from exc
        except OSError as exc:
            raise self._failure(f"Cannot write {self.session_file}: {exc.strerror or exc}", exc, size) from exc

    def _failure(self, message: str, cause: BaseException | None, size: int) -> RecoveryError:
        errno_of = getattr(cause, "errno", None)
        if errno_of in _DISK_FULL_ERRNOS or (errno_of is None and _too_little_space(self.folder, size)):
            return RecoveryError(f"the disk is full: there is no room in {self.folder} for the unsaved text "
                                 f"({_megabytes(size)}). Free some space; Inkling keeps trying.", disk_full=True)
        return RecoveryError(message)

    def discard(self) -> None:
        """The text is safe (saved, or deliberately thrown away): remove this session's snapshot."""
        with contextlib.suppress(FileNotFoundError):
            self.session_file.unlink()

    def close(self) -> None:
        self.discard()
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
        self.forget_adopted()

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

    def forget_adopted(self) -> None:
        """Adopted snapshots whose text now lives in our own snapshot (or was discarded) can go."""
        for session_file, lock in self._adopted:
            with contextlib.suppress(FileNotFoundError):
                session_file.unlink()
            lock.unlock()
        self._adopted.clear()


@dataclass(eq=False)
class _Job:
    """One write (or, with ``revision`` None, one discard) handed to the writer thread, and how it went."""

    revision: int | None
    future: Future | None = None
    error: RecoveryError | None = None
    done: bool = False  # its outcome has been taken in on the GUI thread


class RecoveryAutosaver(QObject):
    """Every ``interval_ms``, snapshot the text if it changed and is unsaved; drop the snapshot once saved.

    The GUI thread only takes the text (the document's lines, from a ``TextMirror``: no copy of the whole text)
    and the notes; joining, serialising and writing happen on a writer thread of its own, one job at a time and in
    order, so a discard never overtakes a write. A write that fails is shown in ``on_status`` until one succeeds;
    typing never waits for the disk."""

    _job_finished = Signal(object)  # a _Job, emitted on the writer thread, taken in on the GUI thread

    def __init__(self, store: RecoveryStore,
                 snapshot: Callable[[], tuple[str | Sequence[str], str | None, bool, int]],
                 on_error: Callable[[str], None], interval_ms: int = DEFAULT_INTERVAL_MS,
                 parent: QObject | None = None, notes: Callable[[], Callable[[str], str | None]] | None = None,
                 cursor: Callable[[], int] | None = None,
                 on_status: Callable[[RecoveryError | None], None] | None = None) -> None:
        """``snapshot()`` returns (text, file path, has unsaved changes, revision number): the text as one string
        or as its lines (joined on the writer thread); ``notes()`` and ``cursor()`` are asked only when a snapshot is
        written: the cursor's position, and a function that makes the sidecar JSON going with the text from that
        text (it runs on the writer thread). ``on_error`` gets a
        sentence when recovery stops or starts working again; ``on_status`` the standing problem after every failed
        try, None once a snapshot is written again."""
        super().__init__(parent)
        self.store = store
        self._snapshot = snapshot
        self._notes = notes
        self._cursor = cursor
        self._on_error = on_error
        self._on_status = on_status
        self._written_revision: int | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inkling-recovery")
        self._in_flight: _Job | None = None
        self._problem: RecoveryError | None = None
        self._job_finished.connect(self._finish)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    @property
    def problem(self) -> RecoveryError | None:
        """Why the last snapshot could not be written; None while recovery works."""
        return self._problem

    def _tick(self) -> None:
        if self._in_flight is not None:
            return  # the disk is slow: the next tick takes the newest text instead of queueing this one
        self._start()

    def save_now(self) -> None:
        """Snapshot now and wait until it is on disk (or has failed): for a restore, which deletes the old
        snapshot only once ours holds the text."""
        self.wait()
        job = self._start()
        if job is not None:
            self._wait_for(job)

    def wait(self) -> None:
        """Wait for the write in flight, if any, and take in how it went."""
        if self._in_flight is not None:
            self._wait_for(self._in_flight)

    def _start(self) -> _Job | None:
        text, path, modified, revision = self._snapshot()
        if not modified:
            if self._written_revision is None:
                return None
            self._written_revision = None
            return self._submit(_Job(None), self.store.discard)
        if revision == self._written_revision:
            return None
        notes = self._notes() if self._notes else None
        cursor = self._cursor() if self._cursor else None

        def write() -> None:
            whole = text if isinstance(text, str) else plain_text(text)
            self.store.write_snapshot(whole, path, notes(whole) if notes else None, cursor)

        return self._submit(_Job(revision), write)

    def _submit(self, job: _Job, work: Callable[[], None]) -> _Job:
        def run() -> None:
            try:
                work()
            except RecoveryError as exc:
                job.error = exc
            except (DocumentError, OSError) as exc:
                job.error = RecoveryError(str(exc))
            except Exception as exc:  # noqa: BLE001 - a bug here must show, not leave the job in flight for good
                job.error = RecoveryError(f"the snapshot could not be made ({type(exc).__name__}: {exc})")
            finally:
                self._job_finished.emit(job)

        self._in_flight = job
        job.future = self._writer.submit(run)
        return job

    def _wait_for(self, job: _Job) -> None:
        assert job.future is not None
        job.future.result()
        self._finish(job)

    def _finish(self, job: _Job) -> None:
        if job.done:
            return  # taken in already by a wait; this is its queued signal arriving
        job.done = True
        if self._in_flight is job:
            self._in_flight = None
        if job.error is not None:
            self._failed(job.error)
            return
        if job.revision is not None:
            self._written_revision = job.revision
            self.store.forget_adopted()
        if self._problem is not None:
            self._problem = None
            self._on_error("Crash recovery works again: the unsaved text is backed up.")
            if self._on_status:
                self._on_status(None)

    def _failed(self, error: RecoveryError) -> None:
        if self._problem is None or str(error) != str(self._problem):  # said once in the message line; the
            self._on_error(f"Crash recovery is not working: {error}")  # status bar keeps saying it
        self._problem = error
        if self._on_status:
            self._on_status(error)

    def stop(self) -> None:
        """Stop taking snapshots; returns once the last write or discard has finished."""
        self._timer.stop()
        self._writer.shutdown(wait=True)
        if self._in_flight is not None:
            self._finish(self._in_flight)
