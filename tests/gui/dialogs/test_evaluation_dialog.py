"""Model ▸ Evaluate on My Text…: figures measured on the engine thread, stored in the history and compared in a
table and a QPainter chart; cancelling records nothing. The status bar keeps latency p50/p90 over the session."""

from __future__ import annotations

import json

import pytest
import torch
from PySide6.QtGui import QColor, QPalette

from engine.jobs.eval_history import EvaluationHistory, EvaluationRun, describe_settings
from gui.dialogs.evaluation_chart import EvaluationChart
from tests.support.gui import gated_worker_factory, type_text, wait_until_finished
from tests.support.samples import SAMPLE_TEXT

TIMEOUT_MS = 60000


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def document(tmp_path):
    path = tmp_path / "essay.txt"
    path.write_text(SAMPLE_TEXT, encoding="utf-8")
    return path


def _open(window, prompts, document, max_chars=200):
    prompts.evaluation_document_path = str(document)
    window.named_actions["model.evaluate"].trigger()
    dialog = window.model_dialogs.evaluation
    assert not dialog.start_button.isEnabled()  # no document yet
    dialog.choose_button.click()
    dialog.max_chars.setValue(max_chars)
    return dialog


def test_evaluation_is_measured_stored_and_compared(qtbot, make_window, prompts, document, app_dirs):
    window = make_window()
    dialog = _open(window, prompts, document)
    assert dialog.document.text() == str(document) and dialog.table.rowCount() == 0
    with qtbot.waitSignal(dialog.evaluated, timeout=TIMEOUT_MS) as done:
        dialog.start_button.click()
        assert dialog.is_running() and dialog.cancel_button.isEnabled()
    run = done.args[0]
    assert run.model == window.models.active.name and run.device == "cpu"
    assert 0 <= run.ksr <= 1 and set(run.exact_match) == {"1", "3", "5"} and run.bits_per_byte > 0
    assert run.latency_p90_ms >= run.latency_p50_ms > 0 and run.suggestions > 0
    assert run.characters <= 200 and run.settings_summary == describe_settings(window.suggestions.settings)
    assert "Keystroke savings" in dialog.status_label.text()
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 1).text() == "tiny-gpt2"
    assert dialog.chart.runs == [run] and dialog.chart.highlight is run

    history_file = app_dirs["data_dir"] / "evaluations.json"
    assert len(json.loads(history_file.read_text())["runs"]) == 1
    with qtbot.waitSignal(dialog.evaluated, timeout=TIMEOUT_MS):
        dialog.start_button.click()
    assert dialog.table.rowCount() == 2 and len(dialog.chart.runs) == 2
    dialog.metric_choice.setCurrentIndex(dialog.metric_choice.findData("latency_p90_ms"))
    assert dialog.chart.title() == "Latency p90 (lower is better)"
    dialog.close()

    reopened = _open(window, prompts, document)  # the history outlives the dialog
    assert reopened is not dialog and reopened.table.rowCount() == 2 and reopened.chart.highlight is None
    other = document.with_name("other.txt")
    other.write_text("Something else entirely.", encoding="utf-8")
    reopened.document.setText(str(other))
    assert reopened.table.rowCount() == 0  # only runs on this document
    reopened.same_document.setChecked(False)
    assert reopened.table.rowCount() == 2


def test_cancelling_an_evaluation_records_nothing(qtbot, make_window, prompts, document, app_dirs):
    models = []
    window = make_window(worker_factory=gated_worker_factory(models))
    gated = models[0]
    dialog = _open(window, prompts, document)
    dialog.start_button.click()
    qtbot.waitUntil(gated.waiting.is_set, timeout=TIMEOUT_MS)  # mid-suggestion, holding a token
    with qtbot.waitSignal(dialog.runner.cancelled, timeout=TIMEOUT_MS):
        dialog.cancel_button.click()
        assert not dialog.cancel_button.isEnabled()
        gated.open()
    assert "Cancelled" in dialog.status_label.text() and dialog.table.rowCount() == 0
    assert not (app_dirs["data_dir"] / "evaluations.json").exists()
    assert dialog.start_button.isEnabled()


def test_unreadable_documents_are_explained(qtbot, make_window, prompts, tmp_path):
    window = make_window()
    binary = tmp_path / "picture.txt"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    dialog = _open(window, prompts, binary)
    dialog.start_button.click()
    assert not dialog.is_running() and "No text found" in dialog.status_label.text()


def _run(model: str, ksr: float, bpb: float, document: str = "/essay.txt") -> EvaluationRun:
    return EvaluationRun(when="2025-03-04T05:06:07", model=model, architecture="GPT-2", device="cpu",
                         document=document, characters=500, ksr=ksr, exact_match={"1": 0.4, "3": 0.1, "5": 0.0},
                         bits_per_byte=bpb, latency_p50_ms=10.0, latency_p90_ms=20.0, suggestions=100)


def _count(image, color: QColor) -> int:
    target = color.rgb()
    return sum(1 for y in range(0, image.height(), 2) for x in range(0, image.width(), 2)
               if image.pixel(x, y) == target)


def test_chart_draws_one_bar_per_run_with_the_newest_highlighted(qtbot):
    chart = EvaluationChart()
    qtbot.addWidget(chart)
    chart.resize(480, 220)
    palette = chart.palette()
    accent = palette.color(QPalette.ColorRole.Highlight)
    background = palette.color(QPalette.ColorRole.Base)

    empty = chart.grab().toImage()
    assert _count(empty, accent) == 0

    runs = [_run("default", 0.20, 2.0), _run("mine", 0.40, 1.0)]
    chart.set_runs(runs, highlight=runs[1])
    image = chart.grab().toImage()
    sampled = (image.width() // 2) * (image.height() // 2)
    assert _count(image, accent) > 50  # the highlighted bar is drawn
    assert _count(image, background) < sampled  # and more than the background
    first, second = chart.bar_rects()
    assert second.height() == pytest.approx(2 * first.height())  # KSR 40% vs 20%
    chart.set_metric("bits_per_byte")
    first, second = chart.bar_rects()
    assert first.height() == pytest.approx(2 * second.height())
    assert "lower is better" in chart.title()


def test_a_real_suggestion_feeds_the_session_latency(qtbot, make_window):
    window = make_window()
    type_text(qtbot, window.editor, "The quick brown fox")
    wait_until_finished(qtbot, window)
    qtbot.waitUntil(lambda: window.status.session_latency.count() == 1, timeout=TIMEOUT_MS)
    assert window.status.session_latency.text().startswith("p50 ")


def test_history_file_lives_in_inkling_data_dir(qtbot, make_window, prompts, document, tmp_path, monkeypatch):
    monkeypatch.setenv("INKLING_DATA_DIR", str(tmp_path / "env-data"))
    window = make_window(data_dir=None)
    EvaluationHistory().add(_run("earlier", 0.3, 1.2, str(document)))
    dialog = _open(window, prompts, document)
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 1).text() == "earlier"
