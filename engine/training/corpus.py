"""Finding training documents on disk and splitting them into train and validation sets.

Understands plain ``.txt``/``.md`` files, WikiExtractor ``<doc>`` files and WikiExtractor JSON Lines. A document
is one book, one article or one user file; the split is by document and depends only on its id, so it is the same
on every run and every machine.

Files that cannot be used are skipped and counted, never fatal: unreadable files, binary files, files in another
format (a ``.pdf`` in the folder) and files with no usable text. Text that is not UTF-8 is read as UTF-16 when it
starts with a UTF-16 byte-order mark, as UTF-8 with replacement characters when only a few bytes are broken,
and as Windows-1252 otherwise.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import InklingError
from engine.training.normalize import clean_encyclopedic, normalize_text

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text", ""})
_DOC_HEADER = re.compile(r'<doc id="([^"]*)"[^>]*title="([^"]*)"[^>]*>')
#: Encyclopedic pages shorter than this are stubs and disambiguation lists, not prose.
MIN_ARTICLE_CHARS = 200
_BINARY_SNIFF_BYTES = 8192


class NoTextFound(InklingError):
    """The given files and folders hold no usable text; the message says what was found instead."""


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    source: str  # "book", "wikipedia", "wikinews", "text"


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


def iter_documents(paths: Sequence[str | Path], report: ScanReport | None = None) -> Iterator[Document]:
    report = report if report is not None else ScanReport()
    for file in find_files(paths, report):
        try:
            text = read_text_file(file)
        except OSError as exc:
            report.skipped[str(file)] = f"unreadable: {exc.strerror or exc}"
            continue
        except ValueError as exc:
            report.skipped[str(file)] = str(exc)
            continue
        report.files_read += 1
        found = 0
        for doc in _documents_in(file, text):
            if doc.text.strip():
                found += 1
                yield doc
        if not found:
            report.skipped[str(file)] = "no text: empty after cleaning"


def read_documents(paths: Sequence[str | Path], report: ScanReport | None = None) -> list[Document]:
    """Every document under ``paths``; raises ``NoTextFound`` (with what was skipped and why) when there is none."""
    report = report if report is not None else ScanReport()
    try:
        docs = list(iter_documents(paths, report))
    except FileNotFoundError as exc:
        raise NoTextFound(str(exc)) from exc
    if not docs:
        raise NoTextFound(no_text_message(paths, report))
    return docs


def no_text_message(paths: Sequence[str | Path], report: ScanReport) -> str:
    where = ", ".join(map(str, paths))
    message = f"no text found in {where} ({report.summary()})"
    if report.skipped:
        examples = list(report.skipped.items())[:3]
        message += "; for example " + "; ".join(f"{Path(p).name}: {why}" for p, why in examples)
    return message + ". Inkling trains on .txt and .md files (UTF-8)."


def _documents_in(file: Path, text: str) -> Iterator[Document]:
    head = text.lstrip("\ufeff \n")[:200]
    if head.startswith("<doc "):
        for match, body in _split_wikiextractor(text):
            doc = Document(f"wikipedia:{match.group(1)}", clean_encyclopedic(match.group(2), body), "wikipedia")
            if len(doc.text) >= MIN_ARTICLE_CHARS:
                yield doc
    elif _is_json_lines(text):
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("text"), str):
                doc_id = f"wikinews:{record.get('id', hashlib.sha1(line.encode()).hexdigest()[:12])}"
                doc = Document(doc_id, clean_encyclopedic(record.get("title", ""), record["text"]), "wikinews")
                if len(doc.text) >= MIN_ARTICLE_CHARS:
                    yield doc
    else:
        yield Document(f"text:{file.name}:{_short_hash(text)}", normalize_text(text), "book")


def _is_json_lines(text: str) -> bool:
    """A text file that merely starts with "{" is prose; JSON Lines has a JSON object with "text" on line one."""
    first_line = text.lstrip("\ufeff \n").split("\n", 1)[0]
    try:
        record = json.loads(first_line)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and "text" in record


def _split_wikiextractor(text: str) -> Iterator[tuple[re.Match, str]]:
    matches = list(_DOC_HEADER.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[match.end() : end].replace("</doc>", "")
        yield match, body


def is_validation(doc: Document, fraction: float = 0.03) -> bool:
    """Deterministic split: a document is held out when the hash of its id falls below ``fraction``."""
    bucket = int(hashlib.sha256(doc.id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < fraction


def _short_hash(text: str) -> str:
    return hashlib.sha1(text[:4096].encode("utf-8", errors="replace")).hexdigest()[:10]
