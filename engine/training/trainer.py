"""The training loop behind ``inkling train``: AdamW, warm-up + cosine, clipping, validation in bits/byte,
atomic checkpoints with resume, optional mixed precision and DistributedDataParallel (under ``torchrun``)."""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine import checkpoint
from engine.devices import resolve_device
from engine.errors import InklingError
from engine.tokenizer import TextTokenizer
from engine.training.bpe import END_OF_TEXT, train_bpe_tokenizer
from engine.training.corpus import Document, ScanReport, is_validation, iter_documents
from engine.training.model_sizes import build_new_model
from engine.training.token_data import TokenData, build_token_data

STATE_FILE = "training_state.pt"
_TOKENIZER_SAMPLE_CHARS = 40_000_000  # BPE merges settle long before the whole corpus is seen


@dataclass
class TrainSettings:
    data: list[str]
    out: str
    arch: str = "transformer"
    size: str = "small"
    init: str | None = None
    steps: int | None = None
    minutes: float | None = None
    batch_size: int = 16
    block_size: int | None = None  # default: the model's context (capped at 256 tokens)
    learning_rate: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
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
    cache_dir: str | None = None
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


def train(settings: TrainSettings, progress=None, should_stop=None) -> TrainResult:
    """Run training; ``progress(dict)`` gets periodic reports, ``should_stop()`` ends the run early but cleanly."""
    if not settings.steps and not settings.minutes:
        raise TrainingError("give --steps N or --time MINUTES so training knows when to stop")
    rank, world = _distributed_rank()
    device = resolve_device(settings.device)
    if world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if device.type == "cuda" else device
    torch.manual_seed(settings.seed + rank)
    out = Path(settings.out)
    state_path = out / STATE_FILE
    resume_state = None
    if settings.resume:
        if not state_path.is_file():
            raise TrainingError(f"--resume: no {STATE_FILE} in {out}; start without --resume")
        resume_state = torch.load(state_path, map_location="cpu", weights_only=False)

    model, tokenizer = _initial_model(settings, out if resume_state else None)
    eot_id = tokenizer.token_id(END_OF_TEXT)
    if eot_id is None:
        eot_id = model.config.eos_token_id if hasattr(model, "config") else 0
    cache_dir = Path(settings.cache_dir or out.parent / ".inkling-token-cache")
    data = build_token_data(settings.data, tokenizer, cache_dir, eot_id, settings.validation_fraction)
    if len(data.train.tokens) < 2:
        raise TrainingError("not enough text to train on")
    context = getattr(model, "max_context", None) or 256
    block = settings.block_size or min(context, 256)
    block = min(block, context, len(data.train.tokens) - 1)

    model.to(device)
    use_amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    trainable = model
    if world > 1:
        trainable = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = _optimizer(model, settings)
    step, elapsed_before, history = 0, 0.0, []
    if resume_state:
        optimizer.load_state_dict(resume_state["optimizer"])
        step, elapsed_before = resume_state["step"], resume_state["elapsed_s"]
        history = resume_state.get("history", [])
    rng = np.random.default_rng(settings.seed * 1000 + rank + step)

    def evaluate() -> float:
        return _validation_bpb(model, data, block, settings.eval_batches, device, use_amp, amp_dtype)

    bpb_before = resume_state["bpb_before"] if resume_state else (evaluate() if rank == 0 else float("nan"))
    started = time.monotonic()
    last_save = started
    tokens_per_step = settings.batch_size * block * world
    losses: list[float] = []
    bpb_now = history[-1]["validation_bpb"] if history else bpb_before

    def save() -> None:
        if rank != 0:
            return
        elapsed = elapsed_before + time.monotonic() - started
        state = {"optimizer": optimizer.state_dict(), "step": step, "elapsed_s": elapsed,
                 "history": history, "bpb_before": bpb_before, "settings": asdict(settings)}
        card = _model_card(settings, model, data, step, tokens_per_step, bpb_before, bpb_now, elapsed)

        def write_state(folder: Path) -> None:
            torch.save(state, folder / STATE_FILE)

        checkpoint.save_checkpoint(out, model, tokenizer, model_card=card, extra_writer=write_state,
                                   generation_config={"max_new_tokens": 16, "do_sample": False})

    try:
        while True:
            elapsed = elapsed_before + time.monotonic() - started
            progress_fraction = _progress(settings, step, elapsed)
            if progress_fraction >= 1.0 or (should_stop is not None and should_stop()):
                break
            lr = _learning_rate(settings, step, progress_fraction)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = _batch(data.train.tokens, settings.batch_size, block, rng, device)
            model.train()
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                logits, _ = trainable(x)
                loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            step += 1
            losses.append(loss.item())
            now = time.monotonic()
            if rank == 0 and (step % settings.eval_every == 0):
                bpb_now = evaluate()
                history.append({"step": step, "train_loss": float(np.mean(losses[-50:])),
                                "validation_bpb": bpb_now, "elapsed_s": elapsed_before + now - started})
            if rank == 0 and progress is not None and (step % 10 == 0 or step == 1):
                run_s = now - started
                progress({"step": step, "loss": float(np.mean(losses[-20:])), "lr": lr,
                          "tokens_per_s": step_tokens_rate(step, tokens_per_step, run_s, resume_state),
                          "progress": progress_fraction, "validation_bpb": bpb_now,
                          "eta_s": _eta(settings, step, elapsed_before + run_s, progress_fraction)})
            if rank == 0 and now - last_save > settings.save_every_minutes * 60:
                save()
                last_save = now
    except torch.cuda.OutOfMemoryError as exc:
        raise TrainingError(
            f"the GPU ran out of memory at batch size {settings.batch_size}: lower --batch-size "
            f"(or --block-size); the last checkpoint in {out} is intact, continue with --resume"
        ) from exc
    except KeyboardInterrupt:
        if rank == 0:
            save()
        raise
    if rank == 0:
        bpb_now = evaluate()
        history.append({"step": step, "validation_bpb": bpb_now,
                        "elapsed_s": elapsed_before + time.monotonic() - started})
        save()
    if world > 1:
        torch.distributed.barrier()
    return TrainResult(out, step, step * tokens_per_step, bpb_before, bpb_now,
                       elapsed_before + time.monotonic() - started, history)


def step_tokens_rate(step: int, tokens_per_step: int, run_s: float, resume_state) -> float:
    done_here = step - (resume_state["step"] if resume_state else 0)
    return done_here * tokens_per_step / max(run_s, 1e-9)


def _initial_model(settings: TrainSettings, resume_from: Path | None) -> tuple[nn.Module, TextTokenizer]:
    source = resume_from or (Path(settings.init) if settings.init else None)
    if source is not None:
        if settings.init and not resume_from:
            from engine.registry import resolve_model_path  # deferred: registry imports the whole engine

            source = resolve_model_path(settings.init)
        loaded = checkpoint.load_checkpoint(source)
        return loaded.model.float(), loaded.tokenizer
    report = ScanReport()
    docs = [d for d in iter_documents(settings.data, report) if not is_validation(d, settings.validation_fraction)]
    if not docs:
        raise TrainingError(f"no text found in {', '.join(settings.data)} ({report.summary()})")
    tokenizer = train_bpe_tokenizer(_sample_texts(docs), settings.vocab_size)
    eot = tokenizer.token_id(END_OF_TEXT)
    return build_new_model(settings.arch, settings.size, tokenizer.vocab_size, eot), tokenizer


def _sample_texts(docs: list[Document]):
    budget = _TOKENIZER_SAMPLE_CHARS
    for doc in docs:
        if budget <= 0:
            return
        yield doc.text[:budget]
        budget -= len(doc.text)


def _optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.dim() >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings.learning_rate, betas=(0.9, 0.95))


def _progress(settings: TrainSettings, step: int, elapsed_s: float) -> float:
    fractions = []
    if settings.steps:
        fractions.append(step / settings.steps)
    if settings.minutes:
        fractions.append(elapsed_s / (settings.minutes * 60))
    return max(fractions)


def _learning_rate(settings: TrainSettings, step: int, progress: float) -> float:
    if step < settings.warmup_steps:
        return settings.learning_rate * (step + 1) / settings.warmup_steps
    floor = settings.learning_rate * settings.min_lr_ratio
    return floor + 0.5 * (settings.learning_rate - floor) * (1 + math.cos(math.pi * min(progress, 1.0)))


def _eta(settings: TrainSettings, step: int, elapsed_s: float, progress: float) -> float:
    if progress <= 0:
        return float("inf")
    return elapsed_s / progress - elapsed_s


def _batch(tokens: np.ndarray, batch_size: int, block: int, rng, device) -> tuple[torch.Tensor, torch.Tensor]:
    starts = rng.integers(0, len(tokens) - block - 1, size=batch_size) if len(tokens) > block + 1 else np.zeros(
        batch_size, dtype=np.int64)
    rows = np.stack([np.asarray(tokens[s : s + block + 1], dtype=np.int64) for s in starts])
    rows = torch.from_numpy(rows).to(device)
    return rows[:, :-1], rows[:, 1:]


@torch.no_grad()
def _validation_bpb(model, data: TokenData, block: int, batches: int, device, use_amp, amp_dtype) -> float:
    """Mean validation loss over fixed, evenly spaced windows, converted from nats/token to bits/byte."""
    tokens = data.validation.tokens
    block = min(block, len(tokens) - 1)
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


def _distributed_rank() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return torch.distributed.get_rank(), world


def _model_card(settings, model, data: TokenData, step, tokens_per_step, bpb_before, bpb_after, elapsed) -> str:
    params = sum(p.numel() for p in model.parameters())
    config = getattr(model, "config", None)
    shape = ", ".join(f"{k}={v}" for k, v in sorted(vars(config).items()) if k != "extra") if config else ""
    sources = "\n".join(f"- `{p}`" for p in settings.data)
    extra = "\n".join(f"- {k}: {v}" for k, v in settings.extra_card.items())
    return f"""# Inkling model: {Path(settings.out).name}

Architecture: {settings.arch} ({getattr(model, 'model_type', '')}), {params / 1e6:.2f}M parameters ({shape}).

## Training data
{sources}

{data.train.n_documents} training documents ({data.train.n_bytes / 1e6:.1f} MB of text, {len(data.train.tokens) / 1e6:.1f}M tokens),
{data.validation.n_documents} validation documents held out by a hash of their id.

## Training
- Command: `{settings.command or 'inkling train ...'}`
- Steps: {step} x {tokens_per_step} tokens ({step * tokens_per_step / 1e6:.1f}M tokens), {elapsed / 60:.1f} minutes
- AdamW lr {settings.learning_rate} (warm-up {settings.warmup_steps} steps, cosine to {settings.min_lr_ratio:.0%}),
  weight decay {settings.weight_decay}, gradient clipping {settings.grad_clip}, seed {settings.seed}

## Validation (bits per UTF-8 byte, lower is better)
- before training: {bpb_before:.3f}
- after training: {bpb_after:.3f}
{extra}
"""


def print_progress(report: dict) -> None:
    eta = report["eta_s"]
    eta_text = "?" if not math.isfinite(eta) else f"{int(eta // 60)}m{int(eta % 60):02d}s"
    line = (f"\rstep {report['step']:>6}  loss {report['loss']:.3f}  val {report['validation_bpb']:.3f} bpb  "
            f"{report['tokens_per_s']:,.0f} tok/s  {report['progress']:.0%}  ETA {eta_text}   ")
    sys.stderr.write(line)
    sys.stderr.flush()
