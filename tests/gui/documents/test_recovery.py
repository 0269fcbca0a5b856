"""Crash recovery: unsaved text is snapshotted every few seconds and offered back after a real crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.gui import type_text
from tests.support.paths import REPO  # where the crashing session finds tests.support

CRASHING_SESSION = textwrap.dedent("""
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    sys.path.insert(0, {repo!r})
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from gui import MainWindow
    from tests.support.gui import FakePrompts
    window = MainWindow("no-such-model", config_dir={config!r}, data_dir={data!r}, prompts=FakePrompts(),
                        recovery_interval_ms=20)
    window.show()
    window.editor.insertPlainText({text!r})
    if {cursor!r} is not None:
        window.editor.set_cursor_position({cursor!r})
    folder = window.recovery.folder

    def crash_once_saved():
        if window.recovery.session_file.exists():
            os._exit(3)  # no cleanup of any kind: what a crash leaves behind

    poll = QTimer()
    poll.timeout.connect(crash_once_saved)
    poll.start(10)
    QTimer.singleShot(60000, lambda: os._exit(4))
    app.exec()
""")


def _crash_a_session(app_dirs, text: str, cursor: int | None = None) -> None:
    script = CRASHING_SESSION.format(repo=str(REPO), config=str(app_dirs["config_dir"]),
                                     data=str(app_dirs["data_dir"]), text=text, cursor=cursor)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 3, result.stderr[-2000:]


@pytest.mark.slow
def test_after_a_crash_the_next_start_restores_the_unsaved_text(qtbot, make_window, prompts, app_dirs):
    lost = "Chapter one.\nIt was a dark and stormy night; the rain fell in torrents — except at occasional intervals"
    _crash_a_session(app_dirs, lost)
    leftovers = list((app_dirs["data_dir"] / "recovery").glob("*.json"))
    assert len(leftovers) == 1

    window = make_window()
    qtbot.waitUntil(lambda: window.editor.toPlainText() == lost, timeout=5000)
    offered = next(call for call in prompts.calls if call[0] == "offer_restore")
    assert [d.text for d in offered[1]] == [lost]
    assert window.editor.document().isModified()
    assert window.windowTitle().startswith("●")
    assert not leftovers[0].exists()  # the old snapshot goes only once ours holds the text
    assert json.loads(window.recovery.session_file.read_text(encoding="utf-8"))["text"] == lost


def test_after_a_restore_the_cursor_is_where_it_was(qtbot, make_window, app_dirs):
    lost = "First paragraph, finished.\nSecond paragraph, where I was writing when it crashed.\nA note at the end."
    where = lost.index("when it crashed")
    _crash_a_session(app_dirs, lost, cursor=where)
    window = make_window()
    qtbot.waitUntil(lambda: window.editor.toPlainText() == lost, timeout=5000)
    assert window.editor.textCursor().position() == where


def test_declining_the_restore_discards_the_snapshot(qtbot, make_window, prompts, app_dirs):
    _crash_a_session(app_dirs, "not wanted")
    prompts.restore_answer = False
    window = make_window()
    qtbot.waitUntil(lambda: "offer_restore" in prompts.names(), timeout=5000)
    assert window.editor.toPlainText() == ""
    assert list((app_dirs["data_dir"] / "recovery").glob("*.json")) == []


def test_unsaved_text_is_snapshotted_and_a_clean_close_removes_it(qtbot, make_window, prompts, tmp_path):
    window = make_window(recovery_interval_ms=20)
    type_text(qtbot, window.editor, "draft")
    snapshot = window.recovery.session_file
    qtbot.waitUntil(snapshot.exists, timeout=5000)
    assert json.loads(snapshot.read_text(encoding="utf-8"))["text"] == "draft"
    prompts.save_path = str(tmp_path / "draft.txt")
    window.documents.save()
    qtbot.waitUntil(lambda: not snapshot.exists(), timeout=5000)  # saved: nothing to recover
    type_text(qtbot, window.editor, " two")
    qtbot.waitUntil(snapshot.exists, timeout=5000)
    assert json.loads(snapshot.read_text(encoding="utf-8"))["path"] == str(tmp_path / "draft.txt")
    window.close()
    assert not snapshot.exists()
    assert list(snapshot.parent.iterdir()) == []  # the lock went too


def test_a_running_window_s_snapshot_is_not_offered_to_another(qtbot, make_window, prompts):
    first = make_window(recovery_interval_ms=20)
    type_text(qtbot, first.editor, "still open")
    qtbot.waitUntil(first.recovery.session_file.exists, timeout=5000)
    second = make_window()
    assert not second.offer_recovery()
    assert "offer_restore" not in prompts.names()


# --- a snapshot weighed against its file on disk --------------------------------------------------------------

def _leave_snapshot(app_dirs, text: str, path: Path, saved_at: float) -> Path:
    """What a session killed after its last snapshot leaves: a session file whose lock no process holds."""
    folder = app_dirs["data_dir"] / "recovery"
    folder.mkdir(parents=True, exist_ok=True)
    snapshot = folder / "0123456789abcdef0123456789abcdef.json"
    snapshot.write_text(json.dumps({"version": 1, "text": text, "path": str(path), "saved_at": saved_at,
                                    "pid": 0}), encoding="utf-8")
    return snapshot


def test_a_snapshot_older_than_the_saved_file_is_not_offered_and_is_kept_aside(qtbot, make_window, prompts,
                                                                              app_dirs, tmp_path):
    """Type, snapshot, type "final sentence", Ctrl+S, kill -9 before the snapshot is dropped: the next start must
    not offer the older text over the newer save."""
    document = tmp_path / "story.txt"
    now = time.time()
    snapshot = _leave_snapshot(app_dirs, "The draft.", document, saved_at=now - 10)
    document.write_text("The draft. The final sentence.", encoding="utf-8")
    os.utime(document, (now - 5, now - 5))
    window = make_window(model=None, wait_ready=False, settings=None)
    qtbot.waitUntil(lambda: "Not offered" in window.status.currentMessage(), timeout=5000)
    assert "offer_restore" not in prompts.names()
    assert "story.txt on disk" in window.status.currentMessage() and "is newer" in window.status.currentMessage()
    assert not snapshot.exists()
    assert snapshot.with_name(snapshot.name + ".stale").read_text(encoding="utf-8")  # kept for a person to read
    assert window.editor.toPlainText() == ""


def test_a_snapshot_the_file_already_holds_is_not_offered(qtbot, make_window, prompts, app_dirs, tmp_path):
    document = tmp_path / "story.txt"
    document.write_text("Saved and snapshotted alike.", encoding="utf-8")
    snapshot = _leave_snapshot(app_dirs, "Saved and snapshotted alike.", document, saved_at=time.time() + 5)
    window = make_window(model=None, wait_ready=False, settings=None)
    qtbot.waitUntil(lambda: not snapshot.exists(), timeout=5000)
    assert "offer_restore" not in prompts.names()
    assert window.editor.toPlainText() == ""


def test_a_newer_different_snapshot_is_offered_saying_which_is_newer(qtbot, make_window, prompts, app_dirs,
                                                                     tmp_path):
    document = tmp_path / "story.txt"
    document.write_text("The saved text.", encoding="utf-8")
    now = time.time()
    os.utime(document, (now - 60, now - 60))
    _leave_snapshot(app_dirs, "The saved text. Unsaved words.", document, saved_at=now - 5)
    window = make_window(model=None, wait_ready=False, settings=None)
    qtbot.waitUntil(lambda: window.editor.toPlainText() == "The saved text. Unsaved words.", timeout=5000)
    [(_, offered, note)] = [call for call in prompts.calls if call[0] == "offer_restore"]
    assert [d.text for d in offered] == ["The saved text. Unsaved words."]
    assert "is newer than story.txt on disk" in note
