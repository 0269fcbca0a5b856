"""``inkling complete``: continue a text headless, printing the alternatives or streaming the best one."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from typing import TextIO

from engine.decoding.results import SHARE_MEANING, percent, shares
from engine.decoding.settings import STRATEGIES, DecodingSettings

# Command-line option -> DecodingSettings field, for the options that map one to one.
_DIRECT_OPTIONS = {
    "strategy": "strategy",
    "max_new_tokens": "max_new_tokens",
    "temperature": "temperature",
    "top_k": "top_k",
    "top_p": "top_p",
    "min_p": "min_p",
    "repetition_penalty": "repetition_penalty",
    "no_repeat_ngram_size": "no_repeat_ngram_size",
    "length_penalty": "length_penalty",
    "seed": "seed",
    "stop": "stop",
    "dry_multiplier": "dry_multiplier",
    "min_word_probability": "min_word_probability",
}


def add_parsers(subparsers) -> None:
    parser = subparsers.add_parser(
        "complete",
        help="continue a text and print the suggestions",
        description="Continue TEXT with a language model. Prints the alternatives, best first, each with its share of the "
        "probability of those listed; with --stream, writes the best continuation to the terminal as it is generated.",
    )
    parser.add_argument("text", metavar="TEXT",
                        help='the text to continue; "-" reads it from standard input (one trailing newline, '
                        "as echo adds, is removed)")
    parser.add_argument("--model", default="default", metavar="NAME|PATH",
                        help="a model name from `inkling models`, or a model folder (default: the bundled default)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument("--strategy", choices=STRATEGIES,
                        help="greedy, sample or beam (default: beam, as in the app)")
    parser.add_argument("--beams", type=int, metavar="N", help="beam width for beam search")
    parser.add_argument("--alternatives", type=int, metavar="N", help="how many alternatives beam search returns")
    parser.add_argument("--max-new-tokens", type=int, metavar="N", help="longest continuation in tokens")
    parser.add_argument("--temperature", type=float, metavar="T", help="sampling temperature")
    parser.add_argument("--top-k", type=int, metavar="K", help="sample among the K likeliest tokens (0: off)")
    parser.add_argument("--top-p", type=float, metavar="P", help="nucleus sampling threshold in (0, 1]")
    parser.add_argument("--min-p", type=float, metavar="P",
                        help="drop tokens less likely than P times the likeliest one")
    parser.add_argument("--repetition-penalty", type=float, metavar="X", help="above 1 discourages repeats")
    parser.add_argument("--no-repeat-ngram-size", type=int, metavar="N",
                        help="never repeat an N-gram (0: off; default 3, as in the app)")
    parser.add_argument("--length-penalty", type=float, metavar="X", help="beam search: above 1 favours longer")
    parser.add_argument("--seed", type=int, metavar="S", help="random seed, for repeatable sampling")
    parser.add_argument("--stop", choices=("word", "sentence", "line", "none"),
                        help="end after a whole word, a sentence (the default, as in the app), before a new line, "
                        "or only at --max-new-tokens (none)")
    parser.add_argument("--dry-multiplier", type=float, metavar="X",
                        help="DRY repetition penalty: a token that would extend a repeat of the text loses X times "
                        "a growing amount (0: off; default 0.8, as in the app)")
    parser.add_argument("--min-word-probability", type=float, metavar="P",
                        help="end the suggestion before a word (after its first) the model gives less than P "
                        "(0: never; default: the bar measured for the model, 0.1 where none was, as in the app); "
                        "only with --stop sentence (the default) and greedy or beam search: a length you choose is "
                        "kept whole, sampling is not cut")
    parser.add_argument("--never-suggest", nargs="+", metavar="WORD",
                        help="whole words (any case) the continuation must never contain; put TEXT before this "
                        "option, or end the words with --")
    parser.add_argument("--no-healing", action="store_true",
                        help="do not back off the last token of TEXT (token healing) before continuing")
    parser.add_argument("--memory", action="append", default=[], metavar="FOLDER",
                        help="remember a folder of your writing while continuing (indexed on first use, kept in the "
                        "user data folder); repeat for several folders")
    parser.add_argument("--no-memory", action="store_true",
                        help="the model alone: no memory of TEXT itself nor of any folder")
    parser.add_argument("--plain", action="store_true",
                        help="the model's own greedy choice with every guard, cut and penalty off, as transformers "
                        "and llama.cpp compute it (the app's Raw preset); the options above still apply on top")
    parser.add_argument("--stream", action="store_true",
                        help="on a terminal, write the best continuation as it is generated instead of listing "
                        "alternatives; into a pipe or file, write each alternative's final text on a line of its own, "
                        "best first")
    parser.set_defaults(func=run_complete)


def settings_from_args(args: argparse.Namespace) -> DecodingSettings:
    """The DecodingSettings the options ask for; raises ValueError naming the first bad field."""
    values = {field: getattr(args, option) for option, field in _DIRECT_OPTIONS.items()
              if getattr(args, option, None) is not None}
    beams, alternatives = args.beams, args.alternatives
    if (beams is not None or alternatives is not None) and args.strategy is None:
        values["strategy"] = "beam"  # asking for beams or alternatives means beam search
    default = DecodingSettings()
    # Keep the other of the two consistent when only one is given, rather than failing on the default.
    if beams is not None:
        values["num_beams"] = beams
        if alternatives is None and isinstance(beams, int) and beams >= 1:
            values["num_alternatives"] = min(default.num_alternatives, beams)
    if alternatives is not None:
        values["num_alternatives"] = alternatives
        if beams is None and isinstance(alternatives, int):
            values["num_beams"] = max(default.num_beams, alternatives)
    if values.get("stop") == "none":
        values["stop"] = None
    if getattr(args, "never_suggest", None):
        values["banned_words"] = tuple(args.never_suggest)
    if args.no_healing:
        values["token_healing"] = False
    if getattr(args, "no_memory", False):
        values["memory"] = False
    if getattr(args, "plain", False):
        return DecodingSettings.plain(**values)
    return DecodingSettings(**values)


def read_text(argument: str, stdin: TextIO) -> str:
    if argument != "-":
        return argument
    text = stdin.read()
    return text.removesuffix("\r\n") if text.endswith("\r\n") else text.removesuffix("\n")


def run_complete(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        return _usage_error(str(exc))
    text = read_text(args.text, sys.stdin)

    from engine.language_model import load

    lm = load(args.model, device=args.device)
    for folder in getattr(args, "memory", None) or []:
        try:
            opened = lm.memory.add_folder(folder)
        except FileNotFoundError as exc:
            return _usage_error(str(exc))
        if opened.message:
            print(f"inkling complete: {opened.message}", file=sys.stderr)
    try:
        if args.stream:
            _stream_best(lm, text, settings, sys.stdout)
        else:
            _print_alternatives(lm.complete(text, settings), sys.stdout)
    except ValueError as exc:  # e.g. a text the model cannot take; not a crash
        return _usage_error(str(exc))
    return 0


def _usage_error(message: str) -> int:
    print(f"inkling complete: error: {message}", file=sys.stderr)
    return 2


def _print_alternatives(completions, out: TextIO) -> None:
    if not completions:
        print("(no continuation: the model ended the text here)", file=out)
        return
    # A raw sequence probability (1.58e-16) tells a person nothing; the share among the listed ones does.
    for rank, (completion, share) in enumerate(zip(completions, shares(completions)), 1):
        quoted = json.dumps(completion.text, ensure_ascii=False)  # shows newlines and edges of spaces
        print(f"{rank}. {percent(share):>4}  {quoted}", file=out)
    if len(completions) > 1:
        print(f"(%: {SHARE_MEANING})", file=out)


def _stream_best(lm, text: str, settings: DecodingSettings, out: TextIO) -> None:
    if not _is_terminal(out):
        # A pipe cannot take back what beam search's changing best guess wrote, and a reader downstream wants
        # answers, not a partial guess followed by a correction: one final text per alternative, best first.
        _print_final_texts(lm.complete(text, settings), out)
        return
    view = StreamView(out)
    final_text = None
    for event in lm.stream(text, settings):
        if event.done:
            final_text = event.completions[0].text if event.completions else event.text
        else:
            view.show(event.text)
    view.finish(final_text if final_text is not None else view.shown)


def _print_final_texts(completions, out: TextIO) -> None:
    for completion in completions:
        print(completion.text, file=out)


def _is_terminal(out: TextIO) -> bool:
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


class StreamView:
    """Shows a growing text on a terminal that may be replaced (beam search switching hypotheses): the text
    already written is erased back to the common prefix with ANSI cursor moves, so the terminal always shows the
    current best."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.shown = ""

    def show(self, text: str) -> None:
        keep = _common_prefix_length(self.shown, text)
        if keep < len(self.shown):
            self.out.write(_erase_back_to(self.shown, keep))
            self.shown = self.shown[:keep]
        self.out.write(text[keep:])
        self.out.flush()
        self.shown = text

    def finish(self, final_text: str) -> None:
        keep = _common_prefix_length(self.shown, final_text)
        if keep < len(self.shown):
            self.out.write(_erase_back_to(self.shown, keep))
        self.out.write(final_text[keep:] + "\n")
        self.shown = final_text
        self.out.flush()


def _common_prefix_length(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1
               for ch in text)


def _erase_back_to(shown: str, keep: int) -> str:
    """ANSI codes moving the cursor from the end of ``shown`` back to position ``keep`` and clearing after it.

    Assumes ``shown`` was written from the start of a line and no line wrapped."""
    lines_up = shown.count("\n", keep)
    if lines_up == 0:
        width = _columns(shown[keep:])
        return f"\x1b[{width}D\x1b[K" if width else "\x1b[K"
    column = _columns(shown[:keep].rsplit("\n", 1)[-1])
    return f"\x1b[{lines_up}A\r" + (f"\x1b[{column}C" if column else "") + "\x1b[J"
