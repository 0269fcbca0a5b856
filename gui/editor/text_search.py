"""Find, replace and go to a line in the editor's document: the Edit menu's commands, without their dialogs.

Searches wrap around the document's end (or start, going back), as editors do. Replacing every match is one edit
block, so one Undo takes it all back. The ghost text is never searched: it is not in the document.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QTextCursor, QTextDocument
from PySide6.QtWidgets import QPlainTextEdit


@dataclass(frozen=True)
class Search:
    text: str
    match_case: bool = False
    whole_words: bool = False

    def flags(self, backward: bool = False) -> QTextDocument.FindFlag:
        flags = QTextDocument.FindFlag(0)
        if self.match_case:
            flags |= QTextDocument.FindFlag.FindCaseSensitively
        if self.whole_words:
            flags |= QTextDocument.FindFlag.FindWholeWords
        if backward:
            flags |= QTextDocument.FindFlag.FindBackward
        return flags

    def matches(self, selected: str) -> bool:
        """Whether a selection's text is this search's text (the whole-word condition is the finder's)."""
        if self.match_case:
            return selected == self.text
        return selected.casefold() == self.text.casefold()


def find(editor: QPlainTextEdit, search: Search, backward: bool = False) -> bool:
    """Select the next match after the cursor (before it, ``backward``), wrapping around; False when none."""
    if not search.text:
        return False
    document = editor.document()
    found = document.find(search.text, editor.textCursor(), search.flags(backward))
    if found.isNull():  # wrap around: from the start, or back from the end
        start = QTextCursor(document)
        start.movePosition(QTextCursor.MoveOperation.End if backward else QTextCursor.MoveOperation.Start)
        found = document.find(search.text, start, search.flags(backward))
    if found.isNull():
        return False
    editor.setTextCursor(found)
    editor.ensureCursorVisible()
    return True


def replace_next(editor: QPlainTextEdit, search: Search, replacement: str) -> bool:
    """Replace the selected match (if the selection is one) and select the next; False when there is none."""
    cursor = editor.textCursor()
    if cursor.hasSelection() and search.matches(cursor.selectedText()):
        cursor.insertText(replacement)
        editor.setTextCursor(cursor)
    return find(editor, search)


def replace_all(editor: QPlainTextEdit, search: Search, replacement: str) -> int:
    """Replace every match as one undo step; how many were replaced."""
    if not search.text:
        return 0
    document = editor.document()
    edit = QTextCursor(document)
    count = 0
    found = document.find(search.text, 0, search.flags())
    while not found.isNull():
        if count == 0:
            edit.beginEditBlock()
        # Replace through the one edit cursor, so every insertion joins the same undo step.
        edit.setPosition(found.selectionStart())
        edit.setPosition(found.selectionEnd(), QTextCursor.MoveMode.KeepAnchor)
        edit.insertText(replacement)
        count += 1
        found = document.find(search.text, edit.position(), search.flags())  # after what was put in
    if count:
        edit.endEditBlock()
    return count


def line_count(editor: QPlainTextEdit) -> int:
    return editor.document().blockCount()


def current_line(editor: QPlainTextEdit) -> int:
    """The cursor's line, counted from 1 (a line is a paragraph: wrapped lines are not counted apart)."""
    return editor.textCursor().blockNumber() + 1


def go_to_line(editor: QPlainTextEdit, line: int) -> None:
    """Put the cursor at the start of ``line`` (from 1, clamped to the document) and show it."""
    document = editor.document()
    block = document.findBlockByNumber(max(1, min(line, document.blockCount())) - 1)
    cursor = editor.textCursor()
    cursor.setPosition(block.position())
    editor.setTextCursor(cursor)
    editor.ensureCursorVisible()
