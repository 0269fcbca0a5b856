"""Crash-recovery snapshots are written on a thread of their own (issue 32 item 9), and a full disk is named as
such, shown until a snapshot is written again, and never holds up typing (item 8)."""

from __future__ import annotations

import errno
import json
import threading
from collections import namedtuple
from pathlib import Path

import pytest

import engine.owned_files
import gui.documents.recovery
from gui.documents.recovery import RecoveryError, RecoveryStore
from tests.support.gui import type_text


@pytest.fixture
def full_disk(monkeypatch):
    """The recovery folder's disk is full: creating a file there fails with ENOSPC, and little space is free.
    ``full_disk.free()`` frees space again."""
    create = engine.owned_files._create_temporary
    usage = namedtuple("usage", "total used free")
    state = {"full": True}

    def create_temporary(target: Path, mode: int):
        if state["full"] and "recovery" in target.parts:
            raise OSError(errno.ENOSPC, "No space left on device")
        return create(target, mode)

    real_usage = gui.documents.recovery.shutil.disk_usage
    monkeypatch.setattr(engine.owned_files, "_create_temporary", create_temporary)
    monkeypatch.setattr(gui.documents.recovery.shutil, "disk_usage",
                        lambda path: usage(10**9, 10**9, 0) if state["full"] else real_usage(path))

    class Control:
        def free(self) -> None:
            state["full"] = False

    return Control()


def test_a_snapshot_written_in_pieces_reads_back_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(gui.documents.recovery, "PIECE_CHARS", 7)
    text = 'Quotes " and \\ backslashes,\nnew lines,\ttabs, \x01 controls, émoji 😀 and ünïcode — across pieces.'
    RecoveryStore(tmp_path).write(text, "/a/file.txt", notes='{"accepted": []}', cursor=12)
    [document] = RecoveryStore(tmp_path).orphans()
    assert (document.text, document.path, document.notes, document.cursor) == (text, "/a/file.txt",
                                                                               '{"accepted": []}', 12)


def test_a_full_disk_is_named_when_the_snapshot_cannot_be_written(tmp_path, full_disk):
    store = RecoveryStore(tmp_path / "recovery")
    with pytest.raises(RecoveryError, match="the disk is full: there is no room in .*recovery for the unsaved "
                                            "text") as caught:
        store.write("unsaved words", None)
    assert caught.value.disk_full
    store.close()


def test_a_lock_that_cannot_be_made_on_a_full_disk_says_the_disk_is_full(tmp_path, monkeypatch, full_disk):
    class FailingLock:  # QLockFile says only that it failed: on a full disk, so does writing its few bytes
        def tryLock(self, timeout: int) -> bool:
            return False

    monkeypatch.setattr(gui.documents.recovery, "_new_lock", lambda path: FailingLock())
    store = RecoveryStore(tmp_path / "recovery")
    with pytest.raises(RecoveryError, match="the disk is full") as caught:
        store.write("unsaved words", None)
    assert caught.value.disk_full
    full_disk.free()
    with pytest.raises(RecoveryError, match="Cannot lock the recovery file") as caught:
        store.write("unsaved words", None)  # a lock failing with room on the disk is not called a full disk
    assert not caught.value.disk_full


def test_snapshots_are_written_off_the_gui_thread_and_hold_the_text(qtbot, make_window, monkeypatch):
    threads = []
    write = RecoveryStore.write_snapshot
    monkeypatch.setattr(RecoveryStore, "write_snapshot",
                        lambda self, *args: threads.append(threading.current_thread()) or write(self, *args))
    window = make_window(recovery_interval_ms=20)
    window.editor.set_suggestions_enabled(False)
    type_text(qtbot, window.editor, "draft\nsecond line")
    snapshot = window.recovery.session_file
    qtbot.waitUntil(lambda: snapshot.exists() and json.loads(snapshot.read_text(encoding="utf-8"))["text"]
                    == "draft\nsecond line", timeout=5000)
    assert threads and all(thread is not threading.main_thread() for thread in threads)


def test_a_full_disk_is_shown_until_a_snapshot_is_written_again_and_typing_goes_on(qtbot, make_window, full_disk):
    window = make_window(recovery_interval_ms=20)
    window.editor.set_suggestions_enabled(False)
    warning = window.status.recovery_warning
    type_text(qtbot, window.editor, "words the disk has no room for")
    qtbot.waitUntil(warning.isVisible, timeout=5000)
    assert warning.text() == "⚠ Disk full: unsaved text not backed up"
    assert "the disk is full" in warning.toolTip()
    assert "the disk is full" in window.status.currentMessage()
    assert "Cannot lock" not in window.status.currentMessage()
    failures = []
    original = window.autosaver._failed
    window.autosaver._failed = lambda error: failures.append(error) or original(error)
    type_text(qtbot, window.editor, ", and more")  # typing is not held up, and each try fails again
    qtbot.waitUntil(lambda: len(failures) >= 3, timeout=5000)
    assert warning.isVisible()  # still said, try after try
    assert window.editor.toPlainText() == "words the disk has no room for, and more"
    full_disk.free()
    snapshot = window.recovery.session_file
    qtbot.waitUntil(lambda: not warning.isVisible(), timeout=5000)
    assert json.loads(snapshot.read_text(encoding="utf-8"))["text"] == "words the disk has no room for, and more"
    assert "Crash recovery works again" in window.status.currentMessage()


def test_a_save_drops_the_snapshot_even_while_a_write_is_in_flight(qtbot, make_window, prompts, tmp_path,
                                                                   monkeypatch):
    gate = threading.Event()
    write = RecoveryStore.write_snapshot
    monkeypatch.setattr(RecoveryStore, "write_snapshot", lambda self, *args: gate.wait(10) and write(self, *args))
    window = make_window(recovery_interval_ms=20)
    window.editor.set_suggestions_enabled(False)
    type_text(qtbot, window.editor, "about to be saved")
    qtbot.waitUntil(lambda: window.autosaver._in_flight is not None, timeout=5000)
    prompts.save_path = str(tmp_path / "saved.txt")
    assert window.documents.save()
    gate.set()  # the slow write lands after the save; the discard that follows it must still remove it
    snapshot = window.recovery.session_file
    qtbot.waitUntil(lambda: window.autosaver._in_flight is None and window.autosaver._written_revision is None,
                    timeout=5000)
    window.autosaver.wait()
    assert not snapshot.exists()


def test_a_snapshot_that_fails_unexpectedly_is_reported_and_tried_again(qtbot, make_window):
    window = make_window(recovery_interval_ms=20)
    window.editor.set_suggestions_enabled(False)
    notes = window.autosaver._notes
    window.autosaver._notes = lambda: (lambda text: 1 / 0)  # a bug in the notes, on the writer thread
    type_text(qtbot, window.editor, "still safe")
    warning = window.status.recovery_warning
    qtbot.waitUntil(warning.isVisible, timeout=5000)
    assert warning.text() == "⚠ Crash recovery not working" and "ZeroDivisionError" in warning.toolTip()
    window.autosaver._notes = notes
    qtbot.waitUntil(lambda: not warning.isVisible(), timeout=5000)
    assert json.loads(window.recovery.session_file.read_text(encoding="utf-8"))["text"] == "still safe"
