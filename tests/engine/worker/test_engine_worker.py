"""EngineWorker: latest suggestion wins, cancellation between tokens, errors as events, model switching, OOM fallback,
jobs. Fake models control the timing exactly; the real tiny model checks the wiring end to end."""

from __future__ import annotations

import importlib.util
import queue
import threading
import time

import pytest
import torch

import engine
import engine.loading.weights_plan
from engine.decoding.results import Completion, StreamEvent
from engine.decoding.settings import DecodingSettings
from engine.errors import CheckpointError
from engine.worker.engine_worker import EngineWorker
from engine.worker.events import (
    EngineError,
    EngineWarning,
    ModelLoaded,
    ModelLoadFailed,
    ModelLoadStarted,
    SuggestionFinished,
    SuggestionToken,
    TaskFinished,
    TaskProgress,
)

# How suggestions and jobs end. A load ends with ModelLoaded or ModelLoadFailed; ModelLoaded alone does not end a
# request, because it also announces the CPU fallback in the middle of a suggestion.
TERMINAL = (SuggestionFinished, EngineError, TaskFinished, ModelLoadFailed)
LOAD_ENDS = (ModelLoaded, ModelLoadFailed)
HAS_GENERATOR = importlib.util.find_spec("engine.decoding.generator") is not None
needs_generator = pytest.mark.skipif(not HAS_GENERATOR, reason="engine/decoding/generator.py does not exist yet")
SETTINGS = DecodingSettings(max_new_tokens=4)


class FakeModel:
    """Stands in for a LanguageModel. With ``gated`` every token after the first waits for ``step.release()``."""

    architecture = "fake"
    parameter_count = 1234
    max_context = 64
    weights = "float32"
    weight_bytes = 4936
    doubt_cut_default = 0.1

    def __init__(self, name="fake", device="cpu", tokens=("a", "b", "c"), *, gated=False, fail_with=None,
                 fail_at_token=0, path=None):
        self.name = name
        self.device = torch.device(device)
        self.tokens = tokens
        self.step = threading.Semaphore(0) if gated else None
        self.fail_with = fail_with
        self.fail_at_token = fail_at_token
        self.path = path
        self.prompts: list[str] = []
        self.suffixes: list[str] = []  # the text after the cursor of each stream
        self.computed: list[tuple[str, str]] = []  # (prompt, token) for every token produced
        self.closed: list[str] = []  # prompts whose stream was closed
        self.cancel_checks: dict[str, object] = {}  # prompt -> the cancelled() callable the worker passed
        self.catch_ups = 0  # idle moments the worker gave the memory
        self.read_aheads: list[str] = []  # texts read ahead

    def catch_up_memory(self):
        self.catch_ups += 1
        return 0

    def read_ahead(self, text, settings, suffix=""):
        self.read_aheads.append(text)
        if text == "fails":
            raise RuntimeError("a read-ahead that fails")
        return 1

    def stream(self, text, settings, cancelled=None, suffix=""):
        self.prompts.append(text)
        self.suffixes.append(suffix)
        self.cancel_checks[text] = cancelled
        return self._events(text, cancelled)

    def open_gate(self):
        gate, self.step = self.step, None
        gate.release()  # wakes the stream that waits now; later tokens no longer wait

    def _events(self, text, cancelled):
        produced = ""
        try:
            for index, token in enumerate(self.tokens):
                if self.fail_with is not None and index == self.fail_at_token:
                    raise self.fail_with
                step = self.step
                if step is not None and index > 0 and not step.acquire(timeout=10):
                    raise TimeoutError("the test never released the next token")
                if index > 0 and cancelled():  # as the generator: between two tokens, then end without `done`
                    return
                produced += token
                self.computed.append((text, token))
                yield StreamEvent(text=f"{self.name}:{produced}", delta=token, token_logprob=-0.5)
            final = Completion(f"{self.name}:{produced}", logprob=-0.5 * len(self.tokens))
            yield StreamEvent(text=final.text, done=True, completions=(final,),
                              stats={"first_token_s": 0.001, "tokens_per_s": 1000.0})
        finally:
            self.closed.append(text)


class FakeLoader:
    def __init__(self, **models):
        self.models = models  # name -> FakeModel or an exception to raise
        self.calls: list[tuple[str, str]] = []

    def __call__(self, name, device):
        self.calls.append((name, device))
        found = self.models.get(f"{name}@{device}", self.models.get(name))
        if found is None:
            raise CheckpointError(name, "no such fake model")
        if isinstance(found, BaseException):
            raise found
        return found


class Recorder:
    """Receives events on the worker thread; the test thread waits for them with timeouts."""

    def __init__(self):
        self.events: list = []
        self._queue: queue.Queue = queue.Queue()

    def __call__(self, event):
        self._queue.put(event)

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"timed out waiting; events so far: {self.events}") from None
            self.events.append(event)
            if predicate(event):
                return event

    def drain(self):
        """Collect what has arrived without waiting (once the worker thread has ended, that is everything)."""
        while not self._queue.empty():
            self.events.append(self._queue.get_nowait())
        return self.events

    def wait_end(self, request_id, timeout=10.0):
        return self.wait_for(lambda e: isinstance(e, TERMINAL) and e.request_id == request_id, timeout)

    def wait_load(self, request_id, timeout=10.0):
        return self.wait_for(lambda e: isinstance(e, LOAD_ENDS) and e.request_id == request_id, timeout)

    def of(self, request_id, kind=object):
        return [e for e in self.events if e.request_id == request_id and isinstance(e, kind)]


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def make_worker(recorder):
    workers = []

    def make(loader, on_event=None):
        worker = EngineWorker(on_event or recorder, loader=loader)
        worker.start()
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.shutdown()


def loaded(worker, recorder, name, device="cpu"):
    request_id = worker.load_model(name, device)
    end = recorder.wait_load(request_id)
    assert isinstance(end, ModelLoaded), end
    return request_id


def test_suggestion_streams_tokens_then_finishes_with_the_final_completions(make_worker, recorder):
    worker = make_worker(FakeLoader(m=FakeModel("m")))
    loaded(worker, recorder, "m")
    request_id = worker.suggest("Hello", SETTINGS)
    end = recorder.wait_end(request_id)

    texts = [e.event.text for e in recorder.of(request_id, SuggestionToken)]
    assert texts == ["m:a", "m:ab", "m:abc", "m:abc"]  # the last is the done event
    assert recorder.of(request_id, SuggestionToken)[-1].event.done
    assert isinstance(end, SuggestionFinished) and not end.cancelled
    assert [c.text for c in end.completions] == ["m:abc"]
    assert (end.first_token_s, end.tokens_per_s) == (0.001, 1000.0)


def test_request_ids_increase_and_every_event_carries_its_own_id(make_worker, recorder):
    worker = make_worker(FakeLoader(m=FakeModel("m")))
    load_id = loaded(worker, recorder, "m")
    suggest_id = worker.suggest("x", SETTINGS)
    recorder.wait_end(suggest_id)
    job_id = worker.submit(lambda lm, ctx: ctx.progress({"step": 1}) or "done")
    recorder.wait_end(job_id)

    assert load_id < suggest_id < job_id
    kinds_by_id = {
        load_id: (ModelLoadStarted, ModelLoaded),
        suggest_id: (SuggestionToken, SuggestionFinished),
        job_id: (TaskProgress, TaskFinished),
    }
    assert {e.request_id for e in recorder.events} == set(kinds_by_id)
    for event in recorder.events:
        assert isinstance(event, kinds_by_id[event.request_id]), event


def test_latest_suggestion_wins_over_running_and_queued_ones(make_worker, recorder):
    model = FakeModel("m", gated=True)
    worker = make_worker(FakeLoader(m=model))
    loaded(worker, recorder, "m")

    first = worker.suggest("first", SETTINGS)
    recorder.wait_for(lambda e: isinstance(e, SuggestionToken) and e.request_id == first)
    # The worker now waits inside the first stream for its second token.
    second = worker.suggest("second", SETTINGS)  # cancels `first`
    third = worker.suggest("third", SETTINGS)  # drops the queued `second`
    model.open_gate()
    recorder.wait_end(third)

    finished = [e for e in recorder.events if isinstance(e, SuggestionFinished)]
    assert [(e.request_id, e.cancelled) for e in finished] == [(first, True), (second, True), (third, False)]
    assert len(recorder.of(first, SuggestionToken)) == 1  # nothing of `first` after it was superseded
    assert recorder.of(second, SuggestionToken) == []
    assert model.prompts == ["first", "third"]  # the dropped request never reached the model
    assert "first" in model.closed
    first_token_of_third = recorder.events.index(recorder.of(third, SuggestionToken)[0])
    assert all(e.request_id == third for e in recorder.events[first_token_of_third:])


def test_cancel_stops_the_stream_within_one_token_and_closes_it(make_worker, recorder):
    model = FakeModel("m", tokens=tuple("abcdefgh"), gated=True)
    worker = make_worker(FakeLoader(m=model))
    loaded(worker, recorder, "m")

    request_id = worker.suggest("text", SETTINGS)
    recorder.wait_for(lambda e: isinstance(e, SuggestionToken))
    worker.cancel()  # no id: the current suggestion
    model.step.release()  # the token being computed when the cancel came
    end = recorder.wait_end(request_id)

    assert isinstance(end, SuggestionFinished) and end.cancelled and end.completions == ()
    assert len(recorder.of(request_id, SuggestionToken)) == 1
    assert len(model.computed) <= 2
    assert model.closed == ["text"]


def test_the_generator_itself_can_poll_the_cancel_flag(make_worker, recorder):
    """Beam search emits events only when its best text changes, so the worker hands the generator a flag to poll
    between tokens instead of relying on the gaps between events alone."""
    model = FakeModel("m", gated=True)
    worker = make_worker(FakeLoader(m=model))
    loaded(worker, recorder, "m")

    first = worker.suggest("first", SETTINGS)
    recorder.wait_for(lambda e: isinstance(e, SuggestionToken) and e.request_id == first)
    check = model.cancel_checks["first"]
    assert callable(check) and check() is False
    second = worker.suggest("second", SETTINGS)
    assert check() is True  # set at once by the newer request, before the generator's next token
    model.open_gate()
    recorder.wait_end(second)
    assert model.cancel_checks["second"]() is False


def test_cancel_from_inside_on_event_stops_before_the_next_token(make_worker, recorder):
    model = FakeModel("m", tokens=tuple("abcdefgh"))
    holder = {}

    def on_event(event):
        recorder(event)
        if isinstance(event, SuggestionToken):
            holder["worker"].cancel(event.request_id)

    worker = holder["worker"] = make_worker(FakeLoader(m=model), on_event=on_event)
    loaded(worker, recorder, "m")
    request_id = worker.suggest("text", SETTINGS)
    end = recorder.wait_end(request_id)

    assert end.cancelled
    assert len(model.computed) == 1  # the flag is checked before asking for another token


def test_cancelling_an_unknown_or_finished_request_does_nothing(make_worker, recorder):
    worker = make_worker(FakeLoader(m=FakeModel("m")))
    load_id = loaded(worker, recorder, "m")
    worker.cancel(load_id)
    worker.cancel(9999)
    request_id = worker.suggest("x", SETTINGS)
    assert recorder.wait_end(request_id).cancelled is False


def test_error_in_decoding_becomes_an_event_and_the_worker_keeps_serving(make_worker, recorder):
    broken = FakeModel("broken", fail_with=ValueError("the prompt is too odd"))
    worker = make_worker(FakeLoader(broken=broken, good=FakeModel("good")))
    loaded(worker, recorder, "broken")
    failing = worker.suggest("x", SETTINGS)
    end = recorder.wait_end(failing)
    assert isinstance(end, EngineError)
    assert "the prompt is too odd" in end.message

    loaded(worker, recorder, "good")
    working = worker.suggest("x", SETTINGS)
    assert recorder.wait_end(working).completions[0].text == "good:abc"
    assert worker.is_running


def test_suggesting_before_any_model_is_loaded_is_an_error_event(make_worker, recorder):
    worker = make_worker(FakeLoader())
    end = recorder.wait_end(worker.suggest("x", SETTINGS))
    assert isinstance(end, EngineError) and "no model" in end.message


def test_an_exception_in_on_event_does_not_stop_the_worker(make_worker, recorder):
    raised = []

    def on_event(event):
        if isinstance(event, SuggestionToken) and not raised:
            raised.append(event)
            raise RuntimeError("the receiver is broken")
        recorder(event)

    worker = make_worker(FakeLoader(m=FakeModel("m")), on_event=on_event)
    loaded(worker, recorder, "m")
    first = worker.suggest("x", SETTINGS)
    assert not recorder.wait_end(first).cancelled
    second = worker.suggest("y", SETTINGS)
    assert recorder.wait_end(second).completions[0].text == "m:abc"
    assert raised


def test_failed_load_keeps_the_previous_model(make_worker, recorder):
    worker = make_worker(FakeLoader(good=FakeModel("good")))
    loaded(worker, recorder, "good")
    before = worker.model_info

    failed_id = worker.load_model("missing", "cpu")
    end = recorder.wait_load(failed_id)
    assert isinstance(end, ModelLoadFailed)
    assert end.name == "missing" and "no such fake model" in end.message
    assert recorder.of(failed_id, ModelLoadStarted)[0].name == "missing"
    assert worker.model_info == before

    request_id = worker.suggest("x", SETTINGS)
    assert recorder.wait_end(request_id).completions[0].text == "good:abc"


def test_switching_models_on_the_worker(make_worker, recorder):
    first = FakeModel("first")
    second = FakeModel("second", tokens=("z",))
    worker = make_worker(FakeLoader(first=first, second=second))
    assert worker.model_info is None
    loaded(worker, recorder, "first")
    assert worker.model_info.name == "first"

    switch_id = worker.load_model("second", "cpu")
    request_id = worker.suggest("x", SETTINGS)  # queued behind the switch: must use the new model
    end = recorder.wait_end(request_id)

    announced = recorder.of(switch_id, ModelLoaded)[0].model
    assert (announced.name, announced.device, announced.architecture, announced.parameters,
            announced.max_context) == ("second", "cpu", "fake", 1234, 64)
    assert end.completions[0].text == "second:z"
    assert first.prompts == [] and second.prompts == ["x"]
    info = worker.model_info
    assert (info.name, info.device, info.parameters) == ("second", "cpu", 1234)


def test_gpu_out_of_memory_reloads_on_cpu_warns_and_retries(make_worker, recorder):
    gpu = FakeModel("m", device="cuda", path="/models/m",
                    fail_with=torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    cpu = FakeModel("m", device="cpu")
    loader = FakeLoader(**{"m@cuda": gpu, "/models/m@cpu": cpu})
    worker = make_worker(loader)
    loaded(worker, recorder, "m", device="cuda")
    assert worker.model_info.device == "cuda"

    request_id = worker.suggest("x", SETTINGS)
    end = recorder.wait_end(request_id)

    assert isinstance(end, SuggestionFinished) and not end.cancelled
    assert end.completions[0].text == "m:abc"
    kinds = [type(e) for e in recorder.of(request_id)]
    assert kinds[:2] == [EngineWarning, ModelLoaded]
    assert "out of memory" in recorder.of(request_id, EngineWarning)[0].message
    assert recorder.of(request_id, ModelLoaded)[0].model.device == "cpu"
    assert loader.calls[-1] == ("/models/m", "cpu")
    assert worker.model_info.device == "cpu" and worker.model_info.name == "m"
    assert cpu.prompts == ["x"]


def test_out_of_memory_after_streaming_started_asks_for_a_redraw_on_retry(make_worker, recorder):
    gpu = FakeModel("m", device="cuda", fail_with=RuntimeError("CUDA error: out of memory"), fail_at_token=1)
    worker = make_worker(FakeLoader(**{"m@cuda": gpu, "m@cpu": FakeModel("m")}))
    loaded(worker, recorder, "m", device="cuda")
    request_id = worker.suggest("x", SETTINGS)
    recorder.wait_end(request_id)

    tokens = [e.event for e in recorder.of(request_id, SuggestionToken)]
    assert tokens[0].text == "m:a" and not tokens[0].replaces  # from the GPU attempt
    assert tokens[1].text == "m:a" and tokens[1].replaces  # the CPU retry starts over
    assert not tokens[2].replaces


def test_out_of_memory_on_the_cpu_is_an_error_without_retry(make_worker, recorder):
    loader = FakeLoader(m=FakeModel("m", fail_with=RuntimeError("DefaultCPUAllocator: out of memory")))
    worker = make_worker(loader)
    loaded(worker, recorder, "m")
    end = recorder.wait_end(worker.suggest("x", SETTINGS))
    assert isinstance(end, EngineError) and "out of memory" in end.message
    assert len(loader.calls) == 1


def test_failed_cpu_fallback_keeps_the_gpu_model(make_worker, recorder):
    gpu = FakeModel("m", device="cuda", fail_with=torch.cuda.OutOfMemoryError("CUDA out of memory"))
    worker = make_worker(FakeLoader(**{"m@cuda": gpu, "m@cpu": MemoryError("no RAM either")}))
    loaded(worker, recorder, "m", device="cuda")
    end = recorder.wait_end(worker.suggest("x", SETTINGS))
    assert isinstance(end, EngineError) and "no RAM either" in end.message
    assert worker.model_info.device == "cuda"


def test_jobs_report_progress_and_their_result(make_worker, recorder):
    model = FakeModel("m")
    worker = make_worker(FakeLoader(m=model))
    loaded(worker, recorder, "m")
    seen_threads = []

    def job(lm, ctx):
        seen_threads.append(threading.current_thread().name)
        for step in range(3):
            ctx.progress({"step": step, "of": 3})
        return lm.name

    job_id = worker.submit(job)
    end = recorder.wait_end(job_id)
    assert isinstance(end, TaskFinished) and end.result == "m" and not end.cancelled
    assert [e.payload for e in recorder.of(job_id, TaskProgress)] == [{"step": s, "of": 3} for s in range(3)]
    assert seen_threads == ["inkling-engine"]


class LoopingJob:
    """A job that works step by step until cancelled, reporting each step and whether it saw the cancel."""

    def __init__(self, result: str) -> None:
        self.result = result
        self.started = threading.Event()
        self.steps = [0]

    def __call__(self, lm, ctx):
        self.started.set()
        while not ctx.cancelled():
            self.steps[0] += 1
            ctx.progress({"step": self.steps[0], "cancelled": ctx.cancelled()})
            time.sleep(0.001)  # a step of real work
        return self.result


def test_long_job_is_cancelled_by_id_and_suggestions_wait_behind_it(make_worker, recorder):
    worker = make_worker(FakeLoader(m=FakeModel("m")))
    loaded(worker, recorder, "m")
    job = LoopingJob("stopped early")
    started, steps = job.started, job.steps

    job_id = worker.submit(job)
    assert started.wait(10)
    suggestion = worker.suggest("x", SETTINGS)
    worker.cancel()  # no id: suggestions only, never the job
    after_cancel = steps[0] + 1  # this step may have begun before the cancel; the next one did not
    later = recorder.wait_for(lambda e: isinstance(e, TaskProgress) and e.payload["step"] > after_cancel)
    assert later.payload["cancelled"] is False
    suggestion2 = worker.suggest("y", SETTINGS)
    worker.cancel(job_id)
    end = recorder.wait_end(job_id)
    assert isinstance(end, TaskFinished) and end.cancelled and end.result == "stopped early"
    assert recorder.wait_end(suggestion).cancelled
    assert recorder.wait_end(suggestion2).completions[0].text == "m:abc"
    assert recorder.events.index(end) < recorder.events.index(recorder.of(suggestion2, SuggestionToken)[0])


def test_background_work_yields_to_a_suggestion_and_other_jobs_do_not(make_worker, recorder):
    worker = make_worker(FakeLoader(m=FakeModel("m")))
    loaded(worker, recorder, "m")
    job = LoopingJob("stopped")
    started, steps = job.started, job.steps

    background = worker.submit(job, yields_to_suggestions=True)
    assert started.wait(10)
    queued = worker.submit(lambda lm, ctx: "never", yields_to_suggestions=True)
    suggestion = worker.suggest("x", SETTINGS)
    assert recorder.wait_end(background).cancelled
    assert recorder.wait_end(queued).cancelled  # queued background work does not run ahead of it either
    assert recorder.wait_end(suggestion).completions[0].text == "m:abc"

    started.clear()
    foreground = worker.submit(job)  # e.g. an evaluation the writer asked for
    assert started.wait(10)
    worker.suggest("y", SETTINGS)
    after = steps[0] + 1  # this step may have begun before the suggestion; the next one did not
    later = recorder.wait_for(lambda e: isinstance(e, TaskProgress) and e.request_id == foreground
                              and e.payload["step"] > after)
    assert later.payload["cancelled"] is False
    worker.cancel(foreground)
    assert recorder.wait_end(foreground).cancelled


def test_a_job_cancelled_while_queued_never_runs(make_worker, recorder):
    worker = make_worker(FakeLoader(m=FakeModel("m")))
    loaded(worker, recorder, "m")
    release = threading.Event()
    blocker = worker.submit(lambda lm, ctx: release.wait(10))
    ran = []
    queued = worker.submit(lambda lm, ctx: ran.append(True))
    worker.cancel(queued)
    release.set()
    recorder.wait_end(blocker)
    end = recorder.wait_end(queued)
    assert end.cancelled and ran == []


def test_a_failing_job_becomes_an_error_event(make_worker, recorder):
    worker = make_worker(FakeLoader(m=FakeModel("m")))
    loaded(worker, recorder, "m")

    def job(lm, ctx):
        raise KeyError("missing column")

    end = recorder.wait_end(worker.submit(job))
    assert isinstance(end, EngineError) and "KeyError" in end.message and "missing column" in end.message
    assert not isinstance(recorder.wait_end(worker.submit(lambda lm, ctx: 1)), EngineError)


def test_shutdown_cancels_the_running_job_and_joins_the_thread(recorder):
    worker = EngineWorker(recorder, loader=FakeLoader(m=FakeModel("m")))
    worker.start()
    loaded(worker, recorder, "m")
    started = threading.Event()
    saw_cancel = threading.Event()

    def job(lm, ctx):
        started.set()
        while not ctx.cancelled():
            time.sleep(0.001)
        saw_cancel.set()

    worker.submit(job)
    queued = worker.suggest("queued behind the job", SETTINGS)
    assert started.wait(10)
    worker.shutdown(timeout=10)

    assert not worker.is_running
    assert saw_cancel.is_set()
    late = worker.suggest("after shutdown", SETTINGS)
    events = recorder.drain()
    assert not [e for e in events if e.request_id in (queued, late)]  # dropped, not served
    with pytest.raises(RuntimeError, match="shut down"):
        worker.start()


def test_requests_made_before_start_are_served_after_it(recorder):
    worker = EngineWorker(recorder, loader=FakeLoader(m=FakeModel("m")))
    load_id = worker.load_model("m", "cpu")
    request_id = worker.suggest("x", SETTINGS)
    worker.start()
    try:
        assert isinstance(recorder.wait_load(load_id), ModelLoaded)
        assert recorder.wait_end(request_id).completions[0].text == "m:abc"
    finally:
        worker.shutdown()


def test_after_a_suggestion_the_idle_worker_lets_the_memory_catch_up(make_worker, recorder):
    model = FakeModel("m")
    worker = make_worker(FakeLoader(m=model))
    loaded(worker, recorder, "m")
    recorder.wait_end(worker.suggest("Hello", SETTINGS))
    recorder.wait_end(worker.suggest("Hello there", SETTINGS))  # the first one's catch-up ran before this began
    assert model.catch_ups >= 1


def test_a_model_with_slow_memory_reads_waits_for_the_writer_to_pause_before_reading(make_worker, recorder):
    model = FakeModel("m")
    model.catch_up_idle_s = 0.5  # as a large model on a CPU says (Generator.catch_up_idle_s)
    read = threading.Event()
    count_read = model.catch_up_memory
    model.catch_up_memory = lambda: (count_read(), read.set())[0]
    worker = make_worker(FakeLoader(m=model))
    loaded(worker, recorder, "m")
    recorder.wait_end(worker.suggest("Hello", SETTINGS))
    recorder.wait_end(worker.suggest("Hello there", SETTINGS))  # within the pause: no read in front of it
    assert model.catch_ups == 0
    assert read.wait(10)  # the writer pauses: the read happens
    assert model.catch_ups == 1


# --- with the real tiny model -----------------------------------------------------------------------------


@needs_generator
def test_the_worker_fills_the_continuous_cache_between_suggestions(make_worker, recorder, tiny_gpt2, monkeypatch):
    from engine.memory import CacheWeights, MixtureWeights
    from engine.memory.hidden_cache import SIMILARITY_EDGES
    from tests.support.samples import SAMPLE_TEXT

    tiny_gpt2.memory.weights = MixtureWeights.zeros().with_cache(CacheWeights.by_similarity(tuple(0.5 for _ in SIMILARITY_EDGES)))
    readers: list[threading.Thread] = []
    update_states = tiny_gpt2.memory.update_states

    def recording_update_states(*args, **kwargs):
        readers.append(threading.current_thread())
        return update_states(*args, **kwargs)

    monkeypatch.setattr(tiny_gpt2.memory, "update_states", recording_update_states)
    worker = make_worker(lambda name, device: tiny_gpt2)
    loaded(worker, recorder, "tiny")
    settings = DecodingSettings(max_new_tokens=2)
    recorder.wait_end(worker.suggest(SAMPLE_TEXT, settings))
    recorder.wait_end(worker.suggest(SAMPLE_TEXT + " The", settings))
    assert len(tiny_gpt2.memory.states) > 0  # read between the two requests
    assert readers and {thread.name for thread in readers} == {"inkling-engine"}  # on the worker thread
    assert threading.current_thread() not in readers




def test_loads_a_real_model_folder_and_reports_it(make_worker, recorder, tiny_gpt2_folder):
    worker = make_worker(None)  # the default loader: engine.load
    load_id = worker.load_model(str(tiny_gpt2_folder), "cpu")
    end = recorder.wait_load(load_id)
    assert isinstance(end, ModelLoaded)
    assert end.model.device == "cpu" and end.model.max_context == 128 and end.model.parameters > 0
    assert end.model.architecture

    missing = worker.load_model(str(tiny_gpt2_folder / "nope"), "cpu")
    failed = recorder.wait_load(missing)
    assert isinstance(failed, ModelLoadFailed) and "no model named" in failed.message
    assert worker.model_info.max_context == 128


def test_a_model_too_big_for_free_memory_is_refused_and_the_previous_one_stays(make_worker, recorder,
                                                                              tiny_gpt2_folder, monkeypatch):
    worker = make_worker(None)
    assert isinstance(recorder.wait_load(worker.load_model(str(tiny_gpt2_folder), "cpu")), ModelLoaded)
    monkeypatch.setattr(engine.loading.weights_plan, "available_memory_bytes", lambda: 10_000)
    failed = recorder.wait_load(worker.load_model(str(tiny_gpt2_folder), "cpu"))
    assert isinstance(failed, ModelLoadFailed)
    assert "needs about" in failed.message and "10 kB" in failed.message and "free" in failed.message
    assert worker.model_info.max_context == 128


@needs_generator
def test_real_model_suggestion_matches_complete(make_worker, recorder, tiny_gpt2_folder, tiny_gpt2):
    worker = make_worker(None)
    loaded(worker, recorder, str(tiny_gpt2_folder))
    settings = DecodingSettings(max_new_tokens=6, token_healing=False)
    end = recorder.wait_end(worker.suggest("The quick brown", settings))
    expected = tiny_gpt2.complete("The quick brown", settings)
    assert isinstance(end, SuggestionFinished) and not end.cancelled
    assert end.completions[0].text == expected[0].text
    tokens = recorder.of(end.request_id, SuggestionToken)
    assert tokens and tokens[-1].event.text == expected[0].text


@needs_generator
def test_real_model_latest_suggestion_wins(make_worker, recorder, tiny_gpt2_folder):
    streaming, go_on = threading.Event(), threading.Event()

    def on_event(event):
        recorder(event)
        if isinstance(event, SuggestionToken) and not streaming.is_set():
            streaming.set()  # the first request is mid-stream: hold it there while nine more arrive
            go_on.wait(10)

    worker = make_worker(None, on_event=on_event)
    loaded(worker, recorder, str(tiny_gpt2_folder))
    settings = DecodingSettings(max_new_tokens=32)
    prompt = "The quick brown fox"
    ids = [worker.suggest(prompt[:5], settings)]
    assert streaming.wait(10)
    ids += [worker.suggest(prompt[: n + 5], settings) for n in range(1, 10)]
    go_on.set()
    ends = [recorder.wait_end(request_id) for request_id in ids]
    assert all(isinstance(end, SuggestionFinished) for end in ends)
    assert not ends[-1].cancelled and ends[-1].completions
    # Every superseded request was cancelled: the running one stopped at its next token, the queued ones never ran.
    assert all(end.cancelled and not end.completions for end in ends[:-1])
    assert len(recorder.of(ids[0], SuggestionToken)) == 1
    assert all(recorder.of(request_id, SuggestionToken) == [] for request_id in ids[1:-1])
    finished_order = [e.request_id for e in recorder.events if isinstance(e, SuggestionFinished)]
    assert finished_order == ids


@needs_generator
def test_real_model_cancel_within_one_token(make_worker, recorder, tiny_gpt2_folder):
    holder = {}

    def on_event(event):
        recorder(event)
        if isinstance(event, SuggestionToken):
            holder["worker"].cancel()

    worker = holder["worker"] = make_worker(None, on_event=on_event)
    loaded(worker, recorder, str(tiny_gpt2_folder))
    end = recorder.wait_end(worker.suggest("The dog", DecodingSettings(max_new_tokens=64)))
    assert end.cancelled
    assert len(recorder.of(end.request_id, SuggestionToken)) == 1


def test_the_real_loader_warms_the_model_up_before_it_is_announced(tiny_gpt2_folder, monkeypatch):
    """The first suggestion after start-up must not pay for first-call set-up: the engine thread does it while
    the window opens, and leaves no cached state behind."""
    from engine.language_model import LanguageModel
    from engine.worker import engine_worker as worker_module

    warmed = []
    original = LanguageModel.warm_up

    def recording(self):
        original(self)
        warmed.append(self.generator.prompt_cache)

    monkeypatch.setattr(LanguageModel, "warm_up", recording)
    lm = worker_module._default_loader(str(tiny_gpt2_folder), "cpu")
    assert warmed and lm.generator.prompt_cache is warmed[0]
    lm.complete("The dog", engine.DecodingSettings(max_new_tokens=2))
    assert lm.generator.last_prefill["reused_tokens"] == 0  # warm-up state was forgotten, nothing stale reused


def test_the_text_after_the_cursor_reaches_the_model_as_a_plain_argument(make_worker, recorder):
    model = FakeModel("m")
    worker = make_worker(FakeLoader(m=model))
    loaded(worker, recorder, "m")
    recorder.wait_end(worker.suggest("before", SETTINGS, suffix=" after"))
    recorder.wait_end(worker.suggest("at the end", SETTINGS))
    assert model.suffixes == [" after", ""]


def test_read_aheads_run_silently_and_a_newer_one_or_a_suggestion_drops_a_queued_one(make_worker, recorder):
    model = FakeModel("m")
    worker = make_worker(FakeLoader(m=model))
    loaded(worker, recorder, "m")
    release = threading.Event()
    blocker = worker.submit(lambda lm, ctx: release.wait(10))
    worker.read_ahead("The", SETTINGS)  # superseded by the next word's read-ahead while queued
    worker.read_ahead("The cat", SETTINGS)  # superseded by the suggestion while queued
    suggestion = worker.suggest("The cat sat", SETTINGS)
    last = worker.read_ahead("The cat sat on", SETTINGS, "suffix")
    failing = worker.read_ahead("fails", SETTINGS)  # drops the one before too
    release.set()
    recorder.wait_end(blocker)
    recorder.wait_end(suggestion)
    done = worker.submit(lambda lm, ctx: "after")
    recorder.wait_end(done)
    assert model.read_aheads == ["fails"]
    assert recorder.of(last) == [] and recorder.of(failing) == []  # no events, even for a failure
    again = worker.read_ahead("The cat sat on the", SETTINGS)
    recorder.wait_end(worker.submit(lambda lm, ctx: "after"))
    assert model.read_aheads == ["fails", "The cat sat on the"] and recorder.of(again) == []
