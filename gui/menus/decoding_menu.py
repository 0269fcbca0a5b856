"""Decoding: strategy, presets, suggestion length, and the Settings dialog."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

from gui.controllers.quality_controller import QualityController
from gui.controllers.suggestion_controller import SuggestionController
from gui.dialogs.prompts import Prompts
from gui.menus.actions import ActionRegistry
from gui.menus.quality_menu import CoverageSlider, build_quality_menus
from gui.settings.presets import PRESETS, apply_preset, matching_preset

STRATEGIES = (("greedy", "&Greedy"), ("sample", "&Sampling"), ("beam", "&Beam Search"))
LENGTHS = (("word", "One &Word"), ("sentence", "One &Sentence"), ("line", "One &Line"),
           (None, "&Fixed Number of Tokens"))


def _group(menu: QMenu, actions: ActionRegistry, prefix: str, items, handler) -> None:
    group = QActionGroup(menu)
    for key, label in items:
        action = QAction(label, menu)
        action.setCheckable(True)
        action.triggered.connect(lambda _checked=False, k=key: handler(k))
        group.addAction(action)
        menu.addAction(action)
        actions.register(f"{prefix}.{key}", action)


def build_decoding_menu(menu_bar: QMenuBar, actions: ActionRegistry, suggestions: SuggestionController,
                        quality: QualityController, prompts: Prompts, dialog_parent: QWidget,
                        edit_settings: Callable[[], None]) -> CoverageSlider:
    """``edit_settings()`` opens the Decoding Settings dialog; returns the Coverage submenu's slider."""
    menu = menu_bar.addMenu("&Decoding")

    def change(**fields) -> None:
        suggestions.set_settings(suggestions.settings.replace(**fields))

    _group(menu, actions, "decoding.strategy", STRATEGIES, lambda strategy: change(strategy=strategy))
    menu.addSeparator()
    presets = menu.addMenu("&Presets")
    _group(presets, actions, "decoding.preset", [(name, name) for name in PRESETS],
           lambda name: suggestions.set_settings(apply_preset(suggestions.settings, name)))
    lengths = menu.addMenu("Suggestion &Length")
    _group(lengths, actions, "decoding.stop", LENGTHS, lambda stop: change(stop=stop))
    menu.addSeparator()
    slider = build_quality_menus(menu, actions, quality, suggestions, prompts, dialog_parent)
    menu.addSeparator()
    actions.add(menu, "decoding.settings", "&Settings…", edit_settings, QKeySequence("Ctrl+,"))
    suggestions.settingsChanged.connect(lambda _s: sync_decoding_menu(actions, suggestions))
    sync_decoding_menu(actions, suggestions)
    return slider


def sync_decoding_menu(actions: ActionRegistry, suggestions: SuggestionController) -> None:
    """Tick what the current settings are."""
    settings = suggestions.settings
    for key, _label in STRATEGIES:
        actions[f"decoding.strategy.{key}"].setChecked(settings.strategy == key)
    preset = matching_preset(settings)
    for name in PRESETS:
        actions[f"decoding.preset.{name}"].setChecked(name == preset)
    for stop, _label in LENGTHS:
        actions[f"decoding.stop.{stop}"].setChecked(settings.stop == stop)
