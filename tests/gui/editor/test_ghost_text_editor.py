"""The editor with a real engine thread on a tiny random model: ghost text appears, keys do what they promise,
and the ghost text never leaks into the document, the undo stack, the clipboard or the saved file."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QTextCursor
from PySide6.QtTest import QTest

from tests.support.gui import FAST_BEAM, type_text, wait_for_ghost, wait_until_finished

PROMPT = "The quick brown fox"


def test_typing_then_pausing_shows_ghost_text_after_the_cursor(qtbot, make_window):
    window = make_window()
    editor = window.editor
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000) as request:
        type_text(qtbot, editor, PROMPT)
    assert request.args[1] == PROMPT  # the request continues exactly the text before the cursor
    ghost = wait_for_ghost(qtbot, editor)
    assert ghost
    assert editor.toPlainText() == PROMPT  # shown, not inserted
    assert editor.textCursor().position() == len(PROMPT)
    # Drawn after the cursor: repaints are throttled (at most one per 10 ms), so wait for the drawing to catch up.
    qtbot.waitUntil(lambda: bool(editor.textCursor().block().layout().preeditAreaText()), timeout=5000)


def test_tab_accepts_the_whole_suggestion_as_one_undo_step(qtbot, make_window):
    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    wait_until_finished(qtbot, window)
    ghost = editor.ghost_text()
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == PROMPT + ghost
    assert editor.textCursor().position() == len(PROMPT + ghost)
    editor.undo()
    assert editor.toPlainText() == PROMPT  # exactly the acceptance is undone, not the typing before it


def test_tab_without_a_suggestion_types_a_tab(qtbot, make_window):
    window = make_window()
    window.editor.set_suggestions_enabled(False)
    type_text(qtbot, window.editor, "a")
    qtbot.keyClick(window.editor, Qt.Key.Key_Tab)
    assert window.editor.toPlainText() == "a\t"


def test_ctrl_right_accepts_only_the_next_word(qtbot, make_window):
    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, "The quick brown fox jumps over the ")
    wait_until_finished(qtbot, window)
    ghost = editor.ghost_text()
    from gui.editor.ghost_suggestion import next_word_length

    word = ghost[: next_word_length(ghost)]
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert editor.toPlainText().endswith("the " + word)
    assert editor.ghost_text() == ghost[len(word):]  # the rest stays on offer


def test_escape_dismisses_the_suggestion_and_cancels_it(qtbot, make_window):
    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    wait_for_ghost(qtbot, editor)
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.ghost_text() == ""
    assert editor.pending_request is None
    assert not editor.textCursor().block().layout().preeditAreaText()
    assert editor.toPlainText() == PROMPT


def test_alt_brackets_cycle_through_the_beam_alternatives(qtbot, make_window):
    window = make_window(settings=FAST_BEAM)
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    wait_until_finished(qtbot, window)
    candidates = [c.text for c in editor.suggestion.candidates()]
    assert len(candidates) >= 2
    assert editor.ghost_text() == candidates[0]
    qtbot.keyClick(editor, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.AltModifier)
    assert editor.ghost_text() == candidates[1]
    qtbot.keyClick(editor, Qt.Key.Key_BracketLeft, Qt.KeyboardModifier.AltModifier)
    assert editor.ghost_text() == candidates[0]
    qtbot.keyClick(editor, Qt.Key.Key_BracketLeft, Qt.KeyboardModifier.AltModifier)
    assert editor.ghost_text() == candidates[-1]  # wraps around
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == PROMPT + candidates[-1]


def test_typing_what_the_ghost_text_says_consumes_it_without_a_new_request(qtbot, make_window):
    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    wait_until_finished(qtbot, window)
    ghost = editor.ghost_text()
    assert len(ghost) >= 2
    requests = []
    window.suggestions.requestMade.connect(lambda request_id, _text: requests.append(request_id))
    type_text(qtbot, editor, ghost[:2])
    assert editor.ghost_text() == ghost[2:]
    assert editor.toPlainText() == PROMPT + ghost[:2]
    # Give the debounce timer every chance to fire: no request may come while the ghost text is being typed.
    with qtbot.assertNotEmitted(window.suggestions.requestMade, wait=200):
        pass
    assert requests == []


def test_typing_something_else_drops_the_suggestion_and_asks_again(qtbot, make_window):
    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    wait_until_finished(qtbot, window)
    ghost = editor.ghost_text()
    other = "Z" if not ghost.startswith("Z") else "Q"
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000) as request:
        type_text(qtbot, editor, other)
        assert editor.ghost_text() == ""  # at once, before any new suggestion
    assert request.args[1] == PROMPT + other


def test_ctrl_space_asks_for_a_suggestion_at_once(qtbot, make_window):
    window = make_window(debounce_ms=60000)  # the debounce would never fire within the test
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=2000):
        qtbot.keyClick(editor, Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier)
    wait_for_ghost(qtbot, editor)


def test_no_suggestion_while_text_is_selected_or_suggestions_are_off(qtbot, make_window):
    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    wait_for_ghost(qtbot, editor)
    editor.selectAll()
    assert editor.ghost_text() == ""
    assert not editor.can_suggest()
    with qtbot.assertNotEmitted(window.suggestions.requestMade, wait=150):
        editor.request_suggestion_now()

    editor.moveCursor(QTextCursor.MoveOperation.End)
    window.named_actions["view.suggestions"].setChecked(False)  # the toolbar / View menu switch
    with qtbot.assertNotEmitted(window.suggestions.requestMade, wait=150):
        type_text(qtbot, editor, " jumps")
    assert editor.ghost_text() == ""


def test_ghost_text_never_reaches_the_undo_stack_clipboard_or_saved_file(qtbot, make_window, prompts, tmp_path):
    window = make_window()
    editor = window.editor
    editor.replace_text(PROMPT)  # loading text leaves no undo history
    editor.moveCursor(QTextCursor.MoveOperation.End)
    editor.request_suggestion_now()
    wait_until_finished(qtbot, window)
    ghost = editor.ghost_text()
    assert ghost

    assert not editor.document().isUndoAvailable()
    assert editor.toPlainText() == PROMPT
    editor.selectAll()
    editor.copy()
    assert QGuiApplication.clipboard().text() == PROMPT

    editor.moveCursor(QTextCursor.MoveOperation.End)
    editor.request_suggestion_now()
    wait_for_ghost(qtbot, editor)
    target = tmp_path / "out.txt"
    prompts.save_path = str(target)
    assert window.documents.save()
    assert target.read_text(encoding="utf-8") == PROMPT


def test_clicking_in_the_text_dismisses_the_suggestion(qtbot, make_window):
    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    wait_for_ghost(qtbot, editor)
    QTest.mouseClick(editor.viewport(), Qt.MouseButton.LeftButton, pos=editor.cursorRect().center())
    assert editor.ghost_text() == ""
    assert not editor.textCursor().block().layout().preeditAreaText()


def test_status_bar_counts_lines_and_words_and_shows_the_model_and_speed(qtbot, make_window):
    window = make_window()
    window.editor.set_suggestions_enabled(False)
    type_text(qtbot, window.editor, "one two\nthree")
    label = window.status.text_count
    qtbot.waitUntil(lambda: label.word_count() == 3, timeout=5000)
    assert label.text() == "Ln 2, Col 6   2 lines, 3 words"
    assert window.status.model.text() == "Model: tiny-gpt2"
    assert window.status.device.text() == "Device: CPU"
    assert not window.status.latency.isVisible()  # nothing timed yet
    window.editor.set_suggestions_enabled(True)
    window.editor.request_suggestion_now()
    qtbot.waitUntil(lambda: "tok/s" in window.status.latency.text(), timeout=10000)
    assert "first token" in window.status.latency.text()
    assert window.status.latency.isVisible()


def test_text_committed_by_an_input_method_consumes_the_ghost_text_like_typing(qtbot, make_window):
    from PySide6.QtGui import QInputMethodEvent

    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, PROMPT)
    wait_until_finished(qtbot, window)
    ghost = editor.ghost_text()
    event = QInputMethodEvent("", [])
    event.setCommitString(ghost[0])
    QGuiApplication.sendEvent(editor, event)
    assert editor.toPlainText() == PROMPT + ghost[0]
    assert editor.ghost_text() == ghost[1:]
    assert editor.textCursor().block().layout().preeditAreaText() == ghost[1:]


def _editor_awaiting_request(make_window, text: str):
    """A model-less window's editor holding ``text``, the cursor at its end, request 1 begun there."""
    editor = make_window(model=None, wait_ready=False).editor
    editor.replace_text(text)
    editor.moveCursor(QTextCursor.MoveOperation.End)
    editor.begin_request(1)
    return editor


def test_a_multi_line_suggestion_is_shown_inline_and_enter_consumes_its_line_break(qtbot, make_window):
    from engine.decoding.results import StreamEvent

    editor = _editor_awaiting_request(make_window, "Dear Sir,")
    editor.show_stream(StreamEvent(text="\nThank you"))
    qtbot.waitUntil(lambda: bool(editor.textCursor().block().layout().preeditAreaText()), timeout=2000)
    assert editor.textCursor().block().layout().preeditAreaText() == "\u2028Thank you"  # a line break in layout
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert editor.toPlainText() == "Dear Sir,\n"
    assert editor.ghost_text() == "Thank you"
    assert editor.textCursor().block().layout().preeditAreaText() == "Thank you"  # moved to the new line
    assert not editor.document().firstBlock().layout().preeditAreaText()


def test_the_first_streamed_characters_are_drawn_at_once_and_later_ones_once_per_frame(qtbot, make_window):
    from engine.decoding.results import StreamEvent

    editor = _editor_awaiting_request(make_window, "Once upon")
    layout = editor.textCursor().block().layout()
    with qtbot.waitSignal(editor.ghostChanged, timeout=0):  # emitted inside the call, no event loop needed
        editor.show_stream(StreamEvent(text=" a"))
    assert layout.preeditAreaText() == " a"
    editor.show_stream(StreamEvent(text=" a time"))  # a stream event holds the whole text so far
    assert layout.preeditAreaText() == " a"  # coalesced: drawn by the next frame's redraw
    qtbot.waitUntil(lambda: layout.preeditAreaText() == " a time", timeout=2000)


def test_the_debounce_timer_is_precise(qtbot, make_window):
    window = make_window(model=None, wait_ready=False)
    assert window.editor._debounce.timerType() == Qt.TimerType.PreciseTimer  # a coarse one fires up to 6 ms late


def test_ctrl_right_takes_a_word_with_its_punctuation_in_one_step(qtbot, make_window):
    from engine.decoding.results import StreamEvent

    editor = _editor_awaiting_request(make_window, "Thank you for your")
    editor.show_stream(StreamEvent(text=" kindness, and for"))
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert editor.toPlainText() == "Thank you for your kindness,"
    assert editor.ghost_text() == " and for"


def test_ending_a_word_has_the_engine_read_the_text_before_the_pause(qtbot, make_window, monkeypatch):
    window = make_window()
    editor, bridge = window.editor, window.bridge
    read_ahead = []
    forward = bridge.read_ahead
    monkeypatch.setattr(bridge, "read_ahead",
                        lambda text, settings, suffix: read_ahead.append((text, settings)) or forward(text, settings, suffix))
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000) as request:
        type_text(qtbot, editor, "The quick brown")  # ended words only: the typed "brown" is read with the request
    assert [text for text, _ in read_ahead] == ["The ", "The quick "]
    assert request.args[1] == "The quick brown"
    assert read_ahead[-1][1] == window.suggestions.gating.decoding_settings(window.suggestions.settings)
    assert wait_for_ghost(qtbot, editor)
    editor.set_suggestions_enabled(False)
    type_text(qtbot, editor, " fox ")
    assert len(read_ahead) == 2  # suggestions off: nothing is read ahead either
