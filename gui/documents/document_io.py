"""Reading and writing documents without ever losing text.

Saving is atomic: the new content goes to a temporary file in the same folder, is flushed to disk, and only then
replaces the old file with ``os.replace`` (``engine.owned_files``). A failure at any point leaves the old file exactly
as it was; a symbolic link or a non-regular file where one of the app's own files belongs is never written through.

Reading is strict: UTF-8 (with or without a byte-order mark) opens directly; anything else raises
``NotUtf8Error`` so the caller can ask the user for a fallback encoding instead of silently mangling the text.
Line endings are remembered so a file is saved back with the ending it has most of (``\\r\\n`` for a Windows file,
``\\r`` for an old Mac one); a file with mixed endings is saved with its most frequent one throughout.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.byte_sizes import format_bytes
from engine.owned_files import NotOwnFileError, write_owned_file
from gui.documents.disk_stamp import DiskStamp, stamp_of

# Above this size the user is asked before opening: the editor copes, but it takes a moment.
LARGE_FILE_BYTES = 8 * 1024 * 1024
# Above this size the file is refused: a plain-text editor holding it would be unusable.
MAX_FILE_BYTES = 256 * 1024 * 1024
# Encodings offered when a file is not UTF-8; latin-1 decodes any bytes, so it always works.
FALLBACK_ENCODINGS = ("cp1252", "latin-1", "utf-16", "mac_roman")
_BINARY_SNIFF_BYTES = 8192
NEWLINE_NAMES = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}


class DocumentError(Exception):
    """A document cannot be read or written; the message is meant for the user."""


class NotUtf8Error(DocumentError):
    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.offset = offset
        super().__init__(f"{path.name} is not valid UTF-8 (the first bad byte is at offset {offset}).")


class BinaryFileError(DocumentError):
    pass


class FileTooLargeError(DocumentError):
    pass


@dataclass(frozen=True)
class LoadedDocument:
    path: Path
    text: str  # with "\n" line endings, as the editor holds it
    encoding: str  # what to save it back with
    newline: str  # "\n", "\r\n" or "\r": the file's most frequent line ending, what it is saved with
    size_bytes: int
    stamp: DiskStamp | None = None  # the file as it was read, to notice a change made behind the app's back
    line_endings: dict[str, int] = field(default_factory=dict)  # how many of each the file had

    @property
    def mixed_line_endings(self) -> bool:
        return sum(1 for count in self.line_endings.values() if count) > 1

    def describe_line_endings(self) -> str:
        """E.g. "120 LF, 3 CRLF", most frequent first."""
        counts = sorted(((c, n) for n, c in self.line_endings.items() if c), reverse=True)
        return ", ".join(f"{count} {NEWLINE_NAMES[newline]}" for count, newline in counts)


def file_size(path: Path) -> int:
    return Path(path).stat().st_size


def read_document(path: str | os.PathLike, encoding: str | None = None) -> LoadedDocument:
    """Read a text file; ``encoding`` None means UTF-8 or fail with ``NotUtf8Error``."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            info = os.fstat(stream.fileno())
            size = info.st_size
            if size > MAX_FILE_BYTES:
                raise FileTooLargeError(f"{path.name} is {format_bytes(size)}; Inkling opens plain-text files up to "
                                        f"{format_bytes(MAX_FILE_BYTES)}.")
            data = stream.read()
    except OSError as exc:
        raise DocumentError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    if encoding is None or encoding.replace("-", "").lower() in ("utf8", "utf8sig"):
        if b"\x00" in data[:_BINARY_SNIFF_BYTES] and not _has_utf16_bom(data):
            raise BinaryFileError(f"{path.name} looks like a binary file (it contains NUL bytes), not text.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise NotUtf8Error(path, exc.start) from exc
        encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    else:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise DocumentError(f"{path.name} cannot be read as {encoding}: {exc}") from exc
    endings = count_line_endings(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return LoadedDocument(path, text, encoding, dominant_line_ending(endings), size, stamp_of(info, data), endings)


def count_line_endings(text: str) -> dict[str, int]:
    """How many CRLF, lone CR and lone LF line endings ``text`` has (over the whole text, not a prefix)."""
    crlf = text.count("\r\n")
    return {"\n": text.count("\n") - crlf, "\r\n": crlf, "\r": text.count("\r") - crlf}


def dominant_line_ending(endings: dict[str, int]) -> str:
    """The most frequent ending; LF for a file without any, and on a tie LF before CRLF before CR."""
    return max(("\n", "\r\n", "\r"), key=lambda newline: endings.get(newline, 0))


def _has_utf16_bom(data: bytes) -> bool:
    return data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


def encode_document(text: str, encoding: str = "utf-8", newline: str = "\n") -> bytes:
    """The bytes to save; raises ``DocumentError`` naming the first character the encoding cannot hold."""
    if newline != "\n":
        text = text.replace("\n", newline)
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise DocumentError(
            f"The text contains {bad!r}, which {encoding} cannot store; save it as UTF-8 instead."
        ) from exc


def write_document(path: str | os.PathLike, text: str, encoding: str = "utf-8", newline: str = "\n") -> DiskStamp:
    """Save the user's document; returns the saved file's stamp. A document opened through a symbolic link is the
    file the user chose: the link is kept and the file it points at replaced (that file must be a regular one)."""
    data = encode_document(text, encoding, newline)
    atomic_write_bytes(path, data, follow_link=True)
    try:
        return stamp_of(os.stat(path), data)
    except OSError as exc:
        raise DocumentError(f"Saved {path}, but it cannot be looked at now: {exc.strerror or exc}") from exc


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, private: bool = False,
                       follow_link: bool = False) -> None:
    """Replace ``path`` with ``data`` so that readers and crashes see either the old file or the new one.

    A symbolic link or a non-regular file at ``path`` is refused (``DocumentError``, nothing written) unless
    ``follow_link``: only the document the user opened is written through its link. ``private``: a new file is
    0600 rather than the umask's mode; an existing file keeps its mode either way."""
    target = Path(os.path.realpath(path)) if follow_link else Path(path)
    try:
        write_owned_file(target, data, private=private)
    except NotOwnFileError as exc:
        raise DocumentError(str(exc)) from exc
    except OSError as exc:
        raise DocumentError(f"Cannot save {target}: {exc.strerror or exc}. The old file is unchanged.") from exc
