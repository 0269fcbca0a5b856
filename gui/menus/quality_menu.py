"""Decoding ▸ Coverage (a slider and its stops: "fewer but surer" ↔ "more often") and Decoding ▸ Quality Guards."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QSlider, QWidget, QWidgetAction

from engine.quality.suggestion_quality import COVERAGE_STOPS
from gui.controllers.quality_controller import QualityController
from gui.controllers.suggestion_controller import SuggestionController
from gui.dialogs.prompts import Prompts
from gui.menus.actions import ActionRegistry

GUARDS = (
    ("skip_blank", "Skip Suggestions of Only &Punctuation or Spaces"),
    ("skip_line_repeats", "Skip Suggestions That Repeat the &Line"),
)


def coverage_label(coverage: float) -> str:
    percent = round(coverage * 100)
    if percent == 100:
        return "At &Every Pause (More Often)"
    if percent == 10:
        return "At 10% of Pauses (Fewer but &Surer)"
    return f"At {percent}% of Pauses"


class CoverageSlider(QWidget):
    """A slider over the coverage stops, inside the menu: left is fewer but surer, right is more often."""

    def __init__(self, quality: QualityController) -> None:
        super().__init__()
        self.setObjectName("coverageSlider")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(1, len(COVERAGE_STOPS))  # position i: the i-th smallest stop
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setMinimumWidth(160)
        self.slider.setToolTip("Share of pauses that show a suggestion, on typical text")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 4, 12, 4)
        row.addWidget(QLabel("Fewer but surer"))
        row.addWidget(self.slider, 1)
        row.addWidget(QLabel("More often"))
        self.slider.valueChanged.connect(lambda position: quality.set_coverage(stop_at(position)))

    def show_coverage(self, coverage: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(position_of(coverage))
        self.slider.blockSignals(False)


def stop_at(position: int) -> float:
    return sorted(COVERAGE_STOPS)[position - 1]


def position_of(coverage: float) -> int:
    stops = sorted(COVERAGE_STOPS)
    return 1 + min(range(len(stops)), key=lambda i: abs(stops[i] - coverage))


def build_quality_menus(menu: QMenu, actions: ActionRegistry, quality: QualityController,
                        suggestions: SuggestionController, prompts: Prompts,
                        dialog_parent: QWidget) -> CoverageSlider:
    """Decoding ▸ Coverage and Decoding ▸ Quality Guards, added to ``menu``; returns the coverage slider."""
    coverage = menu.addMenu("&Coverage")
    coverage.setObjectName("coverageMenu")
    slider_action = QWidgetAction(coverage)
    slider = CoverageSlider(quality)
    slider_action.setDefaultWidget(slider)
    coverage.addAction(slider_action)
    coverage.addSeparator()
    group = QActionGroup(coverage)
    for stop in COVERAGE_STOPS:
        action = QAction(coverage_label(stop), coverage)
        action.setCheckable(True)
        action.triggered.connect(lambda _checked=False, c=stop: quality.set_coverage(c))
        group.addAction(action)
        coverage.addAction(action)
        actions.register(f"decoding.coverage.{round(stop * 100)}", action)

    guards = menu.addMenu("Quality &Guards")
    for name, label in GUARDS:
        actions.add(guards, f"decoding.guard.{name}", label, lambda on, n=name: quality.set_guard(n, on),
                    checkable=True)
    actions.add(guards, "decoding.guard.repetition", "Block &Repetition (N-grams and DRY)",
                quality.set_repetition_blocking, checkable=True)
    actions.add(guards, "decoding.guard.never_suggest_enabled", "Use the &Never-Suggest List",
                lambda on: quality.set_guard("never_suggest_enabled", on), checkable=True)
    guards.addSeparator()

    def edit_never_suggest() -> None:
        words = prompts.edit_never_suggest(dialog_parent, quality.quality.never_suggest)
        if words is not None:
            quality.set_never_suggest(words)

    actions.add(guards, "decoding.never_suggest.edit", "&Edit Never-Suggest List…", edit_never_suggest)
    quality.changed.connect(lambda _q: sync_quality_menus(actions, quality, slider))
    suggestions.settingsChanged.connect(lambda _s: sync_quality_menus(actions, quality, slider))
    sync_quality_menus(actions, quality, slider)
    return slider


def sync_quality_menus(actions: ActionRegistry, quality_controller: QualityController,
                       slider: CoverageSlider) -> None:
    """Tick what the current quality settings are (without triggering them again)."""
    quality = quality_controller.quality
    for stop in COVERAGE_STOPS:
        actions[f"decoding.coverage.{round(stop * 100)}"].setChecked(abs(stop - quality.coverage) < 1e-9)
    slider.show_coverage(quality.coverage)
    states = {name: getattr(quality, name) for name, _label in GUARDS}
    states["never_suggest_enabled"] = quality.never_suggest_enabled
    states["repetition"] = quality_controller.blocks_repetition()
    for name, on in states.items():
        action = actions[f"decoding.guard.{name}"]
        action.blockSignals(True)
        action.setChecked(on)
        action.blockSignals(False)
