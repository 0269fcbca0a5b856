"""``EngineBridge``: the GUI's handle on the engine thread.

``EngineWorker`` calls back on its own thread; this QObject lives in the GUI thread. The callback only appends the
event to a queue and, when the queue was empty, emits a queued signal; the GUI thread then drains everything that
arrived and re-emits each event as a typed signal. So every slot runs on the GUI thread, no widget is ever touched
from the engine thread, and a burst of fast tokens costs the GUI thread one wake-up (one trip for the GIL), not one
per token.
"""

from __future__ import annotations

import collections
import sys
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from engine.decoding.settings import DecodingSettings
from engine.worker.engine_worker import EngineWorker
from engine.worker.events import (
    EngineError,
    EngineWarning,
    ModelLoaded,
    ModelLoadFailed,
    ModelLoadStarted,
    ModelSnapshot,
    SuggestionFinished,
    SuggestionToken,
    TaskFinished,
    TaskProgress,
    WorkerEvent,
)

GIL_SWITCH_INTERVAL_S = 0.001

WorkerFactory = Callable[[Callable[[WorkerEvent], None]], EngineWorker]


class EngineBridge(QObject):
    modelLoadStarted = Signal(object)  # ModelLoadStarted
    modelLoaded = Signal(object)  # ModelLoaded
    modelLoadFailed = Signal(object)  # ModelLoadFailed
    suggestionToken = Signal(int, object)  # request id, StreamEvent
    suggestionFinished = Signal(object)  # SuggestionFinished
    engineWarning = Signal(str)
    engineError = Signal(object)  # EngineError
    taskProgress = Signal(object)  # TaskProgress
    taskFinished = Signal(object)  # TaskFinished
    busyChanged = Signal(bool)  # a model load is in progress or not
    _arrived = Signal()  # from the engine thread, delivered queued: "the queue has events"

    def __init__(self, worker_factory: WorkerFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._arrived.connect(self._drain, Qt.ConnectionType.QueuedConnection)
        self._queue: collections.deque[WorkerEvent] = collections.deque()
        self._queue_lock = threading.Lock()
        self._worker = (worker_factory or EngineWorker)(self._on_worker_event)
        self._loads_in_flight: set[int] = set()
        self._closed = False
        self._model: ModelSnapshot | None = None

    # --- requests (GUI thread) -------------------------------------------------------------------------

    def start(self) -> None:
        # The engine thread runs Python between tensor operations; a short switch interval lets the GUI thread
        # take the GIL back within a fraction of a millisecond instead of the default 5 ms.
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
        self._worker.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._worker.shutdown(timeout)

    def load_model(self, name_or_path: str, device: str = "auto") -> int:
        request_id = self._worker.load_model(name_or_path, device)
        self._loads_in_flight.add(request_id)
        if len(self._loads_in_flight) == 1:
            self.busyChanged.emit(True)
        return request_id

    def suggest(self, text: str, settings: DecodingSettings, suffix: str) -> int:
        """``suffix``: the text after the cursor, which the continuation must join without repeating it."""
        return self._worker.suggest(text, settings, suffix)

    def read_ahead(self, text: str, settings: DecodingSettings, suffix: str) -> int:
        """Have the engine read the prompt of a suggestion that may follow (see ``EngineWorker.read_ahead``)."""
        return self._worker.read_ahead(text, settings, suffix)

    def cancel(self, request_id: int | None = None) -> None:
        self._worker.cancel(request_id)

    def submit(self, job, yields_to_suggestions: bool = False) -> int:
        return self._worker.submit(job, yields_to_suggestions)

    @property
    def model_info(self) -> ModelSnapshot | None:
        return self._worker.model_info

    @property
    def current_model(self) -> ModelSnapshot | None:
        """The model of the last ``ModelLoaded`` seen on the GUI thread (what the GUI shows), or None."""
        return self._model

    def is_loading(self) -> bool:
        return bool(self._loads_in_flight)

    def is_ready(self) -> bool:
        return self._model is not None

    # --- events ----------------------------------------------------------------------------------------

    def _on_worker_event(self, event: WorkerEvent) -> None:
        """Runs on the engine thread: hand the event over and return at once."""
        if self._closed:
            return
        with self._queue_lock:
            wake = not self._queue
            self._queue.append(event)
        if wake:
            try:
                self._arrived.emit()
            except RuntimeError:  # the bridge was deleted while the engine was still finishing a token
                pass

    def _drain(self) -> None:
        with self._queue_lock:
            batch = list(self._queue)
            self._queue.clear()
        for event in batch:
            self._dispatch(event)

    def _dispatch(self, event: WorkerEvent) -> None:
        if isinstance(event, SuggestionToken):
            self.suggestionToken.emit(event.request_id, event.event)
        elif isinstance(event, SuggestionFinished):
            self.suggestionFinished.emit(event)
        elif isinstance(event, ModelLoaded):
            self._model = event.model
            self._end_load(event.request_id)
            self.modelLoaded.emit(event)
        elif isinstance(event, ModelLoadFailed):
            self._end_load(event.request_id)
            self.modelLoadFailed.emit(event)
        elif isinstance(event, ModelLoadStarted):
            self.modelLoadStarted.emit(event)
        elif isinstance(event, EngineWarning):
            self.engineWarning.emit(event.message)
        elif isinstance(event, EngineError):
            self._end_load(event.request_id)
            self.engineError.emit(event)
        elif isinstance(event, TaskProgress):
            self.taskProgress.emit(event)
        elif isinstance(event, TaskFinished):
            self.taskFinished.emit(event)

    def _end_load(self, request_id: int) -> None:
        if request_id in self._loads_in_flight:
            self._loads_in_flight.discard(request_id)
            if not self._loads_in_flight:
                self.busyChanged.emit(False)
