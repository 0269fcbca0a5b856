"""See why, and branch: hover a word of the ghost text (or of an alternative) to see the model's top next tokens
at that point; click one to continue the suggestion from there.

The candidates come from the engine thread (a ``submit`` job calling ``LanguageModel.next_token_candidates``
with the text before the cursor, the suggestion up to the hovered word, and the settings that produced the
suggestion), so the probabilities are the ones decoding used there. Clicking a candidate asks for a new
suggestion whose *lead* is the suggestion up to that word plus the chosen token: the lead is shown at once as
ghost text and the engine streams the rest after it. Nothing enters the document before the user accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QPoint, QTimer, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QWidget

from engine.decoding.settings import DecodingSettings
from engine.memory.sources import MemorySource
from engine.worker.events import EngineError, TaskFinished
from gui.alternatives_panel import AlternativesPanel
from gui.controllers.suggestion_controller import SuggestionController
from gui.editor.ghost_suggestion import GhostSegment, GhostSuggestion, next_word_length, remaining_segments
from gui.editor.ghost_text_editor import GhostTextEditor
from gui.engine_bridge import EngineBridge
from gui.origin import Origin
from gui.suggestions.token_candidates_popup import TokenCandidatesPopup, visible_token

HOVER_MS = 350  # resting on a word this long asks for its candidates
HIDE_MS = 400  # time to move the mouse from the word into the popup
CANDIDATES_SHOWN = 8
EDITOR = -1  # the "row" of the ghost text in the editor; alternatives in the panel are rows 0, 1, ...


def word_start(text: str, index: int) -> int:
    """Start of the word (with the blanks before it) that holds ``text[index]``: where its first token begins."""
    position = 0
    while position < len(text):
        length = next_word_length(text[position:]) or 1
        if index < position + length:
            return position
        position += length
    return position


@dataclass(frozen=True)
class HoverPoint:
    """A point of a suggestion: which suggestion, which row (EDITOR or an alternative), and where in its text."""

    suggestion: GhostSuggestion
    row: int
    visible: str  # that row's text as shown (after what the user already typed)
    start: int  # where the hovered word starts in ``visible``
    at: QPoint  # where to show the popup (global coordinates)

    @property
    def continuation(self) -> str:
        return self.visible[: self.start]

    def same_place(self, other: HoverPoint | None) -> bool:
        return (other is not None and other.suggestion is self.suggestion and other.row == self.row
                and other.visible == self.visible and other.start == self.start)


# The popup names the memory's source when the memory gave at least this share of the hovered token's probability.
MOSTLY_FROM_MEMORY = 0.5


@dataclass(frozen=True)
class HoverAnswer:
    candidates: list[tuple[str, float]]
    source: MemorySource | None  # where the memory saw the hovered word, when it had a part in it


def _candidates_job(text: str, continuation: str, hovered: str, settings: DecodingSettings):
    """The candidates of the step that wrote ``hovered`` (the suggestion from the hovered word on): for the first
    word after a healed prompt, the step after the one that ended the typed word, not that step's table."""
    def job(lm, _ctx):
        candidates = lm.next_token_candidates(text, continuation, CANDIDATES_SHOWN, settings, next_text=hovered)
        return HoverAnswer(candidates, lm.memory_source(text, continuation, hovered, settings))
    return job


def describe_source(source: MemorySource | None) -> str | None:
    """The popup's line for a word that came mostly from the memory, e.g. 'Mostly from memory (92%): from your
    document, line 212: “…Mrs. Jellyby wrote…”'; None for a word the model chose on its own."""
    if source is None or source.share < MOSTLY_FROM_MEMORY:
        return None
    return f"Mostly from memory ({source.share:.0%}): {source.describe()}: “…{source.passage}…”"


class BranchController(QObject):
    message = Signal(str)  # for the status bar
    candidatesShown = Signal(object)  # the HoverPoint whose candidates the popup now shows

    def __init__(self, editor: GhostTextEditor, panel: AlternativesPanel, suggestions: SuggestionController,
                 bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.panel = panel
        self.suggestions = suggestions
        self.bridge = bridge
        self.popup = TokenCandidatesPopup(editor)
        self.candidates: list[tuple[str, float]] = []
        self.source: MemorySource | None = None  # where the memory saw the hovered word, if it had a part
        self.shown_point: HoverPoint | None = None
        self._wanted: HoverPoint | None = None  # waiting for the hover delay or the engine
        self._job: int | None = None
        self._hover = QTimer(self)
        self._hover.setSingleShot(True)
        self._hover.setInterval(HOVER_MS)
        self._hover.timeout.connect(lambda: self._ask(self._wanted))
        self._hide = QTimer(self)
        self._hide.setSingleShot(True)
        self._hide.setInterval(HIDE_MS)
        self._hide.timeout.connect(self.hide)
        for viewport in (editor.viewport(), panel.list.viewport()):
            viewport.setMouseTracking(True)
            viewport.installEventFilter(self)
        self.popup.chosen.connect(self.branch)
        self.popup.hovered.connect(self._popup_hovered)
        bridge.taskFinished.connect(self._task_finished)
        bridge.engineError.connect(self._engine_error)
        editor.ghostChanged.connect(self._ghost_changed)

    # --- asking ------------------------------------------------------------------------------------------

    def point_at(self, row: int, index: int, at: QPoint | None = None) -> HoverPoint | None:
        """The point before the word holding character ``index`` of ``row`` (EDITOR: the ghost text)."""
        suggestion = self.editor.suggestion
        if suggestion is None or not self.editor.ghost_text():
            return None
        if row == EDITOR:
            visible = self.editor.ghost_text()
        else:
            texts = self.panel.candidate_texts()
            if not 0 <= row < len(texts):
                return None
            visible = texts[row]
        if not 0 <= index < len(visible):
            return None
        if at is None:
            rect = self.editor.cursorRect()
            at = self.editor.viewport().mapToGlobal(rect.bottomLeft() + QPoint(0, 4))
        return HoverPoint(suggestion, row, visible, word_start(visible, index), at)

    def inspect(self, row: int, index: int, at: QPoint | None = None) -> bool:
        """Ask at once for the candidates before the word at ``index`` of ``row``; they show when they arrive."""
        point = self.point_at(row, index, at)
        if point is None:
            return False
        self._ask(point)
        return True

    def _ask(self, point: HoverPoint | None) -> None:
        if point is None or not self.bridge.is_ready() or self.bridge.is_loading():
            return
        if point.same_place(self.shown_point) and self.popup.isVisible():
            return
        origin = point.suggestion.origin
        settings = origin.settings if isinstance(origin, Origin) else self.suggestions.settings
        self._wanted = point
        self._job = self.bridge.submit(_candidates_job(self.editor.prompt_text(), point.continuation,
                                                       point.visible[point.start:], settings))

    def _task_finished(self, event: TaskFinished) -> None:
        if event.request_id != self._job:
            return
        self._job = None
        point = self._wanted
        answer = event.result
        if event.cancelled or not isinstance(answer, HoverAnswer) or point is None or not self._still_valid(point):
            return
        self.candidates = list(answer.candidates)
        self.source = answer.source
        self.shown_point = point
        before = point.continuation.strip().split()
        title = f"Next after “…{before[-1]}”" if before else "First token of the suggestion"
        preceding = self.editor.prompt_text()[-64:] + point.continuation
        self.popup.show_candidates(title, self.candidates, self._current_row(point, self.candidates), point.at,
                                   preceding, describe_source(answer.source))
        self.candidatesShown.emit(point)

    def _engine_error(self, event: EngineError) -> None:
        if event.request_id == self._job:
            self._job = None
            self.message.emit(f"Could not read the model's next tokens: {event.message}")

    @staticmethod
    def _current_row(point: HoverPoint, candidates: list[tuple[str, float]]) -> int | None:
        """The candidate the suggestion itself continues with (the longest that its text starts with)."""
        rest = point.visible[point.start:]
        best, best_length = None, -1
        for row, (text, _probability) in enumerate(candidates):
            if rest.startswith(text) and len(text) > best_length:
                best, best_length = row, len(text)
        return best

    def _still_valid(self, point: HoverPoint) -> bool:
        current = self.point_at(point.row, point.start, point.at) if point.start < len(point.visible) else None
        return current is not None and current.same_place(point)

    # --- branching ---------------------------------------------------------------------------------------

    def branch(self, row: int) -> int | None:
        """Continue the shown suggestion from the popup's point with candidate ``row``; returns the request id."""
        point = self.shown_point
        if point is None or not 0 <= row < len(self.candidates) or not self._still_valid(point):
            self.hide()
            return None
        token, probability = self.candidates[row]
        lead = point.continuation + token
        segments = self._segments_before(point) + (GhostSegment(token, math.log(max(probability, 1e-300))),)
        self.hide()
        request_id = self.suggestions.request(lead, None, segments)
        if request_id is not None:
            shown = " ".join(lead.split()[-4:])
            self.message.emit(f"Branching: continuing from “…{shown}” ({visible_token(token)}, "
                              f"{probability * 100:.1f}%)")
        return request_id

    def _segments_before(self, point: HoverPoint) -> tuple[GhostSegment, ...]:
        suggestion = point.suggestion
        if point.row == EDITOR:
            segments = suggestion.visible_segments()
        else:
            candidate = suggestion.candidates()[point.row]
            segments = remaining_segments(candidate, len(suggestion.consumed))
        kept, length = [], 0
        for segment in segments:
            if length >= point.start:
                break
            kept.append(GhostSegment(segment.text[: point.start - length], segment.logprob))
            length += len(kept[-1].text)
        return tuple(kept)

    # --- showing and hiding --------------------------------------------------------------------------------

    def hide(self) -> None:
        self._hide.stop()
        self._hover.stop()
        self.popup.hide()
        self.shown_point = None

    def _ghost_changed(self) -> None:
        if self.shown_point is not None and not self._still_valid(self.shown_point):
            self.hide()

    def _popup_hovered(self, inside: bool) -> None:
        if inside:
            self._hide.stop()
        else:
            self._hide.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.MouseMove and isinstance(event, QMouseEvent) and isinstance(watched, QWidget):
            self._mouse_moved(watched, event.position().toPoint())
        elif kind == QEvent.Type.Leave:
            self._hover.stop()
            if self.popup.isVisible():
                self._hide.start()
        return False

    def _mouse_moved(self, viewport: QWidget, position: QPoint) -> None:
        row: int | None
        if viewport is self.editor.viewport():
            row, index = EDITOR, self.editor.ghost_offset_at(position)
        else:
            hit = self.panel.text_index_at(position)
            row, index = (None, None) if hit is None else hit
        point = None
        if row is not None and index is not None:
            point = self.point_at(row, index, viewport.mapToGlobal(position + QPoint(0, 18)))
        if point is None:
            self._hover.stop()
            if self.popup.isVisible():
                self._hide.start()
            return
        self._hide.stop()
        if point.same_place(self.shown_point) and self.popup.isVisible():
            return
        if not point.same_place(self._wanted) or not self._hover.isActive():
            self._wanted = point
            self._hover.start()
