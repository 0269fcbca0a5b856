"""Cursor line and column, and the document's line and word counts."""

from __future__ import annotations

import re

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QWidget

_WORD = re.compile(r"\S+")
# Counting words is O(document); on every keystroke of a huge file that would stall typing, so it waits for a pause.
COUNT_DELAY_MS = 250


def count_words(text: str) -> int:
    return sum(1 for _ in _WORD.finditer(text))


class TextCountLabel(QLabel):
    def __init__(self, editor: QPlainTextEdit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("textCountLabel")
        self.editor = editor
        self._words = 0
        self._recount = QTimer(self)
        self._recount.setSingleShot(True)
        self._recount.setInterval(COUNT_DELAY_MS)
        self._recount.timeout.connect(self.recount)
        editor.textChanged.connect(self._recount.start)
        editor.cursorPositionChanged.connect(self._show)
        self.recount()

    def recount(self) -> None:
        self._words = count_words(self.editor.toPlainText())
        self._show()

    def word_count(self) -> int:
        return self._words

    def _show(self) -> None:
        cursor = self.editor.textCursor()
        lines = self.editor.document().blockCount()
        words = self._words
        self.setText(f"Ln {cursor.blockNumber() + 1}, Col {cursor.positionInBlock() + 1}   "
                     f"{lines} line{'s' * (lines != 1)}, {words} word{'s' * (words != 1)}")
