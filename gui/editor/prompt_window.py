"""Which text a suggestion is based on: only the text shortly before the cursor, however large the document.

The window's start moves in whole steps rather than one character per keystroke, so consecutive requests share
their beginning and the engine's prefix cache can reuse its work.
"""

from __future__ import annotations

from PySide6.QtGui import QTextCursor, QTextDocument

WINDOW_CHARS = 16384
WINDOW_STEP = 4096
_PARAGRAPH_SEPARATOR = "\u2029"  # how QTextCursor.selectedText() reports line breaks


def window_start(position: int, window_chars: int = WINDOW_CHARS, step: int = WINDOW_STEP) -> int:
    """The first position of the window ending at ``position``: a multiple of ``step`` at most
    ``window_chars`` back, so it stays put while the user types within one step."""
    step = max(1, min(step, window_chars // 2))  # a step as large as the window would leave it empty
    earliest = max(0, position - window_chars)
    return -(-earliest // step) * step if earliest else 0


def text_before(document: QTextDocument, position: int, window_chars: int = WINDOW_CHARS,
                step: int = WINDOW_STEP) -> str:
    """The text from the window start up to ``position``, with "\\n" line breaks. Costs O(window), not
    O(document), so it is cheap on a huge file."""
    return _text_between(document, min(window_start(position, window_chars, step), position), position)


def text_just_before(document: QTextDocument, position: int, chars: int) -> str:
    """The last ``chars`` characters before ``position``."""
    return _text_between(document, max(0, position - chars), position)


def text_just_after(document: QTextDocument, position: int, chars: int) -> str:
    """The first ``chars`` characters after ``position`` (the document's closing paragraph mark left out)."""
    end = min(document.characterCount() - 1, position + chars)
    return _text_between(document, position, max(position, end))


def _text_between(document: QTextDocument, start: int, position: int) -> str:
    cursor = QTextCursor(document)
    cursor.setPosition(start)
    cursor.setPosition(position, QTextCursor.MoveMode.KeepAnchor)
    return cursor.selectedText().replace(_PARAGRAPH_SEPARATOR, "\n")


def qt_length(text: str) -> int:
    """Length in Qt's units (UTF-16 code units), in which document positions are counted."""
    return len(text.encode("utf-16-le")) // 2
