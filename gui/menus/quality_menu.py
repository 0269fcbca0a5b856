"""Decoding ▸ Coverage (a slider and its stops: "fewer but surer" ↔ "more often") and Decoding ▸ Quality Guards."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QSlider, QWidget, QWidgetAction

from engine.quality.suggestion_quality import COVERAGE_STOPS

if TYPE_CHECKING:
    from gui.main_window import MainWindow

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

    def __init__(self, window: MainWindow) -> None:
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
        self.slider.valueChanged.connect(lambda position: window.quality.set_coverage(stop_at(position)))

    def show_coverage(self, coverage: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(position_of(coverage))
        self.slider.blockSignals(False)


def stop_at(position: int) -> float:
    return sorted(COVERAGE_STOPS)[position - 1]


def position_of(coverage: float) -> int:
    stops = sorted(COVERAGE_STOPS)
    return 1 + min(range(len(stops)), key=lambda i: abs(stops[i] - coverage))


def build_quality_menus(menu: QMenu, window: MainWindow) -> None:
    coverage = menu.addMenu("&Coverage")
    coverage.setObjectName("coverageMenu")
    slider_action = QWidgetAction(coverage)
    window.coverage_slider = CoverageSlider(window)
    slider_action.setDefaultWidget(window.coverage_slider)
    coverage.addAction(slider_action)
    coverage.addSeparator()
    group = QActionGroup(coverage)
    for stop in COVERAGE_STOPS:
        action = QAction(coverage_label(stop), coverage)
        action.setCheckable(True)
        action.triggered.connect(lambda _checked=False, c=stop: window.quality.set_coverage(c))
        group.addAction(action)
        coverage.addAction(action)
        window.actions[f"decoding.coverage.{round(stop * 100)}"] = action

    guards = menu.addMenu("Quality &Guards")
    for name, label in GUARDS:
        window.add_action(guards, f"decoding.guard.{name}", label,
                          lambda on, n=name: window.quality.set_guard(n, on), checkable=True)
    window.add_action(guards, "decoding.guard.repetition", "Block &Repetition (N-grams and DRY)",
                      window.quality.set_repetition_blocking, checkable=True)
    window.add_action(guards, "decoding.guard.never_suggest_enabled", "Use the &Never-Suggest List",
                      lambda on: window.quality.set_guard("never_suggest_enabled", on), checkable=True)
    guards.addSeparator()
    window.add_action(guards, "decoding.never_suggest.edit", "&Edit Never-Suggest List…",
                      lambda: edit_never_suggest(window))
    window.quality.changed.connect(lambda _q: sync_quality_menus(window))
    window.suggestions.settingsChanged.connect(lambda _s: sync_quality_menus(window))
    sync_quality_menus(window)


def edit_never_suggest(window: MainWindow) -> None:
    words = window.prompts.edit_never_suggest(window, window.quality.quality.never_suggest)
    if words is not None:
        window.quality.set_never_suggest(words)


def sync_quality_menus(window: MainWindow) -> None:
    """Tick what the current quality settings are (without triggering them again)."""
    quality = window.quality.quality
    for stop in COVERAGE_STOPS:
        window.actions[f"decoding.coverage.{round(stop * 100)}"].setChecked(abs(stop - quality.coverage) < 1e-9)
    window.coverage_slider.show_coverage(quality.coverage)
    states = {name: getattr(quality, name) for name, _label in GUARDS}
    states["never_suggest_enabled"] = quality.never_suggest_enabled
    states["repetition"] = window.quality.blocks_repetition()
    for name, on in states.items():
        action = window.actions[f"decoding.guard.{name}"]
        action.blockSignals(True)
        action.setChecked(on)
        action.blockSignals(False)
