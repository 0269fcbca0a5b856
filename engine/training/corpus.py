"""Finding training documents on disk and splitting them into train and validation sets.

Understands plain ``.txt``/``.md`` files, WikiExtractor ``<doc>`` files and WikiExtractor JSON Lines. A document
is one book, one article or one user file; the split is by document and depends only on its id, so it is the same
on every run and every machine.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from engine.training.normalize import clean_encyclopedic, normalize_text

_TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text", ""}
_DOC_HEADER = re.compile(r'<doc id="([^"]*)"[^>]*title="([^"]*)"[^>]*>')
MIN_DOCUMENT_CHARS = 200


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
            parts.append(f"{len(self.skipped)} skipped (unreadable, binary or empty)")
        return ", ".join(parts)


def find_files(paths: list[str | Path]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return [f for f in files if f.suffix.lower() in _TEXT_SUFFIXES or re.fullmatch(r"wiki_\d+", f.name)]


def iter_documents(paths: list[str | Path], report: ScanReport | None = None) -> Iterator[Document]:
    report = report if report is not None else ScanReport()
    for file in find_files(paths):
        try:
            raw = file.read_bytes()
        except OSError as exc:
            report.skipped[str(file)] = f"unreadable: {exc}"
            continue
        if b"\x00" in raw[:8192]:
            report.skipped[str(file)] = "binary"
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            report.skipped[str(file)] = "not UTF-8 text"
            continue
        report.files_read += 1
        found = 0
        for doc in _documents_in(file, text):
            if len(doc.text) >= MIN_DOCUMENT_CHARS:
                found += 1
                yield doc
        if not found:
            report.skipped[str(file)] = "no usable text"


def _documents_in(file: Path, text: str) -> Iterator[Document]:
    head = text.lstrip("\ufeff")[:200]
    if head.startswith("<doc "):
        for match, body in _split_wikiextractor(text):
            yield Document(f"wikipedia:{match.group(1)}", clean_encyclopedic(match.group(2), body), "wikipedia")
    elif head.startswith("{"):
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "text" in record:
                doc_id = f"wikinews:{record.get('id', hashlib.sha1(line.encode()).hexdigest()[:12])}"
                yield Document(doc_id, clean_encyclopedic(record.get("title", ""), record["text"]), "wikinews")
    else:
        yield Document(f"text:{file.name}:{_short_hash(text)}", normalize_text(text), "book")


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
