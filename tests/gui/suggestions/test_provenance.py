"""Accepted text remembers which model, settings and seed produced it: on hover, across later edits, and in notes
kept in the user data folder (never in the text, never beside it) that survive saving and reopening, along with the
suggestion history; a sidecar an earlier version left beside a document moves there."""

from __future__ import annotations

import json
import os
import stat

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent, QTextCursor
from PySide6.QtWidgets import QApplication, QToolTip

from gui.documents.document_io import DocumentError
from gui.documents.sidecar import legacy_sidecar_path
from gui.editor.ghost_suggestion import clean
from tests.support.gui import FAST_GREEDY, type_and_wait_for_suggestion, type_text

PROMPT = "The quick brown fox"
ALT_SHIFT = Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ShiftModifier


def accept_a_suggestion(qtbot, window) -> str:
    ghost = type_and_wait_for_suggestion(qtbot, window, PROMPT)
    qtbot.keyClick(window.editor, Qt.Key.Key_Tab)
    return ghost


def accept_a_suggestion_then_stop_suggesting(qtbot, window) -> str:
    """Accepts one suggestion after PROMPT, then turns suggestions off so later edits make no new ones."""
    ghost = accept_a_suggestion(qtbot, window)
    window.editor.set_suggestions_enabled(False)
    return ghost


def point_over(editor, position: int) -> QPoint:
    cursor = QTextCursor(editor.document())
    cursor.setPosition(position)
    rect = editor.cursorRect(cursor)
    return QPoint(rect.left() + 2, rect.center().y())


def test_hovering_accepted_text_says_what_produced_it(qtbot, make_window, tiny_gpt2_folder):
    window = make_window()
    ghost = accept_a_suggestion_then_stop_suggesting(qtbot, window)
    editor = window.editor
    description = window.provenance.describe_at(len(PROMPT) + 1)
    assert str(tiny_gpt2_folder) in description and "greedy" in description
    assert window.provenance.describe_at(len(PROMPT) - 1) is None  # typed by the user
    assert window.provenance.describe_at(len(PROMPT + ghost)) is None

    position = point_over(editor, len(PROMPT) + 1)
    event = QHelpEvent(QEvent.Type.ToolTip, position, editor.viewport().mapToGlobal(position))
    QApplication.sendEvent(editor.viewport(), event)
    qtbot.waitUntil(QToolTip.isVisible, timeout=3000)
    assert "Suggested by" in QToolTip.text()


def test_accepted_ranges_follow_later_edits(qtbot, make_window):
    window = make_window()
    ghost = accept_a_suggestion_then_stop_suggesting(qtbot, window)
    editor = window.editor
    start = len(PROMPT)
    cursor = QTextCursor(editor.document())
    cursor.insertText("Intro. ")  # before it: the range moves
    cursor.setPosition(start + 7)
    cursor.insertText("typed")  # right before it: not suggested text
    end = start + 7 + 5 + len(ghost)
    cursor.setPosition(end)
    cursor.insertText("after")  # right after it: not suggested text either
    [record] = window.provenance.records()
    assert (record.start, record.end, record.text) == (start + 12, end, ghost)
    assert window.provenance.describe_at(start + 11) is None and window.provenance.describe_at(end) is None

    cursor.setPosition(start + 12)
    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
    cursor.removeSelectedText()  # deleted entirely: forgotten
    assert window.provenance.records() == []


def test_undo_and_redo_of_an_accept_keep_where_its_text_came_from(qtbot, make_window):
    window = make_window()
    ghost = accept_a_suggestion_then_stop_suggesting(qtbot, window)
    editor = window.editor
    start = len(PROMPT)
    editor.undo()
    assert editor.toPlainText() == PROMPT and window.provenance.records() == []
    editor.redo()
    [record] = window.provenance.records()
    assert (record.start, record.text) == (start, ghost)
    assert "greedy" in window.provenance.describe_at(start)

    cursor = QTextCursor(editor.document())
    cursor.setPosition(start)
    cursor.setPosition(start + len(ghost), QTextCursor.MoveMode.KeepAnchor)
    cursor.removeSelectedText()
    editor.undo()  # the deletion undone: the text is back, and so is what it came from
    assert [r.text for r in window.provenance.records()] == [ghost]

    cursor.setPosition(start)
    cursor.setPosition(start + len(ghost), QTextCursor.MoveMode.KeepAnchor)
    assert len(ghost) > 1
    cursor.insertText(ghost[:1])  # the user's own text in its place: not suggested
    assert window.provenance.records() == [] and window.provenance.describe_at(start) is None


def test_accepting_word_by_word_makes_one_range(qtbot, make_window):
    window = make_window()
    editor = window.editor
    ghost = type_and_wait_for_suggestion(qtbot, window, PROMPT)
    while editor.ghost_text():
        qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    [record] = window.provenance.records()
    assert record.text == ghost


def test_the_notes_keep_provenance_and_history_through_save_and_reopen(qtbot, make_window, prompts, tmp_path,
                                                                      app_dirs):
    window = make_window(settings=FAST_GREEDY.replace(temperature=3.0))
    window.rerolls.new_seed = iter(range(1, 1000)).__next__
    editor = window.editor
    ghost = accept_a_suggestion(qtbot, window)
    editor.moveCursor(QTextCursor.MoveOperation.End)
    greedy = type_and_wait_for_suggestion(qtbot, window, ". Then")
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000) as made:
        window.named_actions["suggestion.reroll"].trigger()
    qtbot.waitUntil(lambda: editor.pending_request is None and editor.ghost_text() not in ("", greedy),
                    timeout=10000)
    rerolled = editor.ghost_text()
    assert made.args[0] > 0
    editor.dismiss()
    text = editor.toPlainText()

    writing = tmp_path / "writing"
    writing.mkdir()
    document = writing / "story.txt"
    prompts.save_path = str(document)
    assert window.documents.save()
    assert document.read_text(encoding="utf-8") == text  # nothing but the text in the document
    assert os.listdir(writing) == ["story.txt"]  # and nothing beside it
    notes = window.sidecars.store.path_for(document)
    assert notes.parent == app_dirs["data_dir"] / "provenance"
    assert stat.S_IMODE(os.stat(notes).st_mode) == 0o600 or os.name != "posix"
    saved = json.loads(notes.read_text(encoding="utf-8"))
    assert saved["document"] == os.path.realpath(document)
    [accepted] = saved["accepted"]
    assert (accepted["start"], accepted["text"], accepted["settings"]["strategy"]) == (len(PROMPT), ghost, "greedy")
    [point] = saved["history"]
    assert point["offset"] == len(text)
    assert [clean(e["completions"][0]["text"]) for e in point["entries"]] == [greedy, rerolled]
    assert point["entries"][1]["seed"] == 1 and point["entries"][1]["settings"]["strategy"] == "sample"

    assert window.documents.new()
    assert window.provenance.records() == [] and editor.toPlainText() == ""
    assert window.documents.open(str(document))
    assert [r.text for r in window.provenance.records()] == [ghost]
    assert "greedy" in window.provenance.describe_at(len(PROMPT))
    editor.moveCursor(QTextCursor.MoveOperation.End)
    editor.set_suggestions_enabled(False)
    editor.set_suggestions_enabled(True)
    qtbot.keyClick(editor, Qt.Key.Key_BraceLeft, ALT_SHIFT)
    assert editor.ghost_text() == rerolled  # the history came back with the document
    qtbot.keyClick(editor, Qt.Key.Key_BraceLeft, ALT_SHIFT)
    assert editor.ghost_text() == greedy
    assert "seed" not in window.status.currentMessage()  # the greedy one has none


def test_a_document_edited_elsewhere_keeps_what_still_matches(qtbot, make_window, prompts, tmp_path):
    window = make_window()
    ghost = accept_a_suggestion_then_stop_suggesting(qtbot, window)
    document = tmp_path / "notes.txt"
    prompts.save_path = str(document)
    assert window.documents.save()
    document.write_text("A new first line.\n" + window.editor.toPlainText(), encoding="utf-8")
    assert window.documents.open(str(document))
    [record] = window.provenance.records()
    assert (record.start, record.text) == (len("A new first line.\n" + PROMPT), ghost)

    document.write_text("Rewritten entirely.", encoding="utf-8")
    assert window.documents.open(str(document))
    assert window.provenance.records() == []
    assert "no longer match" in window.status.currentMessage()


def test_save_as_carries_the_notes_to_the_new_path(qtbot, make_window, prompts, tmp_path):
    window = make_window()
    ghost = accept_a_suggestion_then_stop_suggesting(qtbot, window)
    first, second = tmp_path / "first" / "draft.txt", tmp_path / "second" / "final.txt"
    first.parent.mkdir()
    second.parent.mkdir()
    prompts.save_path = str(first)
    assert window.documents.save_as()
    prompts.save_path = str(second)
    assert window.documents.save_as()
    assert [r.text for r in window.provenance.records()] == [ghost]  # still known after the Save As
    assert (os.listdir(first.parent), os.listdir(second.parent)) == (["draft.txt"], ["final.txt"])

    again = make_window()
    assert again.documents.open(str(second))
    assert [r.text for r in again.provenance.records()] == [ghost]
    assert "greedy" in again.provenance.describe_at(len(PROMPT))


def test_notes_kept_under_another_document_s_name_are_not_applied(qtbot, make_window, prompts, tmp_path):
    window = make_window()
    accept_a_suggestion_then_stop_suggesting(qtbot, window)
    mine, other = tmp_path / "mine.txt", tmp_path / "other.txt"
    prompts.save_path = str(mine)
    assert window.documents.save()
    other.write_text(mine.read_text(encoding="utf-8"), encoding="utf-8")
    store = window.sidecars.store
    store.path_for(other).write_bytes(store.path_for(mine).read_bytes())  # a collision, or a renamed document
    assert window.documents.new()
    assert window.documents.open(str(other))
    assert window.provenance.records() == []


def test_a_sidecar_left_beside_a_document_moves_into_the_data_folder(qtbot, make_window, prompts, tmp_path):
    window = make_window()
    ghost = accept_a_suggestion_then_stop_suggesting(qtbot, window)
    document = tmp_path / "writing" / "story.txt"
    document.parent.mkdir()
    prompts.save_path = str(document)
    assert window.documents.save()
    store = window.sidecars.store
    saved = json.loads(store.path_for(document).read_text(encoding="utf-8"))
    del saved["document"]  # as an earlier version wrote it, beside the document
    legacy = legacy_sidecar_path(document)
    assert legacy.name == ".story.txt.inkling.json"
    legacy.write_text(json.dumps(saved), encoding="utf-8")
    store.path_for(document).unlink()
    assert window.documents.new()

    assert window.documents.open(str(document))
    assert [r.text for r in window.provenance.records()] == [ghost]
    assert os.listdir(document.parent) == ["story.txt"]  # the old sidecar is gone
    moved = json.loads(store.path_for(document).read_text(encoding="utf-8"))
    assert moved["document"] == os.path.realpath(document) and moved["accepted"] == saved["accepted"]
    assert window.documents.new()
    assert window.documents.open(str(document))  # and from now on read from the data folder
    assert [r.text for r in window.provenance.records()] == [ghost]


def test_saving_over_a_document_with_an_old_sidecar_beside_it_retires_that_sidecar(qtbot, make_window, prompts,
                                                                                   tmp_path):
    """The notes just stored are the document's; an old sidecar left beside it would be taken for newer ones when
    the document next opens."""
    window = make_window()
    ghost = accept_a_suggestion_then_stop_suggesting(qtbot, window)
    document = tmp_path / "writing" / "story.txt"
    document.parent.mkdir()
    document.write_text("An older text.", encoding="utf-8")
    legacy = legacy_sidecar_path(document)
    legacy.write_text(json.dumps({"format": "inkling-sidecar", "version": 1, "document_chars": 14,
                                  "accepted": [], "history": []}), encoding="utf-8")
    prompts.save_path = str(document)
    assert window.documents.save_as()
    assert os.listdir(document.parent) == ["story.txt"]

    again = make_window()
    assert again.documents.open(str(document))
    assert [r.text for r in again.provenance.records()] == [ghost]


def test_a_damaged_sidecar_is_reported_left_where_it_is_and_the_document_still_opens(qtbot, make_window,
                                                                                      tmp_path):
    window = make_window()
    document = tmp_path / "notes.txt"
    document.write_text("Some text.", encoding="utf-8")
    legacy_sidecar_path(document).write_text("{ not json", encoding="utf-8")
    assert window.documents.open(str(document))
    assert window.editor.toPlainText() == "Some text."
    assert "damaged" in window.status.currentMessage()
    assert legacy_sidecar_path(document).read_text(encoding="utf-8") == "{ not json"
    assert not window.sidecars.store.path_for(document).exists()


def test_damaged_notes_in_the_data_folder_are_reported_and_the_document_still_opens(qtbot, make_window, tmp_path):
    window = make_window()
    document = tmp_path / "notes.txt"
    document.write_text("Some text.", encoding="utf-8")
    notes = window.sidecars.store.path_for(document)
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_text("{ not json", encoding="utf-8")
    assert window.documents.open(str(document))
    assert window.editor.toPlainText() == "Some text."
    assert "damaged" in window.status.currentMessage()


def test_notes_that_cannot_be_written_never_stop_the_save(qtbot, make_window, prompts, tmp_path, monkeypatch):
    window = make_window()
    accept_a_suggestion_then_stop_suggesting(qtbot, window)

    def fail(path, data, **_options):
        raise DocumentError(f"Cannot save {path}: disk full. The old file is unchanged.")

    monkeypatch.setattr("gui.documents.sidecar.atomic_write_bytes", fail)
    document = tmp_path / "notes.txt"
    prompts.save_path = str(document)
    assert window.documents.save()
    assert document.read_text(encoding="utf-8") == window.editor.toPlainText()
    assert not window.editor.document().isModified()
    qtbot.waitUntil(lambda: "disk full" in window.status.currentMessage(), timeout=3000)
    assert not window.sidecars.store.path_for(document).exists()


@pytest.mark.skipif(os.name != "posix", reason="symbolic links as POSIX has them")
def test_a_sidecar_planted_as_a_link_is_never_read_moved_or_deleted(qtbot, make_window, tmp_path):
    """Anyone who can write into a shared folder could point the old sidecar's name at another file of the
    writer's: opening reports the link and reads nothing through it, saving leaves it and its target as they
    were."""
    thesis = tmp_path / "home" / "thesis.txt"
    thesis.parent.mkdir()
    thesis.write_text("Years of work.", encoding="utf-8")
    shared = tmp_path / "shared"
    shared.mkdir()
    document = shared / "notes.txt"
    document.write_text("Shared notes. ", encoding="utf-8")
    legacy_sidecar_path(document).symlink_to(thesis)

    window = make_window()
    assert window.documents.open(str(document))
    assert "symbolic link" in window.status.currentMessage()  # said on open, and nothing read through it
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    accept_a_suggestion_then_stop_suggesting(qtbot, window)
    qtbot.keyClick(window.editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)

    assert document.read_text(encoding="utf-8") == window.editor.toPlainText()  # the save itself succeeded
    assert not window.editor.document().isModified()
    assert thesis.read_text(encoding="utf-8") == "Years of work."
    assert legacy_sidecar_path(document).is_symlink()
    assert window.sidecars.store.path_for(document).is_file()


@pytest.mark.skipif(os.name != "posix", reason="symbolic links as POSIX has them")
def test_notes_in_the_data_folder_are_never_written_through_a_link(qtbot, make_window, prompts, tmp_path):
    thesis = tmp_path / "home" / "thesis.txt"
    thesis.parent.mkdir()
    thesis.write_text("Years of work.", encoding="utf-8")
    document = tmp_path / "notes.txt"
    window = make_window()
    notes = window.sidecars.store.path_for(document)
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.symlink_to(thesis)
    accept_a_suggestion_then_stop_suggesting(qtbot, window)
    prompts.save_path = str(document)
    assert window.documents.save()

    assert document.read_text(encoding="utf-8") == window.editor.toPlainText()  # the save itself succeeded
    assert thesis.read_text(encoding="utf-8") == "Years of work."
    assert notes.is_symlink()
    qtbot.waitUntil(lambda: "symbolic link" in window.status.currentMessage(), timeout=3000)
    assert "Saved notes.txt, but not where its suggested text came from" in window.status.currentMessage()
    assert window.documents.open(str(document))
    assert "symbolic link" in window.status.currentMessage()  # nothing read through it either


def test_no_notes_for_a_document_without_suggested_text(qtbot, make_window, prompts, tmp_path):
    window = make_window()
    window.editor.set_suggestions_enabled(False)
    type_text(qtbot, window.editor, "All mine.")
    document = tmp_path / "mine.txt"
    prompts.save_path = str(document)
    assert window.documents.save()
    assert not window.sidecars.store.path_for(document).exists()
    assert not legacy_sidecar_path(document).exists()


def test_where_accepted_text_came_from_survives_a_crash_with_the_unsaved_text(qtbot, make_window, prompts):
    crashed = make_window()
    ghost = accept_a_suggestion_then_stop_suggesting(qtbot, crashed)
    crashed.autosaver.save_now()
    # What a crash leaves: a session file nobody holds the lock of (this window's own is deleted as it closes).
    left_behind = crashed.recovery.folder / "crashed-session.json"
    left_behind.write_bytes(crashed.recovery.session_file.read_bytes())
    crashed.shutdown()

    window = make_window()
    qtbot.waitUntil(lambda: window.editor.toPlainText() == PROMPT + ghost, timeout=5000)
    assert [r.text for r in window.provenance.records()] == [ghost]
    assert "greedy" in window.provenance.describe_at(len(PROMPT))
    window.autosaver.save_now()
    assert json.loads(window.recovery.session_file.read_text(encoding="utf-8"))["notes"]  # kept for a 2nd crash
