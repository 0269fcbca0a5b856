"""Ctrl+Right and the candidates popup in Chinese and Japanese, where a word is a character or a run of kana."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from engine.decoding.results import StreamEvent
from gui.suggestions.token_candidates_popup import visible_token


def _editor_showing(make_window, text: str, ghost: str):
    editor = make_window(model=None, wait_ready=False).editor
    editor.replace_text(text)
    editor.moveCursor(QTextCursor.MoveOperation.End)
    editor.begin_request(1)
    editor.show_stream(StreamEvent(text=ghost))
    return editor


def test_ctrl_right_takes_one_chinese_character_and_its_punctuation(qtbot, make_window):
    editor = _editor_showing(make_window, "好的，", "我们明天见。")
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert editor.toPlainText() == "好的，我"
    assert editor.ghost_text() == "们明天见。"
    for _ in range(3):
        qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert editor.toPlainText() == "好的，我们明天见。"  # the last step took "见" with its full stop
    assert editor.ghost_text() == ""


def test_ctrl_right_takes_a_run_of_kana_as_one_word(qtbot, make_window):
    editor = _editor_showing(make_window, "これは", "コンピューターです。")
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert editor.toPlainText() == "これはコンピューターです。"  # Katakana and Hiragana: one run of kana


def test_the_popup_shows_a_chinese_character_as_itself():
    assert visible_token("们", "我") == "们"  # not "我们": a character is a word of its own
    assert visible_token("う", "ありがと") == "ありがとう"  # the rest of a kana run shows the whole run
    assert visible_token("wn", "The quick bro") == "brown"
