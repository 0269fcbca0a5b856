"""TextCountLabel: cursor line and column, and the document's line and word counts."""

from __future__ import annotations

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit

from gui.statusbar import text_count_label
from gui.statusbar.text_count_label import TextCountLabel, count_words


def test_words_are_what_whitespace_separates():
    assert count_words("") == 0
    assert count_words("one  two\nthree\t four") == 4


def test_the_cursor_moves_at_once_and_the_words_are_counted_after_a_pause(qtbot):
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    label = TextCountLabel(editor)
    assert label.text() == "Ln 1, Col 1   1 line, 0 words"
    editor.setPlainText("one two\nthree")
    editor.moveCursor(QTextCursor.MoveOperation.End)
    assert label.text().startswith("Ln 2, Col 6   2 lines, ")  # the position at once, the count not yet
    qtbot.waitUntil(lambda: label.word_count() == 3, timeout=5000)
    assert label.text() == "Ln 2, Col 6   2 lines, 3 words"


def test_a_big_document_waits_longer_before_it_is_counted(qtbot, monkeypatch):
    monkeypatch.setattr(text_count_label, "BIG_DOCUMENT_CHARS", 10)
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    label = TextCountLabel(editor)
    editor.setPlainText("a document longer than ten characters")
    assert label._recount.interval() == text_count_label.BIG_DOCUMENT_DELAY_MS
