"""``OwnEdits``: the edits the editor makes itself (accepted text, typing into a suggestion, a new text loaded).

While one runs, the editor's change handlers know it is no edit of the user's that makes the suggestion stale; after
it, the document revision it left is the one seen, so the cursor moving there is not taken for typing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtGui import QTextDocument


class OwnEdits:
    def __init__(self, document: QTextDocument) -> None:
        self._document = document
        self.active = False  # True while the editor itself edits
        self._revision_seen = document.revision()

    @contextmanager
    def editing(self) -> Iterator[None]:
        self.active = True
        try:
            yield
        finally:
            self.active = False
            self._revision_seen = self._document.revision()

    def edited_since_last_look(self) -> bool:
        """Whether the document changed since the last edit of the editor's own or the last call."""
        revision = self._document.revision()
        edited = revision != self._revision_seen
        self._revision_seen = revision
        return edited
