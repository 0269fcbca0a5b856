"""``GhostPainter``: puts the ghost text into the cursor block's pre-edit area of a ``QPlainTextEdit``, takes it
out again, and answers hit tests on a line that holds it.

The pre-edit area is what input methods use for text being composed: Qt lays it out inline, wraps it, pushes the
rest of the line aside and draws it in the formats given, yet it is never part of the document.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF
from PySide6.QtGui import QTextBlock, QTextLayout, QTextLine
from PySide6.QtWidgets import QPlainTextEdit

from gui.editor.prompt_window import qt_length
from gui.editor.text_offsets import python_offsets

_LINE_SEPARATOR = "\u2028"  # breaks a line inside one QTextLayout


class GhostPainter:
    def __init__(self, editor: QPlainTextEdit) -> None:
        self._editor = editor
        self.block_number: int | None = None  # where the pre-edit area holds the ghost text now

    def paint(self, text: str, formats: list[QTextLayout.FormatRange]) -> None:
        """Show ``text`` at the cursor (the caller removed what was shown before)."""
        cursor = self._editor.textCursor()
        block = cursor.block()
        layout = block.layout()
        offset = cursor.positionInBlock()
        layout.setPreeditArea(offset, text.replace("\n", _LINE_SEPARATOR))
        layout.setFormats(formats)
        self.block_number = block.blockNumber()
        self._editor.document().markContentsDirty(block.position(), block.length())

    def remove(self) -> None:
        number = self.block_number
        self.block_number = None
        document = self._editor.document()
        if number is None or number >= document.blockCount():
            return
        block = document.findBlockByNumber(number)
        layout = block.layout()
        if layout is not None and layout.preeditAreaText():
            layout.setPreeditArea(-1, "")
            layout.clearFormats()
            document.markContentsDirty(block.position(), block.length())

    def input_method_composing(self) -> bool:
        """Whether an input method is composing at the cursor (pinyin, kana): the pre-edit area holds its text,
        not yet in the document, and not the ghost text."""
        if self.block_number is not None:
            return False
        layout = self._editor.textCursor().block().layout()
        return layout is not None and bool(layout.preeditAreaText())

    def offset_at(self, point: QPoint | QPointF) -> int | None:
        """Index into the ghost text shown of the character drawn at ``point`` (viewport coordinates), or None."""
        number = self.block_number
        if number is None or number >= self._editor.document().blockCount():
            return None
        block = self._editor.document().findBlockByNumber(number)
        layout = block.layout()
        start, shown = layout.preeditAreaPosition(), layout.preeditAreaText()
        if start < 0 or not shown:
            return None
        local = QPointF(point) - self._top_left(block)
        for index in range(layout.lineCount()):
            line = layout.lineAt(index)
            if not line.y() <= local.y() < line.y() + line.height():
                continue
            if not line.x() <= local.x() <= line.x() + line.naturalTextWidth():
                return None
            position = line.xToCursor(local.x(), QTextLine.CursorPosition.CursorOnCharacter)
            if start <= position < start + qt_length(shown):
                return python_offsets(shown, [position - start])[0]
            return None
        return None

    def document_position_at(self, point: QPoint | QPointF) -> int:
        """The document position ``cursorForPosition`` gives for ``point`` (viewport coordinates), with the ghost
        text left out. Qt's hit test counts the pre-edit area the ghost text is drawn in as text, so on that line
        it answers with positions the document does not have ("QTextCursor::setPosition: Position '18' out of
        range") or that are off by the ghost text's length."""
        editor = self._editor
        number = self.block_number
        block = editor.document().findBlockByNumber(number) if number is not None else None
        layout = block.layout() if block is not None and block.isValid() else None
        start, shown = (layout.preeditAreaPosition(), layout.preeditAreaText()) if layout is not None else (-1, "")
        if block is None or layout is None or start < 0 or not shown:
            return editor.cursorForPosition(QPointF(point).toPoint()).position()
        local = QPointF(point) - self._top_left(block)
        if not 0 <= local.y() < layout.boundingRect().height():
            return editor.cursorForPosition(QPointF(point).toPoint()).position()
        line = next((layout.lineAt(i) for i in range(layout.lineCount())
                     if layout.lineAt(i).y() <= local.y() < layout.lineAt(i).y() + layout.lineAt(i).height()),
                    layout.lineAt(layout.lineCount() - 1))
        position = line.xToCursor(local.x())
        ghost_length = qt_length(shown)
        if position >= start + ghost_length:
            position -= ghost_length  # after the ghost text: the document's characters are that much closer
        elif position > start:
            position = start  # on the ghost text: where it would be inserted
        return block.position() + min(position, block.length() - 1)

    def _top_left(self, block: QTextBlock) -> QPointF:
        # blockBoundingGeometry and contentOffset are protected in C++; PySide lets the painter call them.
        return self._editor.blockBoundingGeometry(block).translated(self._editor.contentOffset()).topLeft()
