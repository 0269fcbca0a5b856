"""Opening a model from disk: Model ▸ Open Model… takes a GGUF file or a model folder (by any of its files), a file
or folder dropped on the window loads, both join the recent models; a GGUF that fails keeps the previous model;
a dropped text document opens as the document."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from engine.loading.model_catalog import catalog_models
from gui.controllers.model_controller import model_to_open
from tests.support.gguf_files import tiny_config, write_model
from tests.support.gui import open_model_menu, type_text, wait_for_ghost
from tests.support.tiny_models import make_gpt2_folder


@pytest.fixture(scope="module")
def gguf_file(tmp_path_factory) -> Path:
    path, _ = write_model(tmp_path_factory.mktemp("models"), tiny_config("llama"), "Q8_0", name="tiny-Q8_0.gguf")
    return path


def test_open_model_loads_a_gguf_file_and_lists_it_with_the_recent_models(qtbot, make_window, prompts, gguf_file):
    window = make_window()
    prompts.model_path_answer = str(gguf_file)
    with qtbot.waitSignal(window.models.modelChanged, timeout=20000) as loaded:
        window.named_actions["model.open"].trigger()
    assert loaded.args[0].name == str(gguf_file)
    assert catalog_models()[0] == gguf_file.resolve()  # remembered, most recent first

    def shown():
        return [a for a in open_model_menu(window) if a.text().startswith("tiny-Q8_0.gguf   ")]

    assert len(shown()) == 1 and shown()[0].isChecked()  # checked at once, while its header is being read
    qtbot.waitUntil(lambda: "reading its header" not in shown()[0].text(), timeout=20000)
    entries = shown()
    assert entries[0].text().endswith(", opened)") and "Transformer (Llama) F32" in entries[0].text()
    assert entries[0].toolTip() == str(gguf_file.resolve())


def test_open_model_takes_a_model_folder_by_any_of_its_files(qtbot, make_window, prompts, tmp_path,
                                                            tiny_tokenizer):
    folder = make_gpt2_folder(tmp_path / "my-model", tiny_tokenizer, seed=4)
    window = make_window()
    prompts.model_path_answer = str(folder / "config.json")
    with qtbot.waitSignal(window.models.modelChanged, timeout=20000) as loaded:
        window.named_actions["model.open"].trigger()
    assert loaded.args[0].name == str(folder)
    assert model_to_open(folder / "model.safetensors") == folder
    assert model_to_open(folder) == folder


def test_a_gguf_that_fails_keeps_the_previous_model_and_names_the_file(qtbot, make_window, prompts, tmp_path,
                                                                      gguf_file, tiny_gpt2_folder):
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(gguf_file.read_bytes()[:5000])
    window = make_window()
    prompts.model_path_answer = str(truncated)
    with qtbot.waitSignal(window.models.loadFailed, timeout=20000):
        window.named_actions["model.open"].trigger()
    error = next(call for call in prompts.calls if call[0] == "error")
    assert "truncated.gguf" in error[2] and "keeps using tiny-gpt2" in error[2]
    assert window.models.active.name == str(tiny_gpt2_folder)
    assert truncated.resolve() not in catalog_models()  # only a model that loaded is remembered
    type_text(qtbot, window.editor, "The quick brown fox")  # and it still suggests
    wait_for_ghost(qtbot, window.editor)


def drag_files(target, paths: list[Path], drop: bool = True) -> tuple[bool, bool]:
    """Drag ``paths`` over ``target`` and (``drop``) release them: whether the enter and the drop were accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    return _drag(target, mime, drop)


def _drag(target, mime: QMimeData, drop: bool) -> tuple[bool, bool]:
    point = QPointF(10, 10)
    enter = QDragEnterEvent(point.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    if not drop:
        return enter.isAccepted(), False
    dropped = QDropEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, dropped)
    return enter.isAccepted(), dropped.isAccepted()


def test_a_gguf_dropped_on_the_editor_loads_and_is_remembered(qtbot, make_window, gguf_file):
    window = make_window()
    with qtbot.waitSignal(window.models.modelChanged, timeout=20000) as loaded:
        assert drag_files(window.editor.viewport(), [gguf_file]) == (True, True)
    assert loaded.args[0].name == str(gguf_file)
    assert catalog_models()[0] == gguf_file.resolve()
    assert window.editor.toPlainText() == ""  # not its path inserted as text


def test_a_model_folder_dropped_on_the_window_loads(qtbot, make_window, tmp_path, tiny_tokenizer):
    folder = make_gpt2_folder(tmp_path / "dropped-model", tiny_tokenizer, seed=6)
    window = make_window()
    with qtbot.waitSignal(window.models.modelChanged, timeout=20000) as loaded:
        drag_files(window, [folder])
    assert loaded.args[0].name == str(folder)


def test_a_dropped_text_document_opens_as_the_document(qtbot, make_window, prompts, tmp_path, tiny_gpt2_folder):
    notes = tmp_path / "notes.txt"
    notes.write_text("Dear Sir,", encoding="utf-8")
    window = make_window()
    with qtbot.assertNotEmitted(window.models.loadStarted, wait=50):
        drag_files(window.editor.viewport(), [notes])
    assert window.editor.toPlainText() == "Dear Sir,"
    assert window.documents.path == notes
    assert window.models.active.name == str(tiny_gpt2_folder)


def test_dragged_text_is_left_to_the_editor(qtbot, make_window):
    window = make_window()
    mime = QMimeData()
    mime.setText("plain words")
    with qtbot.assertNotEmitted(window.models.loadStarted, wait=50):
        entered, _ = _drag(window.editor.viewport(), mime, drop=False)
    assert entered  # the editor's own drag handling took it, to insert the text


def test_dropping_several_files_opens_the_first_and_says_so(qtbot, make_window, gguf_file, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("x", encoding="utf-8")
    window = make_window()
    with (qtbot.waitSignal(window.models.modelChanged, timeout=20000) as loaded,
          qtbot.waitSignal(window.drops.message) as said):
        drag_files(window.editor.viewport(), [gguf_file, other])
    assert said.args == ["Dropped 2 items: opening tiny-Q8_0.gguf only"]
    assert loaded.args[0].name == str(gguf_file) and window.documents.path is None
