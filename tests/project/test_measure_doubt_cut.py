"""tools/measure_doubt_cut.py: the keystroke savings at each bar, each prefix decoded once for every bar, and the
best bar kept with the model."""

from __future__ import annotations

import json
import sys

import engine
from engine.decoding.settings import DecodingSettings
from engine.training.evaluation import EvalText
from engine.training.keystrokes import KeystrokeReport, LanguageModelSuggester, simulate_typing
from tests.support.paths import REPO

sys.path.insert(0, str(REPO / "tools"))

from measure_doubt_cut import best_bar, measure, write_bar

TEXT = "The quick brown fox jumps over the lazy dog. The dog sleeps in the warm sun, and the fox runs."
BARS = (0.0, 0.3, 0.9)


def test_sharing_the_decoding_gives_each_bar_the_figures_of_its_own_run(tiny_gpt2):
    texts = [EvalText("sample", "sample", TEXT)]
    shared = measure(tiny_gpt2, texts, BARS, "greedy", memory=False, log=lambda _line: None)
    for bar in BARS:
        settings = DecodingSettings(strategy="greedy", max_new_tokens=8, token_healing=True, stop=None,
                                    memory=False, min_word_probability=bar)
        own = simulate_typing(LanguageModelSuggester(tiny_gpt2, settings=settings, max_words=3), TEXT)
        assert (shared[bar].keys, shared[bar].suggestions) == (own.keys, own.suggestions)


def test_the_best_bar_is_kept_where_the_model_reads_it(tiny_gpt2_folder):
    reports = {0.0: KeystrokeReport(characters=100, keys=80), 0.05: KeystrokeReport(characters=100, keys=70),
               0.1: KeystrokeReport(characters=100, keys=70)}
    best = best_bar(reports)
    assert best == 0.05  # the lowest of the tied best
    path = write_bar(tiny_gpt2_folder, best, reports, "sample.txt")
    section = json.loads(path.read_text(encoding="utf-8"))["inkling"]
    assert section["min_word_probability"] == 0.05 and section["min_word_probability_ksr"]["0.1"] == 0.3
    assert engine.load(str(tiny_gpt2_folder), device="cpu").doubt_cut_default == 0.05
