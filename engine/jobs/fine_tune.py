"""Learn from my writing: fine-tune the current model on the user's own folders, as a job on the engine thread.

A run lives in its own folder, ``<user data>/fine-tuning/<name>/``: ``run.json`` says what to train (the folders,
the model it starts from, for how long) and ``<name>/`` is the trainer's output folder with its resume state
(``training_state.json`` + ``.safetensors``). The run folder stays until the run has finished, so a cancelled run, or one cut short by
closing the app or a crash, can be continued from its last checkpoint. A finished model then moves into the user
models folder (``engine.loading.registry.user_models_dir()``) under its name, without the optimizer state, and the Model
menu lists it. Unfinished runs never show up as models.

Training runs on the device of the current model (the GPU when the user's model is on one), through
``engine.training.trainer.train``; cancelling stops after the current step and saves a checkpoint.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from engine.errors import InklingError
from engine.loading.registry import bundled_models_dir, user_models_dir
from engine.owned_files import write_owned_text
from engine.training.trainer import TRAINING_RECORD, TrainSettings, train
from engine.training.training_state import STATE_FILES, has_training_state, state_path
from engine.user_data import user_data_dir

if TYPE_CHECKING:
    from engine.language_model import LanguageModel
    from engine.worker.engine_worker import JobContext

RUNS_FOLDER = "fine-tuning"
RUN_FILE = "run.json"
COMMAND = "Inkling ▸ Model ▸ Learn from my writing…"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,79}$")
# A fine-tune starts from a trained model: a gentler peak rate than training from scratch (1e-3), a short warm-up.
FINE_TUNE_LEARNING_RATE = 2e-4
FINE_TUNE_WARMUP_STEPS = 20
# Checkpoints often enough that closing the app or a crash loses little; each save writes the model and optimizer.
SAVE_EVERY_MINUTES = 2.0
# Longest wait at interpreter exit for a stopping run to write its checkpoint (a big model on a slow disk).
EXIT_WAIT_S = 120.0


class FineTuneError(InklingError):
    """A fine-tuning run cannot start or go on; the message says what to change."""


@dataclass
class FineTunePlan:
    name: str  # the new model's name in the user models folder
    data: list[str]  # the user's folders (and files)
    base_model: str  # folder of the model it starts from
    base_name: str = ""  # how the user knows that model, for the model card
    minutes: float | None = None
    steps: int | None = None
    learning_rate: float = FINE_TUNE_LEARNING_RATE
    batch_size: int | None = None  # None: chosen for the device when the run starts
    block_size: int | None = None
    eval_every: int = 50
    eval_batches: int = 4
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FineTunePlan:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class FineTuneRun:
    folder: Path
    plan: FineTunePlan

    @property
    def model_dir(self) -> Path:
        return self.folder / self.plan.name

    @property
    def state_file(self) -> Path:
        return state_path(self.model_dir)

    @property
    def resumable(self) -> bool:
        return has_training_state(self.model_dir)

    def record(self) -> dict:
        """What the last checkpoint says (steps, validation bits/byte), or {} before the first one."""
        try:
            return json.loads((self.model_dir / TRAINING_RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def describe(self) -> str:
        record = self.record()
        budget = f"{self.plan.minutes:g} min" if self.plan.minutes else f"{self.plan.steps} steps"
        done = f"stopped at step {record['steps']}" if "steps" in record else "not started"
        return f"{self.plan.name} (from {self.plan.base_name or Path(self.plan.base_model).name}, {budget}, {done})"


@dataclass(frozen=True)
class FineTuneOutcome:
    name: str
    finished: bool  # False: stopped early (cancelled); the run can be continued
    steps: int
    tokens_seen: int
    validation_bpb_before: float
    validation_bpb_after: float
    elapsed_s: float
    device: str
    model_path: Path | None  # the new user model, once finished
    run_folder: Path | None  # the run to continue, while unfinished


def runs_dir(data_dir: str | os.PathLike | None = None) -> Path:
    return (Path(data_dir) if data_dir is not None else user_data_dir()) / RUNS_FOLDER


def check_name(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """``name`` stripped, or ``FineTuneError`` saying why it cannot name a new model."""
    name = name.strip()
    if not _NAME.match(name) or name.endswith((".", " ")):
        raise FineTuneError(f"“{name}” cannot name a model: use letters, digits, spaces, '.', '-' or '_' "
                            "(at most 80, starting with a letter or digit)")
    if (bundled_models_dir() / name).exists():
        raise FineTuneError(f"“{name}” is the name of a bundled model: choose another name")
    if (user_models_dir() / name).exists():
        raise FineTuneError(f"you already have a model named “{name}”: choose another name")
    if has_training_state(runs_dir(data_dir) / name / name):
        raise FineTuneError(f"an unfinished run is named “{name}”: continue it, discard it, or choose another name")
    return name


def suggest_name(base_name: str, data_dir: str | os.PathLike | None = None) -> str:
    """A free name for the user's fine-tune of ``base_name``, e.g. "default-my-style", "default-my-style-2"."""
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "-", Path(base_name).name).strip("-. ") or "model"
    stem = f"{stem[:60]}-my-style"
    for counter in range(1, 1000):
        candidate = stem if counter == 1 else f"{stem}-{counter}"
        try:
            return check_name(candidate, data_dir)
        except FineTuneError:
            continue
    raise FineTuneError("no free name found: choose one")


def start_run(plan: FineTunePlan, data_dir: str | os.PathLike | None = None) -> FineTuneRun:
    """Check the plan and create its run folder; the job then trains into it."""
    plan.name = check_name(plan.name, data_dir)
    if not plan.data:
        raise FineTuneError("choose at least one folder of your writing")
    missing = [p for p in plan.data if not Path(p).exists()]
    if missing:
        raise FineTuneError(f"no such folder: {', '.join(missing)}")
    if not plan.steps and not plan.minutes:
        raise FineTuneError("give a training time or a number of steps")
    if not Path(plan.base_model).is_dir():
        raise FineTuneError(f"the model to start from is not a folder: {plan.base_model}")
    folder = runs_dir(data_dir) / plan.name
    shutil.rmtree(folder, ignore_errors=True)  # a start that never reached its first checkpoint
    folder.mkdir(parents=True)
    _write_json(folder / RUN_FILE, plan.to_dict())
    return FineTuneRun(folder, plan)


def unfinished_runs(data_dir: str | os.PathLike | None = None) -> list[FineTuneRun]:
    """Runs with a checkpoint to continue from, newest first. Unreadable run folders are left out."""
    root = runs_dir(data_dir)
    runs = []
    if root.is_dir():
        for folder in root.iterdir():
            try:
                plan = FineTunePlan.from_dict(json.loads((folder / RUN_FILE).read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                continue
            run = FineTuneRun(folder, plan)
            if run.resumable:
                runs.append(run)
    return sorted(runs, key=lambda r: r.state_file.stat().st_mtime, reverse=True)


def discard_run(run: FineTuneRun) -> None:
    shutil.rmtree(run.folder, ignore_errors=True)


def fine_tune_job(run: FineTuneRun, resume: bool = False):
    """The job for ``EngineWorker.submit``: train ``run`` (or continue it), publish it when finished.

    Progress payloads are the trainer's reports (step, tokens_per_s, eta_s, progress, validation_bpb,
    validation_bpb_before, ...) and ``{"message": ...}`` lines for each phase (reading, tokenizing, measuring).
    """

    def job(lm: LanguageModel, ctx: JobContext) -> FineTuneOutcome:
        if resume and not run.resumable:
            raise FineTuneError(f"{run.plan.name} has no checkpoint to continue from")
        device = lm.device
        on_gpu = device.type == "cuda"
        settings = TrainSettings(
            data=list(run.plan.data), out=str(run.model_dir), init=run.plan.base_model,
            steps=run.plan.steps, minutes=run.plan.minutes,
            batch_size=run.plan.batch_size or (16 if on_gpu else 8),
            block_size=run.plan.block_size or (None if on_gpu else 256),
            learning_rate=run.plan.learning_rate, warmup_steps=FINE_TUNE_WARMUP_STEPS,
            eval_every=run.plan.eval_every, eval_batches=run.plan.eval_batches,
            save_every_minutes=SAVE_EVERY_MINUTES, seed=run.plan.seed, device=str(device), resume=resume,
            command=COMMAND, extra_card={"Fine-tuned in the app from": run.plan.base_name or run.plan.base_model},
        )
        try:
            with _finish_before_exit(EXIT_WAIT_S):
                result = train(settings, progress=ctx.progress, should_stop=ctx.cancelled,
                               log=lambda line: ctx.progress({"message": line}))
        except BaseException:
            if not run.resumable:  # nothing to continue from: do not leave an empty run behind
                discard_run(run)
            raise
        finally:
            if on_gpu:  # the trainer's model and optimizer are garbage now; give their memory back
                gc.collect()
                torch.cuda.empty_cache()
        model_path = publish(run) if result.finished else None
        return FineTuneOutcome(
            name=model_path.name if model_path else run.plan.name, finished=result.finished, steps=result.steps,
            tokens_seen=result.tokens_seen, validation_bpb_before=result.validation_bpb_before,
            validation_bpb_after=result.validation_bpb_after, elapsed_s=result.elapsed_s, device=str(device),
            model_path=model_path, run_folder=None if result.finished else run.folder)

    return job


@contextlib.contextmanager
def _finish_before_exit(wait_s: float):
    """Python's exit waits (up to ``wait_s``) for this block to end, then briefly for the engine thread to wind down.

    The engine thread is a daemon and the app's shutdown only asks the training to stop and waits a few seconds;
    without this, the interpreter could end the thread halfway through the final checkpoint (the run would resume
    from an older one, or not at all), or while it is still freeing tensors (which aborts the process).
    """
    done = threading.Event()
    thread = threading.current_thread()

    def wait() -> None:
        if done.wait(wait_s) and thread is not threading.main_thread():
            thread.join(_THREAD_END_WAIT_S)

    previous = _exit_waits.pop(thread, None)  # one wait per engine thread, whatever the number of runs
    if previous is not None:
        atexit.unregister(previous)
    _exit_waits[thread] = wait
    atexit.register(wait)
    try:
        yield
    finally:
        done.set()  # the wait stays registered: the thread still has to return from the job and tidy up


_exit_waits: dict[threading.Thread, Callable[[], None]] = {}
_THREAD_END_WAIT_S = 10.0


def publish(run: FineTuneRun) -> Path:
    """Move the finished model into the user models folder (a free name), drop its resume state and the run."""
    root = user_models_dir()
    root.mkdir(parents=True, exist_ok=True)
    name = run.plan.name
    counter = 2
    while (root / name).exists():  # taken since the run started
        name = f"{run.plan.name}-{counter}"
        counter += 1
    # A hidden name while it moves (possibly a copy across disks): the model list skips hidden folders.
    staging = root / f".{name}.moving"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.move(str(run.model_dir), str(staging))
    for state_file in STATE_FILES:  # the optimizer state is twice the model; only resuming needs it
        (staging / state_file).unlink(missing_ok=True)
    os.replace(staging, root / name)
    discard_run(run)
    return root / name


def _write_json(path: Path, data: dict) -> None:
    write_owned_text(path, json.dumps(data, indent=2) + "\n")
