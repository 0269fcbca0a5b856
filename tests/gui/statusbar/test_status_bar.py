"""StatusBar: its widgets, and the latency ones shown once a suggestion was timed."""

from __future__ import annotations

from PySide6.QtWidgets import QPlainTextEdit

from gui.statusbar import StatusBar


def _status_bar(qtbot) -> StatusBar:
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    status = StatusBar(editor)
    qtbot.addWidget(status)
    status.show()
    return status


def test_status_bar_keeps_session_latency_percentiles(qtbot):
    status = _status_bar(qtbot)
    assert not status.latency.isVisibleTo(status)  # nothing timed yet
    assert not status.session_latency.isVisibleTo(status)
    for ms in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100):
        status.show_latency(ms / 1000, 50.0)
    status.show_latency(None, None)  # an untimed suggestion does not count
    assert status.latency.isVisibleTo(status)
    assert status.session_latency.isVisibleTo(status)
    assert status.session_latency.count() == 10
    assert status.session_latency.text() == "p50 55 ms · p90 91 ms"
    assert "10 suggestions" in status.session_latency.toolTip()
