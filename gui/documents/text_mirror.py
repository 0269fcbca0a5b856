"""The document's text as a list of its lines, kept up to date from the edits, so a crash-recovery snapshot does not
copy the whole document on the GUI thread.

``toPlainText`` of a 19 MB document takes ~0.18 s (most of it turning Qt's UTF-16 into a Python string); every
3 s that was a visible stall. Here an edit only marks the lines it touched (a list slice, no text is read); a
snapshot reads just those lines again and hands the list on, and ``plain_text`` joins it on the writer's thread.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject
from PySide6.QtGui import QTextDocument

# What QTextDocument.toPlainText turns into a newline or a space; the lines (QTextBlock.text) hold them raw.
_AS_PLAIN_TEXT = str.maketrans({"\u2028": "\n", "\u2029": "\n", "\ufdd0": "\n", "\ufdd1": "\n", "\u00a0": " "})


#: Characters joined (and translated) in one call: each such call holds the GIL, so a long one on the writer
#: thread would stall the GUI thread just the same (a 19 MB translate holds it ~50 ms, a join ~20 ms).
PIECE_CHARS = 1 << 18


def plain_text(lines: Sequence[str]) -> str:
    """The text ``QTextDocument.toPlainText`` gives for these lines. Costs time in proportion to the document,
    in short steps that let other threads run between them: call it off the GUI thread."""
    pieces: list[str] = []
    group: list[str] = []
    size = 0
    for line in lines:
        group.append(line)
        size += len(line) + 1
        if size >= PIECE_CHARS:
            pieces.append(_piece(group))
            group, size = [], 0
    if group or not pieces:
        pieces.append(_piece(group))
    return "\n".join(pieces) if len(pieces) > 1 else pieces[0]


def _piece(lines: list[str]) -> str:
    piece = "\n".join(lines)
    return piece if piece.isascii() else piece.translate(_AS_PLAIN_TEXT)  # isascii is a flag, not a scan


class TextMirror(QObject):
    def __init__(self, document: QTextDocument, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._document = document
        self._lines: list[str | None] = []  # None: a line to read again
        self._dirty: tuple[int, int] | None = None  # the lines [from, to) that may hold a None
        self._read_all()
        document.documentLayout()  # made if missing: a document without a layout never emits contentsChange
        document.contentsChange.connect(self._changed)

    def lines(self) -> list[str]:
        """The document's lines now (a copy of the list; the strings are shared, being immutable). Reads only the
        lines edited since the last call."""
        if len(self._lines) != self._document.blockCount():  # an edit the bookkeeping missed: read it all
            self._read_all()
        if self._dirty is not None:
            start, stop = self._dirty
            self._dirty = None
            for number in range(start, min(stop, len(self._lines))):
                if self._lines[number] is None:
                    self._lines[number] = self._document.findBlockByNumber(number).text()
        return list(self._lines)  # type: ignore[arg-type]  # every entry was read above

    def _read_all(self) -> None:
        self._lines = [None] * self._document.blockCount()
        self._dirty = (0, len(self._lines))

    def _changed(self, position: int, removed: int, added: int) -> None:
        """Lines ``first``..``last`` of the document now hold what ``first``..``first + old_count - 1`` held; the
        difference in line count says how many lines the edit joined or split."""
        document = self._document
        first = document.findBlock(position).blockNumber()
        end = document.findBlock(position + added)
        last = end.blockNumber() if end.isValid() else document.blockCount() - 1
        new_count = last - first + 1
        shift = document.blockCount() - len(self._lines)
        old_count = new_count - shift
        if first < 0 or old_count < 0 or first + old_count > len(self._lines):
            self._read_all()
            return
        self._lines[first:first + old_count] = [None] * new_count
        start, stop = first, first + new_count
        if self._dirty is not None:  # the earlier dirty lines, renumbered past this edit
            before, after = self._dirty
            start = min(start, before)
            stop = max(stop, after + shift if after > first + old_count else after)
        self._dirty = (start, stop)
