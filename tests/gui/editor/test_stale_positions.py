"""No position past the document reaches Qt while ghost text is drawn: Qt's hit test counts the ghost text (the
layout's pre-edit area) as document text."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tests.support.gui import ghost_point, type_text, wait_until_finished


def _rest_pointer(viewport, point: QPoint) -> None:
    """Move the pointer to ``point`` and let it rest there long enough for a tooltip."""
    QTest.mouseMove(viewport, point)
    QApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, point, viewport.mapToGlobal(point)))


def test_clearing_the_text_under_the_pointer_leaves_no_stale_position(qtbot, make_window, qtlog):
    """Ctrl+A, Backspace and typing with the pointer where the ghost text was (issue 30, item 13)."""
    window = make_window()
    editor = window.editor
    type_text(qtbot, editor, "The quick brown fox jumps over the lazy dog")
    wait_until_finished(qtbot, window)
    viewport = editor.viewport()
    point = ghost_point(editor, len(editor.ghost_text()) - 1)
    _rest_pointer(viewport, point)
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    for char in "Hi":
        QTest.keyClicks(editor, char)
        _rest_pointer(viewport, point)
    wait_until_finished(qtbot, window)
    for dx in range(0, 200, 10):
        _rest_pointer(viewport, point + QPoint(dx, 0))
    warnings = [record.message for record in qtlog.records if "out of range" in record.message]
    assert not warnings


def test_positions_after_ghost_text_in_the_middle_of_a_line_are_the_documents(qtbot, make_window):
    from engine.decoding.results import StreamEvent

    editor = make_window(model=None, wait_ready=False).editor
    editor.replace_text("Hello world")
    cursor = editor.textCursor()
    cursor.setPosition(len("Hello"))
    editor.setTextCursor(cursor)
    editor.begin_request(1)
    editor.show_stream(StreamEvent(text=" big and round"))
    qtbot.waitUntil(lambda: editor.textCursor().block().layout().preeditAreaText() != "", timeout=2000)
    # Where "d" is drawn, after the ghost text: Qt's own hit test is off by the ghost text's length.
    x = editor.cursorRect().x() + editor.fontMetrics().horizontalAdvance(" big and round worl") + 1
    point = QPoint(x, editor.cursorRect().center().y())
    assert editor.cursorForPosition(point).position() != len("Hello worl")
    assert editor.document_position_at(point) == len("Hello worl")
    on_ghost = ghost_point(editor, 3)
    assert editor.document_position_at(on_ghost) == len("Hello")
