"""Cursor line and column, and the document's line and word counts."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QWidget

# Counting words is O(document); on every keystroke of a huge file that would stall typing, so it waits for a
# pause, and a longer one in a big document (counting a million characters takes tens of milliseconds).
COUNT_DELAY_MS = 250
BIG_DOCUMENT_CHARS = 1_000_000
BIG_DOCUMENT_DELAY_MS = 2000


def count_words(text: str) -> int:
    return len(text.split())


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
        editor.textChanged.connect(self._schedule)
        editor.cursorPositionChanged.connect(self._show)
        self.recount()

    def _schedule(self) -> None:
        big = self.editor.document().characterCount() > BIG_DOCUMENT_CHARS
        self._recount.setInterval(BIG_DOCUMENT_DELAY_MS if big else COUNT_DELAY_MS)
        self._recount.start()

    def recount(self) -> None:
        self._words = count_words(self.editor.toPlainText())
        self._show()

    def text_replaced(self) -> None:
        """Another text came in whole (New, Open, Reload): counted at once, so the previous document's count is
        never shown for it, however big it is."""
        self._recount.stop()
        self.recount()

    def word_count(self) -> int:
        return self._words

    def _show(self) -> None:
        cursor = self.editor.textCursor()
        lines = self.editor.document().blockCount()
        words = self._words
        self.setText(f"Ln {cursor.blockNumber() + 1}, Col {cursor.positionInBlock() + 1}   "
                     f"{lines} line{'s' * (lines != 1)}, {words} word{'s' * (words != 1)}")
