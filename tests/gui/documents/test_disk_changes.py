"""The open file changed behind the app: saving asks before overwriting another program's edit, a deleted file is
not silently re-created, an unmodified document offers to reload; read-only files, modes and leftovers."""

from __future__ import annotations

import os
import stat
import time

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from gui.dialogs.prompts import Prompts
from tests.support.gui import type_text

needs_posix = pytest.mark.skipif(os.name != "posix", reason="file modes and umask as POSIX has them")


def _open(qtbot, make_window, path, text="Draft one."):
    path.write_text(text, encoding="utf-8")
    window = make_window(model=None, wait_ready=False, settings=None)
    assert window.documents.open(str(path))
    return window


def _edit_and_save(qtbot, window) -> bool:
    window.editor.moveCursor(window.editor.textCursor().MoveOperation.End)
    type_text(qtbot, window.editor, " Mine.")
    return window.documents.save()


def test_saving_over_a_file_another_program_changed_asks_and_cancel_keeps_both(qtbot, make_window, prompts,
                                                                                tmp_path):
    path = tmp_path / "notes.txt"
    window = _open(qtbot, make_window, path)
    with open(path, "a", encoding="utf-8") as other_program:
        other_program.write(" Their edit.")
    assert not _edit_and_save(qtbot, window)  # the preset answer is the dialog's default: Cancel
    assert ("file_changed_on_disk", "notes.txt", False) in prompts.calls
    assert path.read_text(encoding="utf-8") == "Draft one. Their edit."
    assert window.editor.toPlainText() == "Draft one. Mine." and window.editor.document().isModified()


def test_overwrite_reload_and_save_as_each_do_what_they_say(qtbot, make_window, prompts, tmp_path):
    path = tmp_path / "notes.txt"
    window = _open(qtbot, make_window, path)
    path.write_text("Draft one. Their edit.", encoding="utf-8")
    prompts.file_changed_answer = "reload"
    assert not _edit_and_save(qtbot, window)
    assert window.editor.toPlainText() == "Draft one. Their edit." and not window.editor.document().isModified()

    path.write_text("Theirs again.", encoding="utf-8")
    prompts.file_changed_answer = "save_as"
    prompts.save_path = str(tmp_path / "mine.txt")
    assert _edit_and_save(qtbot, window)
    assert path.read_text(encoding="utf-8") == "Theirs again."
    assert (tmp_path / "mine.txt").read_text(encoding="utf-8") == "Draft one. Their edit. Mine."

    (tmp_path / "mine.txt").write_text("Changed under Save As.", encoding="utf-8")
    prompts.file_changed_answer = "overwrite"
    assert _edit_and_save(qtbot, window)
    assert (tmp_path / "mine.txt").read_text(encoding="utf-8") == "Draft one. Their edit. Mine. Mine."
    asked = len(prompts.calls)
    assert _edit_and_save(qtbot, window)  # what we wrote ourselves is no change
    assert "file_changed_on_disk" not in prompts.names()[asked:]


def test_a_file_only_touched_is_not_a_change(qtbot, make_window, prompts, tmp_path):
    path = tmp_path / "notes.txt"
    window = _open(qtbot, make_window, path)
    later = time.time() + 60
    os.utime(path, (later, later))
    assert _edit_and_save(qtbot, window)
    assert "file_changed_on_disk" not in prompts.names()


def test_a_file_deleted_behind_the_app_is_not_silently_created_again(qtbot, make_window, prompts, tmp_path):
    path = tmp_path / "notes.txt"
    window = _open(qtbot, make_window, path)
    path.unlink()
    assert not _edit_and_save(qtbot, window)
    assert ("file_changed_on_disk", "notes.txt", True) in prompts.calls
    assert not path.exists()
    prompts.file_changed_answer = "overwrite"
    assert window.documents.save()
    assert path.read_text(encoding="utf-8") == "Draft one. Mine."


def test_an_unmodified_document_offers_to_reload_when_its_file_changes(qtbot, make_window, prompts, tmp_path):
    path = tmp_path / "notes.txt"
    window = _open(qtbot, make_window, path)
    path.write_text("Rewritten elsewhere.", encoding="utf-8")
    qtbot.waitUntil(lambda: window.editor.toPlainText() == "Rewritten elsewhere.", timeout=5000)
    assert ("offer_reload", "notes.txt") in prompts.calls
    assert not window.editor.document().isModified()

    with open(path, "a", encoding="utf-8") as other_program:  # still watched after the reload
        other_program.write(" Twice.")
    qtbot.waitUntil(lambda: window.editor.toPlainText() == "Rewritten elsewhere. Twice.", timeout=5000)


def test_a_modified_document_is_never_replaced_by_the_watcher(qtbot, make_window, prompts, tmp_path):
    path = tmp_path / "notes.txt"
    window = _open(qtbot, make_window, path)
    type_text(qtbot, window.editor, "Unsaved words. ")
    with qtbot.waitSignal(window.documents._watcher.fileChanged, timeout=5000):
        path.write_text("Rewritten elsewhere.", encoding="utf-8")
    qtbot.waitUntil(lambda: "saving will ask" in window.status.currentMessage(), timeout=5000)
    assert window.editor.toPlainText() == "Unsaved words. Draft one."
    assert "offer_reload" not in prompts.names()


def test_our_own_save_is_no_change_and_the_file_stays_watched_after_it(qtbot, make_window, prompts, tmp_path):
    path = tmp_path / "notes.txt"
    window = _open(qtbot, make_window, path)
    assert _edit_and_save(qtbot, window)  # replaces the file (a new inode) by a rename
    path.write_text("Rewritten elsewhere.", encoding="utf-8")
    qtbot.waitUntil(lambda: window.editor.toPlainText() == "Rewritten elsewhere.", timeout=5000)
    assert prompts.names().count("offer_reload") == 1  # for the other program's write, none for ours


def test_the_real_question_has_cancel_as_its_default(qtbot):
    """Enter on the real dialog (a stray keystroke) must not overwrite the other program's edit."""
    answers = []

    def press_enter():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, press_enter)
            return
        answers.append(box.defaultButton().text())
        QTest.keyClick(box, Qt.Key.Key_Return)

    for deleted in (False, True):
        QTimer.singleShot(0, press_enter)
        assert Prompts().file_changed_on_disk(None, "notes.txt", deleted) == "cancel"
    assert len(answers) == 2


@needs_posix
def test_a_read_only_file_asks_before_it_is_replaced_and_stays_read_only(qtbot, make_window, prompts, tmp_path):
    path = tmp_path / "notes.txt"
    window = _open(qtbot, make_window, path)
    os.chmod(path, 0o444)
    assert not _edit_and_save(qtbot, window)
    assert ("confirm_replace_read_only", "notes.txt") in prompts.calls
    assert path.read_text(encoding="utf-8") == "Draft one."
    prompts.read_only_answer = True
    assert window.documents.save()
    assert path.read_text(encoding="utf-8") == "Draft one. Mine."
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444


@needs_posix
def test_a_new_file_respects_the_umask_and_an_existing_one_keeps_its_mode(qtbot, make_window, prompts, tmp_path):
    window = make_window(model=None, wait_ready=False, settings=None)
    type_text(qtbot, window.editor, "New.")
    prompts.save_path = str(tmp_path / "new.txt")
    previous = os.umask(0o022)
    try:
        assert window.documents.save()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o644  # was always 0600
    os.chmod(tmp_path / "new.txt", 0o640)
    type_text(qtbot, window.editor, " More.")
    assert window.documents.save()
    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o640


def test_leftovers_of_a_killed_save_are_removed_on_the_next_open_and_save(qtbot, make_window, prompts, tmp_path):
    path = tmp_path / "notes.txt"
    old = time.time() - 3600
    leftover = tmp_path / ".notes.txt.0a1b2c3d.tmp"
    leftover.write_bytes(b"half a save")
    os.utime(leftover, (old, old))
    window = _open(qtbot, make_window, path)
    assert not leftover.exists()
    leftover.write_bytes(b"half of another save")
    os.utime(leftover, (old, old))
    assert _edit_and_save(qtbot, window)
    assert not leftover.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".notes.txt")] == []
