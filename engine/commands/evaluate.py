"""``inkling eval``: the command-line face of the evaluation (bits per byte and keystroke savings of a model, against
a word-trigram baseline)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from engine.errors import InklingError


def add_parsers(subparsers) -> None:
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
    from engine.language_model import load
    from engine.training import evaluation

    if args.max_chars < 0 or args.max_words < 1 or args.ksr_at < 0:
        raise InklingError("--max-chars and --ksr-at must be 0 or more and --max-words at least 1")
    texts = evaluation.load_eval_texts(args.text, args.max_chars or None)
    lm = load(args.model, device=args.device)
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
