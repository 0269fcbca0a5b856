"""Input methods (Chinese pinyin, Japanese kana): while one composes, the ghost text hides and nothing is asked;
the committed text is written exactly once, and a suggestion may follow it as after typing."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QInputMethodEvent
from PySide6.QtWidgets import QApplication

from tests.support.gui import type_text, wait_until_finished

PROMPT = "The quick brown fox said "


def compose(editor, preedit: str) -> None:
    QApplication.sendEvent(editor, QInputMethodEvent(preedit, []))


def commit(editor, text: str) -> None:
    event = QInputMethodEvent("", [])
    event.setCommitString(text)
    QApplication.sendEvent(editor, event)


def pre_edit_area(editor) -> str:
    return editor.textCursor().block().layout().preeditAreaText()


def test_while_composing_the_ghost_text_hides_and_no_suggestion_is_asked(qtbot, make_window):
    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    wait_until_finished(qtbot, window)
    assert editor.ghost_text()
    with qtbot.assertNotEmitted(window.suggestions.requestMade):
        compose(editor, "n")
        compose(editor, "ni")
        assert editor.ghost_text() == ""
        assert pre_edit_area(editor) == "ni"  # the composition alone: no ghost text beside or over it
        qtbot.keyClick(editor, Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier)  # Suggest Now waits too
        assert not editor.can_suggest()
        assert not editor._debounce.isActive()  # no request is on its way either
    assert editor.toPlainText() == PROMPT  # composed text is not written yet
    assert editor.pending_request is None


def test_committing_writes_the_composed_text_once_and_a_suggestion_follows(qtbot, make_window):
    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    wait_until_finished(qtbot, window)
    compose(editor, "ni")
    compose(editor, "nihao")
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000) as request:
        commit(editor, "你好")
        assert editor.toPlainText() == PROMPT + "你好"
        assert editor.textCursor().position() == len(PROMPT + "你好")
        assert pre_edit_area(editor) == ""
    assert request.args[1] == PROMPT + "你好"  # asked as after typing, for exactly the text written
    qtbot.waitUntil(lambda: editor.pending_request is None, timeout=10000)
    assert editor.toPlainText() == PROMPT + "你好"  # a suggestion is shown, never written


def test_a_commit_that_starts_the_next_composition_writes_only_the_committed_part(qtbot, make_window):
    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    wait_until_finished(qtbot, window)
    compose(editor, "ni")
    with qtbot.assertNotEmitted(window.suggestions.requestMade):
        event = QInputMethodEvent("h", [])
        event.setCommitString("你")
        QApplication.sendEvent(editor, event)
        assert editor.toPlainText() == PROMPT + "你"
        assert pre_edit_area(editor) == "h"
        assert editor.ghost_text() == ""
        assert not editor._debounce.isActive()
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000):
        commit(editor, "好")
    assert editor.toPlainText() == PROMPT + "你好"


def test_a_composition_given_up_writes_nothing_and_asks_nothing(qtbot, make_window):
    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    wait_until_finished(qtbot, window)
    compose(editor, "ka")
    with qtbot.assertNotEmitted(window.suggestions.requestMade):
        compose(editor, "")
        assert editor.toPlainText() == PROMPT
        assert pre_edit_area(editor) == ""
        assert not editor._debounce.isActive()
