"""Model ▸ Memory: the "This document" switch, Add Folder… indexed on the engine thread with progress and cancel,
the list of remembered folders with their size, Forget, the status-bar indicator, and the configuration coming
back in the next session."""

from __future__ import annotations

import threading

import pytest

import engine.memory.folders as folders_module
from tests.support.gui import FAST_GREEDY as PLAIN_GREEDY
from tests.support.gui import ghost_point, open_model_menu
from tests.support.samples import SAMPLE_TEXT

FAST_GREEDY = PLAIN_GREEDY.replace(memory=True)  # the tests' fast decoding, with the memory these tests are about

TIMEOUT_MS = 30000


@pytest.fixture
def writing(tmp_path):
    folder = tmp_path / "my-writing"
    folder.mkdir()
    for i in range(3):
        (folder / f"chapter{i}.txt").write_text(SAMPLE_TEXT, encoding="utf-8")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not text")  # not a text file: skipped unread
    (folder / "notes.txt").write_bytes(b"\x00\x01 binary")  # read, found binary, skipped
    return folder


def ready(qtbot, window):
    """Until the model's memory has been configured (the first ``MemoryState`` arrived)."""
    qtbot.waitUntil(lambda: window.memory.state is not None, timeout=TIMEOUT_MS)
    return window.memory.state


def add(qtbot, window, prompts, folder):
    prompts.memory_folder_path = str(folder)
    progress = []
    window.memory.indexingProgress.connect(lambda f, done, total: progress.append((done, total)))
    with qtbot.waitSignal(window.memory.indexingEnded, timeout=TIMEOUT_MS) as ended:
        window.named_actions["memory.add_folder"].trigger()
    return ended.args, progress


def test_this_document_is_on_by_default_and_the_switch_reaches_the_engine_and_persists(qtbot, make_window):
    window = make_window(settings=FAST_GREEDY)
    state = ready(qtbot, window)
    assert state.document and window.named_actions["memory.document"].isChecked()
    assert window.status.memory.text() == "Memory: doc"
    with qtbot.waitSignal(window.memory.stateChanged, timeout=TIMEOUT_MS) as changed:
        window.named_actions["memory.document"].setChecked(False)
    assert changed.args[0].document is False and changed.args[0].document_tokens == 0
    assert window.status.memory.text() == "Memory: nothing"
    assert window.app_settings.memory_document is False
    window.shutdown()

    again = make_window(settings=None)
    assert ready(qtbot, again).document is False
    assert not again.named_actions["memory.document"].isChecked()


def test_add_folder_indexes_in_the_background_and_lists_the_folder_with_its_size(
        qtbot, make_window, prompts, writing, app_dirs):
    window = make_window(settings=FAST_GREEDY)
    ready(qtbot, window)
    (folder, added), progress = add(qtbot, window, prompts, writing)
    assert added and folder == str(writing.resolve())
    assert progress and progress[-1] == (4, 4)
    [summary] = window.memory.state.folders
    assert summary.files == 3 and summary.skipped == 2
    assert summary.text_bytes == 3 * len(SAMPLE_TEXT.encode())
    assert window.app_settings.memory_folders == [str(writing.resolve())]
    assert list((app_dirs["data_dir"] / "memory").glob("*.idx"))
    assert "1 folder" in window.status.memory.text()
    memory_menu = next(a.menu() for a in open_model_menu(window) if a.menu() and a.text() == "&Memory")
    titles = [a.text() for a in memory_menu.actions()]
    assert any(t.startswith("my-writing") and "3 files" in t for t in titles), titles


def test_indexing_can_be_cancelled_and_leaves_nothing_behind(qtbot, make_window, prompts, writing, app_dirs,
                                                             monkeypatch):
    window = make_window(settings=FAST_GREEDY)
    ready(qtbot, window)
    gate = threading.Event()
    read = folders_module.read_text_file

    def held(path):  # each file waits until the test has asked to cancel
        gate.wait(10)
        return read(path)

    monkeypatch.setattr(folders_module, "read_text_file", held)
    prompts.memory_folder_path = str(writing)
    with qtbot.waitSignal(window.memory.indexingEnded, timeout=TIMEOUT_MS) as ended:
        window.named_actions["memory.add_folder"].trigger()
        assert window.memory.is_indexing()
        open_model_menu(window)
        assert window.named_actions["memory.cancel_indexing"].isEnabled()
        assert not window.named_actions["memory.add_folder"].isEnabled()
        window.named_actions["memory.cancel_indexing"].trigger()
        gate.set()
    assert ended.args[1] is False
    assert not window.memory.is_indexing()
    assert window.app_settings.memory_folders == []
    assert not list((app_dirs["data_dir"] / "memory").glob("*.idx"))


def test_forget_deletes_the_index_and_removes_the_folder(qtbot, make_window, prompts, writing, app_dirs):
    window = make_window(settings=FAST_GREEDY)
    ready(qtbot, window)
    add(qtbot, window, prompts, writing)
    open_model_menu(window)
    with qtbot.waitSignal(window.memory.stateChanged, timeout=TIMEOUT_MS) as changed:
        window.named_actions["memory.forget.0"].trigger()
    assert changed.args[0].folders == ()
    assert window.app_settings.memory_folders == []
    assert not list((app_dirs["data_dir"] / "memory").glob("*.idx"))
    assert window.status.memory.text() == "Memory: doc"


def test_remembered_folders_come_back_in_the_next_session(qtbot, make_window, prompts, writing):
    window = make_window(settings=FAST_GREEDY)
    ready(qtbot, window)
    add(qtbot, window, prompts, writing)
    window.shutdown()
    again = make_window(settings=None)
    qtbot.waitUntil(lambda: again.memory.state is not None and bool(again.memory.state.folders),
                    timeout=TIMEOUT_MS)
    assert again.memory.state.folders[0].folder == str(writing.resolve())


def test_the_indicator_says_when_decoding_has_the_memory_off(qtbot, make_window):
    window = make_window(settings=FAST_GREEDY)
    ready(qtbot, window)
    window.suggestions.set_settings(window.suggestions.settings.replace(memory=False))
    assert window.status.memory.text() == "Memory off"
    window.suggestions.set_settings(window.suggestions.settings.replace(memory=True))
    assert window.status.memory.text() == "Memory: doc"


def test_hovering_a_word_that_came_from_memory_says_where_it_was_seen(qtbot, make_window):
    from PySide6.QtGui import QTextCursor
    from PySide6.QtTest import QTest

    import engine
    from engine.memory import MixtureWeights
    from engine.worker.engine_worker import EngineWorker

    def trusting(name, device):  # a memory the tiny random model defers to, so its words come from the document
        lm = engine.load(name, device="cpu")
        lm.memory.weights = MixtureWeights.constant(0.97)
        return lm

    settings = FAST_GREEDY.replace(max_new_tokens=12, token_healing=False)
    window = make_window(worker_factory=lambda on_event: EngineWorker(on_event, loader=trusting), settings=settings)
    editor = window.editor
    editor.replace_text("Chapter one.\nThen Mrs. Jellyby wrote to Borrioboola.\nAnd Mrs.")
    editor.moveCursor(QTextCursor.MoveOperation.End)
    editor.request_suggestion_now()
    qtbot.waitUntil(lambda: editor.pending_request is None and editor.ghost_text() != "", timeout=TIMEOUT_MS)
    assert editor.ghost_text().startswith(" Jellyby")
    with qtbot.waitSignal(window.branching.candidatesShown, timeout=TIMEOUT_MS):
        QTest.mouseMove(editor.viewport(), ghost_point(editor, 3))  # rest the mouse on "Jellyby"
    popup = window.branching.popup
    assert popup.source.isVisible()
    assert "from your document, line 2" in popup.source.text() and "Jellyby wrote" in popup.source.text()
