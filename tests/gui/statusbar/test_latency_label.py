"""LatencyLabel: how fast the last suggestion came."""

from __future__ import annotations

from gui.statusbar.latency_label import LatencyLabel, format_latency


def test_latency_shows_what_was_timed():
    assert format_latency(0.0421, 87.6) == "first token 42 ms · 88 tok/s"
    assert format_latency(None, 12.0) == "12 tok/s"
    assert format_latency(0.5, None) == "first token 500 ms"
    assert format_latency(None, None) == "—"


def test_the_label_shows_the_last_suggestion_only(qtbot):
    label = LatencyLabel()
    qtbot.addWidget(label)
    assert label.text() == ""
    label.show_stats(0.1, 20.0)
    label.show_stats(0.2, 10.0)
    assert label.text() == "first token 200 ms · 10 tok/s"
