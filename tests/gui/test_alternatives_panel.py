"""The Alternatives panel: it lists the beam alternatives with probabilities, follows the editor live, and
inserts the chosen one on click, Enter or Ctrl+N; the View menu shows and hides it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from tests.support.gui import FAST_BEAM, gated_worker_factory, type_text, wait_until_finished

PROMPT = "The quick brown fox"


@pytest.fixture
def window_with_alternatives(qtbot, make_window):
    window = make_window(settings=FAST_BEAM)
    window.finished = []
    window.bridge.suggestionFinished.connect(window.finished.append)
    type_text(qtbot, window.editor, PROMPT)
    wait_until_finished(qtbot, window)
    qtbot.waitUntil(lambda: window.alternatives.list.count() >= 2, timeout=5000)
    return window


def test_panel_lists_the_alternatives_with_one_labelled_probability_sorted(window_with_alternatives):
    from engine.decoding.results import SHARE_MEANING, percent, shares

    window = window_with_alternatives
    panel = window.alternatives
    candidates = window.editor.suggestion.candidates()
    from gui.editor.ghost_suggestion import clean

    completions = {clean(c.text): c for c in window.finished[-1].completions}  # what the engine sent
    assert panel.candidate_texts() == [c.text for c in candidates]
    assert panel.list.count() == len(candidates)
    expected = shares([completions[c.text] for c in candidates])  # the engine's one meaning, as the CLI's
    shown = [panel.list.item(row).data(Qt.ItemDataRole.UserRole + 2) for row in range(len(candidates))]
    assert shown == pytest.approx(expected)
    assert shown == sorted(shown, reverse=True)
    assert sum(shown) == pytest.approx(1.0) and all(percent(s) != "0%" for s in shown)
    assert panel.meaning.isVisible() and SHARE_MEANING in panel.meaning.text()
    assert SHARE_MEANING in panel.list.item(0).toolTip()


def test_clicking_an_alternative_inserts_it(qtbot, window_with_alternatives):
    window = window_with_alternatives
    panel = window.alternatives
    second = panel.candidate_texts()[1]
    rect = panel.list.visualItemRect(panel.list.item(1))
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.editor.toPlainText() == PROMPT + second
    window.editor.undo()
    assert window.editor.toPlainText() == PROMPT  # one undo step


def test_enter_inserts_the_current_alternative(qtbot, window_with_alternatives):
    window = window_with_alternatives
    panel = window.alternatives
    last = panel.candidate_texts()[-1]
    panel.list.setCurrentRow(panel.list.count() - 1)
    qtbot.keyClick(panel.list, Qt.Key.Key_Return)
    assert window.editor.toPlainText() == PROMPT + last


def test_ctrl_number_inserts_that_alternative_from_the_editor(qtbot, window_with_alternatives):
    window = window_with_alternatives
    second = window.alternatives.candidate_texts()[1]
    shortcut = window.alternatives.shortcuts[1]
    assert shortcut.key().toString() == "Ctrl+2"
    shortcut.activated.emit()  # what Qt does when Ctrl+2 is pressed in the window
    assert window.editor.toPlainText() == PROMPT + second


def test_panel_follows_cycling_and_empties_when_the_suggestion_goes(qtbot, window_with_alternatives):
    window = window_with_alternatives
    editor = window.editor
    chosen_role = Qt.ItemDataRole.UserRole + 3
    panel = window.alternatives
    assert panel.list.item(0).data(chosen_role)
    editor.cycle_alternatives(1)
    assert panel.list.item(1).data(chosen_role) and not panel.list.item(0).data(chosen_role)
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert panel.list.count() == 0
    assert not panel.empty_label.isHidden()


def test_view_menu_toggles_the_panel_and_remembers_it(qtbot, make_window):
    window = make_window()
    action = window.named_actions["view.alternatives"]
    assert window.alternatives.isVisible()
    action.trigger()
    assert not window.alternatives.isVisible()
    assert window.app_settings.alternatives_visible is False
    window.shutdown()
    again = make_window()
    assert not again.alternatives.isVisible()
    assert not again.named_actions["view.alternatives"].isChecked()


def test_panel_updates_live_while_the_suggestion_streams(qtbot, make_window):
    models = []
    window = make_window(settings=FAST_BEAM, worker_factory=gated_worker_factory(models))
    gated, panel = models[0], window.alternatives
    type_text(qtbot, window.editor, PROMPT)
    while panel.list.count() == 0:  # token by token until the first text shows
        assert gated.passed < 6, "no text was streamed"
        qtbot.waitUntil(gated.waiting.is_set, timeout=5000)
        target = gated.passed + 1
        gated.release(1)
        qtbot.waitUntil(lambda t=target: gated.passed >= t, timeout=5000)
        qtbot.waitUntil(lambda: panel.list.count() > 0 or gated.waiting.is_set(), timeout=5000)
    assert panel.list.count() == 1  # the best hypothesis so far, not yet scored
    assert panel.list.item(0).data(Qt.ItemDataRole.UserRole + 2) is None
    assert panel.candidate_texts() == [window.editor.ghost_text()]
    gated.open()
    qtbot.waitUntil(lambda: panel.list.count() >= 2, timeout=10000)
    assert panel.list.item(0).data(Qt.ItemDataRole.UserRole + 2) is not None


def _finished_with(window, completions) -> None:
    editor = window.editor
    editor.replace_text("She opened the door and")
    editor.moveCursor(QTextCursor.MoveOperation.End)
    editor.begin_request(1)
    editor.show_completions(tuple(completions), cancelled=False)


def _completion(text: str, *logprobs: float):
    from engine.decoding.results import Completion

    pieces = [text] if len(logprobs) == 1 else [text[:1], text[1:]]
    return Completion(text, sum(logprobs), tuple(range(len(pieces))), logprobs, tuple(pieces))


def test_typing_the_start_of_another_alternative_switches_the_ghost_text_to_it(qtbot, make_window):
    window = make_window(model=None, wait_ready=False)
    _finished_with(window, [_completion(" then, and", -1.0), _completion(" the door", -1.5),
                            _completion(" she was", -2.0)])
    editor = window.editor
    assert editor.ghost_text() == " then, and"
    requests = []
    window.suggestions.requestMade.connect(requests.append)
    type_text(qtbot, editor, " s")  # not the shown text, but how the third alternative starts
    assert editor.ghost_text() == "he was"
    assert window.alternatives.candidate_texts() == ["he was"]
    type_text(qtbot, editor, "h")
    assert editor.ghost_text() == "e was" and not requests  # no new request: the user is taking it
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "She opened the door and she was"


def test_punctuation_only_and_repeated_alternatives_are_not_listed(qtbot, make_window):
    window = make_window(model=None, wait_ready=False)
    _finished_with(window, [_completion(" the door", -2.0), _completion(" ...", -0.5), _completion(",", -0.1),
                            _completion(" the  door", -2.2), _completion(" then", -0.5, -0.5)])
    assert window.alternatives.candidate_texts() == [" then", " the door"]  # sorted by what is shown
    shown = [window.alternatives.list.item(r).data(Qt.ItemDataRole.UserRole + 2) for r in range(2)]
    assert shown[0] > shown[1] and sum(shown) == pytest.approx(1.0)
