"""Writing Inkling's own files without ever writing through somebody else's.

Every file the app writes (recovery snapshots, notes on where suggested text came from, settings, memory indexes,
caches, model cards) goes through ``owned_file`` / ``write_owned_file``:

- the target is checked with ``lstat``: a symbolic link or anything but a regular file there is refused with
  ``NotOwnFileError``, so a link planted at the name of one of our files (``settings.json`` -> ``~/thesis.txt``)
  can never make a save overwrite the file it points at;
- the new bytes go to a fresh temporary file ``.<name>.<8 hex>.tmp`` in the same folder, created with ``O_EXCL``
  (and ``O_NOFOLLOW`` where the platform has it), so nothing already at that name is opened; it is flushed to disk
  and renamed over the target, which replaces the directory entry and never follows a link (readers and crashes
  see the old file or the new one, never half of either);
- a new file gets the umask's permissions (``private`` files 0600); an existing one keeps its mode.

``remove_leftover_temporaries`` deletes the temporary files of saves that were killed mid-write;
``read_owned`` / ``remove_owned_file`` read a file of ours without following a link and delete that same file only.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
# A temporary this old cannot belong to a save still running (one writes a 256 MiB file in well under a minute).
LEFTOVER_AGE_S = 120.0


class NotOwnFileError(OSError):
    """The target is a symbolic link or not a regular file; nothing was written. The message is for the user."""


def temporary_name(target: Path) -> str:
    return f".{target.name}.{secrets.token_hex(4)}.tmp"


def _leftover_pattern(name: str) -> re.Pattern[str]:
    # Ours: token_hex(4) names, and the 8-character names of tempfile.mkstemp used before this module.
    return re.compile(rf"\.{re.escape(name)}\.(?:[0-9a-f]{{8}}|[a-z0-9_]{{8}})\.tmp")


def check_target(path: str | os.PathLike) -> os.stat_result | None:
    """The target's ``lstat`` when it is a regular file, None when nothing is there; ``NotOwnFileError`` when
    something else is (a link, a folder, a device, a pipe)."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        try:
            where = f" (to {os.readlink(path)})"
        except OSError:
            where = ""
        raise NotOwnFileError(
            f"{path} is a symbolic link{where}; Inkling never writes through a link it did not make, so it was left "
            "as it is. Remove the link if this file should be written.")
    if not stat.S_ISREG(info.st_mode):
        raise NotOwnFileError(f"{path} is not a regular file; Inkling did not write to it")
    return info


@contextlib.contextmanager
def owned_file(path: str | os.PathLike, *, private: bool = False,
               keep_mode: bool = True) -> Iterator[BinaryIO]:
    """Write ``path`` through the stream this yields; on a clean exit the bytes replace the old file in one step.

    An exception inside the block (or while finishing) removes the temporary and leaves the old file as it was.
    ``private``: a new file is 0600 instead of the umask's mode. ``keep_mode``: an existing file's permissions
    carry over. Raises ``NotOwnFileError`` (an ``OSError``) for a link or non-regular target, before writing."""
    target = Path(path)
    existing = check_target(target)
    handle, temporary = _create_temporary(target, 0o600 if private else 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            if existing is not None and keep_mode and hasattr(os, "fchmod"):
                os.fchmod(stream.fileno(), stat.S_IMODE(existing.st_mode))
            os.fsync(stream.fileno())
        if existing is not None and keep_mode and not hasattr(os, "fchmod"):
            os.chmod(temporary, stat.S_IMODE(existing.st_mode))
        check_target(target)  # a link planted while we wrote is refused too (the rename would not follow it)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_folder(target.parent)


def write_owned_file(path: str | os.PathLike, data: bytes, *, private: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically, refusing links and non-regular files (see ``owned_file``)."""
    with owned_file(path, private=private) as stream:
        stream.write(data)


def write_owned_text(path: str | os.PathLike, text: str, *, private: bool = False) -> None:
    write_owned_file(path, text.encode("utf-8"), private=private)


def read_owned_text(path: str | os.PathLike) -> str:
    """Read one of our own text files without following a link (``NotOwnFileError``); FileNotFoundError when absent."""
    check_target(path)
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _BINARY)
    with os.fdopen(fd, "rb") as stream:
        return stream.read().decode("utf-8")


def read_owned(path: str | os.PathLike) -> tuple[bytes, os.stat_result]:
    """Read one of our own files without following a link (``NotOwnFileError``), with the ``fstat`` of what was
    read, so that ``remove_owned_file`` deletes that file and no other; FileNotFoundError when absent."""
    check_target(path)
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _BINARY | _NONBLOCK)  # a pipe planted since: no wait
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NotOwnFileError(f"{path} is not a regular file; Inkling did not read it")
        return stream.read(), info


def remove_owned_file(path: str | os.PathLike, read: os.stat_result) -> bool:
    """Delete ``path`` only while it is still the regular file ``read`` describes (``read_owned``'s: same device
    and inode), never a link or anything put there since; True when it was deleted. OSError when it cannot be."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) != (read.st_dev, read.st_ino):
        return False
    os.unlink(path)
    _fsync_folder(Path(path).parent)
    return True


def remove_leftover_temporaries(path: str | os.PathLike, older_than_s: float = LEFTOVER_AGE_S) -> list[Path]:
    """Delete the temporary files an interrupted save of ``path`` left beside it; returns those removed.

    Only our own: the name pattern of our temporaries, a regular file (never a link) owned by this user, and old
    enough that no save still running can own it."""
    target = Path(path)
    pattern = _leftover_pattern(target.name)
    removed = []
    now = time.time()
    try:
        candidates = [entry for entry in os.scandir(target.parent) if pattern.fullmatch(entry.name)]
    except OSError:
        return []
    for entry in candidates:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < older_than_s:
            continue
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _create_temporary(target: Path, mode: int) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
    for _ in range(100):
        temporary = str(target.with_name(temporary_name(target)))
        try:
            return os.open(temporary, flags, mode), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows has no directory handles to sync)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = ["NotOwnFileError", "check_target", "owned_file", "read_owned", "read_owned_text",
           "remove_leftover_temporaries", "remove_owned_file", "write_owned_file", "write_owned_text"]
