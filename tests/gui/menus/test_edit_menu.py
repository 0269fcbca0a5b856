"""Edit menu: undo / redo, the clipboard, select all, find / replace, go to line, as a writer uses them."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QGuiApplication, QKeySequence, QTextCursor

TEXT = "The cat sat.\nA Cat, a cat!\nConcatenate the cats.\n"


@pytest.fixture
def window(make_window):
    window = make_window(model=None, wait_ready=False)
    window.editor.replace_text(TEXT)
    window.editor.moveCursor(QTextCursor.MoveOperation.Start)
    return window


def selection(window) -> tuple[int, int, str]:
    cursor = window.editor.textCursor()
    return cursor.selectionStart(), cursor.selectionEnd(), cursor.selectedText()


def test_the_edit_menu_comes_after_file_with_every_editors_shortcuts(window):
    titles = [action.text() for action in window.menuBar().actions()]
    assert titles[:2] == ["&File", "&Edit"]
    keys = QKeySequence.StandardKey
    expected = {"edit.undo": keys.Undo, "edit.redo": keys.Redo, "edit.cut": keys.Cut, "edit.copy": keys.Copy,
                "edit.paste": keys.Paste, "edit.select_all": keys.SelectAll, "edit.find": keys.Find,
                "edit.find_next": keys.FindNext, "edit.find_previous": keys.FindPrevious}
    for name, key in expected.items():
        assert window.named_actions[name].shortcut() == QKeySequence(key), name
    assert window.named_actions["edit.replace"].shortcut() == QKeySequence("Ctrl+H")
    assert window.named_actions["edit.go_to_line"].shortcut() == QKeySequence("Ctrl+G")


def test_undo_redo_and_the_clipboard(window):
    editor, actions = window.editor, window.named_actions
    assert not actions["edit.copy"].isEnabled() and not actions["edit.undo"].isEnabled()
    actions["edit.select_all"].trigger()
    assert editor.textCursor().selectedText().replace("\u2029", "\n") == TEXT
    assert actions["edit.copy"].isEnabled() and actions["edit.cut"].isEnabled()
    actions["edit.cut"].trigger()
    assert editor.toPlainText() == "" and QGuiApplication.clipboard().text() == TEXT
    assert actions["edit.undo"].isEnabled()
    actions["edit.undo"].trigger()
    assert editor.toPlainText() == TEXT and actions["edit.redo"].isEnabled()
    actions["edit.redo"].trigger()
    assert editor.toPlainText() == ""
    actions["edit.paste"].trigger()
    actions["edit.paste"].trigger()
    assert editor.toPlainText() == TEXT + TEXT


def test_find_next_and_previous_wrap_around_and_honour_case_and_whole_words(window):
    finder = window.finder
    window.named_actions["edit.find"].trigger()
    assert finder.isVisible() and not finder.isModal()
    finder.find_field.setText("cat")
    hits = []
    for _ in range(6):
        assert finder.find_next()
        hits.append(selection(window)[0])
    every = [i for i in range(len(TEXT)) if TEXT[i:i + 3].lower() == "cat"]
    assert hits == every + every[:6 - len(every)]  # all of them, in order, then round again
    finder.match_case.setChecked(True)
    finder.whole_words.setChecked(True)
    window.editor.moveCursor(QTextCursor.MoveOperation.Start)
    found = set()
    for _ in range(3):
        window.named_actions["edit.find_next"].trigger()  # F3: the same search with the dialog's options
        found.add(selection(window)[:2])
    assert found == {(4, 7), (22, 25)}  # "cat" alone, lower case: not "Cat", "Concatenate" or "cats"
    assert selection(window)[:2] == (4, 7)
    window.named_actions["edit.find_previous"].trigger()  # Shift+F3: back past the start, round to the end
    assert selection(window)[:2] == (22, 25)
    window.named_actions["edit.find_previous"].trigger()
    assert selection(window)[:2] == (4, 7)
    finder.find_field.setText("dog")
    assert not finder.find_next()
    assert "not found" in finder.status.text()


def test_replace_steps_through_matches_and_replace_all_is_one_undo_step(window):
    finder, editor = window.finder, window.editor
    window.named_actions["edit.replace"].trigger()
    finder.find_field.setText("cat")
    finder.replace_field.setText("dog")
    finder.whole_words.setChecked(True)
    assert finder.replace()  # nothing selected yet: it selects the first match
    assert editor.toPlainText() == TEXT
    assert finder.replace()  # replaces it and selects the next
    assert editor.toPlainText() == TEXT.replace("The cat", "The dog", 1)
    editor.undo()
    assert editor.toPlainText() == TEXT
    assert finder.replace_all() == 3  # "cat", "Cat", "cat": not inside "Concatenate" or "cats"
    assert editor.toPlainText() == "The dog sat.\nA dog, a dog!\nConcatenate the cats.\n"
    assert "Replaced 3 matches" in finder.status.text()
    editor.undo()
    assert editor.toPlainText() == TEXT  # one step takes every replacement back


def test_replacing_with_text_that_holds_the_search_ends(window):
    finder = window.finder
    finder.find_field.setText("cat")
    finder.replace_field.setText("cat cat")
    assert finder.replace_all() == 5
    assert window.editor.toPlainText() == TEXT.replace("cat", "cat cat").replace("Cat", "cat cat")


def test_go_to_line_asks_and_moves_the_cursor(window, prompts):
    prompts.go_to_line_answer = 3
    window.named_actions["edit.go_to_line"].trigger()
    assert prompts.calls[-1] == ("go_to_line", 1, 4)  # on line 1 of 4 (the last one empty)
    assert window.editor.textCursor().position() == TEXT.index("Concatenate")
    prompts.go_to_line_answer = None  # cancelled: nothing moves
    window.named_actions["edit.go_to_line"].trigger()
    assert window.editor.textCursor().position() == TEXT.index("Concatenate")
