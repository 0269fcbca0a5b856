"""The memory's operations as engine-worker jobs (``EngineWorker.submit``), for a GUI that never touches the model.

Each job runs on the engine thread, changes ``lm.memory`` and returns a ``MemoryState``: plain frozen data that can
cross to another thread. ``configure`` re-applies a saved configuration (the "This document" switch and the
remembered folders) to a newly loaded model, whose memory starts empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.memory.folders import FolderMemory, IndexingCancelled


@dataclass(frozen=True)
class FolderSummary:
    folder: str
    files: int
    skipped: int
    text_bytes: int
    tokens: int


@dataclass(frozen=True)
class MemoryState:
    document: bool  # "This document" is on
    document_tokens: int
    folders: tuple[FolderSummary, ...]
    messages: tuple[str, ...] = ()  # what happened that the user should hear (a rebuilt index, a missing folder)

    @property
    def folder_bytes(self) -> int:
        return sum(f.text_bytes for f in self.folders)


def _summary(folder: FolderMemory) -> FolderSummary:
    return FolderSummary(str(folder.folder), folder.files, folder.skipped, folder.text_bytes, folder.tokens)


def state_of(memory, messages: list[str] | tuple[str, ...] = ()) -> MemoryState:
    return MemoryState(memory.use_document, len(memory.document), tuple(_summary(f) for f in memory.folders),
                       tuple(messages))


def configure(document: bool, folders: list[str], root: Path | None = None) -> Callable:
    """Set the switch and attach exactly ``folders`` (loading their indexes, rebuilding stale ones)."""

    def job(lm, ctx) -> MemoryState:
        memory = lm.memory
        memory.set_library_root(root)
        memory.use_document = document
        messages = []
        wanted = {Path(f).expanduser().resolve() for f in folders}
        for attached in list(memory.folders):
            if attached.folder not in wanted:
                memory.remove_folder(attached.folder)
        present = {f.folder for f in memory.folders}
        for folder in folders:
            if Path(folder).expanduser().resolve() in present:
                continue
            try:
                opened = memory.add_folder(folder, cancelled=ctx.cancelled)
            except FileNotFoundError:
                messages.append(f"Memory: the folder {folder} is gone; it is no longer remembered")
                continue
            except IndexingCancelled:
                break
            if opened.message:
                messages.append(f"Memory: {opened.message}")
        return state_of(memory, messages)

    return job


def add_folder(folder: str, root: Path | None = None) -> Callable:
    """Index (or load) ``folder`` and attach it; reports {"done", "total"} files; cancellable between files."""

    def job(lm, ctx) -> MemoryState | None:
        memory = lm.memory
        memory.set_library_root(root)

        def progress(done: int, total: int) -> None:
            ctx.progress({"folder": folder, "done": done, "total": total})

        try:
            opened = memory.add_folder(folder, progress, ctx.cancelled)
        except IndexingCancelled:
            return None
        return state_of(memory, [f"Memory: {opened.message}"] if opened.message else [])

    return job


def forget_folder(folder: str, root: Path | None = None) -> Callable:
    """Detach ``folder`` and delete its index."""

    def job(lm, ctx) -> MemoryState:
        lm.memory.set_library_root(root)
        lm.memory.remove_folder(folder, forget=True)
        return state_of(lm.memory)

    return job


def set_document(on: bool) -> Callable:
    def job(lm, ctx) -> MemoryState:
        lm.memory.use_document = on
        if not on:
            lm.memory.document.update("")
        return state_of(lm.memory)

    return job
