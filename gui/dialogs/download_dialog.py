"""Model ▸ Download Model…: fetch a Hugging Face repo into the hub cache, with a progress bar.

The download needs no model, so it runs on a thread of its own (``ThreadJobRunner``): suggestions go on meanwhile,
and it works before any model has loaded. Its progress callback reports bytes and the file name, and checks the
cancel flag between chunks, so Cancel stops it at the next chunk.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QProgressBar, QVBoxLayout, QWidget

from engine.byte_sizes import format_bytes
from engine.loading.hub_download import DownloadError, download_model
from gui.dialogs.closing import StopJobBeforeClosing
from gui.jobs.thread_job_runner import ThreadJobRunner

PROGRESS_STEPS = 1000


class _DownloadCancelled(Exception):
    """Raised from the progress callback to stop ``download_model`` between chunks."""


def download_job(repo_id: str):
    """A job that downloads ``repo_id``; returns the snapshot folder as a string, None when cancelled."""

    def job(ctx) -> str | None:
        def report(done: int, total: int | None, file_name: str) -> None:
            if ctx.cancelled():
                raise _DownloadCancelled
            ctx.progress({"done": done, "total": total, "file": file_name})

        try:
            return str(download_model(repo_id, progress=report))
        except DownloadError as exc:
            if isinstance(exc.__cause__, _DownloadCancelled) or ctx.cancelled():
                return None
            raise

    return job


def progress_text(payload: dict) -> str:
    done, total, file_name = payload.get("done", 0), payload.get("total"), payload.get("file", "")
    amount = f"{format_bytes(done)} of {format_bytes(total)}" if total else format_bytes(done)
    return f"{amount} · {file_name}" if file_name else amount


class DownloadDialog(StopJobBeforeClosing, QDialog):
    downloaded = Signal(str)  # the snapshot folder
    failed = Signal(str)  # why, for the user

    def __init__(self, repo_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("downloadDialog")
        self.setWindowTitle("Download Model")
        self.repo_id = repo_id
        self.runner = ThreadJobRunner(self, thread_name="inkling-download")
        self._close_when_stopped = False

        title = QLabel(f"Downloading <b>{repo_id}</b> from the Hugging Face Hub")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy until the first report says how much there is
        self.status_label = QLabel("Asking the Hub which files to fetch…")
        self.status_label.setObjectName("downloadStatus")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)

        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.failed.connect(self._on_failed)
        self.resize(480, 0)

    def start(self) -> None:
        self.runner.start(download_job(self.repo_id))

    def is_running(self) -> bool:
        return self.runner.is_running()

    def _stop_job_for_closing(self) -> None:
        self.runner.cancel()
        self.status_label.setText("Cancelling…")
        self.buttons.setEnabled(False)

    def _on_progress(self, payload: dict) -> None:
        total = payload.get("total")
        if total:
            self.progress.setRange(0, PROGRESS_STEPS)
            self.progress.setValue(round(min(payload.get("done", 0) / total, 1.0) * PROGRESS_STEPS))
        if not self.runner.cancel_requested():
            self.status_label.setText(progress_text(payload))

    def _on_finished(self, folder: str | None) -> None:
        if folder is None:
            self._on_cancelled(None)
            return
        self.downloaded.emit(str(Path(folder)))
        self.accept()

    def _on_cancelled(self, _result: object) -> None:
        self._close_when_stopped = False
        super().reject()

    def _on_failed(self, message: str) -> None:
        self.failed.emit(message)
        super().reject()

