"""Streaming into the editor: a keystroke cancels the running generation, no stale suggestion ever shows, and
the model runs on the engine thread only (how long the GUI thread waits meanwhile: benchmarks/ui_thread_gaps.py)."""

from __future__ import annotations

import threading

import pytest

from tests.support.gui import FAST_GREEDY, gated_worker_factory, type_text

PROMPT = "The quick brown fox"


def test_a_keystroke_during_generation_cancels_it_and_no_stale_suggestion_appears(qtbot, make_window):
    models = []
    window = make_window(worker_factory=gated_worker_factory(models),
                         settings=FAST_GREEDY.replace(max_new_tokens=8))
    editor = window.editor
    gated = models[0]
    prompts_by_request: dict[int, str] = {}
    window.suggestions.requestMade.connect(lambda rid, text: prompts_by_request.__setitem__(rid, text))
    shown = []  # (request id, ghost text, text before the cursor) every time the ghost text changes

    def record():
        suggestion = editor.suggestion
        if suggestion is not None and editor.ghost_text():
            cursor = editor.textCursor().position()
            shown.append((suggestion.request_id, suggestion.consumed, editor.toPlainText()[:cursor]))

    editor.ghostChanged.connect(record)
    finished = []
    window.bridge.suggestionFinished.connect(finished.append)
    received = []
    window.bridge.suggestionToken.connect(lambda rid, event: received.append(rid))

    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000) as first:
        type_text(qtbot, editor, PROMPT)
    first_id = first.args[0]
    while not editor.ghost_text():  # one token at a time until some text shows (the first may be empty)
        assert gated.passed < 8, "the first request never showed any text"
        qtbot.waitUntil(gated.waiting.is_set, timeout=5000)
        target = gated.passed + 1
        gated.release(1)
        qtbot.waitUntil(lambda t=target: gated.passed >= t and len(received) >= t, timeout=5000)
    qtbot.waitUntil(gated.waiting.is_set, timeout=5000)  # the engine is mid-generation, holding a token

    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000) as second:
        type_text(qtbot, editor, "X")
        assert editor.ghost_text() == ""  # dropped at once, before the engine even answers
        assert editor.pending_request is None
    second_id = second.args[0]
    assert second_id > first_id
    assert second.args[1] == PROMPT + "X"

    gated.open()  # let everything run: the old generation must stop, the new one finish
    qtbot.waitUntil(lambda: any(e.request_id == first_id for e in finished), timeout=10000)
    old = next(e for e in finished if e.request_id == first_id)
    assert old.cancelled  # stopped between two tokens, not run to the end
    qtbot.waitUntil(lambda: any(e.request_id == second_id and not e.cancelled for e in finished), timeout=10000)
    assert editor.ghost_text()
    assert editor.suggestion.request_id == second_id

    assert shown
    for request_id, consumed, before_cursor in shown:
        # Every suggestion ever shown continued exactly the text in front of it.
        assert prompts_by_request[request_id] + consumed == before_cursor
    assert all(request_id == second_id for request_id, _, before in shown if before.endswith("X"))


def test_events_of_an_older_request_are_dropped(qtbot, make_window):
    from engine.decoding.results import StreamEvent
    from engine.worker.events import EngineError, SuggestionFinished

    window = make_window(model=None, wait_ready=False)  # the editor's request id alone decides, no engine needed
    editor, bridge = window.editor, window.bridge
    editor.replace_text("Hello")
    editor.moveCursor(editor.textCursor().MoveOperation.End)
    editor.begin_request(7)
    editor.begin_request(8)
    assert not editor.is_current(7) and editor.is_current(8)
    bridge.suggestionToken.emit(7, StreamEvent(text=" stale"))
    assert editor.ghost_text() == ""
    bridge.suggestionToken.emit(8, StreamEvent(text=" fresh"))
    assert editor.ghost_text() == " fresh"
    bridge.suggestionToken.emit(7, StreamEvent(text=" stale again"))
    bridge.suggestionFinished.emit(SuggestionFinished(7, (), None, None, cancelled=True))
    bridge.engineError.emit(EngineError(7, "old news"))
    assert editor.ghost_text() == " fresh" and editor.is_current(8)


def _thread_recording_worker_factory(threads: list):
    """A worker factory whose models append the thread of every forward call to ``threads``."""
    import engine
    from engine.worker.engine_worker import EngineWorker

    def loader(name, device):
        lm = engine.load(name, device="cpu")
        lm.model.register_forward_pre_hook(lambda module, args: threads.append(threading.current_thread()))
        return lm

    return lambda on_event: EngineWorker(on_event, loader=loader)


def test_the_model_runs_on_the_engine_thread_never_on_the_gui_thread(qtbot, make_window):
    threads: list[threading.Thread] = []
    window = make_window(worker_factory=_thread_recording_worker_factory(threads))
    threads.clear()  # what loading and warming up ran; the suggestion's own forwards follow
    type_text(qtbot, window.editor, PROMPT)
    with qtbot.waitSignal(window.bridge.suggestionFinished, timeout=10000,
                          check_params_cb=lambda event: not event.cancelled):
        window.editor.request_suggestion_now()
    assert window.editor.ghost_text()
    gui_thread = threading.current_thread()
    assert gui_thread is threading.main_thread()
    assert threads, "the suggestion ran no forward"
    assert gui_thread not in threads
    assert {thread.name for thread in threads} == {"inkling-engine"}


@pytest.mark.bundled_weights
def test_what_streams_stays_shown_when_the_alternatives_arrive(qtbot, make_window):
    """The bundled default with the app's decoding: every ghost text shown while streaming is the start of the one
    that stays, even where the panel lists that alternative second ("After the war, the": " US government has"
    streams, " United States" has the likelier first word)."""
    import engine

    window = make_window(model="default", settings=engine.DecodingSettings())
    editor = window.editor
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=10000):
        type_text(qtbot, editor, "After the war, the")
    shown = []
    editor.ghostChanged.connect(lambda: shown.append((editor.pending_request is not None, editor.ghost_text())))
    qtbot.waitUntil(lambda: editor.pending_request is None, timeout=20000)
    final = editor.ghost_text()
    streamed = [text for streaming, text in shown if streaming and text]
    assert final and streamed, shown
    assert all(final.startswith(text) for text in streamed), (streamed, final)
    assert editor.suggestion.chosen_index() == 1  # the case this guards: the panel lists it second
