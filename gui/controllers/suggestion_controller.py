"""``SuggestionController``: connects the editor's wishes to the engine and the engine's events to the editor."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from engine.decoding.results import StreamEvent
from engine.decoding.settings import DecodingSettings
from engine.worker.events import EngineError, SuggestionFinished
from gui.editor.ghost_text_editor import GhostTextEditor
from gui.engine_bridge import EngineBridge
from gui.origin import Origin
from gui.suggestions.gating import SuggestionGating


@dataclass(frozen=True)
class SuggestionStats:
    first_token_s: float | None
    tokens_per_s: float | None


class SuggestionController(QObject):
    requestMade = Signal(int, str)  # request id, the text it continues
    busyChanged = Signal(bool)  # a suggestion is being generated
    statsUpdated = Signal(object)  # SuggestionStats of the last finished suggestion
    settingsChanged = Signal(object)  # DecodingSettings
    problem = Signal(str)  # a suggestion failed; the message is for the status bar

    def __init__(self, editor: GhostTextEditor, bridge: EngineBridge, settings: DecodingSettings,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.bridge = bridge
        self._settings = settings
        self.last_prompt: str | None = None
        self.last_stats: SuggestionStats | None = None
        self._busy = False
        self.gating = SuggestionGating(self)  # confidence threshold and quality guards
        editor.suggestionWanted.connect(self.request)
        editor.readAheadWanted.connect(self.read_ahead)
        editor.suggestionCancelled.connect(self._cancel)
        bridge.suggestionToken.connect(self._on_token)
        bridge.suggestionFinished.connect(self._on_finished)
        bridge.engineError.connect(self._on_error)

    @property
    def settings(self) -> DecodingSettings:
        return self._settings

    def set_settings(self, settings: DecodingSettings) -> None:
        if settings == self._settings:
            return
        self._settings = settings
        self.editor.dismiss()  # what is shown was made with the old settings
        self.settingsChanged.emit(settings)

    def request(self, lead: str = "", settings: DecodingSettings | None = None, lead_segments=()) -> int | None:
        """Ask for a continuation of the text before the cursor, if a model is ready to give one; returns the
        request id. A branch passes ``lead``, the start the user chose (shown at once, continued by the engine);
        a re-roll passes its own ``settings``. Text after the cursor goes along, so the suggestion can join it."""
        if not self.bridge.is_ready() or self.bridge.is_loading() or not self.editor.can_suggest():
            return None
        gated = not lead and settings is None  # a branch or a re-roll asks for this very suggestion
        settings = self.gating.decoding_settings(settings or self._settings)
        prompt = self.editor.prompt_text()
        request_id = self.bridge.suggest(prompt + lead, settings, self.editor.suffix_text())
        self.last_prompt = prompt
        self.gating.begin(request_id, prompt + lead, gated)
        self.editor.begin_request(request_id, lead, tuple(lead_segments))
        model = self.bridge.current_model
        suggestion = self.editor.suggestion
        assert suggestion is not None  # begin_request made it
        suggestion.origin = Origin(model.name if model else "", settings, lead)
        self._set_busy(True)
        self.requestMade.emit(request_id, prompt)
        return request_id

    def read_ahead(self) -> None:
        """Have the engine read the text before the cursor now, as the next request will, so that request starts
        choosing at once when the writer pauses."""
        if not self.bridge.is_ready() or self.bridge.is_loading() or not self.editor.can_suggest():
            return
        settings = self.gating.decoding_settings(self._settings)
        self.bridge.read_ahead(self.editor.prompt_text(), settings, self.editor.suffix_text())

    def _cancel(self) -> None:
        self.bridge.cancel()
        self._set_busy(False)

    # Each event is checked once, here, against the editor's current request; gating and editor see only those
    # (docs/ARCHITECTURE.md, "Stale suggestions").

    def _on_token(self, request_id: int, event: StreamEvent) -> None:
        if self.editor.is_current(request_id):
            self.gating.show_stream(self.editor, event)

    def _on_finished(self, event: SuggestionFinished) -> None:
        if not self.editor.is_current(event.request_id):
            return
        completions = self.gating.finished(self.editor, event.completions, event.cancelled)
        self.editor.show_completions(completions, event.cancelled)
        self._set_busy(False)
        if not event.cancelled:
            self.last_stats = SuggestionStats(event.first_token_s, event.tokens_per_s)
            self.statsUpdated.emit(self.last_stats)

    def _on_error(self, event: EngineError) -> None:
        if self.editor.is_current(event.request_id):
            self.editor.request_failed()
            self._set_busy(False)
            self.problem.emit(f"Suggestion failed: {event.message}")

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)
