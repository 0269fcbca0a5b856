"""Folders of the user's writing as memory: indexing them (with progress and cancel), keeping the indexes under
the user data folder, listing and forgetting them.

An index belongs to one folder and one tokenizer (the file name carries both). Opening a folder loads its index
when the index is sound and the folder's files are unchanged; otherwise it is rebuilt and ``OpenedFolder.message``
says why (a damaged or foreign file is never a crash).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import InklingError
from engine.memory.index_file import IndexFileError, read_header, read_index, write_index
from engine.memory.match import Match
from engine.memory.ngram import DEFAULT_MAX_ORDER
from engine.memory.sources import line_and_passage
from engine.memory.suffix_index import SuffixIndex
from engine.text_files import ScanReport, find_files, read_text_file
from engine.user_data import user_data_dir

Progress = Callable[[int, int], None]  # (files done, files in all)


class IndexingCancelled(InklingError):
    """Indexing stopped because ``cancelled()`` turned true; nothing was written."""


@dataclass
class FolderMemory:
    """One indexed folder, ready for lookups."""

    folder: Path
    index: SuffixIndex
    files: int
    skipped: int
    text_bytes: int
    index_path: Path
    documents: list[tuple[str, int]] = field(default_factory=list)  # (file, tokens), in index order

    @property
    def tokens(self) -> int:
        return self.index.size

    def longest(self, tail: list[int]) -> Match | None:
        return self.index.longest(tail)

    def source_of(self, context: list[int], token: int, token_bytes: list[bytes]) -> tuple[str, int, str] | None:
        """(file, line, passage) of a place where ``context`` was followed by ``token``."""
        position = self.index.occurrence(context, token)
        if position is None:
            return None
        start = 0
        for name, length in self.documents:  # files are joined with one separator token between them
            if position < start + length:
                tokens = self.index.forward_tokens(start, start + length)
                line, passage = line_and_passage(tokens, position - start, token_bytes)
                return str(self.folder / name), line, passage
            start += length + 1
        return None


@dataclass(frozen=True)
class OpenedFolder:
    memory: FolderMemory
    message: str | None  # why it was (re)built, None when loaded as it was


@dataclass(frozen=True)
class FolderInfo:
    folder: Path
    files: int
    skipped: int
    text_bytes: int
    index_bytes: int


def tokenizer_fingerprint(tokenizer) -> str:
    digest = hashlib.sha1()
    for data in tokenizer.token_bytes:
        digest.update(len(data).to_bytes(2, "little") + data)
    return digest.hexdigest()[:16]


class MemoryLibrary:
    """The folder indexes of one tokenizer, under ``root`` (default: ``<user data>/memory``)."""

    def __init__(self, tokenizer, root: Path | None = None, depth: int = DEFAULT_MAX_ORDER) -> None:
        self.tokenizer = tokenizer
        self.root = root if root is not None else user_data_dir() / "memory"
        self.depth = depth
        self.fingerprint = tokenizer_fingerprint(tokenizer)

    def index_path(self, folder: str | Path) -> Path:
        key = hashlib.sha1(str(Path(folder).resolve()).encode("utf-8")).hexdigest()[:16]
        return self.root / f"{key}-{self.fingerprint}.idx"

    def open(self, folder: str | Path, progress: Progress | None = None,
             cancelled: Callable[[], bool] | None = None) -> OpenedFolder:
        folder = Path(folder).resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"no such folder: {folder}")
        path = self.index_path(folder)
        message = None
        if path.exists():
            try:
                index, header = read_index(path, self.fingerprint)
                if header.get("listing") == _listing(folder):
                    return OpenedFolder(_memory(folder, index, header, path), None)
                message = f"the files in {folder} changed since it was indexed: indexed again"
            except IndexFileError as exc:
                message = f"{exc}: indexed again"
        return OpenedFolder(self.build(folder, progress, cancelled), message)

    def build(self, folder: Path, progress: Progress | None = None,
              cancelled: Callable[[], bool] | None = None) -> FolderMemory:
        report = ScanReport()
        files = find_files([folder], report)
        listing = _listing(folder)
        documents: list[list[int]] = []
        names: list[list] = []
        text_bytes = 0
        for done, file in enumerate(files):
            if cancelled is not None and cancelled():
                raise IndexingCancelled(f"indexing {folder} was cancelled")
            try:
                text = read_text_file(file)
            except (OSError, ValueError) as exc:
                report.skipped[str(file)] = str(exc)
                text = ""
            if text:
                documents.append(self.tokenizer.encode(text))
                names.append([str(file.relative_to(folder)), len(documents[-1])])
                text_bytes += len(text.encode("utf-8"))
                report.files_read += 1
            if progress is not None:
                progress(done + 1, len(files))
        if cancelled is not None and cancelled():
            raise IndexingCancelled(f"indexing {folder} was cancelled")
        index = SuffixIndex.build(documents, self.depth)
        header = {"folder": str(folder), "tokenizer": self.fingerprint, "files": report.files_read,
                  "skipped": len(report.skipped), "text_bytes": text_bytes, "listing": listing,
                  "documents": names}
        path = self.index_path(folder)
        write_index(path, index, header)
        return _memory(folder, index, header, path)

    def folders(self) -> list[FolderInfo]:
        """Every folder indexed for this tokenizer (damaged index files are left out)."""
        found = []
        for path in sorted(self.root.glob(f"*-{self.fingerprint}.idx")):
            try:
                header = read_header(path)
            except (OSError, IndexFileError):
                continue
            found.append(FolderInfo(Path(header.get("folder", "?")), int(header.get("files", 0)),
                                    int(header.get("skipped", 0)), int(header.get("text_bytes", 0)),
                                    path.stat().st_size))
        return found

    def forget(self, folder: str | Path) -> bool:
        """Delete the folder's index; False when there was none."""
        path = self.index_path(folder)
        if not path.exists():
            return False
        path.unlink()
        return True


def _listing(folder: Path) -> list[list]:
    """What decides whether an index is still current: every file's path, size and modification time."""
    rows = []
    for file in find_files([folder]):
        try:
            stat = file.stat()
        except OSError:
            continue
        rows.append([str(file.relative_to(folder)), stat.st_size, stat.st_mtime_ns])
    return rows


def _memory(folder: Path, index: SuffixIndex, header: dict, path: Path) -> FolderMemory:
    documents = [(str(name), int(length)) for name, length in header.get("documents", [])]
    return FolderMemory(folder, index, int(header.get("files", 0)), int(header.get("skipped", 0)),
                        int(header.get("text_bytes", 0)), path, documents)
