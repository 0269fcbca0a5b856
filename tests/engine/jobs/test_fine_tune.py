"""Learn from my writing (engine side): a fine-tuning run trains the current model on the user's folders, stops
cleanly when cancelled, continues from its checkpoint, and lands in the user models folder only once finished."""

from __future__ import annotations

import json

import pytest
import torch

import engine
from engine.jobs.fine_tune import (
    RUN_FILE,
    FineTuneError,
    FineTunePlan,
    check_name,
    fine_tune_job,
    start_run,
    suggest_name,
    unfinished_runs,
)
from engine.loading.registry import list_models
from engine.training.corpus import NoTextFound
from engine.training.training_state import STATE_FILES
from tests.support.samples import make_writing_folder


@pytest.fixture(autouse=True)
def _private_folders(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("INKLING_USER_MODELS", str(tmp_path / "user-models"))
    monkeypatch.setenv("INKLING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INKLING_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def writing(tmp_path):
    return make_writing_folder(tmp_path / "my-writing", "letter-{}.txt")


class FakeContext:
    """The worker's JobContext: records reports; ``stop_after_step`` makes ``cancelled()`` true from that step on."""

    def __init__(self, stop_after_step: int | None = None) -> None:
        self.reports: list[dict] = []
        self.stop_after_step = stop_after_step

    def cancelled(self) -> bool:
        steps = [r["step"] for r in self.reports if "step" in r]
        return self.stop_after_step is not None and bool(steps) and steps[-1] >= self.stop_after_step

    def progress(self, payload: dict) -> None:
        self.reports.append(dict(payload))

    def steps(self) -> list[int]:
        return [r["step"] for r in self.reports if "step" in r]


def _plan(folder, writing, **changes) -> FineTunePlan:
    options = {"name": "my-style", "data": [str(writing)], "base_model": str(folder), "base_name": "tiny",
               "steps": 12, "eval_every": 4}
    return FineTunePlan(**{**options, **changes})


def test_a_finished_run_becomes_a_user_model_without_its_resume_state(tiny_gpt2, tiny_gpt2_folder, writing,
                                                                      tmp_path):
    run = start_run(_plan(tiny_gpt2_folder, writing))
    context = FakeContext()
    outcome = fine_tune_job(run)(tiny_gpt2, context)

    assert outcome.finished and outcome.steps == 12 and outcome.device == "cpu"
    assert outcome.model_path == tmp_path / "user-models" / "my-style"
    assert outcome.validation_bpb_after < outcome.validation_bpb_before  # it learned the text
    assert not any((outcome.model_path / name).exists() for name in STATE_FILES)  # only resuming needs them
    assert not run.folder.exists() and unfinished_runs() == []
    assert [m.name for m in list_models() if m.source == "user"] == ["my-style"]
    tuned = engine.load("my-style", device="cpu")
    assert not torch.equal(tuned.model.wte.weight, tiny_gpt2.model.wte.weight)
    record = json.loads((outcome.model_path / "training.json").read_text())
    assert record["init"] == str(tiny_gpt2_folder) and record["steps"] == 12
    # What the dialog shows: phases as messages, then the trainer's reports with both validation figures.
    assert any("message" in r for r in context.reports)
    last = [r for r in context.reports if "step" in r][-1]
    assert last["validation_bpb_before"] == pytest.approx(outcome.validation_bpb_before)
    assert {"tokens_per_s", "eta_s", "progress"} <= set(last)


def test_a_cancelled_run_is_kept_and_continues_where_it_stopped(tiny_gpt2, tiny_gpt2_folder, writing, tmp_path):
    run = start_run(_plan(tiny_gpt2_folder, writing, steps=30))
    stopped = fine_tune_job(run)(tiny_gpt2, FakeContext(stop_after_step=1))

    assert not stopped.finished and stopped.model_path is None and stopped.run_folder == run.folder
    assert 1 <= stopped.steps < 30
    assert run.resumable and not (tmp_path / "user-models" / "my-style").exists()
    listed = unfinished_runs()
    assert [r.plan.name for r in listed] == ["my-style"] and "stopped at step" in listed[0].describe()
    with pytest.raises(FineTuneError, match="unfinished run"):
        check_name("my-style")

    context = FakeContext()
    finished = fine_tune_job(listed[0], resume=True)(tiny_gpt2, context)
    assert finished.finished and finished.steps == 30
    assert context.steps()[0] > stopped.steps  # continued from the checkpoint, not from step 0
    assert context.reports[-1]["validation_bpb_before"] == pytest.approx(stopped.validation_bpb_before)
    assert (tmp_path / "user-models" / "my-style" / "model.safetensors").is_file()
    assert unfinished_runs() == []


def test_a_run_that_cannot_start_leaves_nothing_behind(tiny_gpt2, tiny_gpt2_folder, tmp_path):
    empty = tmp_path / "no-text"
    empty.mkdir()
    (empty / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    run = start_run(_plan(tiny_gpt2_folder, empty))
    with pytest.raises(NoTextFound, match="no text found"):
        fine_tune_job(run)(tiny_gpt2, FakeContext())
    assert not run.folder.exists() and unfinished_runs() == []
    assert start_run(_plan(tiny_gpt2_folder, empty)).folder.is_dir()  # the name is free again


def test_plans_are_checked_before_anything_is_written(tiny_gpt2_folder, writing, tmp_path, tiny_tokenizer):
    from tests.support.tiny_models import make_gpt2_folder

    make_gpt2_folder(tmp_path / "user-models" / "taken", tiny_tokenizer)
    for name, why in (("", "cannot name"), ("../escape", "cannot name"), (".hidden", "cannot name"),
                      ("taken", "already have a model")):
        with pytest.raises(FineTuneError, match=why):
            start_run(_plan(tiny_gpt2_folder, writing, name=name))
    with pytest.raises(FineTuneError, match="no such folder"):
        start_run(_plan(tiny_gpt2_folder, tmp_path / "missing"))
    with pytest.raises(FineTuneError, match="at least one folder"):
        start_run(_plan(tiny_gpt2_folder, writing, data=[]))
    assert not (tmp_path / "data" / "fine-tuning").exists() or not any((tmp_path / "data" / "fine-tuning").iterdir())
    assert suggest_name("taken") == "taken-my-style"
    run = start_run(_plan(tiny_gpt2_folder, writing, name=suggest_name("tiny")))
    assert json.loads((run.folder / RUN_FILE).read_text())["name"] == "tiny-my-style"


@pytest.mark.cuda
def test_a_model_on_the_gpu_is_fine_tuned_on_the_gpu(tiny_gpt2_folder, writing, tmp_path):
    on_gpu = engine.load(str(tiny_gpt2_folder), device="cuda")
    run = start_run(_plan(tiny_gpt2_folder, writing, steps=4))
    outcome = fine_tune_job(run)(on_gpu, FakeContext())
    assert outcome.finished and outcome.device.startswith("cuda")
    assert engine.load("my-style", device="cpu").model is not None


EXIT_SCRIPT = """
import sys, threading
import torch
torch.set_num_threads(1)
from engine.worker.engine_worker import EngineWorker
from engine.worker.events import TaskProgress
from engine.jobs.fine_tune import FineTunePlan, fine_tune_job, start_run

model, writing, data = sys.argv[1:4]
stepped = threading.Event()

def on_event(event):
    if isinstance(event, TaskProgress) and "step" in event.payload:
        stepped.set()

worker = EngineWorker(on_event)
worker.start()
worker.load_model(model, "cpu")
run = start_run(FineTunePlan(name="cut-short", data=[writing], base_model=model, steps=10**6), data)
worker.submit(fine_tune_job(run))
assert stepped.wait(120), "training never started"
worker.shutdown(timeout=0)  # what closing the app does, with no time left to wait for the final checkpoint
"""


@pytest.mark.slow
def test_quitting_mid_run_still_leaves_a_checkpoint_to_continue(tiny_gpt2_folder, writing, tmp_path):
    import os
    import subprocess
    import sys

    data = tmp_path / "data"
    env = {**os.environ, "INKLING_USER_MODELS": str(tmp_path / "user-models"),
           "INKLING_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(tiny_gpt2_folder), str(writing), str(data)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    runs = unfinished_runs(data)
    assert [run.plan.name for run in runs] == ["cut-short"]
    assert runs[0].resumable and runs[0].record()["steps"] >= 1
