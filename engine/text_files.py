"""Finding and reading the user's text files: which files under a folder are text, what each holds, and a digest of
them all.

A file of another type found in a folder (a ``.pdf``) is recorded in a ``ScanReport`` with the reason, never fatal;
``read_text_file`` says why a file is not text. Text that is not UTF-8 is read as UTF-16 when it starts with a
UTF-16 byte-order mark, as UTF-8 with replacement characters when only a few bytes are broken, and as Windows-1252
otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text", ""})
_BINARY_SNIFF_BYTES = 8192


@dataclass
class ScanReport:
    files_read: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # path -> reason

    def summary(self) -> str:
        parts = [f"{self.files_read} file(s) read"]
        if self.skipped:
            reasons: dict[str, int] = {}
            for reason in self.skipped.values():
                key = reason.split(":")[0]
                reasons[key] = reasons.get(key, 0) + 1
            detail = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
            parts.append(f"{len(self.skipped)} skipped ({detail})")
        return ", ".join(parts)


def find_files(paths: Sequence[str | Path], report: ScanReport | None = None) -> list[Path]:
    """Text files under ``paths``: files named directly are always taken; folders are searched for text files.

    Hidden files and folders (``.git``) are not searched. Files of other types found in folders are recorded in
    ``report`` as skipped.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                relative = candidate.relative_to(path)
                if any(part.startswith(".") for part in relative.parts) or not candidate.is_file():
                    continue
                if candidate.suffix.lower() in TEXT_SUFFIXES:
                    files.append(candidate)
                elif report is not None:
                    report.skipped[str(candidate)] = f"not a text file: {candidate.suffix} files are not read"
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return files


def files_fingerprint(paths: Sequence[str | Path]) -> str:
    """A digest of the text files under ``paths``: their locations, sizes and contents, not their timestamps.

    Caches built from a corpus (token arrays, the trigram baseline) are keyed by it. A corpus copied afresh keeps
    its key (a copy, a sync tool or a restore from a backup touches every file's timestamp): hashing ~120 MB costs
    well under a second, re-tokenizing it minutes."""
    digest = hashlib.blake2b(digest_size=16)
    for file in find_files(paths):
        digest.update(f"{file.resolve()}|{file.stat().st_size}|".encode())
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\n")
    return digest.hexdigest()


def read_text_file(file: Path) -> str:
    """The file's text; raises ``ValueError`` saying why when it is binary or not text in a known encoding."""
    raw = file.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ValueError("binary: broken UTF-16 text") from exc
    if b"\x00" in raw[:_BINARY_SNIFF_BYTES]:
        raise ValueError("binary: holds NUL bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lenient = raw.decode("utf-8", errors="replace")
    if any(ord(ch) > 127 and ch != "\ufffd" for ch in lenient):  # UTF-8 with a few broken bytes
        return lenient
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ValueError("binary: neither UTF-8 nor Windows-1252 text") from exc
    controls = sum(1 for ch in text[:_BINARY_SNIFF_BYTES] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > 0.01 * min(len(text), _BINARY_SNIFF_BYTES):
        raise ValueError("binary: mostly control characters")
    return text
