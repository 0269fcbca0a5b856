"""``FoundModel``: one model another app keeps on this machine, as its store describes it (before its file is read);
and ``existing_folders``, which both stores use to pick their folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FoundModel:
    name: str  # what the other app calls it, and what engine.load() takes: "smollm2:135m", "publisher/repo/x.gguf"
    path: Path  # the GGUF file (for Ollama a blob with no suffix), or where the store said it would be
    source: str  # "ollama" or "lmstudio"
    problem: str | None = None  # why it cannot be loaded, known from the store alone (a missing blob, ...)
    size_bytes: int = 0  # what the store says the weights take, for one whose file cannot be read


def existing_folders(candidates: list[Path]) -> list[Path]:
    """The candidates that are folders, each once however it is reached (a link, a second spelling), in order."""
    folders: list[Path] = []
    seen: set[Path] = set()
    for candidate in candidates:
        try:
            resolved = candidate.resolve()
        except OSError:
            continue
        if candidate.is_dir() and resolved not in seen:
            seen.add(resolved)
            folders.append(candidate)
    return folders
