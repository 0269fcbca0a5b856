"""Decoding: strategy, presets, suggestion length, and the Settings dialog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from gui.menus.quality_menu import build_quality_menus
from gui.settings.presets import PRESETS, matching_preset

if TYPE_CHECKING:
    from gui.main_window import MainWindow

STRATEGIES = (("greedy", "&Greedy"), ("sample", "&Sampling"), ("beam", "&Beam Search"))
LENGTHS = (("word", "One &Word"), ("sentence", "One &Sentence"), ("line", "One &Line"),
           (None, "&Fixed Number of Tokens"))


def _group(menu: QMenu, window: MainWindow, prefix: str, items, handler) -> None:
    group = QActionGroup(menu)
    for key, label in items:
        action = QAction(label, menu)
        action.setCheckable(True)
        action.triggered.connect(lambda _checked=False, k=key: handler(k))
        group.addAction(action)
        menu.addAction(action)
        window.actions[f"{prefix}.{key}"] = action


def build_decoding_menu(window: MainWindow) -> QMenu:
    menu = window.menuBar().addMenu("&Decoding")
    _group(menu, window, "decoding.strategy", STRATEGIES, window.set_strategy)
    menu.addSeparator()
    presets = menu.addMenu("&Presets")
    _group(presets, window, "decoding.preset", [(name, name) for name in PRESETS], window.apply_preset)
    lengths = menu.addMenu("Suggestion &Length")
    _group(lengths, window, "decoding.stop", LENGTHS, window.set_stop_rule)
    menu.addSeparator()
    build_quality_menus(menu, window)
    menu.addSeparator()
    window.add_action(menu, "decoding.settings", "&Settings…", window.edit_decoding_settings,
                      QKeySequence("Ctrl+,"))
    window.suggestions.settingsChanged.connect(lambda _s: sync_decoding_menu(window))
    sync_decoding_menu(window)
    return menu


def sync_decoding_menu(window: MainWindow) -> None:
    """Tick what the current settings are."""
    settings = window.suggestions.settings
    for key, _label in STRATEGIES:
        window.actions[f"decoding.strategy.{key}"].setChecked(settings.strategy == key)
    preset = matching_preset(settings)
    for name in PRESETS:
        window.actions[f"decoding.preset.{name}"].setChecked(name == preset)
    for key, _label in LENGTHS:
        window.actions[f"decoding.stop.{key}"].setChecked(settings.stop == key)
