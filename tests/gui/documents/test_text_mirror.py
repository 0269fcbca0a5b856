"""The line mirror a crash-recovery snapshot reads instead of toPlainText: after any edits it joins to exactly the
document's plain text, and a snapshot reads only the lines edited since the last one."""

from __future__ import annotations

import random

import pytest
from PySide6.QtGui import QTextCursor, QTextDocument
from PySide6.QtWidgets import QPlainTextEdit

from gui.documents import text_mirror
from gui.documents.text_mirror import TextMirror, plain_text


def _random_edit(rng: random.Random, editor: QPlainTextEdit) -> None:
    document = editor.document()
    cursor = QTextCursor(document)
    size = document.characterCount() - 1
    start = rng.randint(0, size)
    cursor.setPosition(start)
    kind = rng.choice(["type", "newline", "paste", "delete", "delete-lines", "undo", "redo", "replace-all"])
    if kind == "type":
        cursor.insertText(rng.choice(["a", "é", "😀", " word", "\u00a0", "\u2028"]))
    elif kind == "newline":
        cursor.insertText("\n")
    elif kind == "paste":
        cursor.insertText("\n".join(rng.choice(["one", "", "two three", "\u00a0x"]) for _ in range(rng.randint(1, 5))))
    elif kind in ("delete", "delete-lines"):
        cursor.setPosition(min(size, start + (rng.randint(1, 3) if kind == "delete" else rng.randint(5, 60))),
                           QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
    elif kind == "undo":
        document.undo()
    elif kind == "redo":
        document.redo()
    elif rng.random() < 0.1:
        editor.setPlainText("fresh\ntext " * rng.randint(0, 4))


@pytest.mark.parametrize("piece_chars", [text_mirror.PIECE_CHARS, 8])
def test_after_any_edits_the_lines_join_to_the_documents_plain_text(qtbot, monkeypatch, piece_chars):
    monkeypatch.setattr(text_mirror, "PIECE_CHARS", piece_chars)  # 8: joined in many pieces, as a big document is
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    editor.setPlainText("First line.\nSecond line, longer.\n\nFourth.")
    mirror = TextMirror(editor.document())
    rng = random.Random(7)
    for step in range(1500):
        _random_edit(rng, editor)
        if step % 7 == 0 or rng.random() < 0.2:
            assert plain_text(mirror.lines()) == editor.toPlainText(), step
    assert plain_text(mirror.lines()) == editor.toPlainText()


def test_a_snapshot_reads_only_the_lines_edited_since_the_last(qtbot, monkeypatch):
    document = QTextDocument()
    document.setPlainText("\n".join(f"line {n}" for n in range(10_000)))
    mirror = TextMirror(document)
    mirror.lines()
    cursor = QTextCursor(document.findBlockByNumber(5000))
    read: list[int] = []
    original = QTextDocument.findBlockByNumber
    monkeypatch.setattr(QTextDocument, "findBlockByNumber", lambda self, n: read.append(n) or original(self, n))
    cursor.insertText("edited ")
    cursor.insertText("\nsplit ")
    lines = mirror.lines()
    assert read == [5000, 5001]
    assert lines[5000:5002] == ["edited ", "split line 5000"] and len(lines) == 10_001
