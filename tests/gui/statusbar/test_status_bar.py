"""StatusBar: its widgets, and the latency ones shown once a suggestion was timed."""

from __future__ import annotations

from PySide6.QtWidgets import QPlainTextEdit

from gui.statusbar import StatusBar, text_count_label


def _status_bar(qtbot) -> StatusBar:
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    status = StatusBar(editor)
    qtbot.addWidget(status)
    status.show()
    return status


def test_status_bar_keeps_session_latency_percentiles(qtbot):
    status = _status_bar(qtbot)
    assert not status.latency.isVisibleTo(status)  # nothing timed yet
    assert not status.session_latency.isVisibleTo(status)
    for ms in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100):
        status.show_latency(ms / 1000, 50.0)
    status.show_latency(None, None)  # an untimed suggestion does not count
    assert status.latency.isVisibleTo(status)
    assert status.session_latency.isVisibleTo(status)
    assert status.session_latency.count() == 10
    assert status.session_latency.text() == "p50 55 ms · p90 91 ms"
    assert "10 suggestions" in status.session_latency.toolTip()


def test_latency_starts_afresh_when_the_model_changes(qtbot):
    status = _status_bar(qtbot)
    status.start_model("big on cpu")
    status.show_latency(13.6, 2.0)
    status.start_model("big on cpu")
    assert status.session_latency.count() == 1 and status.session_latency.isVisibleTo(status)
    status.start_model("default on cpu")
    assert status.session_latency.count() == 0
    assert not status.session_latency.isVisibleTo(status) and not status.latency.isVisibleTo(status)
    status.show_latency(0.05, 80.0)
    assert status.session_latency.text() == "p50 50 ms · p90 50 ms"


def test_the_window_times_each_loaded_model_on_its_own(qtbot, make_window, tmp_path, tiny_tokenizer):
    from tests.support.tiny_models import make_gpt2_folder

    window = make_window()
    status = window.status
    status.show_latency(13.6, 2.0)  # a slow suggestion of the first model
    other = make_gpt2_folder(tmp_path / "other-model", tiny_tokenizer, seed=1)
    with qtbot.waitSignal(window.models.modelChanged, timeout=20000):
        window.models.load(str(other))
    assert status.session_latency.count() == 0
    assert not status.session_latency.isVisibleTo(status)


def test_an_opened_document_shows_its_own_word_count_at_once(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setattr(text_count_label, "BIG_DOCUMENT_CHARS", 1000)  # the big one's count would wait seconds
    small, big = tmp_path / "small.txt", tmp_path / "big.txt"
    small.write_text("three small words", encoding="utf-8")
    big.write_text("word " * 2000, encoding="utf-8")
    window = make_window(wait_ready=False)
    label = window.status.text_count
    assert window.documents.open(str(small))
    assert label.word_count() == 3 and label.text().endswith("1 line, 3 words")
    assert window.documents.open(str(big))
    assert label.word_count() == 2000 and label.text().endswith("1 line, 2000 words")
    assert window.documents.new()
    assert label.text().endswith("1 line, 0 words")
