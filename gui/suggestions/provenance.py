"""Accepted suggestion text remembers what produced it: the model, the decoding settings and the seed.

Each accepted run is held by two ``QTextCursor`` s on the document, which Qt moves with every later edit: typing
before the run shifts it, typing inside it stretches it, deleting it shrinks it (and a run deleted entirely is
emptied). The start cursor moves past text inserted exactly at it and the end cursor stays put, so typing right
before or right after accepted text never counts as suggested. An emptied run is kept while its place is untouched:
when the very same text comes back there (redo of an accept, undo of a deletion), so does the run; anything else
typed there forgets it.

Hovering accepted text shows where it came from. The runs go to and come back from the notes kept for
the document (``gui.documents.sidecar``) with character offsets, checked against the text they point at.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QEvent, QObject, QPoint
from PySide6.QtGui import QHelpEvent, QTextCursor, QTextDocument
from PySide6.QtWidgets import QToolTip

from gui.documents.sidecar import AcceptedRecord
from gui.editor.ghost_suggestion import GhostSuggestion
from gui.editor.ghost_text_editor import GhostTextEditor
from gui.editor.prompt_window import qt_length
from gui.editor.text_offsets import python_offsets, qt_offsets
from gui.origin import Origin


class AcceptedSpan:
    def __init__(self, document: QTextDocument, start: int, end: int, origin: Origin, accepted_at: str) -> None:
        self.document = document
        self.start_cursor = QTextCursor(document)
        self.start_cursor.setPosition(start)
        self.end_cursor = QTextCursor(document)
        self.end_cursor.setPosition(end)
        self.end_cursor.setKeepPositionOnInsert(True)
        self.origin = origin
        self.accepted_at = accepted_at
        self.last_text = self.text()

    @property
    def start(self) -> int:
        return self.start_cursor.position()

    @property
    def end(self) -> int:
        return self.end_cursor.position()

    def covers(self, position: int) -> bool:
        return self.start <= position < self.end

    def text(self) -> str:
        return _text_between(self.document, self.start, self.end)

    def settle(self) -> bool:
        """Bring the run up to date with the document; False once it is gone for good.

        Text inserted at an emptied run's place pushes its start cursor past its end cursor: when that text is
        what the run held, the run takes it back."""
        if self.start < self.end:
            self.last_text = self.text()  # to recognise it if it is removed and comes back
            return True
        if self.start == self.end:
            return True  # emptied: waits for its text to come back
        returned_start, returned_end = self.end, self.start
        if _text_between(self.document, returned_start, returned_end) != self.last_text:
            return False
        self.start_cursor.setPosition(returned_start)
        self.end_cursor.setPosition(returned_end)
        return True


class ProvenanceTracker(QObject):
    def __init__(self, editor: GhostTextEditor, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self._spans: list[AcceptedSpan] = []
        editor.suggestionAccepted.connect(self._accepted)
        editor.textReplaced.connect(self.clear)
        # After every edit, not only when asked: a run must know its latest text before an edit can remove it.
        editor.document().contentsChange.connect(self._edited)
        editor.viewport().installEventFilter(self)

    # --- what is known ---------------------------------------------------------------------------------

    def spans(self) -> list[AcceptedSpan]:
        """The runs in the document now, in document order (emptied ones are held back; ``_edited`` keeps them
        up to date)."""
        return sorted((span for span in self._spans if span.start < span.end), key=lambda span: span.start)

    def span_at(self, position: int) -> AcceptedSpan | None:
        """The accepted run holding the character at ``position``."""
        for span in self.spans():
            if span.covers(position):
                return span
        return None

    def describe_at(self, position: int) -> str | None:
        """The tooltip for the character at ``position``, None when the user wrote it."""
        span = self.span_at(position)
        if span is None:
            return None
        lines = [f"Suggested by {span.origin.describe()}"]
        if span.origin.lead:
            lines.append(f"You chose how it starts: “{_one_line(span.origin.lead)}”")
        if span.accepted_at:
            lines.append(f"Accepted {span.accepted_at.replace('T', ' ')[:16]}")
        return "\n".join(lines)

    def clear(self) -> None:
        self._spans = []

    def _edited(self, position: int, _removed: int, added: int) -> None:
        """Only the runs an edit touches can change; they are brought up to date (``AcceptedSpan.settle``)."""
        end = position + added
        self._spans = [span for span in self._spans
                       if max(span.start, span.end) < position or min(span.start, span.end) > end or span.settle()]

    # --- sidecar ---------------------------------------------------------------------------------------

    def records(self) -> list[AcceptedRecord]:
        """The runs as sidecar records: character offsets into the editor's text, and the text they hold."""
        if not self.spans():
            return []
        return self.records_later()(self.editor.toPlainText())

    def records_later(self) -> Callable[[str], list[AcceptedRecord]]:
        """``records`` in two steps: the runs' positions are taken now, on the GUI thread; the function returned
        makes the records from the editor's text as it was now, on any thread (a crash-recovery snapshot's)."""
        taken = [(span.start, span.end, span.origin, span.accepted_at) for span in self.spans()]

        def records(text: str) -> list[AcceptedRecord]:
            positions = python_offsets(text, [p for start, end, _, _ in taken for p in (start, end)])
            return [AcceptedRecord(positions[2 * i], positions[2 * i + 1],
                                   text[positions[2 * i]:positions[2 * i + 1]], origin, accepted_at)
                    for i, (_, _, origin, accepted_at) in enumerate(taken)]

        return records

    def restore(self, records: list[AcceptedRecord], grown: int | None = None) -> int:
        """Put saved runs back onto the current text; returns how many no longer match it (left out). A run
        whose text moved (the file was edited elsewhere) is looked for where the text's growth (``grown``
        characters since the save) would have pushed it, then at its nearest occurrence."""
        self.clear()
        text = self.editor.toPlainText()
        found: list[tuple[int, AcceptedRecord]] = []
        for record in records:
            start = _locate(text, record.text, record.start, grown)
            if start is not None:
                found.append((start, record))
        positions = qt_offsets(text, [p for start, record in found for p in (start, start + len(record.text))])
        document = self.editor.document()
        for index, (_start, record) in enumerate(found):
            self._spans.append(AcceptedSpan(document, positions[2 * index], positions[2 * index + 1], record.origin,
                                            record.accepted_at))
        return len(records) - len(found)

    # --- events ----------------------------------------------------------------------------------------

    def _accepted(self, position: int, text: str, suggestion: GhostSuggestion | None) -> None:
        origin = getattr(suggestion, "origin", None)
        if not text or not isinstance(origin, Origin):
            return
        end = position + qt_length(text)
        for span in self._spans:  # the next word of the same suggestion (Ctrl+Right) extends its run
            if span.origin is origin and span.end == position:
                span.end_cursor.setPosition(end)
                span.last_text = span.text()
                return
        self._spans.append(AcceptedSpan(self.editor.document(), position, end, origin,
                                        datetime.now().astimezone().isoformat(timespec="seconds")))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            text = self._tooltip_at(event.pos())
            if text:
                QToolTip.showText(event.globalPos(), text, self.editor.viewport())
                return True
        return False

    def _tooltip_at(self, point: QPoint) -> str | None:
        if self.editor.ghost_offset_at(point) is not None:
            return None  # the ghost text has its own popup
        return self.describe_at(self.character_at(point))

    def character_at(self, point: QPoint) -> int:
        """Document position of the character drawn at ``point`` (viewport coordinates)."""
        position = self.editor.document_position_at(point)
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(position)
        if position > 0 and point.x() < self.editor.cursorRect(cursor).center().x():
            return position - 1  # the nearest boundary is after the character under the mouse
        return position


def _text_between(document: QTextDocument, start: int, end: int) -> str:
    cursor = QTextCursor(document)
    cursor.setPosition(start)
    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
    return cursor.selectedText().replace("\u2029", "\n")  # Qt's paragraph separator


def _locate(text: str, wanted: str, near: int, grown: int | None = None) -> int | None:
    if not wanted:
        return None
    for guess in (near, near + (grown or 0)):
        if 0 <= guess and text[guess : guess + len(wanted)] == wanted:
            return guess
    before = text.rfind(wanted, 0, near + len(wanted))
    after = text.find(wanted, near)
    options = [p for p in (before, after) if p >= 0]
    return min(options, key=lambda p: abs(p - near)) if options else None


def _one_line(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
