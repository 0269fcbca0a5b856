"""See why, and branch: hovering the ghost text shows the model's next-token distribution at that point (the one a
direct forward pass gives), clicking a candidate re-decodes from there before anything is accepted; and
suggestions in the middle of a document join the text after the cursor instead of repeating it."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget

import engine
from engine.worker.engine_worker import EngineWorker
from gui.controllers.branch_controller import EDITOR
from gui.suggestions.token_candidates_popup import TokenCandidatesPopup
from tests.support.decoding import ScriptedModel, generator_with
from tests.support.gui import FAST_GREEDY, ghost_point, type_text, wait_until_finished

SCRIPT = "The quick brown fox jumps over the lazy dog. It was cold"
PROMPT = "The quick brown fox jumps over the lazy dog."


class SoftScriptedModel(ScriptedModel):
    """Follows the script by ``bonus`` over a flattened random model, so other tokens keep real probabilities."""

    def forward(self, tokens, cache=None):
        logits, cache = self.inner(tokens, cache)
        return logits * 0.05 + self.table[tokens], cache


def scripted_model(folder, bonus: float):
    lm = engine.load(str(folder), device="cpu")
    script = lm.tokenizer.encode(SCRIPT) + [lm.eos_token_id]
    generator_with(lm, lambda model: SoftScriptedModel(model, script, bonus))
    return lm


def scripted_worker(bonus: float):
    """Engine workers whose model follows SCRIPT, preferring it by ``bonus`` (small: other tokens stay likely)."""
    return lambda on_event: EngineWorker(on_event, loader=lambda name, device: scripted_model(name, bonus))


def direct_top_tokens(lm, text: str, k: int) -> list[tuple[str, float]]:
    """The top insertable next tokens after ``text`` by one plain forward pass and a softmax."""
    ids = [lm.eos_token_id] + lm.tokenizer.encode(text)
    with torch.no_grad():
        logits, _ = lm.model(torch.tensor([ids]), None)
    probabilities = torch.softmax(logits[0, -1].float(), dim=-1)
    result = []
    for token in torch.argsort(probabilities, descending=True).tolist():
        data = lm.tokenizer.token_bytes[token]
        if token in lm.tokenizer.special_ids or not data:
            continue
        try:
            result.append((data.decode("utf-8"), float(probabilities[token])))
        except UnicodeDecodeError:
            continue
        if len(result) == k:
            return result
    return result


@pytest.fixture
def branching_window(make_window, tiny_gpt2_folder):
    window = make_window(worker_factory=scripted_worker(bonus=7.0))
    window.editor.replace_text(PROMPT)
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    return window


def test_hovering_a_word_of_the_ghost_text_shows_the_models_next_tokens_there(qtbot, branching_window,
                                                                                tiny_gpt2_folder):
    window = branching_window
    editor = window.editor
    editor.request_suggestion_now()
    wait_until_finished(qtbot, window)
    ghost = editor.ghost_text()
    assert ghost.startswith(" It was cold")
    index = ghost.index("cold") + 1

    with qtbot.waitSignal(window.branching.candidatesShown, timeout=10000) as shown:
        QTest.mouseMove(editor.viewport(), ghost_point(editor, index))  # rest the mouse on "cold"
    point = shown.args[0]
    assert point.continuation == " It was"  # the point before the hovered word
    popup = window.branching.popup
    assert popup.isVisible()

    expected = direct_top_tokens(scripted_model(tiny_gpt2_folder, bonus=7.0), PROMPT + " It was", 8)
    rows = [(row.token, row.probability) for row in popup.rows]
    assert [text for text, _ in rows] == [text for text, _ in expected]
    assert [p for _, p in rows] == pytest.approx([p for _, p in expected], abs=1e-4)
    assert rows[0][0] == " cold" and popup.rows[0].current  # what the suggestion says, marked
    assert not popup.source.isVisible()  # the model's own word: no memory to name
    assert popup.rows[0].text() == "cold"  # a word as a writer reads it, no sub-word marks
    assert editor.toPlainText() == PROMPT  # looking changes nothing


def test_clicking_a_candidate_re_decodes_from_there_before_anything_is_accepted(qtbot, branching_window,
                                                                                 tiny_gpt2_folder):
    window = branching_window
    editor = window.editor
    editor.request_suggestion_now()
    wait_until_finished(qtbot, window)
    ghost = editor.ghost_text()
    with qtbot.waitSignal(window.branching.candidatesShown, timeout=10000):
        assert window.branching.inspect(EDITOR, ghost.index("was"))
    popup = window.branching.popup
    chosen_row = popup.rows[1]  # not the token the suggestion had
    lead = " It" + chosen_row.token
    assert not ghost.startswith(lead)
    shown = []
    editor.ghostChanged.connect(lambda: shown.append(editor.ghost_text()))

    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000) as request:
        qtbot.mouseClick(chosen_row, Qt.MouseButton.LeftButton)
    assert not popup.isVisible()
    assert request.args[1] == PROMPT  # the branch still continues the text before the cursor...
    assert editor.ghost_text().startswith(lead)  # ...with the chosen start shown at once
    wait_until_finished(qtbot, window)

    direct = scripted_model(tiny_gpt2_folder, bonus=7.0)
    [continuation] = direct.complete(PROMPT + lead, window.suggestions.settings)
    assert editor.ghost_text() == lead + continuation.text
    assert all(text.startswith(lead) for text in shown if text)  # streamed after the lead, never without it
    assert editor.toPlainText() == PROMPT  # nothing entered the document
    assert not editor.document().isUndoAvailable()

    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == PROMPT + lead + continuation.text
    assert "You chose how it starts" in window.provenance.describe_at(len(PROMPT) + 1)


def test_an_alternative_in_the_panel_can_be_inspected_and_branched_too(qtbot, branching_window):
    window = branching_window
    window.suggestions.set_settings(FAST_GREEDY.replace(strategy="beam", num_beams=3, num_alternatives=2))
    editor = window.editor
    editor.request_suggestion_now()
    qtbot.waitUntil(lambda: editor.pending_request is None and len(window.alternatives.candidate_texts()) == 2,
                    timeout=10000)
    second = window.alternatives.candidate_texts()[1]
    words = second.split()
    assert len(words) >= 2, second
    index = second.index(words[1])
    with qtbot.waitSignal(window.branching.candidatesShown, timeout=10000) as shown:
        assert window.branching.inspect(1, index)
    assert shown.args[0].continuation == second[:index].removesuffix(" ")  # the word starts at its space
    token = window.branching.candidates[0][0]
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000):
        window.branching.branch(0)
    assert editor.ghost_text().startswith(shown.args[0].continuation + token)
    assert editor.toPlainText() == PROMPT


def test_the_panel_maps_a_point_on_a_row_to_the_character_drawn_there(qtbot, branching_window):
    window = branching_window
    window.suggestions.set_settings(FAST_GREEDY.replace(strategy="beam", num_beams=3, num_alternatives=2))
    window.editor.request_suggestion_now()
    qtbot.waitUntil(lambda: window.editor.pending_request is None and bool(window.alternatives.candidate_texts()),
                    timeout=10000)
    panel = window.alternatives
    rect = panel.list.visualRect(panel.list.model().index(0, 0))
    hits = {panel.text_index_at(QPoint(x, rect.top() + 12)) for x in range(rect.left(), rect.right(), 2)}
    indices = sorted(i for row, i in (h for h in hits if h is not None) if row == 0)
    assert indices[0] == 0 and indices[-1] == len(panel.candidate_texts()[0]) - 1


# --- in the middle of a document -------------------------------------------------------------------------------


def test_a_suggestion_in_the_middle_of_the_text_stops_before_repeating_what_follows(qtbot, make_window):
    window = make_window(worker_factory=scripted_worker(bonus=40.0), settings=FAST_GREEDY.replace(max_new_tokens=10))
    editor = window.editor
    editor.replace_text("The quick brown jumps over the lazy dog.")
    cursor = editor.textCursor()
    cursor.setPosition(len("The quick brown"))
    editor.setTextCursor(cursor)
    shown = []
    editor.ghostChanged.connect(lambda: shown.append(editor.ghost_text()))
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000):
        editor.request_suggestion_now()
    wait_until_finished(qtbot, window)

    assert editor.ghost_text() == " fox"  # alone, the model goes on with " fox jumps over the lazy dog"
    assert set(shown) <= {"", " fox"}  # the start of the repetition was never on screen either
    assert editor.toPlainText() == "The quick brown jumps over the lazy dog."
    assert editor.textCursor().block().layout().preeditAreaText() == " fox"  # inline, before the rest
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "The quick brown fox jumps over the lazy dog."


def test_no_suggestion_with_the_cursor_inside_a_word(qtbot, make_window):
    window = make_window()
    editor = window.editor
    editor.replace_text("The quick brown fox")
    cursor = editor.textCursor()
    cursor.setPosition(len("The qu"))
    editor.setTextCursor(cursor)
    assert not editor.can_suggest()
    with qtbot.assertNotEmitted(window.suggestions.requestMade, wait=100):
        editor.request_suggestion_now()
    cursor.setPosition(len("The quick"))  # between words, with text after: fine
    editor.setTextCursor(cursor)
    assert editor.can_suggest()
    assert editor.suffix_text() == " brown fox"


def test_a_reroll_after_branching_keeps_the_chosen_start(qtbot, branching_window):
    window = branching_window
    editor = window.editor
    window.rerolls.new_seed = iter(range(1, 1000)).__next__
    editor.request_suggestion_now()
    wait_until_finished(qtbot, window)
    with qtbot.waitSignal(window.branching.candidatesShown, timeout=10000):
        window.branching.inspect(EDITOR, editor.ghost_text().index("was"))
    lead = " It" + window.branching.candidates[1][0]
    window.branching.branch(1)
    wait_until_finished(qtbot, window)
    type_text(qtbot, editor, " I")  # the user types part of the chosen start: it is used up, not re-asked
    assert editor.ghost_text().startswith(lead[2:])
    sent = []
    original = window.bridge.suggest
    window.bridge.suggest = lambda text, settings, suffix: sent.append((text, settings)) or original(text, settings,
                                                                                                   suffix)
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000):
        window.named_actions["suggestion.reroll"].trigger()
    assert sent[-1][0] == PROMPT + lead and sent[-1][1].strategy == "sample"
    assert editor.ghost_text().startswith(lead[2:])  # the rest of the chosen start is still shown
    wait_until_finished(qtbot, window)
    assert editor.ghost_text().startswith(lead[2:])
    assert editor.toPlainText() == PROMPT + " I"


def test_a_keystroke_in_the_middle_of_the_text_cancels_the_running_suggestion(qtbot, make_window):
    from tests.support.gui import gated_worker_factory

    models = []
    window = make_window(worker_factory=gated_worker_factory(models))
    editor = window.editor
    editor.replace_text("The quick brown jumps over the lazy dog.")
    cursor = editor.textCursor()
    cursor.setPosition(len("The quick brown"))
    editor.setTextCursor(cursor)
    finished = []
    window.bridge.suggestionFinished.connect(finished.append)
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000) as first:
        editor.request_suggestion_now()
    qtbot.waitUntil(models[0].waiting.is_set, timeout=5000)  # the engine holds the mid-document request
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000) as second:
        type_text(qtbot, editor, " X")
    models[0].open()
    qtbot.waitUntil(lambda: {e.request_id for e in finished} >= {first.args[0], second.args[0]}, timeout=10000)
    assert next(e for e in finished if e.request_id == first.args[0]).cancelled
    assert editor.toPlainText() == "The quick brown X jumps over the lazy dog."


def test_the_popup_shows_words_not_sub_word_pieces(qtbot):
    owner = QWidget()
    qtbot.addWidget(owner)
    popup = TokenCandidatesPopup(owner)
    popup.show_candidates("Next", [("wn", 0.4), (" States", 0.3), ("", 0.1), (", and", 0.1), ("\n", 0.1)], 0,
                          QPoint(0, 0), "The quick bro")
    shown = [row.text() for row in popup.rows]
    assert shown == ["brown", "States", "(the word ends as typed)", ",␣and", "↵"]
    assert not any(mark in text for text in shown for mark in ("Ġ", "·", "Ċ"))


def test_the_first_word_after_a_healed_prompt_shows_its_own_candidates(qtbot, make_window, tiny_gpt2_folder):
    # Healing backs off " the" and the model ends the word as typed before writing " lazy": the first word's
    # table is the step that wrote " lazy", not the healing step's ("(the word ends as typed)" 100%).
    text = "The quick brown fox jumps over the"
    window = make_window(worker_factory=scripted_worker(bonus=7.0))
    editor = window.editor
    editor.replace_text(text)
    editor.moveCursor(QTextCursor.MoveOperation.End)
    editor.request_suggestion_now()
    wait_until_finished(qtbot, window)
    ghost = editor.ghost_text()
    assert ghost.startswith(" lazy")

    with qtbot.waitSignal(window.branching.candidatesShown, timeout=10000):
        window.named_actions["suggestion.candidates"].trigger()  # Suggestion > What Else Could Come First?
    popup = window.branching.popup
    rows = [(row.token, row.probability) for row in popup.rows]
    assert "" not in [token for token, _ in rows]
    expected = direct_top_tokens(scripted_model(tiny_gpt2_folder, bonus=7.0), text, 8)  # after " the" as typed
    assert [token for token, _ in rows] == [token for token, _ in expected]
    assert [p for _, p in rows] == pytest.approx([p for _, p in expected], abs=1e-4)
    assert ghost.startswith(rows[0][0]) and popup.rows[0].current

    window.branching.hide()
    with qtbot.waitSignal(window.branching.candidatesShown, timeout=10000):
        QTest.mouseMove(editor.viewport(), ghost_point(editor, 2))  # rest the mouse on "lazy": the same table
    assert [(row.token, row.probability) for row in popup.rows] == rows
