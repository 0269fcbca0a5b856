"""Files: atomic saves, the unsaved mark and the question on close, encodings, big and binary files."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent

from gui.documents import document_io
from gui.documents.document_io import (
    BinaryFileError,
    DocumentError,
    NotUtf8Error,
    atomic_write_bytes,
    read_document,
    write_document,
)
from gui.editor.prompt_window import WINDOW_CHARS
from tests.support.gui import type_text

# --- document_io on its own ---------------------------------------------------------------------------------

def test_a_failure_in_the_middle_of_saving_leaves_the_old_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "story.txt"
    target.write_text("the old text", encoding="utf-8")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(DocumentError, match="No space left on device.*old file is unchanged"):
        write_document(target, "the new text that never lands")
    assert target.read_text(encoding="utf-8") == "the old text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["story.txt"]  # no temporary file left behind


def test_saving_replaces_in_one_step_and_keeps_permissions(tmp_path, monkeypatch):
    target = tmp_path / "story.txt"
    target.write_text("old", encoding="utf-8")
    os.chmod(target, 0o640)
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: replaced.append((src, dst)) or real_replace(src, dst))
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    (source, _destination), = replaced
    assert os.path.dirname(source) == str(tmp_path)  # written beside the target, then renamed over it
    assert os.stat(target).st_mode & 0o777 == 0o640


def test_line_endings_and_byte_order_marks_survive_a_round_trip(tmp_path):
    windows = tmp_path / "crlf.txt"
    windows.write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n")
    document = read_document(windows)
    assert document.text == "one\ntwo\n"
    write_document(windows, document.text + "three", document.encoding, document.newline)
    assert windows.read_bytes() == b"\xef\xbb\xbfone\r\ntwo\r\nthree"


@pytest.mark.parametrize(("raw", "newline", "saved"), [
    (b"a\r\nb\r\nc\nd\r\n", "\r\n", b"a\r\nb\r\nc\r\nd\r\nz"),  # mostly CRLF: CRLF (was already)
    (b"a\nb\nc\r\nd\n", "\n", b"a\nb\nc\nd\nz"),  # mostly LF with one CRLF: was saved all CRLF
    (b"one\rtwo\rthree\r", "\r", b"one\rtwo\rthree\rz"),  # an old Mac file: was saved LF
    (b"x" * 70000 + b"\n" + b"a\r\nb\r\nc\r\n", "\r\n", b"x" * 70000 + b"\r\na\r\nb\r\nc\r\nz"),
])
def test_a_file_is_saved_with_the_line_ending_it_has_most_of(tmp_path, raw, newline, saved):
    """Counted over the whole file: CRLF lines after the first 64 KiB were once not seen at all."""
    target = tmp_path / "endings.txt"
    target.write_bytes(raw)
    document = read_document(target)
    assert document.newline == newline and "\r" not in document.text
    write_document(target, document.text + "z", document.encoding, document.newline)
    assert target.read_bytes() == saved


def test_opening_a_file_with_mixed_endings_says_which_it_keeps(qtbot, make_window, tmp_path):
    target = tmp_path / "mixed.txt"
    target.write_bytes(b"a\nb\nc\r\nd\n")
    window = make_window(model=None, wait_ready=False, settings=None)
    assert window.documents.open(str(target))
    message = window.status.currentMessage()
    assert "mixed line endings (3 LF, 1 CRLF)" in message and "saved with LF throughout" in message
    window.status.clearMessage()
    target.write_bytes(b"a\r\nb\r\n")
    assert window.documents.open(str(target))
    assert "mixed line endings" not in window.status.currentMessage()


def test_non_utf8_and_binary_files_are_refused_with_a_clear_reason(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(NotUtf8Error, match="not valid UTF-8.*offset 3"):
        read_document(latin)
    assert read_document(latin, "latin-1").text == "caf\xe9"
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(BinaryFileError, match="binary"):
        read_document(binary)


def test_files_beyond_the_size_limit_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(document_io, "MAX_FILE_BYTES", 1000)
    big = tmp_path / "big.log"
    big.write_text("x" * 2000, encoding="utf-8")
    with pytest.raises(document_io.FileTooLargeError, match=r"big.log is 2 kB; .* up to 1 kB"):
        read_document(big)


# --- through the window -------------------------------------------------------------------------------------

def test_title_shows_the_file_name_and_the_unsaved_mark(qtbot, make_window, prompts, tmp_path):
    window = make_window()
    assert window.windowTitle() == "Untitled — Inkling"
    type_text(qtbot, window.editor, "Hello")
    assert window.windowTitle() == "● Untitled — Inkling"
    prompts.save_path = str(tmp_path / "letter.txt")
    window.named_actions["file.save"].trigger()
    assert window.windowTitle() == "letter.txt — Inkling"
    assert (tmp_path / "letter.txt").read_text(encoding="utf-8") == "Hello"
    type_text(qtbot, window.editor, "!")
    assert window.windowTitle() == "● letter.txt — Inkling"


def test_a_failed_save_says_so_and_keeps_the_text_unsaved(qtbot, make_window, prompts, tmp_path, monkeypatch):
    target = tmp_path / "keep.txt"
    target.write_text("version one", encoding="utf-8")
    window = make_window(open_path=str(target))
    type_text(qtbot, window.editor, " and two")
    monkeypatch.setattr(os, "replace", lambda *args: (_ for _ in ()).throw(OSError(13, "Permission denied")))
    assert not window.documents.save()
    assert prompts.calls[-1][0] == "error" and "Permission denied" in prompts.calls[-1][2]
    assert target.read_text(encoding="utf-8") == "version one"
    assert window.editor.document().isModified()
    assert window.windowTitle().startswith("●")


def test_closing_with_unsaved_changes_asks_first(qtbot, make_window, prompts, tmp_path):
    window = make_window()
    type_text(qtbot, window.editor, "precious words")
    prompts.save_changes_answer = "cancel"
    event = QCloseEvent()
    window.closeEvent(event)
    assert not event.isAccepted()
    assert prompts.calls[-1] == ("ask_save_changes", "Untitled")
    assert window.engine_ready()  # still running

    prompts.save_changes_answer = "save"
    prompts.save_path = str(tmp_path / "precious.txt")
    event = QCloseEvent()
    window.closeEvent(event)
    assert event.isAccepted()
    assert (tmp_path / "precious.txt").read_text(encoding="utf-8") == "precious words"


def test_an_untitled_document_typed_then_emptied_is_closed_without_asking(qtbot, make_window, prompts, tmp_path):
    window = make_window(wait_ready=False)
    window.editor.set_suggestions_enabled(False)
    prompts.save_changes_answer = "cancel"

    def type_then_delete(text: str) -> None:
        type_text(qtbot, window.editor, text)
        for _ in text:
            qtbot.keyClick(window.editor, Qt.Key.Key_Backspace)
        assert window.editor.toPlainText() == "" and window.editor.document().isModified()

    type_then_delete("gone")
    assert window.documents.new()
    kept = tmp_path / "kept.txt"
    kept.write_text("kept", encoding="utf-8")
    type_then_delete("again")
    assert window.documents.open(str(kept))
    assert "ask_save_changes" not in prompts.names()

    window.editor.selectAll()
    qtbot.keyClick(window.editor, Qt.Key.Key_Delete)  # a saved document emptied is a change to its file
    assert not window.documents.new()
    assert prompts.calls[-1] == ("ask_save_changes", "kept.txt")

    prompts.save_changes_answer = "discard"
    assert window.documents.new()
    type_then_delete("once more")
    prompts.save_changes_answer = "cancel"
    event = QCloseEvent()
    window.closeEvent(event)
    assert event.isAccepted()
    assert prompts.names().count("ask_save_changes") == 2  # only about kept.txt, emptied


def test_opening_a_non_utf8_file_asks_for_an_encoding(qtbot, make_window, prompts, tmp_path):
    legacy = tmp_path / "legacy.txt"
    legacy.write_bytes("Caf\xe9 cr\xe8me\r\n".encode("cp1252"))
    window = make_window()
    prompts.encoding_answer = None  # the user cancels: nothing changes
    assert not window.documents.open(str(legacy))
    assert window.editor.toPlainText() == ""
    prompts.encoding_answer = "cp1252"
    assert window.documents.open(str(legacy))
    assert window.editor.toPlainText() == "Café crème\n"
    asked = [c for c in prompts.calls if c[0] == "choose_encoding"][-1]
    assert "not valid UTF-8" in asked[2] and "cp1252" in asked[3]
    window.editor.moveCursor(window.editor.textCursor().MoveOperation.End)
    type_text(qtbot, window.editor, "x")
    assert window.documents.save()
    assert legacy.read_bytes() == "Caf\xe9 cr\xe8me\r\nx".encode("cp1252")  # same encoding and line ends


def test_binary_files_are_not_opened(qtbot, make_window, prompts, tmp_path):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x00\x01\x02binary")
    window = make_window()
    assert not window.documents.open(str(blob))
    assert prompts.calls[-1][0] == "error" and "binary" in prompts.calls[-1][2]


def test_the_binary_file_refusal_keeps_the_file_names_case(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from gui.dialogs.prompts import Prompts, sentence

    blob = tmp_path / "ls.bin"
    blob.write_bytes(b"\x7fELF\x00\x01")
    with pytest.raises(BinaryFileError) as caught:
        read_document(blob)
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    Prompts().error(None, "Cannot open file", str(caught.value))
    assert shown[0].startswith("ls.bin looks like a binary file")
    assert sentence("could not read the model") == "Could not read the model."  # engine messages still read well


def test_a_huge_file_asks_first_and_suggestions_use_only_text_near_the_cursor(qtbot, make_window, prompts,
                                                                             tmp_path, monkeypatch):
    monkeypatch.setattr(document_io, "LARGE_FILE_BYTES", 100_000)
    import gui.controllers.document_controller

    monkeypatch.setattr(gui.controllers.document_controller, "LARGE_FILE_BYTES", 100_000)
    big = tmp_path / "big.txt"
    line = "All work and no play makes Jack a dull boy.\n"
    big.write_text(line * 8000, encoding="utf-8")  # 350 kB
    window = make_window()
    prompts.large_file_answer = False
    assert not window.documents.open(str(big))
    prompts.large_file_answer = True
    assert window.documents.open(str(big))
    assert window.editor.document().characterCount() > 300_000
    window.editor.moveCursor(window.editor.textCursor().MoveOperation.End)
    type_text(qtbot, window.editor, "The")
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000) as request:
        window.editor.request_suggestion_now()
    prompt = request.args[1]
    assert len(prompt) <= WINDOW_CHARS
    assert prompt.endswith(line + "The")


def test_recent_files_are_remembered_across_windows(qtbot, make_window, tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("A", encoding="utf-8")
    second.write_text("B", encoding="utf-8")
    window = make_window()
    window.documents.open(str(first))
    window.documents.open(str(second))
    window.shutdown()
    again = make_window()
    assert again.app_settings.recent_files[:2] == [str(second), str(first)]
    recent = [a for a in again.recent_menu.actions() if a.toolTip().endswith(".txt")]
    assert [a.toolTip() for a in recent] == [str(second), str(first)]
    recent[1].trigger()
    assert again.editor.toPlainText() == "A"


@pytest.fixture
def documents_folder(tmp_path, monkeypatch):
    """The user's documents folder, as platformdirs names it, in the test's own folder."""
    folder = tmp_path / "Documents"
    folder.mkdir()
    monkeypatch.setattr("gui.settings.last_folder.user_documents_dir", lambda: str(folder))
    return folder


def test_file_dialogs_start_in_the_last_document_folder_also_in_the_next_session(qtbot, make_window, prompts,
                                                                                 tmp_path, documents_folder):
    chapters = tmp_path / "novel" / "chapters"
    chapters.mkdir(parents=True)
    (chapters / "one.txt").write_text("Chapter one.", encoding="utf-8")
    window = make_window(wait_ready=False)
    prompts.open_path = str(chapters / "one.txt")
    assert window.documents.open()
    assert prompts.calls[-1] == ("open_file_path", str(documents_folder))  # nothing used yet
    window.shutdown()

    again = make_window(wait_ready=False)
    assert again.documents.path is None
    again.documents.open()
    assert ("open_file_path", str(chapters)) in prompts.calls[-2:]
    again.documents.new()
    prompts.save_path = None
    again.documents.save_as()
    assert prompts.calls[-1] == ("save_file_path", str(chapters / "Untitled.txt"))


def test_save_as_and_open_never_start_in_the_last_model_folder(qtbot, make_window, prompts, tmp_path,
                                                               tiny_gpt2_folder, documents_folder):
    window = make_window()
    with qtbot.waitSignal(window.models.modelChanged, timeout=20000):
        window.models.open_path(tiny_gpt2_folder)  # the model dialog's folder is now the models' folder
    prompts.save_path = None
    window.documents.save_as()
    assert prompts.calls[-1] == ("save_file_path", str(documents_folder / "Untitled.txt"))
    window.documents.open()
    assert prompts.calls[-1] == ("open_file_path", str(documents_folder))

    letters = tmp_path / "letters"
    letters.mkdir()
    (letters / "dear.txt").write_text("Dear Sir,", encoding="utf-8")
    assert window.documents.open(str(letters / "dear.txt"))  # a recent file or a drop: no dialog, still used
    window.documents.open()
    assert prompts.calls[-1] == ("open_file_path", str(letters))  # the current document's folder
    window.documents.save_as()
    assert prompts.calls[-1] == ("save_file_path", str(letters / "dear.txt"))
    assert window.documents.new()
    window.documents.save_as()
    assert prompts.calls[-1] == ("save_file_path", str(letters / "Untitled.txt"))  # where the last one was

    drafts = tmp_path / "drafts"
    drafts.mkdir()
    type_text(qtbot, window.editor, "A draft.")
    prompts.save_path = str(drafts / "draft.txt")
    assert window.documents.save_as()
    assert window.documents.new()
    window.documents.open()
    assert prompts.calls[-1] == ("open_file_path", str(drafts))  # where the last document was saved
    prompts.model_path_answer = None
    window.models.open_model()
    assert prompts.calls[-1] == ("model_path", str(tiny_gpt2_folder.parent))
