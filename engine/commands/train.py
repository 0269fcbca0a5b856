"""``inkling train``: the command-line face of the trainer (train a model on text files, or fine-tune one)."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

SignalHandler = Callable[[int, FrameType | None], object] | int | None  # what signal.signal returns

_SAVED_DEFAULTS = {"batch_size": 16, "vocab_size": 8192, "size": "small", "seed": 0,
                   "arch": "qwen3", "eval_every": 200}


def add_parsers(subparsers) -> None:
    from engine.training.model_sizes import ARCH_ALIASES, ARCH_CHOICES, SIZES

    sizes = sorted({size for table in SIZES.values() for size in table})
    parser = subparsers.add_parser(
        "train",
        help="train a model on your own text, or fine-tune one (--init)",
        description="Train a language model on .txt/.md files, or fine-tune an existing one on them with --init "
        "(\"learn my style\"). Ctrl+C stops after the current step and saves a checkpoint; continue it with "
        "--resume. Several GPUs: run it under `torchrun --nproc_per_node N -m engine train ...`.",
    )
    aliases = ", ".join(f"{old} = {new}" for old, new in ARCH_ALIASES.items())
    parser.add_argument("--arch", choices=ARCH_CHOICES,
                        help=f"model family of a new model (default: qwen3, the Qwen3 layout; {aliases})")
    parser.add_argument("--data", nargs="+", metavar="PATH",
                        help="text files or folders (searched for .txt and .md files); with --resume, default: "
                        "the data of the run being continued")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder the model is written to")
    parser.add_argument("--init", metavar="MODEL",
                        help="start from this model (a name from `inkling models`, e.g. default, or a folder) and "
                        "keep its tokenizer")
    parser.add_argument("--tokenizer", metavar="PATH",
                        help="for a new model: reuse this tokenizer.json (or a model folder's) instead of training one")
    parser.add_argument("--size", choices=sizes, help="size of a new model (default: small)")
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--steps", type=int, metavar="N", help="number of optimizer steps")
    limit.add_argument("--time", type=float, metavar="MIN", dest="minutes", help="train for this many minutes")
    parser.add_argument("--batch-size", type=int, metavar="N", help="sequences per step (default: 16)")
    parser.add_argument("--block-size", type=int, metavar="N",
                        help="tokens per sequence (default: the model's context; 256 for recurrent models)")
    parser.add_argument("--lr", type=float, dest="learning_rate", metavar="LR",
                        help="AdamW's peak learning rate (default: 1e-2 with the modern recipe, 1e-3 with classic)")
    parser.add_argument("--recipe", choices=("modern", "classic"),
                        help="modern: Muon + AdamW, constant rate then decay, fill-in-the-middle (default for a new "
                        "qwen3 model); classic: AdamW, cosine (default for fine-tuning and the other families)")
    parser.add_argument("--muon-lr", type=float, metavar="LR", help="Muon's learning rate (default: 0.03)")
    parser.add_argument("--fim-rate", type=float, metavar="SHARE",
                        help="share of sequences in fill-in-the-middle order (default: 0.5 with the modern recipe)")
    parser.add_argument("--decay-share", type=float, metavar="SHARE",
                        help="modern recipe: decay the rate over this last share of the run (default: 0.4)")
    parser.add_argument("--no-compile", action="store_true", help="train eagerly (no torch.compile)")
    parser.add_argument("--vocab-size", type=int, metavar="N", help="tokens in a newly trained tokenizer (default: 8192)")
    parser.add_argument("--eval-every", type=int, metavar="N", help="validate every N steps (default: 200)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted or finished run in --out")
    parser.add_argument("--seed", type=int, help="random seed (default: 0)")
    parser.add_argument("--cache-dir", metavar="DIR", help="where tokenized data is cached (default: user cache)")
    parser.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from engine.training.progress import ProgressPrinter
    from engine.training.trainer import train
    from engine.training.training_state import has_training_state

    settings = _train_settings(args)
    printer = ProgressPrinter()

    def log(message: str) -> None:
        printer.finish()
        print(message, file=sys.stderr, flush=True)

    stopper = _StopOnInterrupt()

    def progress(report: dict) -> None:
        stopper.armed = True
        printer(report)

    try:
        with stopper:
            result = train(settings, progress=progress, should_stop=stopper.requested, log=log)
    except KeyboardInterrupt:
        printer.finish()
        if has_training_state(settings.out):
            print(f"inkling: interrupted; the checkpoint in {settings.out} is intact: continue with "
                  f"`inkling train --out {shlex.quote(settings.out)} --resume`", file=sys.stderr)
        else:
            print("inkling: interrupted before the first checkpoint; nothing was saved", file=sys.stderr)
        return 130
    printer.finish()
    change = f"{result.validation_bpb_before:.3f} -> {result.validation_bpb_after:.3f}"
    if not result.finished:
        print(f"stopped at step {result.steps}; checkpoint saved in {result.out} (validation bits/byte {change}). "
              f"Continue with `inkling train --out {shlex.quote(str(result.out))} --resume`")
        return 130
    print(f"trained {result.steps} steps in {result.elapsed_s / 60:.1f} min; validation bits/byte {change}; "
          f"model saved in {result.out}")
    return 0


def _train_settings(args: argparse.Namespace):
    from engine.training.trainer import STATE_FILE, TrainingError, TrainSettings

    out = Path(args.out)
    saved: dict = {}
    if args.resume:
        from engine.training.model_sizes import arch_name
        from engine.training.trainer import read_training_state
        from engine.training.training_state import has_training_state

        if not has_training_state(out):
            raise TrainingError(f"--resume: {out} holds no interrupted run ({STATE_FILE} is missing)")
        saved = read_training_state(out).get("settings", {})
        for flag, name in (("--arch", "arch"), ("--size", "size"), ("--tokenizer", "tokenizer"), ("--init", "init")):
            given, before = getattr(args, name, None), saved.get(name)
            if name == "arch" and given is not None and before is not None:
                given, before = arch_name(given), arch_name(before)
            if given is not None and given != before:
                raise TrainingError(f"--resume continues the run in {out} as it was started ({flag} {before}); "
                                    f"{flag} {given} would be another model: train it in a new --out")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        if (out / "config.json").is_file():
            raise TrainingError(f"--out {out} already holds a model: continue its run with --resume, or choose a "
                                "new folder (training replaces the whole folder)")
        raise TrainingError(f"--out {out} holds other files: choose a new or empty folder (training replaces the "
                            "whole folder)")

    def pick(name: str, default=None):
        value = getattr(args, name, None)
        if value is not None:
            return value
        if name in saved and saved[name] is not None:
            return saved[name]
        return _SAVED_DEFAULTS.get(name, default)

    data = args.data or saved.get("data")
    if not data:
        raise TrainingError("give the training text with --data PATH...")
    steps, minutes = args.steps, args.minutes
    if steps is None and minutes is None:
        steps, minutes = saved.get("steps"), saved.get("minutes")
    if steps is None and minutes is None:
        raise TrainingError("give --steps N or --time MINUTES so training knows when to stop")
    init = args.init or saved.get("init")
    if init and not args.resume:
        ignored = [flag for flag, value in (("--arch", args.arch), ("--size", args.size)) if value]
        if ignored:
            print(f"note: {' and '.join(ignored)} ignored: --init continues {init} as it is", file=sys.stderr)
    return TrainSettings(
        data=[str(p) for p in data], out=str(out), arch=pick("arch"), size=pick("size"), init=init,
        tokenizer=args.tokenizer or saved.get("tokenizer"), steps=steps, minutes=minutes,
        batch_size=pick("batch_size"), block_size=pick("block_size"), learning_rate=pick("learning_rate"),
        vocab_size=pick("vocab_size"), eval_every=pick("eval_every"), seed=pick("seed"), device=args.device,
        recipe=pick("recipe"), muon_lr=pick("muon_lr", 0.03), fim_rate=pick("fim_rate"),
        decay_share=pick("decay_share", 0.4), compile=False if args.no_compile else None,
        resume=args.resume, cache_dir=args.cache_dir or saved.get("cache_dir"), command=_command_line(args),
    )


def _command_line(args: argparse.Namespace) -> str:
    parts = ["inkling", "train"]
    flags = [("--arch", "arch"), ("--size", "size"), ("--init", "init"), ("--tokenizer", "tokenizer"),
             ("--out", "out"), ("--steps", "steps"), ("--time", "minutes"), ("--batch-size", "batch_size"),
             ("--block-size", "block_size"), ("--lr", "learning_rate"), ("--vocab-size", "vocab_size"),
             ("--eval-every", "eval_every"), ("--seed", "seed"), ("--recipe", "recipe"), ("--muon-lr", "muon_lr"),
             ("--fim-rate", "fim_rate"), ("--decay-share", "decay_share")]
    if args.data:
        parts += ["--data", *map(str, args.data)]
    for flag, name in flags:
        value = getattr(args, name, None)
        if value is not None:
            parts += [flag, str(value)]
    if args.resume:
        parts.append("--resume")
    return shlex.join(parts)


class _StopOnInterrupt:
    """Ctrl+C (or SIGTERM) during training asks for a clean stop: finish the step, save, exit resumable.

    Before training has started, or on a second Ctrl+C, it interrupts at once as usual.
    """

    def __init__(self) -> None:
        self.armed = False
        self._requested = False
        self._previous: dict[int, SignalHandler] = {}

    def requested(self) -> bool:
        return self._requested

    def _handle(self, signum, frame) -> None:
        if self.armed and not self._requested:
            self._requested = True
            sys.stderr.write("\nstopping after this step and saving a checkpoint (Ctrl+C again to quit at once)\n")
            sys.stderr.flush()
            return
        raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
