"""What a document's file was on disk when the app last read or wrote it, to notice a change made behind its back.

Another program (or a second window) may append to the open file, replace it or delete it. The size and the
modification time say whether it changed; for files up to ``HASH_LIMIT`` a SHA-256 of the bytes also catches a
same-size edit within one timestamp tick and lets a mere ``touch`` (new time, same bytes) count as unchanged.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from enum import Enum

HASH_LIMIT = 4 * 1024 * 1024


class DiskChange(Enum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    DELETED = "deleted"


@dataclass(frozen=True)
class DiskStamp:
    size: int
    mtime_ns: int
    sha256: str | None  # None above HASH_LIMIT


def stamp_of(info: os.stat_result, data: bytes) -> DiskStamp:
    """The stamp of a file whose ``stat`` is ``info`` and whose bytes are ``data`` (as just read or written)."""
    digest = hashlib.sha256(data).hexdigest() if len(data) <= HASH_LIMIT else None
    return DiskStamp(info.st_size, info.st_mtime_ns, digest)


def current_stamp(path: str | os.PathLike) -> DiskStamp | None:
    """The file's stamp now, None when it is gone."""
    try:
        info = os.stat(path)
        digest = _hash_file(path) if info.st_size <= HASH_LIMIT else None
    except FileNotFoundError:
        return None
    return DiskStamp(info.st_size, info.st_mtime_ns, digest)


def change_since(stamp: DiskStamp, path: str | os.PathLike) -> DiskChange:
    """Whether the file at ``path`` still is what ``stamp`` recorded. A file that cannot be read counts as
    changed: saving over it must ask."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return DiskChange.DELETED
    except OSError:
        return DiskChange.CHANGED
    if info.st_size != stamp.size:
        return DiskChange.CHANGED
    if stamp.sha256 is None:
        return DiskChange.UNCHANGED if info.st_mtime_ns == stamp.mtime_ns else DiskChange.CHANGED
    try:
        same = _hash_file(path) == stamp.sha256
    except OSError:
        return DiskChange.CHANGED
    return DiskChange.UNCHANGED if same else DiskChange.CHANGED


def _hash_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest() if hasattr(hashlib, "file_digest") \
            else hashlib.sha256(stream.read()).hexdigest()
