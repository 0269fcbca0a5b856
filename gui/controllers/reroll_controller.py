"""Re-roll (Alt+R) and stepping through the suggestions made at the cursor (Alt+Shift+[ / Alt+Shift+]).

Every suggestion that finishes goes into the per-point ``SuggestionHistory``. A re-roll asks again at the same
point with sampling and a fresh seed, whatever the strategy (greedy or beam search would only say the same thing
again); the status bar says so. Stepping shows an earlier suggestion again as ghost text, alternatives and all,
ready to accept like a new one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from engine.decoding.settings import DecodingSettings
from engine.worker.events import SuggestionFinished
from gui.controllers.suggestion_controller import SuggestionController
from gui.documents.sidecar import HistoryEntry
from gui.editor.ghost_suggestion import GhostSuggestion
from gui.editor.ghost_text_editor import GhostTextEditor
from gui.engine_bridge import EngineBridge
from gui.origin import Origin
from gui.suggestions.history import HistoryPoint, SuggestionHistory

REROLL_TEMPERATURE = 1.0  # when the settings' temperature is 0, which would make sampling greedy again


def reroll_settings(settings: DecodingSettings, seed: int) -> DecodingSettings:
    """Sampling with ``seed``, keeping the user's temperature and filters where they allow a choice."""
    temperature = settings.temperature if settings.temperature > 0 else REROLL_TEMPERATURE
    return settings.replace(strategy="sample", seed=seed, temperature=temperature)


class RerollController(QObject):
    message = Signal(str)  # for the status bar
    shown = Signal(int, int)  # an earlier suggestion is shown: its number (from 1) and how many there are here

    def __init__(self, editor: GhostTextEditor, suggestions: SuggestionController, bridge: EngineBridge,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.suggestions = suggestions
        self.history = SuggestionHistory(editor.document())
        self.new_seed: Callable[[], int] = lambda: secrets.randbits(31)  # tests replace it to be repeatable
        self._requests: dict[int, tuple[int, Origin]] = {}  # request id -> (position, origin), until finished
        self._current: tuple[GhostSuggestion, HistoryPoint, int] | None = None  # what is shown, if recorded
        suggestions.requestMade.connect(self._request_made)
        bridge.suggestionFinished.connect(self._finished)
        editor.textReplaced.connect(self._text_replaced)

    # --- commands --------------------------------------------------------------------------------------

    def reroll(self) -> int | None:
        """A new continuation at the same point with another seed; returns the request id (None if none)."""
        if not self.editor.can_suggest():
            self.message.emit("Re-roll: put the cursor where a suggestion can go (not inside a word)")
            return None
        base = self.suggestions.settings
        seed = self.new_seed()
        lead, segments = self._remaining_lead()
        request_id = self.suggestions.request(lead, reroll_settings(base, seed), segments)
        if request_id is None:
            self.message.emit("Re-roll: no model is ready yet")
            return None
        note = "" if base.strategy == "sample" else f" (re-rolls always sample; your strategy stays {base.strategy})"
        self.message.emit(f"Re-rolling with sampling, seed {seed}{note}")
        return request_id

    def step(self, direction: int) -> bool:
        """Show the previous (-1) or next (+1) suggestion made at the cursor; True when one is shown."""
        position = self.editor.textCursor().position()
        point = self.history.point_at(position)
        if point is None or not point.entries:
            self.message.emit("No earlier suggestions here yet: Alt+R makes another one")
            return False
        index = self._shown_index(point)
        target = (len(point.entries) if index is None else index) + direction
        if not 0 <= target < len(point.entries):
            self.message.emit("That was the oldest suggestion here" if direction < 0
                              else "That was the newest suggestion here")
            return False
        return self._show(point, target)

    # --- bookkeeping -----------------------------------------------------------------------------------

    def _remaining_lead(self):
        """The branch start of what is shown, minus what the user already typed of it."""
        ghost = self.editor.suggestion
        if ghost is None or not ghost.lead.startswith(ghost.consumed) or len(ghost.lead) <= len(ghost.consumed):
            return "", ()
        skip = len(ghost.consumed)
        segments, kept = [], 0
        for segment in ghost.lead_segments:
            piece = segment.text[max(0, skip - kept):]
            kept += len(segment.text)
            if piece:
                segments.append(type(segment)(piece, segment.logprob))
        return ghost.lead[skip:], tuple(segments)

    def _request_made(self, request_id: int, _prompt: str) -> None:
        ghost = self.editor.suggestion
        origin = getattr(ghost, "origin", None)
        if ghost is not None and ghost.request_id == request_id and isinstance(origin, Origin):
            self._requests[request_id] = (ghost.anchor, origin)

    def _finished(self, event: SuggestionFinished) -> None:
        made = self._requests.pop(event.request_id, None)
        if made is None or event.cancelled or not any(c.text for c in event.completions) and not made[1].lead:
            return
        position, origin = made
        origin = origin.with_seed_of(event.completions)
        point, index = self.history.record(position, HistoryEntry(tuple(event.completions), origin))
        ghost = self.editor.suggestion
        if ghost is not None and ghost.request_id == event.request_id:
            ghost.origin = origin  # accepted from now on, the text says which seed it came from
            self._current = (ghost, point, index)

    def _shown_index(self, point: HistoryPoint) -> int | None:
        if self._current is None:
            return None
        ghost, shown_point, index = self._current
        if ghost is not self.editor.suggestion or shown_point is not point or ghost.consumed:
            return None
        return index

    def _show(self, point: HistoryPoint, index: int) -> bool:
        entry = point.entries[index]
        ghost = GhostSuggestion(0, point.position, entry.origin.lead)
        ghost.apply_completions(entry.completions)
        ghost.origin = entry.origin
        if not self.editor.show_suggestion(ghost):
            return False
        self._current = (ghost, point, index)
        self.shown.emit(index + 1, len(point.entries))
        self.message.emit(f"Suggestion {index + 1} of {len(point.entries)} here · {entry.origin.describe()}")
        return True

    def _text_replaced(self) -> None:
        self.history.clear()
        self._requests.clear()
        self._current = None
