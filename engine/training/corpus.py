"""Finding training documents on disk and splitting them into train and validation sets.

Understands plain ``.txt``/``.md`` files, WikiExtractor ``<doc>`` files and WikiExtractor JSON Lines. A document
is one book, one article or one user file; the split is by document and depends only on its id, so it is the same
on every run and every machine.

Files that cannot be used are skipped and counted, never fatal (which files are text and how they are read is
``engine.text_files``); so are files with no usable text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InklingError
from engine.text_files import ScanReport, find_files, read_text_file
from engine.training.normalize import clean_encyclopedic, normalize_text

_DOC_HEADER = re.compile(r'<doc id="([^"]*)"[^>]*title="([^"]*)"[^>]*>')
#: Encyclopedic pages shorter than this are stubs and disambiguation lists, not prose.
MIN_ARTICLE_CHARS = 200


class NoTextFound(InklingError):
    """The given files and folders hold no usable text; the message says what was found instead."""


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    source: str  # "book", "wikipedia", "wikinews", "text"


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
