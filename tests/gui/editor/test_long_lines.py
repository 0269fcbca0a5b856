"""A document with a very long line (issue 32 item 14): opened with suggestions off and lines wrapping anywhere,
read-only past 256 Ki characters of line, said in the status bar; an ordinary document opened next is as usual again.
Times are measured by benchmarks/long_lines.py; these tests check the behaviour."""

from __future__ import annotations

from PySide6.QtGui import QTextCursor, QTextOption

from gui.editor import long_lines
from gui.editor.long_lines import LongLines, longest_line
from tests.support.gui import type_text

WORD_WRAP = QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere


def test_the_longest_line_is_measured_at_newlines():
    assert longest_line("short\n" + "x" * 20_000 + "\nend") == 20_000
    assert longest_line("a\nbb\nccc") == 3
    assert LongLines.of("x" * (long_lines.LONG_LINE_CHARS + 1)).hold_suggestions
    assert not LongLines.of(("word " * 1000 + "\n") * 100).hold_suggestions


def test_a_long_line_turns_suggestions_off_wraps_anywhere_and_says_why(qtbot, make_window, tmp_path):
    window = make_window()
    editor = window.editor
    path = tmp_path / "data.json"
    path.write_text('{"values": [' + ", ".join(str(n) for n in range(4000)) + "]}", encoding="utf-8")
    assert window.documents.open(str(path))
    assert editor.long_lines.hold_suggestions and not editor.isReadOnly()
    assert editor.wordWrapMode() == QTextOption.WrapMode.WrapAnywhere
    assert "data.json has a line of" in window.status.currentMessage()
    assert "suggestions are off for it" in window.status.currentMessage()
    assert editor.suggestions_enabled()  # the writer's own switch is untouched: it applies to the next document
    editor.moveCursor(QTextCursor.MoveOperation.End)
    with qtbot.assertNotEmitted(window.suggestions.requestMade, wait=400):
        type_text(qtbot, editor, " more")
    assert editor.toPlainText().endswith("]} more")  # typing goes on
    assert not editor.can_suggest()

    ordinary = tmp_path / "notes.txt"
    ordinary.write_text("An ordinary note.", encoding="utf-8")
    editor.document().setModified(False)  # (the typing above is not to be saved)
    assert window.documents.open(str(ordinary))
    assert not editor.long_lines.hold_suggestions and editor.wordWrapMode() == WORD_WRAP
    editor.moveCursor(QTextCursor.MoveOperation.End)
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000):
        type_text(qtbot, editor, " It")


def test_a_line_past_the_read_only_limit_opens_read_only(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setattr(long_lines, "READ_ONLY_LINE_CHARS", 50_000)  # the rule, on a line quicker to lay out
    window = make_window(model=None, wait_ready=False, settings=None)
    editor = window.editor
    path = tmp_path / "one-word.txt"
    text = "x" * 60_000
    path.write_text(text, encoding="utf-8")
    assert window.documents.open(str(path))
    assert editor.isReadOnly() and editor.long_lines.read_only
    assert "one-word.txt has a line of 60,000 characters" in window.status.currentMessage()
    assert "open read-only" in window.status.currentMessage()
    type_text(qtbot, editor, "abc")
    assert editor.toPlainText() == text  # no keystroke reaches the line
    window.documents.new()
    assert not editor.isReadOnly()
    type_text(qtbot, editor, "abc")
    assert editor.toPlainText() == "abc"


def test_restored_text_with_a_long_line_gets_the_same_rule(qtbot, make_window):
    window = make_window(model=None, wait_ready=False, settings=None)
    window.documents.restore("y" * (long_lines.LONG_LINE_CHARS + 5), None)
    assert window.editor.long_lines.hold_suggestions
    assert "Untitled has a line of" in window.status.currentMessage()
