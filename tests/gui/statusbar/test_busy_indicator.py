"""BusyIndicator: shown while anything is busy, with the most important reason."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from gui.statusbar.busy_indicator import BusyIndicator


def test_a_model_load_outranks_a_suggestion_and_clearing_every_reason_hides_it(qtbot):
    bar = QWidget()  # in a shown status bar, as in the window
    qtbot.addWidget(bar)
    busy = BusyIndicator(bar)
    bar.show()
    assert not busy.isVisible() and not busy.is_busy()
    busy.set_busy("suggesting", "Suggesting…")
    busy.set_busy("loading", "Loading model…")
    assert busy.isVisible() and busy.is_busy("suggesting") and busy.is_busy("loading")
    assert busy.label.text() == "Loading model…"
    busy.set_busy("loading", None)
    assert busy.label.text() == "Suggesting…"
    busy.set_busy("suggesting", None)
    assert not busy.isVisible() and busy.label.text() == ""
