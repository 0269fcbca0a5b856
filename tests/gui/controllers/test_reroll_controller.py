"""Never lose a good suggestion: Alt+R re-rolls at the same point with a new seed (sampling even when the strategy
is greedy), every suggestion made there stays in a history that Alt+Shift+[ / Alt+Shift+] step through, and the
one stepped to can be accepted like a new one."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from gui.controllers.reroll_controller import reroll_settings
from tests.support.gui import FAST_GREEDY, type_and_wait_for_suggestion, type_text, wait_until_finished

PROMPT = "The quick brown fox"
ALT = Qt.KeyboardModifier.AltModifier
ALT_SHIFT = Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ShiftModifier
# Greedy suggestions; a re-roll samples at this temperature, which gives a random tiny model real variety.
GREEDY_HOT = FAST_GREEDY.replace(temperature=3.0)


def reroll(qtbot, window) -> str:
    """Alt+R, then the finished re-rolled suggestion."""
    finished = []
    window.bridge.suggestionFinished.connect(lambda event: finished.append(event.request_id))
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000) as made:
        qtbot.keyClick(window.editor, Qt.Key.Key_R, ALT)
    qtbot.waitUntil(lambda: made.args[0] in finished, timeout=10000)
    wait_until_finished(qtbot, window)
    return window.editor.ghost_text()


def step(qtbot, window, key: Qt.Key) -> str:
    qtbot.keyClick(window.editor, key, ALT_SHIFT)
    return window.editor.ghost_text()


@pytest.fixture
def window(make_window):
    window = make_window(settings=GREEDY_HOT)
    window.rerolls.new_seed = iter(range(1, 1000)).__next__  # repeatable re-rolls
    return window


def test_alt_r_samples_a_new_continuation_with_a_fresh_seed_and_says_so(qtbot, window):
    editor = window.editor
    first = type_and_wait_for_suggestion(qtbot, window, PROMPT)
    sent = []
    original = window.bridge.suggest
    window.bridge.suggest = lambda text, settings, suffix: sent.append((text, settings)) or original(text, settings,
                                                                                                   suffix)
    second = reroll(qtbot, window)
    text, settings = sent[-1]
    assert text == PROMPT  # the same point
    assert settings.strategy == "sample" and settings.seed is not None and settings.temperature == 3.0
    assert "sampling" in window.status.currentMessage() and "greedy" in window.status.currentMessage()
    assert window.suggestions.settings == GREEDY_HOT  # the user's strategy is untouched
    third = reroll(qtbot, window)
    assert sent[-1][1].seed != settings.seed
    assert len({first, second, third}) == 3
    assert editor.toPlainText() == PROMPT


def test_the_history_steps_back_and_forth_and_a_stepped_to_suggestion_is_accepted(qtbot, window):
    editor = window.editor
    made = [type_and_wait_for_suggestion(qtbot, window, PROMPT), reroll(qtbot, window), reroll(qtbot, window)]
    assert len(set(made)) == 3

    assert step(qtbot, window, Qt.Key.Key_BraceLeft) == made[1]  # Alt+Shift+[ (Alt+{ on a US keyboard)
    assert "2 of 3" in window.status.currentMessage()
    assert step(qtbot, window, Qt.Key.Key_BracketLeft) == made[0]  # Alt+Shift+[ as some layouts report it
    assert step(qtbot, window, Qt.Key.Key_BraceLeft) == made[0]  # nothing older: stays
    assert "oldest" in window.status.currentMessage()
    assert step(qtbot, window, Qt.Key.Key_BraceRight) == made[1]
    assert step(qtbot, window, Qt.Key.Key_BracketRight) == made[2]
    assert step(qtbot, window, Qt.Key.Key_BraceLeft) == made[1]
    assert window.alternatives.candidate_texts() == [made[1]]  # the panel follows
    assert editor.toPlainText() == PROMPT

    qtbot.keyClick(editor, Qt.Key.Key_Tab)  # restore it for good
    assert editor.toPlainText() == PROMPT + made[1]
    description = window.provenance.describe_at(len(PROMPT))
    assert "sampling, seed" in description and "temperature 3" in description


def test_a_dismissed_suggestion_comes_back_from_the_history(qtbot, window):
    editor = window.editor
    ghost = type_and_wait_for_suggestion(qtbot, window, PROMPT)
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.ghost_text() == ""
    assert step(qtbot, window, Qt.Key.Key_BraceLeft) == ghost


def test_the_history_belongs_to_its_place_in_the_text(qtbot, window):
    editor = window.editor
    ghost = type_and_wait_for_suggestion(qtbot, window, PROMPT)
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    window.named_actions["view.suggestions"].setChecked(False)
    type_text(qtbot, editor, " X")
    window.named_actions["view.suggestions"].setChecked(True)
    editor.moveCursor(QTextCursor.MoveOperation.Left)
    editor.moveCursor(QTextCursor.MoveOperation.Left)  # back where the suggestion was made, but " X" follows
    assert step(qtbot, window, Qt.Key.Key_BraceLeft) == ""
    assert "No earlier suggestions here" in window.status.currentMessage()
    editor.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    editor.dismiss()
    assert step(qtbot, window, Qt.Key.Key_BraceLeft) == ghost  # the same surroundings again


def test_a_reroll_samples_even_from_settings_that_would_be_greedy():
    from engine.decoding.settings import DecodingSettings

    greedy = DecodingSettings(temperature=0.0, top_p=0.9)
    settings = reroll_settings(greedy, 42)
    assert (settings.strategy, settings.seed, settings.temperature, settings.top_p) == ("sample", 42, 1.0, 0.9)


def test_a_reroll_is_not_cut_back_to_its_first_word():
    """At the app's Sentence length the doubt cut ended every re-roll after one word ("day" again and again)."""
    from gui.settings.settings_store import APP_DEFAULT_DECODING

    rerolled = reroll_settings(APP_DEFAULT_DECODING, 7)
    assert APP_DEFAULT_DECODING.doubt_cut > 0 and rerolled.stop == "sentence"
    assert rerolled.doubt_cut == 0.0
