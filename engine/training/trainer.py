"""The training loop behind ``inkling train``: the recipe's optimizer and schedule (``recipe``), fill-in-the-middle
rows (``fim``), the compiled bfloat16 step (``train_step``), validation in bits/byte, atomic checkpoints with
resume, and DistributedDataParallel (under ``torchrun``)."""

from __future__ import annotations

import datetime
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.decoding.fim import FIM_CONFIG_KEY, fim_rows, fim_token_ids
from engine.errors import InklingError
from engine.loading import checkpoint
from engine.loading.devices import is_out_of_memory, resolve_device
from engine.loading.families import FAMILIES, family_of
from engine.loading.tokenizer import TextTokenizer
from engine.models.base import CausalLanguageModel
from engine.text_files import ScanReport
from engine.training import recipe as recipes
from engine.training.bpe import END_OF_TEXT, train_bpe_tokenizer
from engine.training.corpus import Document, is_validation, read_documents
from engine.training.model_sizes import DEFAULT_ARCH, arch_name, new_model_config
from engine.training.token_data import TokenData, build_token_data, cached_token_data
from engine.training.train_step import TrainStep
from engine.training.training_state import (
    STATE_FILE,
    TrainingStateError,
    has_training_state,
    write_training_state,
)
from engine.training.training_state import read_training_state as read_state_folder

#: Small machine-readable record of how a model folder was trained (data, split, figures); ``inkling eval`` reads it.
TRAINING_RECORD = "training.json"
_TOKENIZER_SAMPLE_CHARS = 40_000_000  # BPE merges settle long before the whole corpus is seen
_WARMUP_SHARE_LIMIT = 0.1  # short runs: warm-up takes at most this share of the steps
_REPORT_EVERY_S = 2.0
_COMPILE_FROM_MINUTES = 10.0
#: Bavarian et al. found FIM free for left-to-right quality up to 90% of the rows; half keeps us well inside that.
DEFAULT_FIM_RATE = 0.5
_COMPILE_FROM_STEPS = 1000
_RECURRENT_BLOCK = 256  # sequence length for models without a context limit  # progress reports at least this often, even when ten steps take longer


@dataclass
class TrainSettings:
    data: list[str]
    out: str
    arch: str = DEFAULT_ARCH  # or an alias of it (model_sizes.ARCH_ALIASES)
    size: str = "small"
    init: str | None = None
    tokenizer: str | None = None  # tokenizer.json (or a model folder holding one) for a new model; None trains one
    steps: int | None = None
    minutes: float | None = None
    batch_size: int = 16
    block_size: int | None = None  # default: the model's context (256 tokens for recurrent models)
    learning_rate: float | None = None  # AdamW's peak rate; None: 1e-2 (modern recipe) or 1e-3 (classic)
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    recipe: str | None = None  # "modern" or "classic" (engine.training.recipe); None: modern for a new qwen3 model
    muon_lr: float = 0.03
    decay_share: float = 0.4  # modern recipe: the rate decays linearly over this last share of the run
    fim_rate: float | None = None  # share of rows in fill-in-the-middle order; None: 0.5 when the tokenizer has FIM
    compile: bool | None = None  # None: torch.compile where it is available
    bf16: bool | None = None  # None: bfloat16 autocast where the hardware has it
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 200
    eval_batches: int = 16
    save_every_minutes: float = 10.0
    vocab_size: int = 8192
    validation_fraction: float = 0.03
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    cache_dir: str | None = None  # default: the user cache folder (INKLING_CACHE_DIR overrides it)
    command: str = ""
    extra_card: dict = field(default_factory=dict)


class TrainingError(InklingError):
    """Training cannot go on; the message says what to change."""


@dataclass
class TrainResult:
    out: Path
    steps: int
    tokens_seen: int
    validation_bpb_before: float
    validation_bpb_after: float
    elapsed_s: float
    history: list[dict] = field(default_factory=list)
    finished: bool = True  # False when should_stop() ended the run before its --steps / --time


def default_cache_dir() -> Path:
    override = os.environ.get("INKLING_CACHE_DIR")
    if override:
        return Path(override) / "token-cache"
    from platformdirs import user_cache_path

    return user_cache_path("inkling", appauthor=False) / "token-cache"


def train(
    settings: TrainSettings,
    progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Run training and leave a complete model folder in ``settings.out``.

    ``progress(dict)`` gets a report every few steps (step, total_steps, loss, lr, tokens_per_s, progress, eta_s,
    validation_bpb, validation_bpb_before); ``should_stop()`` ends the run early but cleanly (checkpoint saved,
    resumable); ``log(str)`` gets one line per phase (reading data, tokenizing, ...). Under ``torchrun`` only rank 0
    reports and saves.
    """
    _check_settings(settings)
    rank, world, owns_group = _distributed_setup()
    say = log if (log is not None and rank == 0) else (lambda message: None)
    try:
        return _train(settings, rank, world, progress if rank == 0 else None, should_stop, say)
    finally:
        if owns_group:
            torch.distributed.destroy_process_group()


def _train(settings: TrainSettings, rank: int, world: int, progress, should_stop, say) -> TrainResult:
    device = _training_device(settings, world)
    torch.manual_seed(settings.seed + rank)
    out = Path(settings.out)
    resume_state = _resume_state(settings, out)
    cache_dir = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    model, tokenizer, data = _model_and_data(settings, out if resume_state else None, cache_dir, rank, world, say)
    run = _Run(settings, rank, world, device, out, model, tokenizer, data, resume_state, say)
    return run.train(progress, should_stop)


def _training_device(settings: TrainSettings, world: int) -> torch.device:
    """The device this process trains on: the one asked for; under torchrun on CUDA, this rank's GPU."""
    device = resolve_device(settings.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def _resume_state(settings: TrainSettings, out: Path) -> dict | None:
    """The saved state of the run to continue (None: a new run), once ``out`` is known to be safe to write."""
    if out.is_dir() and not (out / checkpoint.CONFIG).is_file() and any(out.iterdir()):
        # Saving replaces the whole folder: never do that to a folder of the user's own files.
        raise TrainingError(f"--out {out} is a folder with other files in it: choose a new or empty folder")
    if not settings.resume:
        return None
    if not has_training_state(out):
        raise TrainingError(f"--resume: no {STATE_FILE} in {out}; start without --resume")
    return read_training_state(out)


def _fim_rows(settings: TrainSettings, tokenizer: TextTokenizer, model: nn.Module, resume_state: dict | None
              ) -> tuple[float, tuple[int, int, int] | None]:
    """The share of rows in fill-in-the-middle order and the FIM token ids; a new model on a FIM tokenizer that
    gets no FIM rows is marked so in its config."""
    fim_ids = fim_token_ids(tokenizer)
    fim_rate = settings.fim_rate if settings.fim_rate is not None else (DEFAULT_FIM_RATE if fim_ids and _wants_fim(
        settings) else 0.0)
    if fim_rate > 0 and fim_ids is None:
        raise TrainingError("--fim-rate needs a tokenizer with the fill-in-the-middle tokens "
                            "(<|fim_prefix|>, <|fim_suffix|>, <|fim_middle|>): train a new one (leave out --tokenizer)")
    if fim_ids is not None and fim_rate == 0 and settings.init is None and not resume_state:
        # A new model on a FIM tokenizer without FIM rows: its FIM embeddings stay untrained, so say so in its config
        # and decoding keeps left-to-right prompts (a fine-tuned or resumed model keeps what its config says).
        cast(Any, model).config.extra[FIM_CONFIG_KEY] = False
    return fim_rate, fim_ids


class _Run:
    """One rank's training run: the model with its optimizer and compiled step, and where the run stands (step,
    clock, validation history), from the first measurement to the saved folder."""

    def __init__(self, settings: TrainSettings, rank: int, world: int, device: torch.device, out: Path,
                 model: nn.Module, tokenizer: TextTokenizer, data: TokenData, resume_state: dict | None,
                 say: Callable[[str], None]) -> None:
        self.settings, self.rank, self.world, self.device, self.out = settings, rank, world, device, out
        self.model, self.tokenizer, self.data, self.say = model, tokenizer, data, say
        context = cast(CausalLanguageModel, model).max_context or _RECURRENT_BLOCK  # None: recurrent
        self.block = max(1, min(settings.block_size or context, context, len(data.train.tokens) - 1))
        self.recipe = resolved_recipe(settings)
        self.optimizer, self.stepper = self._build_step()
        self.fim_rate, self.fim_ids = _fim_rows(settings, tokenizer, model, resume_state)
        self.resumed = bool(resume_state)
        self.step, self.elapsed_before = 0, 0.0
        self.history: list[dict] = []
        self.bpb_before = float("nan")
        if resume_state:
            self._resume(resume_state)
        self.first_step = self.step
        self.rng = np.random.default_rng([settings.seed, rank, self.step])
        self.tokens_per_step = settings.batch_size * self.block * world
        self.losses: list[float] = []
        self.bpb_now = self.history[-1]["validation_bpb"] if self.history else self.bpb_before
        self.started = time.monotonic()

    def _build_step(self) -> tuple[torch.optim.Optimizer | recipes.CombinedOptimizer, TrainStep]:
        """The model on its device (wrapped for DDP across ranks), the recipe's optimizer, and the training step."""
        settings, model = self.settings, self.model
        model.to(self.device)
        trainable = model
        if self.world > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            trainable = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        optimizer = recipes.build_optimizer(model, self.recipe, peak_learning_rate(settings), settings.weight_decay,
                                            settings.muon_lr)
        stepper = TrainStep(model, optimizer, self.device, grad_clip=settings.grad_clip,
                            compile=_should_compile(settings), bf16=settings.bf16, log=self.say, trainable=trainable)
        self.say(f"recipe {self.recipe}; {stepper.description}")
        self.use_amp, self.amp_dtype = stepper.amp_dtype is not None, stepper.amp_dtype or torch.float32
        return optimizer, stepper

    def _resume(self, state: dict) -> None:
        """Continue where the saved run stopped: its optimizer, step, clock and history."""
        _restore_optimizer(self.optimizer, state, self.say)
        self.step, self.elapsed_before = state["step"], state["elapsed_s"]
        self.history = state.get("history", [])
        self.bpb_before = state["bpb_before"]
        self.say(f"resuming at step {self.step}")

    def train(self, progress, should_stop) -> TrainResult:
        """Measure, train until the budget is spent or ``should_stop()``, measure again and save."""
        stopped_early = False
        try:
            if self.rank == 0 and not self.resumed:
                self.say("measuring validation bits/byte before training")
                self.bpb_before = self.bpb_now = self.evaluate()
            stopped_early = self._loop(progress, should_stop)
            if self.rank == 0:
                self._validate(with_train_loss=False)
                self.save()
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
            raise TrainingError(_out_of_memory_message(self.settings, self.device, self.out)) from exc
        except KeyboardInterrupt:
            if self.rank == 0 and self.step > self.first_step:
                self.save()
            raise
        if self.world > 1:
            torch.distributed.barrier()
        return TrainResult(self.out, self.step, self.step * self.tokens_per_step, self.bpb_before, self.bpb_now,
                           self.elapsed(), self.history, finished=not stopped_early)

    def _loop(self, progress, should_stop) -> bool:
        """Optimizer steps, with validation, reports and saves on their schedules, until the budget is spent
        (False) or ``should_stop()`` ends the run early (True)."""
        settings = self.settings
        last_save = last_report = time.monotonic()
        while True:
            fraction = _progress(settings, self.step, self.elapsed())
            stop = should_stop is not None and should_stop()
            done = fraction >= 1.0
            if self.world > 1:  # every rank must take the same number of steps, or DDP's all-reduce waits forever
                done, stop = _agree(done, stop, self.device)
            if done or stop:
                return stop and not done
            lr = self._optimizer_step(fraction)
            if self.rank == 0 and self.step % settings.eval_every == 0:
                self._validate(with_train_loss=True)
            if progress is not None and (self.step % 10 == 0 or self.step == self.first_step + 1
                                         or time.monotonic() - last_report > _REPORT_EVERY_S):
                last_report = time.monotonic()
                self._report(progress, lr)
            if self.rank == 0 and time.monotonic() - last_save > settings.save_every_minutes * 60:
                self.save()
                last_save = time.monotonic()

    def _optimizer_step(self, fraction: float) -> float:
        """One step on a fresh batch at the schedule's rate for ``fraction`` of the run; returns that rate."""
        settings = self.settings
        factor = learning_rate_factor(settings, self.step, fraction)
        recipes.set_learning_rates(self.optimizer, factor)
        x, y = _batch(self.data.train.tokens, settings.batch_size, self.block, self.rng, self.device, self.fim_rate,
                      self.fim_ids)
        loss = self.stepper(x, y)
        self.step += 1
        self.losses.append(loss.item())
        if not math.isfinite(self.losses[-1]):
            raise TrainingError(
                f"the loss became {self.losses[-1]} at step {self.step}: lower --lr (now {peak_learning_rate(settings)})"
            )
        return peak_learning_rate(settings) * factor

    def evaluate(self) -> float:
        return _validation_bpb(self.model, self.data, self.block, self.settings.eval_batches, self.device,
                               self.use_amp, self.amp_dtype)

    def _validate(self, with_train_loss: bool) -> None:
        """Measure validation bits/byte now and add it to the history (with the recent training loss)."""
        self.bpb_now = self.evaluate()
        entry: dict = {"step": self.step}
        if with_train_loss:
            entry["train_loss"] = float(np.mean(self.losses[-50:]))
        entry.update(validation_bpb=self.bpb_now, elapsed_s=self.elapsed())
        self.history.append(entry)

    def _report(self, progress: Callable[[dict], None], lr: float) -> None:
        run_s = time.monotonic() - self.started
        elapsed = self.elapsed()
        fraction = _progress(self.settings, self.step, elapsed)
        progress({"step": self.step, "total_steps": self.settings.steps, "loss": float(np.mean(self.losses[-20:])),
                  "lr": lr, "tokens_per_s": (self.step - self.first_step) * self.tokens_per_step / max(run_s, 1e-9),
                  "progress": fraction, "validation_bpb": self.bpb_now, "validation_bpb_before": self.bpb_before,
                  "elapsed_s": elapsed,
                  "eta_s": _eta(elapsed, fraction)})

    def elapsed(self) -> float:
        """Seconds of training so far, the runs this one continues included."""
        return self.elapsed_before + time.monotonic() - self.started

    def save(self) -> None:
        """The model folder with its card, training record and resume state (rank 0 only)."""
        if self.rank != 0:
            return
        settings, model, data = self.settings, self.model, self.data
        elapsed = self.elapsed()
        state = {"optimizer": self.optimizer.state_dict(), "recipe": self.recipe, "step": self.step,
                 "elapsed_s": elapsed, "history": self.history, "bpb_before": self.bpb_before,
                 "settings": asdict(settings)}
        card = _model_card(settings, model, data, self.step, self.tokens_per_step, self.bpb_before, self.bpb_now,
                           elapsed)
        record = _training_record(settings, model, data, self.step, self.tokens_per_step, self.block,
                                  self.bpb_before, self.bpb_now, elapsed)

        def write_extras(folder: Path) -> None:
            write_training_state(folder, state)
            (folder / TRAINING_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

        checkpoint.save_checkpoint(self.out, model, self.tokenizer, model_card=card, extra_writer=write_extras,
                                   generation_config={"max_new_tokens": 16, "do_sample": False})


def read_training_state(folder: Path) -> dict:
    """The resume state of the run in ``folder`` (JSON + safetensors; an old pickle only as plain data), or a
    TrainingError that names the file and says what to do when it cannot be read."""
    try:
        return read_state_folder(folder)
    except TrainingStateError as exc:
        raise TrainingError(f"--resume: {exc}") from exc


def _check_settings(settings: TrainSettings) -> None:
    if not settings.steps and not settings.minutes:
        raise TrainingError("give --steps N or --time MINUTES so training knows when to stop")
    if settings.init and settings.tokenizer:
        raise TrainingError("--init keeps the tokenizer of the model it starts from: give --init or --tokenizer")
    for name, value in (("--batch-size", settings.batch_size), ("--block-size", settings.block_size or 1),
                        ("--steps", settings.steps or 1), ("--vocab-size", settings.vocab_size)):
        if value < 1:
            raise TrainingError(f"{name} must be at least 1, not {value}")
    if settings.minutes is not None and settings.minutes <= 0:
        raise TrainingError(f"--time must be a positive number of minutes, not {settings.minutes}")
    if settings.learning_rate is not None and not settings.learning_rate > 0:
        raise TrainingError(f"--lr must be a positive number, not {settings.learning_rate}")
    if not settings.muon_lr > 0:
        raise TrainingError(f"--muon-lr must be a positive number, not {settings.muon_lr}")
    if settings.recipe is not None and settings.recipe not in recipes.RECIPES:
        raise TrainingError(f"unknown --recipe {settings.recipe!r}; choose from {', '.join(recipes.RECIPES)}")
    if settings.fim_rate is not None and not 0 <= settings.fim_rate <= 1:
        raise TrainingError(f"--fim-rate must be between 0 and 1, not {settings.fim_rate}")
    if not 0 <= settings.decay_share <= 1:
        raise TrainingError(f"--decay-share must be between 0 and 1, not {settings.decay_share}")


def _out_of_memory_message(settings: TrainSettings, device: torch.device, out: Path) -> str:
    memory = "GPU" if device.type == "cuda" else "computer"
    block = f" or --block-size (now {settings.block_size})" if settings.block_size else " or --block-size"
    kept = (f"the last checkpoint in {out} is intact: continue with --resume"
            if has_training_state(out) else "no checkpoint had been saved yet")
    return (f"the {memory} ran out of memory with --batch-size {settings.batch_size}: lower --batch-size{block}, "
            f"or choose a smaller --size; {kept}")


def _model_and_data(settings: TrainSettings, resume_from: Path | None, cache_dir: Path, rank: int, world: int,
                    say) -> tuple[nn.Module, TextTokenizer, TokenData]:
    """The starting model, its tokenizer and the tokenized data.

    Under DDP rank 0 goes first (trains the tokenizer, fills the token cache) and hands the tokenizer to the others,
    so every rank sees the same vocabulary and nobody tokenizes the corpus twice.
    """
    if world > 1 and rank != 0:
        torch.distributed.barrier()
        shared = [None]
        torch.distributed.broadcast_object_list(shared, src=0)
        model, tokenizer, data = _model_and_data_single(settings, resume_from, cache_dir, say, shared[0])
        return model, tokenizer, data
    model, tokenizer, data = _model_and_data_single(settings, resume_from, cache_dir, say, None)
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.broadcast_object_list([tokenizer.backend.to_str()], src=0)
    return model, tokenizer, data


def _model_and_data_single(settings: TrainSettings, resume_from: Path | None, cache_dir: Path, say,
                           tokenizer_json: str | None) -> tuple[nn.Module, TextTokenizer, TokenData]:
    documents, report = None, ScanReport()
    if resume_from is not None or settings.init:
        source = resume_from
        if source is None:
            from engine.loading.registry import (
                resolve_model_path,  # deferred: registry imports the whole engine
            )

            assert settings.init  # not resuming, so the condition above held for the model to start from
            source = resolve_model_path(settings.init)
        say(f"loading {source}")
        loaded = checkpoint.load_checkpoint(source)
        model, tokenizer = loaded.model.float(), loaded.tokenizer
    else:
        if tokenizer_json is not None:
            from tokenizers import Tokenizer

            tokenizer = TextTokenizer(Tokenizer.from_str(tokenizer_json))
        elif settings.tokenizer:
            tokenizer = _given_tokenizer(settings.tokenizer)
        else:
            say(f"reading {', '.join(settings.data)}")
            documents = read_documents(settings.data, report)
            training_docs = [d for d in documents if not is_validation(d, settings.validation_fraction)]
            say(f"training a {settings.vocab_size}-token BPE tokenizer")
            tokenizer = train_bpe_tokenizer(_sample_texts(training_docs or documents), settings.vocab_size,
                                            fim=_wants_fim(settings))
        model = _new_model(settings, tokenizer)
    eot_id = tokenizer.token_id(END_OF_TEXT)
    if eot_id is None:
        config = getattr(model, "config", None)
        eot_id = getattr(config, "eos_token_id", None)
        eot_id = 0 if eot_id is None else eot_id
    data = cached_token_data(settings.data, tokenizer, cache_dir, settings.validation_fraction)
    if data is None:
        say("tokenizing the data (cached for the next run)")
        data = build_token_data(settings.data, tokenizer, cache_dir, eot_id, settings.validation_fraction,
                                documents, report)
    else:
        say("using the cached tokens")
    if data.report.skipped:
        say(f"{data.report.summary()}: " + "; ".join(
            f"{Path(path).name} ({why})" for path, why in list(data.report.skipped.items())[:5])
            + (" ..." if len(data.report.skipped) > 5 else ""))
    if len(data.train.tokens) < 2:
        raise TrainingError("not enough text to train on: give more or longer files")
    return model, tokenizer, data


def _new_model(settings: TrainSettings, tokenizer: TextTokenizer) -> nn.Module:
    try:
        config = new_model_config(settings.arch, settings.size, tokenizer.vocab_size, tokenizer.token_id(END_OF_TEXT))
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    for key in ("n_positions", "max_position_embeddings"):
        if settings.block_size and settings.block_size < config.get(key, settings.block_size):
            # Positions past the training block would stay untrained (learned ones) or unseen (rotary), and
            # decoding, which reads up to the model's context, would meet them on every long document: give the
            # model the context it is trained on.
            config[key] = settings.block_size
    model = FAMILIES[config["model_type"]].build(config)
    if resolved_recipe(settings) == "modern":
        recipes.initialise_modern(model)
    return model


def _given_tokenizer(path: str) -> TextTokenizer:
    """An existing tokenizer for a new model, e.g. to share one between the bundled models (and their token cache)."""
    file = Path(path)
    if file.is_dir():
        file = file / checkpoint.TOKENIZER
    if not file.is_file():
        raise TrainingError(f"tokenizer {path}: no such file (give a tokenizer.json or a model folder holding one)")
    return TextTokenizer.from_file(file)


def _sample_texts(docs: list[Document]):
    budget = _TOKENIZER_SAMPLE_CHARS
    for doc in docs:
        if budget <= 0:
            return
        yield doc.text[:budget]
        budget -= len(doc.text)


def _wants_fim(settings: TrainSettings) -> bool:
    """Fill-in-the-middle is part of the modern recipe unless --fim-rate 0 turns it off."""
    return resolved_recipe(settings) == "modern" and (settings.fim_rate is None or settings.fim_rate > 0)


def _should_compile(settings: TrainSettings) -> bool:
    """Compiling costs the better part of a minute up front; only runs long enough to win it back compile."""
    if settings.compile is not None:
        return settings.compile
    return (settings.minutes or 0) >= _COMPILE_FROM_MINUTES or (settings.steps or 0) >= _COMPILE_FROM_STEPS


def resolved_recipe(settings: TrainSettings) -> str:
    """The settings' recipe, or the default: modern for a new qwen3 model, classic for fine-tuning and the rest."""
    if settings.recipe:
        return settings.recipe
    return "modern" if not settings.init and arch_name(settings.arch) == "qwen3" else "classic"


def peak_learning_rate(settings: TrainSettings) -> float:
    """AdamW's peak rate (Muon's is ``muon_lr``)."""
    if settings.learning_rate is not None:
        return settings.learning_rate
    return 1e-2 if resolved_recipe(settings) == "modern" else 1e-3


def _restore_optimizer(optimizer, resume_state: dict, say) -> None:
    """The saved optimizer state, or a fresh one (with a note) when the checkpoint was saved without it, e.g. a
    committed in-progress model kept small: the moments re-warm within a few dozen steps."""
    saved = resume_state.get("optimizer")
    if saved is None:
        say("the checkpoint has no optimizer state (saved small): starting the optimizer afresh")
        return
    try:
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError) as exc:
        raise TrainingError(f"--resume: the checkpoint's optimizer state does not fit this run ({exc}); "
                            "resume with the settings it was started with, or start a new --out") from exc
    for group in optimizer.param_groups:  # older states predate the schedule's peak_lr
        group.setdefault("peak_lr", group["lr"])


def _progress(settings: TrainSettings, step: int, elapsed_s: float) -> float:
    fractions = []
    if settings.steps:
        fractions.append(step / settings.steps)
    if settings.minutes:
        fractions.append(elapsed_s / (settings.minutes * 60))
    return max(fractions)


def warmup_steps(settings: TrainSettings) -> int:
    """The configured warm-up, shortened for short ``--steps`` runs so they reach the full learning rate."""
    if settings.steps:
        return max(1, min(settings.warmup_steps, int(settings.steps * _WARMUP_SHARE_LIMIT)))
    return max(1, settings.warmup_steps)


def learning_rate_factor(settings: TrainSettings, step: int, progress: float) -> float:
    """The share of the peak rates at ``step``: the same on resume as in an unbroken run."""
    return recipes.lr_factor(resolved_recipe(settings), step, progress, warmup_steps(settings),
                             settings.min_lr_ratio, settings.decay_share)


def _eta(elapsed_s: float, progress: float) -> float:
    if progress <= 0:
        return float("inf")
    return max(0.0, elapsed_s / progress - elapsed_s)


def _batch(tokens: np.ndarray, batch_size: int, block: int, rng, device, fim_rate: float = 0.0,
           fim_ids: tuple[int, int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    starts = rng.integers(0, len(tokens) - block, size=batch_size) if len(tokens) > block + 1 else np.zeros(
        batch_size, dtype=np.int64)
    rows = np.stack([np.asarray(tokens[s : s + block + 1], dtype=np.int64) for s in starts])
    if fim_rate > 0 and fim_ids is not None:
        inputs, targets = fim_rows(rows, fim_rate, fim_ids, rng)
        return torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device)
    batch = torch.from_numpy(rows).to(device)
    return batch[:, :-1], batch[:, 1:]


@torch.no_grad()
def _validation_bpb(model, data: TokenData, block: int, batches: int, device, use_amp, amp_dtype) -> float:
    """Mean validation loss over fixed, evenly spaced windows, converted from nats/token to bits/byte."""
    tokens = data.validation.tokens
    block = max(1, min(block, len(tokens) - 1))
    count = max(1, min(batches * 8, (len(tokens) - 1) // block))
    starts = np.linspace(0, len(tokens) - block - 1, num=count).astype(np.int64)
    model.eval()
    total, n = 0.0, 0
    for chunk in np.array_split(starts, max(1, count // 8)):
        rows = torch.from_numpy(np.stack([np.asarray(tokens[s : s + block + 1], dtype=np.int64) for s in chunk]))
        rows = rows.to(device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            logits, _ = model(rows[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1), reduction="sum")
        total += loss.item()
        n += rows[:, 1:].numel()
    nats_per_token = total / max(n, 1)
    return nats_per_token / math.log(2) / data.validation.bytes_per_token


def _distributed_setup() -> tuple[int, int, bool]:
    """(rank, world size, whether we created the process group and must destroy it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    owns = False
    if torch.cuda.is_available():  # NCCL collectives (and object broadcasts) run on the current device
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        # Long timeout: the other ranks wait in a barrier while rank 0 trains the tokenizer and tokenizes the corpus.
        torch.distributed.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=60))
        owns = True
    return torch.distributed.get_rank(), world, owns


def _agree(done: bool, stop: bool, device: torch.device) -> tuple[bool, bool]:
    """The ranks' decisions combined: any rank that is done or asked to stop stops them all, at the same step."""
    on_gpu = torch.distributed.get_backend() == "nccl"
    flags = torch.tensor([float(done), float(stop)], device=device if on_gpu else "cpu")
    torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
    return bool(flags[0]), bool(flags[1])


def _architecture(model: nn.Module) -> str:
    try:
        return family_of(model).architecture
    except TypeError:
        return type(model).__name__


def _training_record(settings, model, data: TokenData, step, tokens_per_step, block, bpb_before, bpb_after,
                     elapsed) -> dict:
    return {
        "data": [str(Path(p).resolve()) for p in settings.data],
        "data_as_given": list(settings.data),
        "validation_fraction": settings.validation_fraction,
        "architecture": _architecture(model),
        "size": None if settings.init else settings.size,
        "init": settings.init,
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": step,
        "tokens_seen": step * tokens_per_step,
        "block_size": block,
        "batch_size": settings.batch_size,
        "train_documents": data.train.n_documents,
        "validation_documents": data.validation.n_documents,
        "validation_bpb_before": bpb_before,
        "validation_bpb_after": bpb_after,
        "elapsed_s": elapsed,
        "command": settings.command,
    }


def _model_card(settings, model, data: TokenData, step, tokens_per_step, bpb_before, bpb_after, elapsed) -> str:
    params = sum(p.numel() for p in model.parameters())
    config = getattr(model, "config", None)
    shape = ", ".join(f"{k}={v}" for k, v in sorted(vars(config).items()) if k != "extra") if config else ""
    sources = "\n".join(f"- `{p}`" for p in settings.data)
    start = f"fine-tuned from `{settings.init}`" if settings.init else f"size `{settings.size}`, trained from scratch"
    extra = "\n".join(f"- {k}: {v}" for k, v in settings.extra_card.items())
    return f"""# Inkling model: {Path(settings.out).name}

Architecture: {_architecture(model)} ({getattr(model, 'model_type', '')}), {params / 1e6:.2f}M parameters, {start}
({shape}).

## Training data
{sources}

{data.train.n_documents} training documents ({data.train.n_bytes / 1e6:.1f} MB of text, {len(data.train.tokens) / 1e6:.1f}M tokens),
{data.validation.n_documents} validation documents held out by a hash of their id.

## Training
- Command: `{settings.command or 'inkling train ...'}`
- Steps: {step} x {tokens_per_step} tokens ({step * tokens_per_step / 1e6:.1f}M tokens), {elapsed / 60:.1f} minutes
- {_recipe_line(settings)}

## Validation (bits per UTF-8 byte, lower is better)
- before training: {bpb_before:.3f}
- after training: {bpb_after:.3f}
{extra}
"""


def _recipe_line(settings: TrainSettings) -> str:
    warmup = warmup_steps(settings)
    if resolved_recipe(settings) == "modern":
        fim = settings.fim_rate if settings.fim_rate is not None else DEFAULT_FIM_RATE
        return (f"Muon lr {settings.muon_lr} (momentum {recipes.MUON_MOMENTUM}, Nesterov) on the hidden matrices, "
                f"AdamW lr {peak_learning_rate(settings)} betas {recipes.ADAM_BETAS} without decay on embeddings "
                f"and gains; warm-up {warmup} steps, constant, linear decay to {settings.min_lr_ratio:.0%} over the "
                f"last {settings.decay_share:.0%}; zero-initialised output projections; fill-in-the-middle on "
                f"{fim:.0%} of the rows; gradient clipping {settings.grad_clip}, seed {settings.seed}")
    return (f"AdamW lr {peak_learning_rate(settings)} (warm-up {warmup} steps, cosine to "
            f"{settings.min_lr_ratio:.0%}), weight decay {settings.weight_decay}, gradient clipping "
            f"{settings.grad_clip}, seed {settings.seed}")
