"""Sample writing: a short English text the tiny tokenizers are trained on, and folders of it to fine-tune on."""

from __future__ import annotations

from pathlib import Path

SAMPLE_TEXT = (
    "The quick brown fox jumps over the lazy dog. The dog sleeps in the warm sun, and the fox runs into the "
    "forest. A brother and a sister walked along the river; they talked of books, of music and of the weather. "
    "\"Where are you going?\" she asked. \"Home,\" he said, \"before the rain comes.\"\n\n"
    "It was a bright cold day in April, and the clocks were striking thirteen. Hello world! Numbers: 1, 2, 3.\n"
) * 4


def make_writing_folder(folder: Path, file_name: str, copies: int = 3) -> Path:
    """A folder of the user's own writing to fine-tune on: ``copies`` files of SAMPLE_TEXT named
    ``file_name.format(i)``."""
    folder.mkdir()
    for i in range(copies):
        (folder / file_name.format(i)).write_text(SAMPLE_TEXT, encoding="utf-8")
    return folder
