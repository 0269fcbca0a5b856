"""``RequestLifecycle``: the one suggestion request the editor waits for, from ``begin`` through its streamed steps
to its end or failure, and the suggestion it fills.

``is_current`` is where the GUI compares an event's request id with the one waited for (docs/ARCHITECTURE.md,
"Stale suggestions"). Any edit that makes the suggestion stale clears it (``clear``), which forgets the id.
Streamed steps are drawn at most once per ``STREAM_REDRAW_MS``.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QPlainTextEdit

from engine.decoding.results import Completion, StreamEvent
from engine.decoding.suffix_join import SuffixJoin
from gui.editor.ghost_painter import GhostPainter
from gui.editor.ghost_suggestion import GhostSegment, GhostSuggestion
from gui.editor.prompt_window import qt_length

STREAM_REDRAW_MS = 10


class RequestLifecycle(QObject):
    cancelled = Signal()  # the running request is no longer wanted
    cleared = Signal()  # the suggestion shown (or waited for) went away

    def __init__(self, editor: QPlainTextEdit, painter: GhostPainter, render: Callable[[], None],
                 dismiss: Callable[[], None]) -> None:
        """``render`` draws ``ghost`` as it stands now; ``dismiss`` drops it when the cursor left its place."""
        super().__init__(editor)
        self._editor = editor
        self._painter = painter
        self._render = render
        self._dismiss = dismiss
        self.ghost: GhostSuggestion | None = None
        self.pending: int | None = None  # the only request id whose events are accepted
        # Streamed tokens are drawn at most once per frame: when they arrive faster than that, laying out the
        # ghost text for each one would keep the UI thread busy for nothing.
        self.redraw = QTimer(self)
        self.redraw.setSingleShot(True)
        self.redraw.setInterval(STREAM_REDRAW_MS)
        self.redraw.timeout.connect(render)

    def is_current(self, request_id: int) -> bool:
        return request_id == self.pending

    def begin(self, request_id: int, lead: str, lead_segments: tuple[GhostSegment, ...], suffix: str) -> None:
        self.clear(cancel=False)
        self.pending = request_id
        hold_back = SuffixJoin(suffix).safe_length if suffix else None
        self.ghost = GhostSuggestion(request_id, self._editor.textCursor().position(), lead, lead_segments, hold_back)
        if self.ghost.lead:
            self._render()

    def show(self, suggestion: GhostSuggestion) -> None:
        """A finished suggestion in place of the current one."""
        self.clear(cancel=True)
        self.ghost = suggestion
        self._render()

    def stream(self, event: StreamEvent) -> None:
        if not self._in_place():
            return
        assert self.ghost is not None  # _in_place checked it
        nothing_drawn = self._painter.block_number is None
        self.ghost.apply_stream(event)
        if nothing_drawn and self.ghost.visible_text():
            self._render()  # the first characters are the wait the typist feels: drawn at once, not a frame later
        elif not self.redraw.isActive():
            self.redraw.start()

    def finish(self, completions: tuple[Completion, ...], cancelled: bool) -> bool:
        """The request's end. True when the user typed the whole suggestion while it streamed: time for the next."""
        if not self._in_place():
            return False
        assert self.ghost is not None  # _in_place checked it
        self.pending = None
        if cancelled:
            self.clear(cancel=False)
            return False
        self.ghost.apply_completions(completions)
        if not self.ghost.candidates():
            typed_it_all = bool(self.ghost.consumed)
            self.clear(cancel=False)
            return typed_it_all
        self._render()
        return False

    def fail(self) -> None:
        self.pending = None
        self.clear(cancel=False)

    def expected_cursor(self) -> int:
        """Where the cursor stands while the suggestion is in its place: its anchor plus what was typed of it."""
        assert self.ghost is not None  # only asked while a suggestion is shown
        return self.ghost.anchor + qt_length(self.ghost.consumed)

    def clear(self, cancel: bool) -> None:
        """Forget the suggestion and the request; ``cancel``: the running request is no longer wanted."""
        had_request = self.pending is not None
        had_ghost = self.ghost is not None
        self.ghost = None
        self.pending = None
        self._painter.remove()
        if cancel and had_request:
            self.cancelled.emit()
        if had_ghost:
            self.cleared.emit()

    def _in_place(self) -> bool:
        if self.pending is None or self.ghost is None:
            return False
        cursor = self._editor.textCursor()
        if cursor.position() != self.expected_cursor() or cursor.hasSelection():
            self._dismiss()  # the cursor left the suggestion's place without us noticing
            return False
        return True
