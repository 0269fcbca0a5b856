"""``ThreadJobRunner``: a long job that needs no model (a download), on a thread of its own.

Jobs on the engine thread (``JobRunner``) hold up suggestions until they end, and need a loaded model; a download
needs neither, so it gets its own daemon thread and the editor keeps suggesting meanwhile. The signals match
``JobRunner``'s, so a dialog can use either. The job thread only emits private signals; they arrive queued on this
object, in the GUI thread, which keeps the state and re-emits them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from engine.errors import InklingError
from engine.worker.engine_worker import JobContext, describe_error

logger = logging.getLogger(__name__)

ThreadJob = Callable[[JobContext], object]


class ThreadJobRunner(QObject):
    progressed = Signal(dict)  # the job's progress payload
    finished = Signal(object)  # the job's return value (it ran to its end)
    cancelled = Signal(object)  # the job's return value, once a cancelled job has stopped
    failed = Signal(str)  # why the job failed, for the user

    _reported_from_job = Signal(int, dict)
    _ended_in_job = Signal(int, object)
    _failed_in_job = Signal(int, str)

    def __init__(self, parent: QObject | None = None, thread_name: str = "inkling-job") -> None:
        super().__init__(parent)
        self.thread_name = thread_name
        self._run_id = 0  # which run the job thread's signals belong to; a finished run's late ones are dropped
        self._running = False
        self._cancel_event = threading.Event()
        self._reported_from_job.connect(self._on_progress)
        self._ended_in_job.connect(self._on_ended)
        self._failed_in_job.connect(self._on_failed)

    def is_running(self) -> bool:
        return self._running

    def cancel_requested(self) -> bool:
        return self._running and self._cancel_event.is_set()

    def start(self, job: ThreadJob) -> None:
        if self._running:
            raise RuntimeError("a job is already running")
        self._run_id += 1
        self._running = True
        self._cancel_event = threading.Event()
        run_id = self._run_id
        context = JobContext(self._cancel_event, lambda payload: self._reported_from_job.emit(run_id, payload))
        threading.Thread(target=self._run, args=(job, context, run_id), name=self.thread_name, daemon=True).start()

    def cancel(self) -> None:
        """Ask the job to stop at its next check; ``cancelled`` follows once it has."""
        if self._running:
            self._cancel_event.set()

    def _run(self, job: ThreadJob, context: JobContext, run_id: int) -> None:  # on the job's thread
        try:
            result = job(context)
        except Exception as exc:  # reported to the user; the app goes on
            if not isinstance(exc, InklingError):
                logger.warning("a background job failed", exc_info=True)
            self._failed_in_job.emit(run_id, describe_error(exc))
            return
        self._ended_in_job.emit(run_id, result)

    def _on_progress(self, run_id: int, payload: dict) -> None:
        if run_id == self._run_id and self._running:
            self.progressed.emit(payload)

    def _on_ended(self, run_id: int, result: object) -> None:
        if run_id != self._run_id:
            return
        self._running = False
        if self._cancel_event.is_set():
            self.cancelled.emit(result)
        else:
            self.finished.emit(result)

    def _on_failed(self, run_id: int, message: str) -> None:
        if run_id != self._run_id:
            return
        self._running = False
        self.failed.emit(message)
