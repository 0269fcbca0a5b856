"""Where the memory's prediction of a token came from: the document or the file of a folder, the line, and the
passage it echoes ("from your document, line 212"). Looked up only when asked (a hover), by scanning for the
matched context followed by the token, so the statistics need not remember positions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PASSAGE_BYTES_BEFORE = 60
PASSAGE_BYTES_AFTER = 40


@dataclass(frozen=True)
class MemorySource:
    where: str  # "document", or the path of a file in a remembered folder
    line: int  # 1-based line of the echoed token
    passage: str  # the text around it
    share: float = 0.0  # the memory's share of the token's probability, 0..1

    def describe(self) -> str:
        place = "your document" if self.where == "document" else Path(self.where).name
        return f"from {place}, line {self.line}"


def latest_occurrence(tokens: list[int], pattern: list[int]) -> int | None:
    """Index of the last token of the latest occurrence of ``pattern`` in ``tokens`` (None: nowhere)."""
    if not pattern or len(pattern) > len(tokens):
        return None
    last, width = pattern[-1], len(pattern)
    for end in range(len(tokens) - 1, width - 2, -1):
        if tokens[end] == last and tokens[end - width + 1 : end + 1] == pattern:
            return end
    return None


def line_and_passage(tokens: list[int], position: int, token_bytes: list[bytes]) -> tuple[int, str]:
    """The 1-based line of ``tokens[position]`` and the text around it, within ``tokens`` (one file's)."""
    before = b"".join(token_bytes[t] for t in tokens[:position])
    # Every token has at least one byte, so this many tokens after it cover the bytes wanted.
    after = b"".join(token_bytes[t] for t in tokens[position + 1 : position + 1 + PASSAGE_BYTES_AFTER])
    window = before[-PASSAGE_BYTES_BEFORE:] + token_bytes[tokens[position]] + after[:PASSAGE_BYTES_AFTER]
    passage = " ".join(window.decode("utf-8", errors="replace").split())
    return before.count(b"\n") + 1, passage
