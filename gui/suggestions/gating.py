"""``SuggestionGating``: the quality settings and confidence threshold, applied between the engine and the editor.

The suggestion controller passes every streamed event and every finished suggestion of the current request (it
drops the others first) through here before the editor sees them; ``engine.quality.suggestion_quality.SuggestionGate`` decides, per request, what may be shown (held-back
streams are released in one go once they qualify; a shown stream whose finished suggestion fails is taken back).
Only suggestions the app asks for by itself (after a pause, or Ctrl+Space) are gated: a branch or a re-roll is
an explicit request for *this* suggestion, so it is shown whatever its confidence.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from engine.decoding.results import Completion, StreamEvent
from engine.decoding.settings import DecodingSettings
from engine.quality.suggestion_quality import QualitySettings, SuggestionGate, current_line
from gui.editor.ghost_text_editor import GhostTextEditor

_TAKE_BACK = StreamEvent(text="", replaces=True)  # an empty stream: the editor shows nothing for the request


class SuggestionGating(QObject):
    withheld = Signal(int, str)  # request id, why its suggestion is not shown

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.quality = QualitySettings()
        self.threshold: float | None = None  # lowest mean log-probability per token shown; None: no threshold
        self._request: int | None = None  # the current request, named when its suggestion is withheld
        self._gate: SuggestionGate | None = None
        self._taken_back = False

    def decoding_settings(self, settings: DecodingSettings) -> DecodingSettings:
        """What a request is decoded with: ``settings`` plus the never-suggest list (masked while decoding)."""
        return self.quality.decoding_settings(settings)

    def begin(self, request_id: int, prompt: str, gated: bool = True) -> None:
        self._request = request_id
        self._taken_back = False
        self._gate = SuggestionGate(current_line(prompt), self.quality, self.threshold) if gated else None

    def show_stream(self, editor: GhostTextEditor, event: StreamEvent) -> None:
        """Hand ``editor`` what of this streamed event of the current request may be shown."""
        gate = self._gate
        if gate is None:
            editor.show_stream(event)
            return
        for shown in gate.stream(event):
            editor.show_stream(shown)
        if gate.closed and gate.shown:
            self._take_back(editor)

    def finished(self, editor: GhostTextEditor, completions: tuple[Completion, ...],
                 cancelled: bool) -> tuple[Completion, ...]:
        """The completions of the current request the editor may show; takes back a shown stream when none may."""
        gate = self._gate
        if gate is None or cancelled:
            return completions
        self._gate = None
        kept = () if gate.closed else gate.finish(completions)
        if not kept and completions:
            if gate.shown:
                self._take_back(editor)
            self.withheld.emit(self._request, gate.reason or "")
        return kept

    def _take_back(self, editor: GhostTextEditor) -> None:
        if not self._taken_back:
            self._taken_back = True
            editor.show_stream(_TAKE_BACK)
