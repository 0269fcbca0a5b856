"""``JobRunner``: one long job on the engine thread (fine-tuning, an evaluation), seen from a dialog.

It submits the job through the bridge, keeps its request id, and turns the bridge's events for that id — and only
that id — into four signals. A dialog never touches the model; the job never touches a widget.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from engine.worker.events import EngineError, TaskFinished, TaskProgress
from gui.engine_bridge import EngineBridge


class JobRunner(QObject):
    progressed = Signal(dict)  # the job's progress payload
    finished = Signal(object)  # the job's return value (it ran to its end)
    cancelled = Signal(object)  # the job's return value, or None when it never ran
    failed = Signal(str)  # why the job failed, for the user

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.request_id: int | None = None
        self._cancel_asked = False
        bridge.taskProgress.connect(self._on_progress)
        bridge.taskFinished.connect(self._on_finished)
        bridge.engineError.connect(self._on_error)

    def is_running(self) -> bool:
        return self.request_id is not None

    def cancel_requested(self) -> bool:
        return self.is_running() and self._cancel_asked

    def start(self, job: Callable) -> int:
        if self.is_running():
            raise RuntimeError("a job is already running")
        self._cancel_asked = False
        self.request_id = self.bridge.submit(job)
        return self.request_id

    def cancel(self) -> None:
        """Ask the job to stop at its next check; ``cancelled`` follows once it has."""
        if self.request_id is not None:
            self._cancel_asked = True
            self.bridge.cancel(self.request_id)

    def _on_progress(self, event: TaskProgress) -> None:
        if event.request_id == self.request_id:
            self.progressed.emit(event.payload)

    def _on_finished(self, event: TaskFinished) -> None:
        if event.request_id != self.request_id:
            return
        self.request_id = None
        if event.cancelled or self._cancel_asked:
            self.cancelled.emit(event.result)
        else:
            self.finished.emit(event.result)

    def _on_error(self, event: EngineError) -> None:
        if event.request_id != self.request_id:
            return
        self.request_id = None
        self.failed.emit(event.message)
