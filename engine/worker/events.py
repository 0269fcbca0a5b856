"""What the engine worker reports: one frozen dataclass per kind of event, each tagged with its request id.

Every request ends with exactly one terminal event, so a receiver can forget a request once it sees it:

- ``load_model``: ``ModelLoaded`` or ``ModelLoadFailed`` (after ``ModelLoadStarted``)
- ``suggest``: ``SuggestionFinished`` (``cancelled=True`` when superseded or cancelled) or ``EngineError``
- ``submit``: ``TaskFinished`` or ``EngineError`` (after any number of ``TaskProgress``)

``EngineWarning`` never ends a request: the request goes on (e.g. on the CPU after the GPU ran out of memory; then a
``ModelLoaded`` with the suggestion's id announces the model's new device, and the suggestion still ends with
``SuggestionFinished`` or ``EngineError``).
Request ids increase monotonically, so a receiver can drop every event older than the request it waits for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.decoding.results import Completion, StreamEvent
from engine.decoding.settings import DEFAULT_MIN_WORD_PROBABILITY


@dataclass(frozen=True)
class WorkerEvent:
    request_id: int


@dataclass(frozen=True)
class ModelLoadStarted(WorkerEvent):
    name: str
    device: str  # as requested, e.g. "auto"


@dataclass(frozen=True)
class ModelSnapshot:
    """A copy of what describes the worker's current model, safe to read from any thread."""

    name: str
    device: str  # where it actually lives, e.g. "cpu" or "cuda:0"
    architecture: str
    parameters: int
    max_context: int | None
    weights: str  # how they are held for decoding: "float32", "bfloat16", "int8", ...
    weight_bytes: int  # what they take in memory
    # What a min_word_probability of None means with this model (``LanguageModel.doubt_cut_default``).
    doubt_cut_default: float = DEFAULT_MIN_WORD_PROBABILITY


@dataclass(frozen=True)
class ModelLoaded(WorkerEvent):
    """``model`` is now the worker's model. Also sent when the worker moved it to the CPU after running out of
    GPU memory; then ``request_id`` is the suggestion that ran out."""

    model: ModelSnapshot


@dataclass(frozen=True)
class ModelLoadFailed(WorkerEvent):
    """The load failed; the previous model (if any) stays loaded and usable."""

    name: str
    message: str


@dataclass(frozen=True)
class SuggestionToken(WorkerEvent):
    """One streamed step; ``event.text`` is the whole continuation so far, ``event.replaces`` asks for a redraw."""

    event: StreamEvent


@dataclass(frozen=True)
class SuggestionFinished(WorkerEvent):
    completions: tuple[Completion, ...]
    first_token_s: float | None
    tokens_per_s: float | None
    cancelled: bool


@dataclass(frozen=True)
class EngineWarning(WorkerEvent):
    message: str


@dataclass(frozen=True)
class EngineError(WorkerEvent):
    """The request failed; the worker thread keeps running and serves the next request."""

    message: str


@dataclass(frozen=True)
class TaskProgress(WorkerEvent):
    payload: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TaskFinished(WorkerEvent):
    result: object = None
    cancelled: bool = False  # cancelled while queued (never ran), or cancelled before the job returned
