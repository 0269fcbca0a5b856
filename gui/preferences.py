"""``Preferences``: the choices the menus make (view, text size, theme, device, decoding settings, recent files),
each applied at once and saved to the settings file.

The menus get this one narrow object of commands, never the window.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from engine.decoding.settings import DEFAULT_MIN_WORD_PROBABILITY
from gui.alternatives_panel import AlternativesPanel
from gui.controllers.model_controller import ModelController
from gui.controllers.suggestion_controller import SuggestionController
from gui.dialogs.prompts import Prompts
from gui.editor.ghost_text_editor import GhostTextEditor, default_editor_font
from gui.settings.settings_store import MAX_FONT_SIZE, MIN_FONT_SIZE, AppSettings
from gui.theme import ThemeManager


class Preferences(QObject):
    recentFilesChanged = Signal()

    def __init__(self, settings: AppSettings, save: Callable[[], None], editor: GhostTextEditor,
                 alternatives: AlternativesPanel, suggestions: SuggestionController, models: ModelController,
                 theme: ThemeManager, prompts: Prompts, dialog_parent: QWidget) -> None:
        """``save()`` writes ``settings`` to the settings file (and says so when it cannot)."""
        super().__init__(dialog_parent)
        self.settings = settings
        self.save = save
        self.editor = editor
        self.alternatives = alternatives
        self.suggestions = suggestions
        self.models = models
        self.theme = theme
        self.prompts = prompts
        self._parent = dialog_parent

    def set_suggestions_enabled(self, enabled: bool) -> None:
        self.editor.set_suggestions_enabled(enabled)
        self.alternatives.refresh()
        self.settings.suggestions_enabled = enabled
        self.save()

    def set_confidence_shading(self, enabled: bool) -> None:
        self.editor.set_confidence_shading(enabled)
        self.alternatives.set_confidence_shading(enabled)
        self.settings.confidence_shading = enabled
        self.save()

    def change_font_size(self, step: int) -> None:
        """+1 / -1 point, or 0 for the default size."""
        if step == 0:
            size = default_editor_font().pointSize()
            self.settings.font_size = None
        else:
            size = max(MIN_FONT_SIZE, min(MAX_FONT_SIZE, self.editor.point_size() + step))
            self.settings.font_size = size
        self.editor.set_point_size(size)
        self.save()

    def set_theme(self, mode: str) -> None:
        self.theme.apply(mode)
        self.settings.theme = self.theme.mode
        self.save()

    def set_device(self, device: str) -> None:
        self.models.set_device(device)
        self.settings.device = device
        self.save()

    def edit_decoding_settings(self) -> None:
        model = self.models.active
        model_bar = model.doubt_cut_default if model is not None else DEFAULT_MIN_WORD_PROBABILITY
        result = self.prompts.edit_decoding(self._parent, self.suggestions.settings, self.editor.debounce_ms(),
                                            model_bar)
        if result is None:
            return
        settings, debounce_ms = result
        self.editor.set_debounce_ms(debounce_ms)
        self.settings.debounce_ms = debounce_ms
        self.suggestions.set_settings(settings)
        self.save()

    def remember_file(self, path: str) -> None:
        self.settings.add_recent_file(os.path.abspath(path))
        self.save()
        self.recentFilesChanged.emit()

    def clear_recent_files(self) -> None:
        self.settings.recent_files = []
        self.save()
        self.recentFilesChanged.emit()
