"""Which document text a prompt is cut from: the window before the cursor, whose start moves in whole steps."""

from __future__ import annotations

from gui.editor.prompt_window import WINDOW_CHARS, WINDOW_STEP, text_before, window_start


def test_prompt_window_start_moves_in_steps(qtbot):
    from PySide6.QtGui import QTextDocument

    assert window_start(100) == 0
    starts = {window_start(position) for position in range(50_000, 50_000 + WINDOW_STEP // 2)}
    assert len(starts) <= 2  # typing a few thousand characters moves the start at most once
    for position in (WINDOW_CHARS + 1, 123_456):
        start = window_start(position)
        assert start % WINDOW_STEP == 0 and position - WINDOW_CHARS <= start <= position
    document = QTextDocument("line one\nline two")
    assert text_before(document, document.characterCount() - 1) == "line one\nline two"
    assert text_before(document, 8) == "line one"
    assert window_start(1000, window_chars=256, step=4096) <= 1000 - 128  # a small window never collapses
