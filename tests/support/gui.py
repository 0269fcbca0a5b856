"""Helpers for the GUI tests: a ``Prompts`` that answers at once, fast settings, an engine you can hold, and ways
to type, point at the ghost text and wait. The fixtures built on them (``prompts``, ``make_window``) are in
``tests/gui/conftest.py``; ``app_dirs`` is in ``tests/conftest.py``.

Waiting is always done with ``qtbot.waitUntil`` / ``qtbot.waitSignal`` (they run a QEventLoop, which lets the engine
thread have the GIL); never with ``QTest.qWait``, which keeps the GIL for the whole wait.
"""

from __future__ import annotations

import threading

from tests.support.settings import plain_settings

# Short, deterministic suggestions: greedy with no stop rule streams exactly max_new_tokens tokens.
FAST_GREEDY = plain_settings(max_new_tokens=6)
FAST_BEAM = plain_settings(strategy="beam", num_beams=4, num_alternatives=3, max_new_tokens=5)
TEST_DEBOUNCE_MS = 15


class FakePrompts:
    """Stands in for ``gui.dialogs.prompts.Prompts``: records each question and gives the preset answer."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.save_changes_answer = "discard"
        self.open_path: str | None = None
        self.save_path: str | None = None
        self.model_path_answer: str | None = None
        self.encoding_answer: str | None = None
        self.large_file_answer = True
        self.restore_answer = True
        self.save_as_utf8_answer = True
        self.offer_model_folder_answer = False
        self.decoding_answer = None
        self.never_suggest_answer: tuple[str, ...] | None = None
        self.training_folder_path: str | None = None
        self.evaluation_document_path: str | None = None
        self.discard_run_answer = True
        self.hub_repo_id_answer: str | None = None
        self.memory_folder_path: str | None = None
        self.file_changed_answer = "cancel"
        self.reload_answer = True
        self.read_only_answer = False
        self.go_to_line_answer: int | None = None

    def _record(self, name: str, *details):
        self.calls.append((name, *details))

    def names(self) -> list[str]:
        return [call[0] for call in self.calls]

    def ask_save_changes(self, parent, document_name):
        self._record("ask_save_changes", document_name)
        return self.save_changes_answer

    def open_file_path(self, parent, folder):
        self._record("open_file_path", folder)
        return self.open_path

    def save_file_path(self, parent, suggested):
        self._record("save_file_path", suggested)
        return self.save_path

    def model_path(self, parent, folder):
        self._record("model_path", folder)
        return self.model_path_answer

    def error(self, parent, title, message):
        self._record("error", title, message)

    def offer_model_folder(self, parent, message):
        self._record("offer_model_folder", message)
        return self.offer_model_folder_answer

    def choose_encoding(self, parent, file_name, problem, encodings):
        self._record("choose_encoding", file_name, problem, tuple(encodings))
        return self.encoding_answer

    def confirm_large_file(self, parent, file_name, size_bytes):
        self._record("confirm_large_file", file_name, size_bytes)
        return self.large_file_answer

    def offer_restore(self, parent, documents, note=""):
        self._record("offer_restore", tuple(documents), note)
        return self.restore_answer

    def file_changed_on_disk(self, parent, file_name, deleted):
        self._record("file_changed_on_disk", file_name, deleted)
        return self.file_changed_answer

    def offer_reload(self, parent, file_name):
        self._record("offer_reload", file_name)
        return self.reload_answer

    def confirm_replace_read_only(self, parent, file_name):
        self._record("confirm_replace_read_only", file_name)
        return self.read_only_answer

    def confirm_save_as_utf8(self, parent, message):
        self._record("confirm_save_as_utf8", message)
        return self.save_as_utf8_answer

    def edit_decoding(self, parent, settings, debounce_ms, model_bar=0.1):
        self._record("edit_decoding", settings, debounce_ms, model_bar)
        return self.decoding_answer

    def edit_never_suggest(self, parent, words):
        self._record("edit_never_suggest", tuple(words))
        return self.never_suggest_answer

    def show_shortcuts(self, parent):
        self._record("show_shortcuts")

    def show_about(self, parent, model):
        self._record("show_about", model)

    def training_folder(self, parent, folder):
        self._record("training_folder", folder)
        return self.training_folder_path

    def evaluation_document(self, parent, folder):
        self._record("evaluation_document", folder)
        return self.evaluation_document_path

    def confirm_discard_run(self, parent, description):
        self._record("confirm_discard_run", description)
        return self.discard_run_answer

    def memory_folder(self, parent, folder):
        self._record("memory_folder", folder)
        return self.memory_folder_path

    def go_to_line(self, parent, current, last):
        self._record("go_to_line", current, last)
        return self.go_to_line_answer

    def hub_repo_id(self, parent):
        self._record("hub_repo_id")
        return self.hub_repo_id_answer


class GatedModel:
    """Wraps a LanguageModel so each streamed token waits for the test to ``release`` it (from any thread).

    It lets a test hold a generation in the middle, type, and check what the editor does, without any sleep."""

    def __init__(self, lm) -> None:
        self._lm = lm
        self.gate = threading.Semaphore(0)
        self.waiting = threading.Event()  # set while a token waits at the gate
        self.open_all = threading.Event()
        self.passed = 0  # tokens let through so far

    def __getattr__(self, name):
        return getattr(self._lm, name)

    def release(self, tokens: int = 1) -> None:
        for _ in range(tokens):
            self.gate.release()

    def open(self) -> None:
        self.open_all.set()
        self.gate.release()

    def stream(self, text, settings=None, cancelled=None, suffix=""):
        for event in self._lm.stream(text, settings, cancelled=cancelled, suffix=suffix):
            if not self.open_all.is_set():
                self.waiting.set()
                while not self.gate.acquire(timeout=0.05):
                    if self.open_all.is_set():
                        break
                self.waiting.clear()
            self.passed += 1
            yield event


def gated_worker_factory(holder: list):
    """A worker factory whose loader wraps every model in ``GatedModel``; the models land in ``holder``."""
    import engine
    from engine.worker.engine_worker import EngineWorker

    def loader(name, device):
        gated = GatedModel(engine.load(name, device="cpu"))
        holder.append(gated)
        return gated

    return lambda on_event: EngineWorker(on_event, loader=loader)


def ghost_point(editor, index: int):
    """A viewport point over character ``index`` of the ghost text (found through the editor's own hit test)."""
    from PySide6.QtCore import QPoint

    top = editor.cursorRect().top()
    for y in range(top, top + 4 * editor.fontMetrics().lineSpacing(), 2):
        for x in range(0, editor.viewport().width(), 2):
            if editor.ghost_offset_at(QPoint(x, y)) == index:
                return QPoint(x, y)
    raise AssertionError(f"ghost character {index} is not on screen")


def open_model_menu(window) -> list:
    """The Model menu's entries as a user sees them on opening it (the menu refills itself on ``aboutToShow``)."""
    window.model_menu.aboutToShow.emit()
    return window.model_menu.actions()


def type_text(qtbot, editor, text: str) -> None:
    from PySide6.QtTest import QTest

    for char in text:
        if char == "\n":
            qtbot.keyClick(editor, "\r")
        else:
            QTest.keyClicks(editor, char)


def wait_for_ghost(qtbot, editor, timeout: int = 10000) -> str:
    qtbot.waitUntil(lambda: editor.ghost_text() != "", timeout=timeout)
    return editor.ghost_text()


def wait_until_finished(qtbot, window, timeout: int = 10000) -> None:
    """Until the current suggestion has finished streaming (the editor waits for no request)."""
    qtbot.waitUntil(lambda: window.editor.pending_request is None and window.editor.ghost_text() != "",
                    timeout=timeout)


def type_and_wait_for_suggestion(qtbot, window, text: str) -> str:
    """Types ``text`` into the window's editor and returns the suggestion made after it, once it has finished."""
    type_text(qtbot, window.editor, text)
    wait_until_finished(qtbot, window)
    return window.editor.ghost_text()
