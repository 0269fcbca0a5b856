"""Model ▸ Learn from My Writing…: fine-tune the current model on the user's folders, with progress and cancel.

The training itself is ``engine.jobs.fine_tune`` running as a job on the engine thread (on the GPU when the
model is on one); this dialog only asks what to train, shows the trainer's reports (tokens per second, time left,
validation bits per byte before → now) and cancels. Stopping saves a checkpoint: the run is listed under
"Unfinished runs" (also after closing the app or a crash) and continues from there. A finished model is one of the
user's models; the dialog offers to switch to it, and ``modelCreated`` lets the window refresh its Model menu.

The dialog is window-modal: while it trains, the engine has no time for suggestions anyway.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.errors import InklingError
from engine.jobs.fine_tune import (
    FineTuneOutcome,
    FineTunePlan,
    FineTuneRun,
    discard_run,
    fine_tune_job,
    start_run,
    suggest_name,
    unfinished_runs,
)
from engine.loading.registry import resolve_model_path
from engine.worker.events import ModelSnapshot
from gui.dialogs.closing import StopJobBeforeClosing
from gui.dialogs.prompts import sentence
from gui.engine_bridge import EngineBridge
from gui.jobs.job_runner import JobRunner
from gui.statusbar.model_label import display_name

DEFAULT_MINUTES = 10
UNITS = {"minutes": "minutes", "steps": "training steps"}
PROGRESS_STEPS = 1000


def format_duration(seconds: float | None) -> str:
    """"45 s", "3 min 20 s", "1 h 05 min"; "—" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_bpb_change(before: float | None, now: float | None) -> str:
    if before is None or not math.isfinite(before):
        return ""
    if now is None or not math.isfinite(now) or now == before:
        return f"validation bits/byte {before:.3f}"
    return f"validation bits/byte {before:.3f} → {now:.3f}"


class FineTuneDialog(StopJobBeforeClosing, QDialog):
    modelCreated = Signal(str)  # name of the new user model
    useModelRequested = Signal(str)  # the user wants to switch to it now

    def __init__(self, bridge: EngineBridge, prompts, model: ModelSnapshot | None,
                 data_dir: str | os.PathLike | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fineTuneDialog")
        self.setWindowTitle("Learn from My Writing")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.prompts = prompts
        self.model = model
        self.data_dir = data_dir
        self.runner = JobRunner(bridge, self)
        self.run: FineTuneRun | None = None
        self.outcome: FineTuneOutcome | None = None
        self.reports: list[dict] = []  # the trainer's reports of the current run, for the figures line
        self._stopping = False
        self._close_when_stopped = False

        intro = self._build_intro()
        form = self._build_form()
        self.unfinished_box = self._build_unfinished()
        self._build_progress()
        buttons = self._build_buttons()

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.unfinished_box)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.figures_label)
        layout.addLayout(buttons)

        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_done)
        self.runner.cancelled.connect(self._on_done)
        self.runner.failed.connect(self._on_failed)
        self.refresh_unfinished()
        self._update_buttons()
        self.resize(560, self.sizeHint().height())

    def _build_intro(self) -> QLabel:
        """What the dialog does, with the model it starts from and where it trains."""
        base = display_name(self.model.name) if self.model else "no model"
        where = self.model.device if self.model else "—"
        intro = QLabel(f"Inkling trains a copy of <b>{base}</b> on your own .txt and .md files, on {where}, "
                       "so its suggestions sound more like you. The model you have stays as it is.")
        intro.setWordWrap(True)
        return intro

    def _build_form(self) -> QFormLayout:
        """What to train on, the new model's name and how long to train."""
        self.folders = QListWidget()
        self.folders.setObjectName("fineTuneFolders")
        self.folders.setMinimumHeight(70)
        self.add_folder_button = QPushButton("Add Folder…")
        self.add_folder_button.clicked.connect(self.add_folder)
        self.remove_folder_button = QPushButton("Remove")
        self.remove_folder_button.clicked.connect(self.remove_folder)
        folder_buttons = QVBoxLayout()
        folder_buttons.addWidget(self.add_folder_button)
        folder_buttons.addWidget(self.remove_folder_button)
        folder_buttons.addStretch(1)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folders, 1)
        folder_row.addLayout(folder_buttons)

        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("fineTuneName")
        try:
            self.name_edit.setText(suggest_name(display_name(self.model.name), self.data_dir) if self.model else "")
        except InklingError:
            pass
        self.budget = QSpinBox()
        self.budget.setRange(1, 1_000_000)
        self.budget.setValue(DEFAULT_MINUTES)
        self.budget_unit = QComboBox()
        for key, label in UNITS.items():
            self.budget_unit.addItem(label, key)
        self.budget_unit.setToolTip("Train for a time, or for a number of optimizer steps")
        budget_row = QHBoxLayout()
        budget_row.addWidget(self.budget)
        budget_row.addWidget(self.budget_unit)
        budget_row.addStretch(1)

        form = QFormLayout()
        form.addRow("Your writing:", folder_row)
        form.addRow("Name of the new model:", self.name_edit)
        form.addRow("Train for:", budget_row)
        return form

    def _build_unfinished(self) -> QGroupBox:
        """The runs stopped before their end, to continue or discard."""
        box = QGroupBox("Unfinished runs")
        self.unfinished = QComboBox()
        self.unfinished.setObjectName("unfinishedRuns")
        self.continue_button = QPushButton("Continue")
        self.continue_button.clicked.connect(self.continue_selected)
        self.discard_button = QPushButton("Discard…")
        self.discard_button.clicked.connect(self.discard_selected)
        unfinished_row = QHBoxLayout(box)
        unfinished_row.addWidget(self.unfinished, 1)
        unfinished_row.addWidget(self.continue_button)
        unfinished_row.addWidget(self.discard_button)
        return box

    def _build_progress(self) -> None:
        """The progress bar and the lines that report the run."""
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(0)
        self.status_label = QLabel("")
        self.status_label.setObjectName("fineTuneStatus")
        self.status_label.setWordWrap(True)
        self.figures_label = QLabel("")
        self.figures_label.setObjectName("fineTuneFigures")
        self.figures_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def _build_buttons(self) -> QHBoxLayout:
        """Use the New Model on the left; Start, Stop and Save, and Close on the right."""
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop and Save")
        self.stop_button.setToolTip("Stop after the current step; the run can be continued later")
        self.stop_button.clicked.connect(self.stop)
        self.use_button = QPushButton("Use the New Model")
        self.use_button.clicked.connect(self._use_model)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.use_button)
        buttons.addStretch(1)
        for button in (self.start_button, self.stop_button, self.close_button):
            buttons.addWidget(button)
        return buttons

    # --- what to train ---------------------------------------------------------------------------------

    def folder_paths(self) -> list[str]:
        return [self.folders.item(i).text() for i in range(self.folders.count())]

    def add_folder(self) -> None:
        existing = self.folder_paths()
        start = str(Path(existing[-1]).parent) if existing else os.path.expanduser("~")
        folder = self.prompts.training_folder(self, start)
        if folder and folder not in existing:
            self.folders.addItem(folder)
        self._update_buttons()

    def remove_folder(self) -> None:
        for item in self.folders.selectedItems():
            self.folders.takeItem(self.folders.row(item))
        self._update_buttons()

    def plan(self) -> FineTunePlan:
        if self.model is None:
            raise InklingError("no model is loaded: load the model to start from first")
        unit = self.budget_unit.currentData()
        return FineTunePlan(
            name=self.name_edit.text(), data=self.folder_paths(),
            base_model=str(resolve_model_path(self.model.name)), base_name=display_name(self.model.name),
            minutes=float(self.budget.value()) if unit == "minutes" else None,
            steps=self.budget.value() if unit == "steps" else None)

    # --- running ---------------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.runner.is_running()

    def start(self) -> None:
        if self.is_running():
            return
        try:
            run = start_run(self.plan(), self.data_dir)
        except (InklingError, OSError) as exc:
            self._show_problem(str(exc))
            return
        self._launch(run, resume=False)

    def continue_selected(self) -> None:
        run = self.unfinished.currentData()
        if run is None or self.is_running():
            return
        self._launch(run, resume=True)

    def discard_selected(self) -> None:
        run = self.unfinished.currentData()
        if run is None or self.is_running():
            return
        if self.prompts.confirm_discard_run(self, run.describe()):
            discard_run(run)
            self.refresh_unfinished()

    def stop(self) -> None:
        if not self.is_running():
            return
        self._stopping = True
        self.runner.cancel()
        self.status_label.setText("Stopping after this step and saving a checkpoint…")
        self._update_buttons()

    def refresh_unfinished(self) -> None:
        self.unfinished.clear()
        for run in unfinished_runs(self.data_dir):
            self.unfinished.addItem(run.describe(), run)
        self.unfinished_box.setVisible(self.unfinished.count() > 0)
        self._update_buttons()

    def _launch(self, run: FineTuneRun, resume: bool) -> None:
        self.run, self.outcome, self.reports, self._stopping = run, None, [], False
        self.progress.setValue(0)
        self.figures_label.setText("")
        self.status_label.setText(f"Continuing {run.plan.name}…" if resume else f"Preparing {run.plan.name}…")
        self.runner.start(fine_tune_job(run, resume=resume))
        self._update_buttons()

    def _on_progress(self, payload: dict) -> None:
        if "message" in payload:
            if not self._stopping:
                self.status_label.setText(sentence(payload["message"]).rstrip(".") + "…")
            return
        self.reports.append(payload)
        fraction = payload.get("progress") or 0.0
        self.progress.setValue(round(min(1.0, fraction) * PROGRESS_STEPS))
        if not self._stopping:
            total = payload.get("total_steps")
            of = f" of {total:,}" if total else ""
            self.status_label.setText(f"Training: step {payload.get('step', 0):,}{of}")
        parts = [f"{payload.get('tokens_per_s', 0):,.0f} tokens/s",
                 f"about {format_duration(payload.get('eta_s'))} left"]
        change = format_bpb_change(payload.get("validation_bpb_before"), payload.get("validation_bpb"))
        if change:
            parts.append(change)
        self.figures_label.setText(" · ".join(parts))

    def _on_done(self, outcome: FineTuneOutcome | None) -> None:
        self.outcome = outcome
        self._stopping = False
        if outcome is None:  # cancelled before it ran
            if self.run is not None and not self.run.resumable:
                discard_run(self.run)
            self.status_label.setText("Cancelled before training began.")
        elif outcome.finished:
            self.progress.setValue(PROGRESS_STEPS)
            self.status_label.setText(
                f"Done: “{outcome.name}” is now one of your models (Model menu). {outcome.steps:,} steps in "
                f"{format_duration(outcome.elapsed_s)} on {outcome.device}.")
            self.figures_label.setText(format_bpb_change(outcome.validation_bpb_before,
                                                         outcome.validation_bpb_after))
            self.modelCreated.emit(outcome.name)
            assert self.run is not None  # the outcome is of the run _launch started
            try:
                self.name_edit.setText(suggest_name(self.run.plan.base_name, self.data_dir))
            except InklingError:
                pass
        else:
            self.status_label.setText(
                f"Stopped at step {outcome.steps:,} and saved. Continue it any time here, under Unfinished runs.")
            self.figures_label.setText(format_bpb_change(outcome.validation_bpb_before,
                                                         outcome.validation_bpb_after))
        self.refresh_unfinished()
        self._close_if_asked()

    def _on_failed(self, message: str) -> None:
        self._stopping = False
        self._show_problem(message)
        self.refresh_unfinished()
        self._close_if_asked()

    def _show_problem(self, message: str) -> None:
        self.status_label.setText(f"<span style='color:#c0392b'>{_escape(sentence(message))}</span>")
        self._update_buttons()

    def _use_model(self) -> None:
        if self.outcome is not None and self.outcome.finished:
            self.useModelRequested.emit(self.outcome.name)
            self.accept()

    def _update_buttons(self) -> None:
        running = self.is_running()
        for widget in (self.start_button, self.add_folder_button, self.remove_folder_button, self.name_edit,
                       self.budget, self.budget_unit, self.continue_button, self.discard_button, self.unfinished):
            widget.setEnabled(not running)
        self.start_button.setEnabled(not running and self.model is not None and self.folders.count() > 0)
        self.stop_button.setEnabled(running and not self._stopping)
        self.use_button.setVisible(not running and self.outcome is not None and self.outcome.finished)
        self.close_button.setText("Stop and Close" if running else "Close")

    # --- closing (StopJobBeforeClosing) ----------------------------------------------------------------

    def _stop_job_for_closing(self) -> None:
        """A running run is stopped and saved first, never lost."""
        self.stop()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
