"""SessionLatencyLabel: the median and 90th percentile of the time to the first token, over the session."""

from __future__ import annotations

from gui.statusbar.session_latency_label import MAX_SAMPLES, SessionLatencyLabel


def test_percentiles_over_the_session(qtbot):
    label = SessionLatencyLabel()
    qtbot.addWidget(label)
    assert label.text() == "" and label.percentiles_ms() == (None, None)
    label.add(0.050)
    assert label.count() == 1 and "1 suggestion in" in label.toolTip()
    for ms in (20, 30, 40):
        label.add(ms / 1000)
    assert label.count() == 4
    assert label.text().startswith("p50 ") and " · p90 " in label.text()


def test_a_long_session_keeps_only_its_latest_samples(qtbot):
    label = SessionLatencyLabel()
    qtbot.addWidget(label)
    for _ in range(MAX_SAMPLES + 5):
        label.add(0.01)
    assert label.count() == MAX_SAMPLES


def test_each_model_is_timed_on_its_own(qtbot):
    label = SessionLatencyLabel()
    qtbot.addWidget(label)
    assert label.start_model("slow on cpu")
    label.add(13.6)
    assert not label.start_model("slow on cpu")  # the same model again keeps its figures
    assert label.count() == 1 and "of slow on cpu" in label.toolTip()
    assert label.start_model("default on cpu")
    assert label.count() == 0 and label.text() == "" and label.toolTip() == ""
    label.add(0.1)
    assert label.text() == "p50 100 ms · p90 100 ms"
