"""Every suggestion made at a point of the document, so none is lost: a re-roll adds one, stepping shows them again.

A point is where suggestions were asked for: a ``QTextCursor`` that follows later edits, plus the text just before
and after it when the suggestions were made. A point only answers for the cursor while that text is unchanged
(a suggestion made for other surroundings is not one for here), and the notes kept for the document store the
same two snippets, so a reopened document finds its points again.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QTextCursor, QTextDocument

from gui.documents.sidecar import HistoryEntry, HistoryRecord
from gui.editor.prompt_window import text_just_after, text_just_before
from gui.editor.text_offsets import python_offsets, qt_offsets

BEFORE_CHARS = 200
AFTER_CHARS = 64
MAX_ENTRIES_PER_POINT = 30
MAX_POINTS = 200


class HistoryPoint:
    def __init__(self, document: QTextDocument, position: int, before: str, after: str) -> None:
        self.cursor = QTextCursor(document)
        self.cursor.setPosition(position)
        self.before = before
        self.after = after
        self.entries: list[HistoryEntry] = []

    @property
    def position(self) -> int:
        return self.cursor.position()


class SuggestionHistory:
    def __init__(self, document: QTextDocument) -> None:
        self.document = document
        self._points: list[HistoryPoint] = []

    def surroundings(self, position: int) -> tuple[str, str]:
        return (text_just_before(self.document, position, BEFORE_CHARS),
                text_just_after(self.document, position, AFTER_CHARS))

    def point_at(self, position: int) -> HistoryPoint | None:
        """The point at ``position`` whose surroundings are still those its suggestions were made for."""
        candidates = [p for p in self._points if p.position == position]
        if not candidates:
            return None
        before, after = self.surroundings(position)
        for point in reversed(candidates):
            if point.before == before and point.after == after:
                return point
        return None

    def record(self, position: int, entry: HistoryEntry) -> tuple[HistoryPoint, int]:
        """Add a finished suggestion made at ``position``; returns its point and index there. The same
        alternatives again (a re-roll that drew the same text) are not added twice."""
        point = self.point_at(position)
        if point is None:
            point = HistoryPoint(self.document, position, *self.surroundings(position))
            self._points.append(point)
            del self._points[:-MAX_POINTS]
        for index, known in enumerate(point.entries):
            if _texts(known) == _texts(entry):
                return point, index
        point.entries.append(entry)
        if len(point.entries) > MAX_ENTRIES_PER_POINT:
            del point.entries[0]
        return point, len(point.entries) - 1

    def clear(self) -> None:
        self._points = []

    # --- sidecar ---------------------------------------------------------------------------------------

    def records(self, text: str) -> list[HistoryRecord]:
        """The points still valid in ``text`` (the editor's text), with character offsets."""
        return self.records_later()(text)

    def records_later(self) -> Callable[[str], list[HistoryRecord]]:
        """``records`` in two steps: the points are taken now, on the GUI thread; the function returned makes the
        records from the editor's text as it was now, on any thread (a crash-recovery snapshot's)."""
        valid = [(p.position, p.before, p.after, tuple(p.entries)) for p in self._points
                 if p.entries and self.point_at(p.position) is p]

        def records(text: str) -> list[HistoryRecord]:
            offsets = python_offsets(text, [position for position, _, _, _ in valid])
            return [HistoryRecord(offset, before, after, entries)
                    for offset, (_, before, after, entries) in zip(offsets, valid)]

        return records

    def restore(self, records: list[HistoryRecord], text: str) -> int:
        """Points from the sidecar whose surroundings ``text`` still has; returns how many did not match."""
        self.clear()
        positions = qt_offsets(text, [record.offset for record in records])
        matched = 0
        for record, position in zip(records, positions):
            if not record.entries or record.offset > len(text):
                continue
            point = HistoryPoint(self.document, position, record.before, record.after)
            if self.surroundings(position) != (record.before, record.after):
                continue
            point.entries = list(record.entries)
            self._points.append(point)
            matched += 1
        return len(records) - matched


def _texts(entry: HistoryEntry) -> tuple[str, ...]:
    return (entry.origin.lead,) + tuple(c.text for c in entry.completions)
