"""``EngineWorker``: one daemon thread that owns the language model and serves requests from any thread.

Callers never touch the model; they queue requests and get events back through ``on_event``, which is called
ON THE WORKER THREAD (a GUI forwards them to its own thread, e.g. with a queued Qt signal). Each request gets an
id that increases monotonically; every event carries the id of the request it belongs to, and every request ends
with exactly one terminal event (see ``engine.worker.events``).

Scheduling policy:

- Requests run one at a time, in the order they were made.
- Latest suggestion wins: ``suggest()`` cancels the running suggestion (it stops between two tokens, the stream
  is closed) and every queued older suggestion (dropped without touching the model, reported as
  ``SuggestionFinished(cancelled=True)``).
- Model loads are never cancelled; a failed load keeps the previous model.
- Jobs (``submit``) are not pre-empted by suggestions: a suggestion made while a job runs waits behind it. A job
  that may run long must poll ``ctx.cancelled()`` and return early; the caller cancels it with
  ``cancel(job_id)`` when it wants the engine back, e.g. when the user starts typing. ``cancel()`` with no id
  only cancels suggestions, never jobs.
- Read-aheads (``read_ahead``) prepare the model for a suggestion likely to follow (the prompt read while the
  writer types): a newer one or a suggestion drops a queued one, and they emit no events (a failure only costs
  the next suggestion its head start).
- Errors end the request with ``EngineError`` (or ``ModelLoadFailed``); an exception in a job, in decoding or
  in ``on_event`` itself never stops the thread.
- GPU out of memory during a suggestion: the model is reloaded on the CPU (``EngineWarning``, then
  ``ModelLoaded`` with device "cpu") and the same request runs again there.
- After ``shutdown()`` queued requests are dropped without events and new ones are ignored.
"""

from __future__ import annotations

import collections
import gc
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from engine.decoding.results import StreamEvent
from engine.decoding.settings import DecodingSettings
from engine.errors import InklingError
from engine.loading.devices import is_out_of_memory
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

if TYPE_CHECKING:
    from engine.language_model import LanguageModel

__all__ = ["EngineWorker", "JobContext", "ModelSnapshot"]

logger = logging.getLogger(__name__)

ModelLoader = Callable[[str, str], "LanguageModel"]
Job = Callable[["LanguageModel", "JobContext"], object]


class JobContext:
    """Handed to a job: ``cancelled()`` to poll between steps, ``progress(payload)`` to report (on the job's
    own thread; the payload is copied into a ``TaskProgress`` event)."""

    def __init__(self, cancel_event: threading.Event, report: Callable[[dict], None]) -> None:
        self._cancel_event = cancel_event
        self._report = report

    def cancelled(self) -> bool:
        return self._cancel_event.is_set()

    def progress(self, payload: dict) -> None:
        self._report(dict(payload))


class _Request:
    kind = ""

    def __init__(self, request_id: int) -> None:
        self.request_id = request_id
        self.cancel_event = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


class _LoadRequest(_Request):
    kind = "load"

    def __init__(self, request_id: int, name: str, device: str) -> None:
        super().__init__(request_id)
        self.name = name
        self.device = device


class _SuggestRequest(_Request):
    kind = "suggest"

    def __init__(self, request_id: int, text: str, settings: DecodingSettings, suffix: str = "") -> None:
        super().__init__(request_id)
        self.text = text
        self.settings = settings
        self.suffix = suffix
        self.tokens_sent = 0  # events already delivered, so a retry on the CPU knows to ask for a redraw


class _ReadAheadRequest(_Request):
    kind = "read_ahead"

    def __init__(self, request_id: int, text: str, settings: DecodingSettings, suffix: str) -> None:
        super().__init__(request_id)
        self.text = text
        self.settings = settings
        self.suffix = suffix


class _JobRequest(_Request):
    kind = "job"

    def __init__(self, request_id: int, job: Job, yields: bool = False) -> None:
        super().__init__(request_id)
        self.job = job
        self.yields = yields  # cancelled by a suggestion request: background work the writer must not wait for


@dataclass(frozen=True)
class _StreamOutcome:
    cancelled: bool
    final_event: StreamEvent | None  # the ``done`` event; None when cancelled or the stream ended without one
    first_token_s: float | None


def describe_error(exc: BaseException) -> str:
    """A one-line message for the user; engine errors already read well, others get their type name."""
    if isinstance(exc, InklingError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _default_loader(name_or_path: str, device: str) -> LanguageModel:
    from engine.language_model import load

    lm = load(name_or_path, device=device)
    lm.warm_up()  # here, while the window opens, rather than on the user's first pause
    return lm


class EngineWorker:
    def __init__(self, on_event: Callable[[WorkerEvent], None], *, loader: ModelLoader | None = None) -> None:
        """``loader(name_or_path, device)`` returns a LanguageModel; it defaults to ``engine.load``."""
        self._on_event = on_event
        self._loader = loader or _default_loader
        self._condition = threading.Condition()
        self._queue: collections.deque[_Request] = collections.deque()
        self._live: dict[int, _Request] = {}  # queued or running, by id
        self._ids = itertools.count(1)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._snapshot: ModelSnapshot | None = None
        # Touched only on the worker thread:
        self._lm: LanguageModel | None = None
        self._model_name = ""

    # --- any thread ----------------------------------------------------------------------------------------

    @property
    def model_info(self) -> ModelSnapshot | None:
        with self._condition:
            return self._snapshot

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._condition:
            if self._stopping:
                raise RuntimeError("this EngineWorker was shut down; create a new one")
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._serve, name="inkling-engine", daemon=True)
            self._thread.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel what runs, drop what is queued, and wait up to ``timeout`` seconds for the thread to end.

        A job that ignores ``ctx.cancelled()`` may outlive the timeout; the thread is a daemon, so it cannot
        keep the process alive."""
        with self._condition:
            self._stopping = True
            for request in self._live.values():
                request.cancel_event.set()
            self._queue.clear()
            self._condition.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def load_model(self, name_or_path: str, device: str = "auto") -> int:
        return self._enqueue(lambda request_id: _LoadRequest(request_id, str(name_or_path), str(device)))

    def suggest(self, text: str, settings: DecodingSettings, suffix: str = "") -> int:
        """Ask for a continuation of ``text``; cancels the running suggestion and drops queued older ones.
        ``suffix`` is the text after the cursor: the continuation stops where it would repeat its start."""
        return self._enqueue(lambda request_id: _SuggestRequest(request_id, text, settings, suffix), supersede=True)

    def read_ahead(self, text: str, settings: DecodingSettings, suffix: str = "") -> int:
        """Read the prompt of a ``suggest(text, settings, suffix)`` that may follow, so it starts choosing at once."""
        return self._enqueue(lambda request_id: _ReadAheadRequest(request_id, text, settings, suffix), supersede=True)

    def cancel(self, request_id: int | None = None) -> None:
        """Cancel one request by id (a suggestion or a job; loads cannot be cancelled), or with no id the
        current suggestion, running or queued. Cancelling a finished or unknown request does nothing."""
        with self._condition:
            if request_id is None:
                targets = [r for r in self._live.values() if r.kind == "suggest"]
            else:
                found = self._live.get(request_id)
                targets = [found] if found is not None and found.kind != "load" else []
            for request in targets:
                request.cancel_event.set()

    def submit(self, job: Job, yields_to_suggestions: bool = False) -> int:
        """Run ``job(lm, ctx)`` on the engine thread; its return value comes back in ``TaskFinished.result``.

        ``yields_to_suggestions``: background work (coverage calibration) that a suggestion request cancels,
        running or queued, so the suggestion never waits behind it; the job sees ``ctx.cancelled()`` and the
        caller hands it out again (``TaskFinished.cancelled``)."""
        return self._enqueue(lambda request_id: _JobRequest(request_id, job, yields_to_suggestions))

    def _enqueue(self, make: Callable[[int], _Request], supersede: bool = False) -> int:
        with self._condition:
            request = make(next(self._ids))
            if self._stopping:
                logger.debug("request %d ignored: the worker is shut down", request.request_id)
                return request.request_id
            if supersede:
                for older in self._live.values():
                    if older.kind in (request.kind, "read_ahead") or (
                            request.kind == "suggest" and isinstance(older, _JobRequest) and older.yields):
                        older.cancel_event.set()
            self._live[request.request_id] = request
            self._queue.append(request)
            self._condition.notify()
            return request.request_id

    # --- the worker thread ---------------------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            while True:
                with self._condition:
                    while not self._queue and not self._stopping:
                        self._condition.wait()
                    if self._stopping:
                        return
                    request = self._queue.popleft()
                try:
                    self._handle(request)
                except BaseException as exc:  # nothing a request does may end the thread
                    if not isinstance(exc, InklingError):
                        logger.exception("engine request %d failed", request.request_id)
                    self._emit(EngineError(request.request_id, describe_error(exc)))
                finally:
                    with self._condition:
                        self._live.pop(request.request_id, None)
        finally:
            self._lm = None  # the model goes with the thread

    def _handle(self, request: _Request) -> None:
        if isinstance(request, _LoadRequest):
            self._run_load(request)
        elif isinstance(request, _SuggestRequest):
            self._run_suggestion(request)
        elif isinstance(request, _JobRequest):
            self._run_job(request)
        elif isinstance(request, _ReadAheadRequest):
            self._run_read_ahead(request)

    def _emit(self, event: WorkerEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # a faulty receiver must not stop the engine
            logger.exception("on_event raised while handling %s; the worker goes on", type(event).__name__)

    def _install(self, lm: LanguageModel, name: str) -> ModelSnapshot:
        previous = self._lm
        self._lm, self._model_name = lm, name
        snapshot = ModelSnapshot(name, str(lm.device), lm.architecture, int(lm.parameter_count), lm.max_context,
                                 lm.weights, lm.weight_bytes, lm.doubt_cut_default)
        with self._condition:
            self._snapshot = snapshot
        if previous is not None and previous is not lm:
            on_accelerator = previous.device.type != "cpu"
            del previous
            if on_accelerator:  # a CPU model is freed by reference counting; GPU memory also needs the cache emptied
                _release_accelerator_memory()
        return snapshot

    def _run_load(self, request: _LoadRequest) -> None:
        self._emit(ModelLoadStarted(request.request_id, request.name, request.device))
        try:
            lm = self._loader(request.name, request.device)
        except Exception as exc:  # reported; the previous model stays
            if not isinstance(exc, InklingError):
                logger.warning("loading %r failed", request.name, exc_info=True)
            self._emit(ModelLoadFailed(request.request_id, request.name, describe_error(exc)))
            return
        self._emit(ModelLoaded(request.request_id, self._install(lm, request.name)))

    def _run_job(self, request: _JobRequest) -> None:
        if request.cancelled:
            self._emit(TaskFinished(request.request_id, None, cancelled=True))
            return
        lm = self._require_model(request)
        if lm is None:
            return
        context = JobContext(request.cancel_event,
                             lambda payload: self._emit(TaskProgress(request.request_id, payload)))
        result = request.job(lm, context)
        self._emit(TaskFinished(request.request_id, result, cancelled=request.cancelled))

    def _run_read_ahead(self, request: _ReadAheadRequest) -> None:
        if request.cancelled or self._lm is None:
            return
        try:
            self._lm.read_ahead(request.text, request.settings, request.suffix)
        except Exception:  # only the next suggestion's head start is lost; it reads the prompt itself
            logger.debug("read-ahead %d failed", request.request_id, exc_info=True)

    def _require_model(self, request: _Request) -> LanguageModel | None:
        if self._lm is None:
            self._emit(EngineError(request.request_id, "no model is loaded yet; load one first"))
        return self._lm

    @property
    def _loaded(self) -> LanguageModel:
        """The model, where ``_require_model`` has made sure there is one (no local reference is kept: on a GPU
        out of memory the old model must be freeable)."""
        assert self._lm is not None, "no model loaded"
        return self._lm

    def _run_suggestion(self, request: _SuggestRequest) -> None:
        if request.cancelled:  # superseded while queued: never touches the model
            self._finish_cancelled(request, None)
            return
        if self._require_model(request) is None:
            return
        try:
            self._finish(request, self._stream(request, redraw_first=False))
            self._catch_up_memory()
            return
        except Exception as exc:
            if not (is_out_of_memory(exc) and self._loaded.device.type != "cpu"):
                raise
            device = str(self._loaded.device)
        # Outside the except block, so the traceback (and the GPU tensors its frames hold) is already gone.
        if not self._fall_back_to_cpu(request, device):
            return
        if request.cancelled:
            self._finish_cancelled(request, None)
            return
        self._finish(request, self._stream(request, redraw_first=request.tokens_sent > 0))

    def _stream(self, request: _SuggestRequest, redraw_first: bool) -> _StreamOutcome:
        """Forward the model's stream event by event, each tagged with the request id, checking nothing: the
        request's cancel event goes down into the generation, which stops between two tokens (docs/ARCHITECTURE.md,
        "Stale suggestions", says which layer drops what)."""
        started = time.perf_counter()
        first_token_s = None
        stream = self._loaded.stream(request.text, request.settings, cancelled=request.cancel_event.is_set,
                                 suffix=request.suffix)
        try:
            for event in stream:
                if first_token_s is None:
                    first_token_s = time.perf_counter() - started
                if redraw_first and not event.replaces:
                    event = replace(event, replaces=True)  # the GPU attempt already showed some text
                redraw_first = False
                request.tokens_sent += 1
                self._emit(SuggestionToken(request.request_id, event))
                if event.done:
                    return _StreamOutcome(False, event, first_token_s)
            return _StreamOutcome(request.cancelled, None, first_token_s)
        finally:
            stream.close()

    def _catch_up_memory(self) -> None:
        """Between requests, the memory reads one window of the document (the continuous cache's states, the
        probabilities its weights learn from); never while a newer request waits, and a failure there only costs
        the memory. A model whose read takes long (``catch_up_idle_s``) waits that long for the writer to pause
        first: a read already begun would hold up the suggestion for the next pause behind it."""
        idle_s = float(getattr(self._loaded, "catch_up_idle_s", 0.0))
        with self._condition:
            if idle_s > 0:
                self._condition.wait_for(lambda: bool(self._queue) or self._stopping, timeout=idle_s)
            if self._queue or self._stopping:
                return
        try:
            self._loaded.catch_up_memory()
        except Exception:
            logger.warning("reading the document's states for the continuous cache failed", exc_info=True)

    def _finish(self, request: _SuggestRequest, outcome: _StreamOutcome) -> None:
        if outcome.cancelled:
            self._finish_cancelled(request, outcome.first_token_s)
            return
        final = outcome.final_event
        completions = tuple(final.completions) if final is not None else ()
        stats = dict(final.stats or {}) if final is not None else {}
        self._emit(SuggestionFinished(request.request_id, completions,
                                      stats.get("first_token_s", outcome.first_token_s),
                                      stats.get("tokens_per_s"), cancelled=False))

    def _finish_cancelled(self, request: _SuggestRequest, first_token_s: float | None) -> None:
        self._emit(SuggestionFinished(request.request_id, (), first_token_s, None, cancelled=True))

    def _fall_back_to_cpu(self, request: _SuggestRequest, device: str) -> bool:
        lm = self._loaded
        name = self._model_name
        self._emit(EngineWarning(request.request_id,
                                 f"{device} ran out of memory; moving {name!r} to the CPU and retrying there "
                                 "(suggestions will be slower)"))
        source = str(lm.path) if lm.path is not None else name
        del lm
        try:
            cpu_lm = self._loader(source, "cpu")
        except Exception as exc:  # noqa: BLE001 - the GPU model stays; this request fails
            self._emit(EngineError(request.request_id,
                                   f"{device} ran out of memory and loading {name!r} on the CPU failed: "
                                   f"{describe_error(exc)}"))
            return False
        self._emit(ModelLoaded(request.request_id, self._install(cpu_lm, name)))
        return True


def _release_accelerator_memory() -> None:
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
