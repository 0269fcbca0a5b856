"""Which doubt-cut bar suits a model: the simulated typist's keystroke savings (KSR) with suggestions ended before
their first word under each bar (``engine.decoding.doubt``, ``DecodingSettings.min_word_probability``), and the
best bar. ``--write`` keeps the best with a model folder (its ``generation_config.json``, ``"inkling"`` section),
where decoding takes it from when the writer leaves the bar to the model; a GGUF file of the catalogue keeps it in
its entry of ``engine/loading/catalogue.json`` (the line to put there is printed).

    python tools/measure_doubt_cut.py --model default [--thresholds 0 0.05 0.1 0.2 0.3] [--max-chars 3000]
        [--strategy greedy|beam] [--memory on|off] [--write] FILE...

The typist is ``inkling eval``'s (3 words at most per suggestion, the same context window): greedy, as
``inkling eval`` reports KSR, or ``--strategy beam``, the app's default (first-word alternatives, the typist
takes the first, KSR@1). Whatever the bar, decoding a prefix gives the same tokens (the cut only shortens what is
shown), so each prefix is decoded once and the bars share it: five bars cost little more than one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine
from engine.decoding.settings import DecodingSettings
from engine.decoding.word_units import word_units
from engine.loading.checkpoint import GENERATION_CONFIG
from engine.loading.model_defaults import GENERATION_SECTION, MIN_WORD_PROBABILITY
from engine.owned_files import write_owned_text
from engine.training.evaluation import load_eval_texts
from engine.training.keystrokes import (
    DEFAULT_MAX_WORDS,
    AlternativesOfLanguageModel,
    KeystrokeReport,
    LanguageModelSuggester,
    simulate_typing,
    suggestion_tokens,
)

DEFAULT_THRESHOLDS = (0.0, 0.05, 0.1, 0.2, 0.3)


class SharedDecoding:
    """``lm`` for the suggesters, each prefix decoded once: ``stream`` replays the recorded events (up to where
    the typist's word limit ends a suggestion that no bar cut), ``complete`` the recorded completions. The bar
    lives in the suggesters, never in decoding (they decode with no stop rule, where decoding makes no cut)."""

    def __init__(self, lm, max_words: int | None) -> None:
        self.lm = lm
        self.max_words = max_words
        self.decoded = 0
        self._streams: dict[str, list] = {}
        self._completions: dict[str, list] = {}

    def __getattr__(self, name: str):
        return getattr(self.lm, name)

    def stream(self, prefix: str, settings: DecodingSettings) -> Iterator:
        if prefix not in self._streams:
            self.decoded += 1
            events = []
            stream = self.lm.stream(prefix, settings.replace(min_word_probability=0.0))
            try:
                for event in stream:
                    events.append(event)
                    if event.done or (self.max_words is not None and len(word_units(event.text)) > self.max_words):
                        break
            finally:
                stream.close()
            self._streams[prefix] = events
        return (event for event in self._streams[prefix])

    def complete(self, prefix: str, settings: DecodingSettings) -> list:
        if prefix not in self._completions:
            self.decoded += 1
            self._completions[prefix] = self.lm.complete(prefix, settings.replace(min_word_probability=0.0))
        return self._completions[prefix]


def measure(lm, texts, thresholds, strategy: str, memory: bool, max_words: int | None = DEFAULT_MAX_WORDS,
            log=print) -> dict[float, KeystrokeReport]:
    """The typist's report over ``texts`` at each bar."""
    shared = SharedDecoding(lm, max_words)
    tokens = suggestion_tokens(max_words)
    reports = {}
    for bar in thresholds:
        started = time.perf_counter()
        if strategy == "greedy":
            settings = DecodingSettings(strategy="greedy", max_new_tokens=tokens, token_healing=True, stop=None,
                                        memory=memory, min_word_probability=bar)
            suggester = LanguageModelSuggester(shared, settings=settings, max_words=max_words)
            choices = None
        else:
            suggester = AlternativesOfLanguageModel(shared, alternatives=3, max_new_tokens=tokens)
            suggester.settings = suggester.settings.replace(memory=memory, min_word_probability=bar)
            choices = 1
        report = KeystrokeReport()
        for item in texts:
            report = report.add(simulate_typing(suggester, item.text, max_words=max_words, choices=choices))
        reports[bar] = report
        log(f"  bar {bar:.0%}: KSR {report.ksr:.2%} ({report.suggestions} suggestions, "
            f"{time.perf_counter() - started:.0f} s, {shared.decoded} prefixes decoded so far)")
    return reports


def best_bar(reports: dict[float, KeystrokeReport]) -> float:
    """The bar with the highest KSR (the lowest of those tied)."""
    return max(sorted(reports), key=lambda bar: reports[bar].ksr)


def write_bar(folder: Path, bar: float, reports: dict[float, KeystrokeReport], measured_on: str) -> Path:
    """Keep ``bar`` (and what it was chosen from) in the model folder's generation_config.json."""
    path = folder / GENERATION_CONFIG
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    config[GENERATION_SECTION] = {
        **(config.get(GENERATION_SECTION) or {}),
        MIN_WORD_PROBABILITY: bar,
        "min_word_probability_ksr": {f"{b:g}": round(r.ksr, 4) for b, r in sorted(reports.items())},
        "min_word_probability_measured_on": measured_on,
    }
    write_owned_text(path, json.dumps(config, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="held-out text (.txt / .md files or folders)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--thresholds", type=float, nargs="+", default=list(DEFAULT_THRESHOLDS))
    parser.add_argument("--max-chars", type=int, default=3000, help="characters of each file (0: all)")
    parser.add_argument("--strategy", choices=("greedy", "beam"), default="greedy")
    parser.add_argument("--memory", choices=("on", "off"), default="on")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--write", action="store_true",
                        help="keep the best bar in the model folder's generation_config.json")
    args = parser.parse_args(argv)
    thresholds = sorted(set(args.thresholds))
    if not all(0 <= bar < 1 for bar in thresholds):
        parser.error("each threshold must be in [0, 1)")
    lm = engine.load(args.model, device=args.device)
    texts = load_eval_texts(args.files, args.max_chars or None)
    characters = sum(len(item.text) for item in texts)
    measured_on = (f"{', '.join(Path(f).name for f in args.files)}, first {args.max_chars or 'all'} characters "
                   f"({characters} in all), {args.strategy}, memory {args.memory}, {DEFAULT_MAX_WORDS} words at most")
    print(f"{lm.name}: {measured_on}; its bar now {lm.doubt_cut_default:g}"
          f"{'' if lm.measured_doubt_cut is not None else ' (the fallback)'}")
    reports = measure(lm, texts, thresholds, args.strategy, args.memory == "on")
    best = best_bar(reports)
    print("\n| bar | KSR |\n|---|---|")
    for bar, report in reports.items():
        print(f"| {bar:.0%} | {report.ksr:.1%}{' (best)' if bar == best else ''} |")
    print(f"\nbest bar: {best:g}")
    if args.write:
        if lm.path is None or not lm.path.is_dir():
            print(f'not a model folder: put "min_word_probability": {best:g} in its catalogue entry')
        else:
            print(f"kept in {write_bar(lm.path, best, reports, measured_on)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
