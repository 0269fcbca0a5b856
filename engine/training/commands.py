"""``inkling train`` and ``inkling eval``: the command-line faces of the trainer and the evaluation."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from engine.errors import InklingError

SignalHandler = Callable[[int, FrameType | None], object] | int | None  # what signal.signal returns

_SAVED_DEFAULTS = {"batch_size": 16, "vocab_size": 8192, "size": "small", "seed": 0,
                   "arch": "transformer", "eval_every": 200}


def add_parsers(subparsers) -> None:
    _add_train_parser(subparsers)
    _add_eval_parser(subparsers)


# --- inkling train -------------------------------------------------------------------------------------------


def _add_train_parser(subparsers) -> None:
    from engine.training.model_sizes import SIZES

    sizes = sorted({size for table in SIZES.values() for size in table})
    parser = subparsers.add_parser(
        "train",
        help="train a model on your own text, or fine-tune one (--init)",
        description="Train a language model on .txt/.md files, or fine-tune an existing one on them with --init "
        "(\"learn my style\"). Ctrl+C stops after the current step and saves a checkpoint; continue it with "
        "--resume. Several GPUs: run it under `torchrun --nproc_per_node N -m engine train ...`.",
    )
    parser.add_argument("--arch", choices=sorted(SIZES), help="model family of a new model (default: transformer)")
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
                        "transformer); classic: AdamW, cosine (default for fine-tuning and the other families)")
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
        from engine.training.trainer import read_training_state
        from engine.training.training_state import has_training_state

        if not has_training_state(out):
            raise TrainingError(f"--resume: {out} holds no interrupted run ({STATE_FILE} is missing)")
        saved = read_training_state(out).get("settings", {})
        for flag, name in (("--arch", "arch"), ("--size", "size"), ("--tokenizer", "tokenizer"), ("--init", "init")):
            given, before = getattr(args, name, None), saved.get(name)
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


# --- inkling eval --------------------------------------------------------------------------------------------


def _add_eval_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure a model: bits/byte and keystroke savings, against a word-trigram baseline",
        description="Measure bits per byte and the keystroke savings rate (KSR) of a model on your texts, and the "
        "same figures for a word-trigram predictor trained on the model's training data. KSR: a simulated typist "
        "types the text, accepting the model's greedy suggestion with Tab (one key) when all of it is right, or "
        "its right words one by one (one key each), else typing one character; KSR = 1 - keys / characters.",
    )
    parser.add_argument("--model", default="default", metavar="NAME|PATH", help="model name or folder (default: default)")
    parser.add_argument("--text", nargs="+", required=True, metavar="FILE", help="text files or folders to type")
    parser.add_argument("--max-chars", type=int, default=10_000, metavar="N",
                        help="type at most N characters of each document (default: 10000; 0: all)")
    parser.add_argument("--baseline-data", nargs="+", metavar="PATH",
                        help="the model's training data, for the baseline (default: as recorded in the model folder)")
    parser.add_argument("--no-baseline", action="store_true", help="measure the model only")
    parser.add_argument("--max-words", type=int, default=3, metavar="N",
                        help="suggestions are cut to N words for both predictors (default: 3)")
    parser.add_argument("--memory", choices=("on", "off", "both"), default="on",
                        help="on: the model with the memory of the text typed so far, as suggestions use it; off: the "
                        "model alone; both: a row for each (default: on)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument("--ksr-at", type=int, default=3, metavar="K",
                        help="also KSR@1 and KSR@K: the typist may take any of the first K alternatives the model "
                        "lists, as the app shows them (default: 3; 0: skip, it decodes with beam search)")
    parser.add_argument("--plain-beam", action="store_true",
                        help="KSR@K over plain beam search's alternatives instead of first-word branching")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--update-card", action="store_true",
                        help="also write the figures into the model folder's README.md (model card)")
    parser.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    import engine
    from engine.training import evaluation

    if args.max_chars < 0 or args.max_words < 1 or args.ksr_at < 0:
        raise InklingError("--max-chars and --ksr-at must be 0 or more and --max-words at least 1")
    texts = evaluation.load_eval_texts(args.text, args.max_chars or None)
    lm = engine.load(args.model, device=args.device)
    baseline = training_ids = source = None
    notes: list[str] = []
    if not args.no_baseline:
        source = evaluation.baseline_source_for(lm.path, args.baseline_data)
        missing = [p for p in source.paths if not Path(p).exists()] if source else []
        if source is None:
            notes.append("no baseline: the model folder does not say what it was trained on; "
                         "give its training data with --baseline-data PATH...")
        elif missing:
            notes.append(f"no baseline: its training data ({', '.join(missing)}, from {source.origin}) is not on "
                         "this machine; point at it with --baseline-data PATH...")
            source = None
        else:
            baseline, training_ids = evaluation.train_baseline(source, max_words=args.max_words, log=_stderr)
    meter = _TypingProgress()
    report = evaluation.evaluate_model(lm, texts, baseline, training_ids, args.max_words, meter, args.memory,
                                       ksr_at=args.ksr_at, branch_first_word=not args.plain_beam)
    meter.finish()
    report.baseline_source = source
    report.notes[:0] = notes
    table = _format_report(report, lm, args)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(table)
    if args.update_card:
        if lm.path is None:
            raise InklingError("--update-card needs a model folder")
        command = shlex.join(["inkling", "eval", "--model", args.model, "--text", *args.text,
                              "--max-chars", str(args.max_chars), "--max-words", str(args.max_words),
                              "--memory", args.memory])
        card = evaluation.update_model_card(lm.path, f"`{command}`\n\n```\n{table}\n```")
        print(f"figures written to {card}", file=sys.stderr)
    return 0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _TypingProgress:
    """"typing with NAME: 4,500 / 10,000 characters" on stderr: redrawn in place a few times a second on a
    terminal; into a log (stderr redirected, a run under nohup) a line every ``log_every_s``, so a long
    evaluation in the background still shows it is alive and how far it got."""

    def __init__(self, log_every_s: float = 30.0) -> None:
        self.interactive = sys.stderr.isatty()
        self._every = 0.25 if self.interactive else log_every_s
        self._last = time.monotonic()
        self._shown = False

    def __call__(self, name: str, position: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        line = f"typing with {name}: {position:,} / {total:,} characters"
        if self.interactive:
            sys.stderr.write(f"\r{line}   ")
            self._shown = True
        else:
            sys.stderr.write(f"{line}\n")
        sys.stderr.flush()

    def finish(self) -> None:
        if self._shown:
            sys.stderr.write("\n")
            self._shown = False


def _format_report(report, lm, args) -> str:
    cut = f"at most {args.max_chars:,} per document" if args.max_chars else "whole documents"
    lines = [(f"{len(report.texts)} document(s), {report.characters:,} characters ({cut}); suggestions of up to "
              f"{args.max_words} word(s), accepted with Tab or word by word"),
             "", f"{'':41}{'bits/byte':>10}{'KSR':>9}{'keys':>10}   Tab / words / typed"]
    memory = getattr(args, "memory", "on")
    name = f"{lm.name} ({lm.architecture})"
    rows = [(name, " + memory" if memory != "off" else "", report.model)]
    if report.model_alone is not None:
        rows.append((name, " alone", report.model_alone))
    if report.baseline is not None:
        rows.append(("word-trigram baseline", "", report.baseline))
    for base, suffix, figures in rows:
        k = figures.keystrokes
        label = base[: 40 - len(suffix)] + suffix  # the suffix says which row it is: never cut it off
        lines.append(f"{label:41}{figures.bits_per_byte:>10.3f}{figures.ksr:>9.1%}{k.keys:>10,}   "
                     f"{k.tab_accepts:,} / {k.word_accepts:,} / {k.typed_characters:,}")
    if report.ksr_ratio is not None:
        lines.append(f"\nKSR of the model / KSR of the baseline: {report.ksr_ratio:.2f}x")
    if report.alternatives:
        figures = " / ".join(f"KSR@{k} {r.ksr:.1%}" for k, r in sorted(report.alternatives.items()))
        lines.append(f"alternatives ({report.alternatives_by}), taking any of the first K listed: {figures}")
    if report.baseline_source is not None:
        lines.append(f"baseline trained on the training split of {', '.join(report.baseline_source.paths)} "
                     f"(from {report.baseline_source.origin})")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)
