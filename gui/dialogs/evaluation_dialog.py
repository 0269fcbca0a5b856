"""Model ▸ Evaluate on My Text…: measure the current model and decoding settings on a document of the user's.

The measuring is ``engine.jobs.document_eval`` running as a job on the engine thread (keystroke savings,
ExactMatch@1/@3/@5, bits per byte, latency p50/p90); the dialog picks the document, shows progress, cancels, stores
each result in the evaluation history and compares it with earlier runs in a table and a bar chart, so a model (or
a set of decoding settings) can be chosen by its numbers.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.decoding.settings import DecodingSettings
from engine.errors import InklingError
from engine.jobs.document_eval import DocumentFigures, evaluation_job
from engine.jobs.eval_history import EvaluationHistory, EvaluationRun, describe_settings
from engine.training.evaluation import load_eval_texts
from engine.worker.events import ModelSnapshot
from gui.dialogs.closing import StopJobBeforeClosing
from gui.dialogs.evaluation_chart import METRICS, EvaluationChart
from gui.dialogs.prompts import sentence
from gui.engine_bridge import EngineBridge
from gui.jobs.job_runner import JobRunner
from gui.statusbar.model_label import display_name

DEFAULT_MAX_CHARS = 3000
PROGRESS_STEPS = 1000
COLUMNS = ("When", "Model", "Device", "Settings", "Document", "KSR", "EM@1", "EM@3", "EM@5", "Bits/byte",
           "p50", "p90")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def run_cells(run: EvaluationRun) -> list[str]:
    """The table row of one run, in ``COLUMNS`` order."""
    return [run.when.replace("T", " "), run.model_name, run.device, run.settings_summary, run.document_name,
            _percent(run.ksr), *(_percent(run.exact_match.get(n)) for n in ("1", "3", "5")),
            f"{run.bits_per_byte:.3f}", _ms(run.latency_p50_ms), _ms(run.latency_p90_ms)]


def summary_text(run: EvaluationRun) -> str:
    em = " / ".join(_percent(run.exact_match.get(n)) for n in ("1", "3", "5"))
    return (f"Keystroke savings {_percent(run.ksr)} · ExactMatch@1/3/5 {em} · {run.bits_per_byte:.3f} bits/byte · "
            f"latency p50 {_ms(run.latency_p50_ms)}, p90 {_ms(run.latency_p90_ms)} "
            f"({run.suggestions:,} suggestions over {run.characters:,} characters)")


class EvaluationDialog(StopJobBeforeClosing, QDialog):
    evaluated = Signal(object)  # EvaluationRun, once stored

    def __init__(self, bridge: EngineBridge, prompts, model: ModelSnapshot | None, settings: DecodingSettings,
                 history: EvaluationHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("evaluationDialog")
        self.setWindowTitle("Evaluate on My Text")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.prompts = prompts
        self.model = model
        self.settings = settings
        self.history = history
        self.runner = JobRunner(bridge, self)
        self.current: EvaluationRun | None = None
        self.runs: list[EvaluationRun] = history.load()
        self._document_of_job = ""
        self._close_when_stopped = False

        about = self._build_about()
        form = self._build_form()
        self._build_progress()
        compare_row = self._build_comparison()
        buttons = self._build_buttons()

        layout = QVBoxLayout(self)
        layout.addWidget(about)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addLayout(compare_row)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.failed.connect(self._on_failed)
        if history.problem:
            self.status_label.setText(history.problem)
        self.refresh()
        self._update_buttons()
        self.resize(980, 640)

    def _build_about(self) -> QLabel:
        """The model and the decoding settings the figures are for."""
        model_text = f"{display_name(self.model.name)} on {self.model.device}" if self.model else "no model loaded"
        about = QLabel(f"Model: <b>{model_text}</b> · Suggestions: {describe_settings(self.settings)}")
        about.setWordWrap(True)
        about.setToolTip("The figures are for this model with the decoding settings in use now "
                         "(Decoding menu); ExactMatch ignores the length setting so that five words fit.")
        return about

    def _build_form(self) -> QFormLayout:
        """The document to type and how much of it."""
        self.document = QLineEdit()
        self.document.setObjectName("evaluationDocument")
        self.document.setPlaceholderText("A .txt or .md file of your writing")
        self.document.textChanged.connect(self._document_changed)
        self.choose_button = QPushButton("Choose…")
        self.choose_button.clicked.connect(self.choose_document)
        document_row = QHBoxLayout()
        document_row.addWidget(self.document, 1)
        document_row.addWidget(self.choose_button)
        self.max_chars = QSpinBox()
        self.max_chars.setRange(100, 1_000_000)
        self.max_chars.setSingleStep(500)
        self.max_chars.setValue(DEFAULT_MAX_CHARS)
        self.max_chars.setSuffix(" characters")
        self.max_chars.setToolTip("The simulated typist types the document up to this length (cut at a word); "
                                  "longer takes longer, roughly one suggestion per word")
        form = QFormLayout()
        form.addRow("Document:", document_row)
        form.addRow("Type at most:", self.max_chars)
        return form

    def _build_progress(self) -> None:
        """The progress bar and the status line."""
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.status_label = QLabel("")
        self.status_label.setObjectName("evaluationStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def _build_comparison(self) -> QHBoxLayout:
        """The chart and the table of earlier runs, and the row that chooses what they compare."""
        self.metric_choice = QComboBox()
        for metric in METRICS:
            self.metric_choice.addItem(metric.label, metric.key)
        self.metric_choice.currentIndexChanged.connect(
            lambda _i: self.chart.set_metric(self.metric_choice.currentData()))
        self.same_document = QCheckBox("Only runs on this document")
        self.same_document.setChecked(True)
        self.same_document.toggled.connect(lambda _on: self.refresh())
        compare_row = QHBoxLayout()
        compare_row.addWidget(QLabel("Compare:"))
        compare_row.addWidget(self.metric_choice)
        compare_row.addStretch(1)
        compare_row.addWidget(self.same_document)
        self.chart: EvaluationChart = EvaluationChart(self)  # declared: the lambda above uses it first
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("evaluationTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        return compare_row

    def _build_buttons(self) -> QHBoxLayout:
        """Evaluate, Cancel and Close."""
        self.start_button = QPushButton("Evaluate")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.start_button, self.cancel_button, self.close_button):
            buttons.addWidget(button)
        return buttons

    # --- choosing --------------------------------------------------------------------------------------

    def choose_document(self) -> None:
        current = self.document.text().strip()
        start = str(Path(current).parent) if current else os.path.expanduser("~")
        path = self.prompts.evaluation_document(self, start)
        if path:
            self.document.setText(path)

    def _document_changed(self, _text: str) -> None:
        self._update_buttons()
        self.refresh()

    # --- running ---------------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.runner.is_running()

    def start(self) -> None:
        if self.is_running():
            return
        path = self.document.text().strip()
        if self.model is None:
            self._show_problem("no model is loaded")
            return
        try:
            texts = load_eval_texts([path], self.max_chars.value())
        except (InklingError, OSError, ValueError) as exc:
            self._show_problem(str(exc))
            return
        self._document_of_job = path
        self.progress.setValue(0)
        self.status_label.setText("Starting…")
        self.runner.start(evaluation_job([t.text for t in texts], self.settings))
        self._update_buttons()

    def cancel(self) -> None:
        if self.is_running():
            self.runner.cancel()
            self.status_label.setText("Cancelling…")
            self._update_buttons()

    def _on_progress(self, payload: dict) -> None:
        self.progress.setValue(round(payload.get("fraction", 0.0) * PROGRESS_STEPS))
        if self.runner.cancel_requested():
            return
        phase, done, total = payload.get("phase", ""), payload.get("done", 0), payload.get("total", 0)
        if phase == "typing":
            self.status_label.setText(f"Typing the document with suggestions: {done:,} of {total:,} characters")
        elif phase == "exact match":
            self.status_label.setText(f"Checking next-word predictions: {done:,} of {total:,} word starts")
        else:
            self.status_label.setText("Measuring bits per byte…")

    def _on_finished(self, figures: DocumentFigures | None) -> None:
        if figures is None:
            self._on_cancelled(None)
            return
        model = self.model
        assert model is not None  # start() runs a job only with a model
        run = EvaluationRun.from_figures(figures, model=model.name, architecture=model.architecture,
                                         device=model.device, document=self._document_of_job,
                                         settings=self.settings)
        self.current = run
        self.progress.setValue(PROGRESS_STEPS)
        try:
            self.runs = self.history.add(run)
            self.status_label.setText(summary_text(run))
        except OSError as exc:
            self.runs = self.runs + [run]
            self.status_label.setText(f"{summary_text(run)}\nNot saved to the history: {exc}")
        self.refresh()
        self.evaluated.emit(run)
        self._update_buttons()
        self._close_if_asked()

    def _on_cancelled(self, _result) -> None:
        self.progress.setValue(0)
        self.status_label.setText("Cancelled; nothing was recorded.")
        self._update_buttons()
        self._close_if_asked()

    def _on_failed(self, message: str) -> None:
        self._show_problem(message)
        self._close_if_asked()

    def _show_problem(self, message: str) -> None:
        escaped = sentence(message).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        self.status_label.setText(f"<span style='color:#c0392b'>{escaped}</span>")
        self._update_buttons()

    # --- comparing -------------------------------------------------------------------------------------

    def shown_runs(self) -> list[EvaluationRun]:
        """The runs in the table and chart, oldest first: all, or those on the chosen document."""
        document = self.document.text().strip()
        if not self.same_document.isChecked() or not document:
            return list(self.runs)
        return [run for run in self.runs if run.document == document or run is self.current]

    def refresh(self) -> None:
        runs = self.shown_runs()
        self.chart.set_runs(runs, self.current)
        self.table.setRowCount(len(runs))
        bold = QFont(self.table.font())
        bold.setBold(True)
        for row, run in enumerate(reversed(runs)):  # newest first
            for column, text in enumerate(run_cells(run)):
                item = QTableWidgetItem(text)
                if column >= 5:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if run is self.current:
                    item.setFont(bold)
                self.table.setItem(row, column, item)

    def _update_buttons(self) -> None:
        running = self.is_running()
        self.start_button.setEnabled(not running and self.model is not None and bool(self.document.text().strip()))
        self.cancel_button.setEnabled(running and not self.runner.cancel_requested())
        for widget in (self.document, self.choose_button, self.max_chars):
            widget.setEnabled(not running)

    # --- closing (StopJobBeforeClosing) ----------------------------------------------------------------

    def _stop_job_for_closing(self) -> None:
        self.cancel()
