"""Model ▸ Get Models…: the catalogue of better models, each downloadable in one click.

A table lists every catalogue entry with its licence, download size, memory needed, the speed to expect and whether
it is installed; entries whose architecture the engine does not compute yet are shown greyed, with the reason.
Download fetches the selected file on a thread of its own (``ThreadJobRunner``; suggestions go on meanwhile), with a
progress bar and Cancel; the job reports bytes and never touches a widget. Once installed, "Use This Model" loads it
at once (it is also in the Model menu, which lists the models folder afresh each time it opens).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.byte_sizes import format_bytes
from engine.errors import InklingError
from engine.loading.catalogue import CatalogueEntry, load_catalogue
from engine.loading.gguf_download import DownloadCancelled, HubFile, download_gguf, fetched_bytes
from engine.loading.registry import user_models_dir
from engine.worker.engine_worker import JobContext
from gui.dialogs.closing import StopJobBeforeClosing
from gui.jobs.thread_job_runner import ThreadJobRunner

PROGRESS_STEPS = 1000
COLUMNS = ("Model", "Download", "Memory", "Speed", "Licence", "Status")


def download_job(entry: CatalogueEntry, folder: Path | None):
    """A job that downloads ``entry`` into ``folder``; returns the installed file as a string, None if cancelled."""

    def job(ctx: JobContext) -> str | None:
        def report(done: int, total: int | None) -> None:
            ctx.progress({"done": done, "total": total})

        remote = HubFile(entry.repo_id, entry.file_name, entry.revision, entry.sha256)
        try:
            return str(download_gguf(remote, folder=folder, progress=report, cancelled=ctx.cancelled))
        except DownloadCancelled:
            return None

    return job


def speed_text(entry: CatalogueEntry) -> str:
    speed = f"~{entry.tokens_per_second:.0f} tokens/s" if entry.tokens_per_second >= 1.5 else (
        f"~{entry.tokens_per_second:.1f} tokens/s")
    return f"{speed} (estimate)" if entry.speed_is_estimate else speed


class GetModelsDialog(StopJobBeforeClosing, QDialog):
    installed = Signal(str)  # the installed file's name: what engine.load and the Model menu know it by
    useModelRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None, entries: list[CatalogueEntry] | None = None,
                 folder: Path | None = None) -> None:
        """``folder``: where models are installed (None: the user models folder, read when it is needed)."""
        super().__init__(parent)
        self.setObjectName("getModelsDialog")
        self.setWindowTitle("Get Models")
        self.folder = folder
        self.runner = ThreadJobRunner(self, thread_name="inkling-model-download")
        self._close_when_stopped = False
        self._downloading: CatalogueEntry | None = None
        try:
            self.entries = entries if entries is not None else load_catalogue()
            problem = None
        except InklingError as exc:
            self.entries, problem = [], str(exc)

        intro = QLabel("Better models for suggestions, downloaded from the Hugging Face Hub into your models "
                       "folder and checked against their published SHA-256. Speeds are for a 2-core CPU.")
        intro.setWordWrap(True)
        self.table = QTableWidget(len(self.entries), len(COLUMNS), self)
        self.table.setObjectName("catalogueTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)  # room for "Not installed (… fetched; …)"
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status_label = QLabel(problem or "Choose a model, then Download.")
        self.status_label.setObjectName("getModelsStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download_button = QPushButton("&Download")
        self.cancel_button = QPushButton("&Cancel Download")
        self.use_button = QPushButton("&Use This Model")
        self.close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        for button in (self.download_button, self.cancel_button, self.use_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)

        self.download_button.clicked.connect(self.start_download)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.use_button.clicked.connect(self._use_selected)
        self.close_button.clicked.connect(self.reject)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.failed.connect(self._on_failed)
        self._fill_table()
        first_available = next((row for row, e in enumerate(self.entries) if e.available), None)
        if first_available is not None:
            self.table.selectRow(first_available)
        self._update_buttons()
        self.resize(820, 420)

    # --- the table ------------------------------------------------------------------------------------------

    def _fill_table(self) -> None:
        for row, entry in enumerate(self.entries):
            cells = (f"{entry.name}  ({entry.parameters}, {entry.architecture})", format_bytes(entry.size_bytes),
                     f"~{format_bytes(entry.memory_bytes)}", speed_text(entry), entry.licence, self._status(entry))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(self._tooltip(entry))
                if not entry.available:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()

    def _status(self, entry: CatalogueEntry) -> str:
        if not entry.available:
            return f"Not yet: needs {entry.architecture}"
        if entry is self._downloading:
            return "Downloading…"
        if entry.is_installed(self.folder):
            return "Installed"
        fetched = fetched_bytes(self.folder or user_models_dir(), entry.file_name)
        return f"Not installed ({format_bytes(fetched)} fetched; Download resumes)" if fetched else "Not installed"

    def _tooltip(self, entry: CatalogueEntry) -> str:
        lines = [entry.description, f"{entry.repo_id} · {entry.file_name}"]
        lines.append(f"SHA-256 {entry.sha256}" if entry.sha256 else "Checked against the Hub's SHA-256")
        if entry.unavailable_reason:
            lines.append(f"Unavailable: {entry.unavailable_reason}.")
        return "\n".join(line for line in lines if line)

    def status_of(self, entry_id: str) -> str:
        row = self._row(entry_id)
        item = self.table.item(row, COLUMNS.index("Status"))
        return item.text() if item is not None else ""

    def _row(self, entry_id: str) -> int:
        return next(row for row, entry in enumerate(self.entries) if entry.id == entry_id)

    def select(self, entry_id: str) -> None:
        self.table.selectRow(self._row(entry_id))

    def selected(self) -> CatalogueEntry | None:
        rows = self.table.selectionModel().selectedRows()
        return self.entries[rows[0].row()] if rows else None

    def _refresh_statuses(self) -> None:
        column = COLUMNS.index("Status")
        for row, entry in enumerate(self.entries):
            item = self.table.item(row, column)
            if item is not None:
                item.setText(self._status(entry))
        self._update_buttons()

    def _update_buttons(self) -> None:
        entry = self.selected()
        running = self.runner.is_running()
        usable = entry is not None and entry.available
        installed = usable and entry is not None and entry.is_installed(self.folder)
        self.download_button.setEnabled(usable and not installed and not running)
        self.cancel_button.setEnabled(running and not self.runner.cancel_requested())
        self.use_button.setEnabled(installed and entry is not self._downloading)

    # --- the download ---------------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.runner.is_running()

    def start_download(self) -> None:
        entry = self.selected()
        if entry is None or not entry.available or self.runner.is_running() or entry.is_installed(self.folder):
            return
        self._downloading = entry
        self.progress.setRange(0, 0)  # busy until the first report says how much there is
        self.progress.setVisible(True)
        self.status_label.setText(f"Downloading {entry.name} ({format_bytes(entry.size_bytes)})…")
        self.runner.start(download_job(entry, self.folder))
        self._refresh_statuses()

    def cancel_download(self) -> None:
        if self.runner.is_running():
            self.runner.cancel()
            self.status_label.setText("Stopping the download… (what was fetched is kept, and resumes next time)")
            self._update_buttons()

    def _stop_job_for_closing(self) -> None:
        self.cancel_download()

    def _on_progress(self, payload: dict) -> None:
        done, total = payload.get("done", 0), payload.get("total")
        if total:
            self.progress.setRange(0, PROGRESS_STEPS)
            self.progress.setValue(round(min(done / total, 1.0) * PROGRESS_STEPS))
        if not self.runner.cancel_requested() and self._downloading is not None:
            amount = f"{format_bytes(done)} of {format_bytes(total)}" if total else format_bytes(done)
            self.status_label.setText(f"Downloading {self._downloading.name}: {amount}")

    def _on_finished(self, path: str | None) -> None:
        entry, self._downloading = self._downloading, None
        self.progress.setVisible(False)
        if path is None or entry is None:
            self._on_stopped("The download was cancelled.")
            return
        self.status_label.setText(f"{entry.name} is installed and checked: use it now, or choose it any time in the "
                                  "Model menu.")
        self._refresh_statuses()
        self.installed.emit(Path(path).name)

    def _on_cancelled(self, _result: object) -> None:
        self._downloading = None
        self.progress.setVisible(False)
        self._on_stopped("The download was cancelled; what was fetched is kept and the next download resumes it.")

    def _on_failed(self, message: str) -> None:
        self._downloading = None
        self.progress.setVisible(False)
        self._on_stopped(f"The download failed: {message}")

    def _on_stopped(self, message: str) -> None:
        self.status_label.setText(message)
        self._refresh_statuses()
        self._close_if_asked()

    def _use_selected(self) -> None:
        entry = self.selected()
        if entry is not None and entry.is_installed(self.folder):
            self.useModelRequested.emit(entry.file_name)
