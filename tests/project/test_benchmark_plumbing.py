"""Benchmarks' plumbing. Training throughput: both sides train the same shape and report positive times; the
compiled path really compiles here (on a one-layer model), so a torch or compiler change that breaks it shows.
GUI pause latency: the real window on a tiny model is typed into and timed, and so is the engine alone; the GUI
thread's timer gaps are measured while a suggestion streams and while nothing does."""

from __future__ import annotations

import sys

import pytest
import torch

from tests.support.paths import REPO
from tests.support.tiny_models import make_gpt2_folder

sys.path.insert(0, str(REPO / "benchmarks"))


@pytest.mark.slow
def test_train_throughput_measures_both_sides_on_the_same_shape():
    import train_throughput

    threads = torch.get_num_threads()
    try:
        report = train_throughput.run(layers=1, width=64, vocab=256, batch=2, block=16, steps=2, warmup=1, threads=1)
    finally:
        torch.set_num_threads(threads)
    names = list(report["times"])
    assert names[0].startswith("eager float32") and names[1].startswith("inkling train (compiled")
    assert all(len(times) == 2 and min(times) > 0 for times in report["times"].values())
    assert report["tokens_per_step"] == 32 and report["params"] > 0


def test_gui_pause_latency_times_the_window_and_the_engine_on_the_same_texts(qtbot, app_dirs, tiny_gpt2_folder,
                                                                             tmp_path):
    import gui_pause_latency

    figures = gui_pause_latency.measure(str(tiny_gpt2_folder), pauses=2, text=gui_pause_latency.sample_text(),
                                        give_up_s=10.0, scratch=tmp_path)
    assert figures["ready_s"] > 0 and figures["debounce_ms"] == 120
    assert len(figures["gui_s"]) + figures["no_ghost"] == 2
    assert all(s > figures["debounce_ms"] / 1000 * 0.9 for s in figures["gui_s"])  # a ghost waits for the pause
    assert len(figures["engine_s"]) <= 2 and all(s > 0 for s in figures["engine_s"])


def test_ui_thread_gaps_times_the_timer_while_streaming_and_while_idle(qtbot, app_dirs, tiny_tokenizer, tmp_path):
    import ui_thread_gaps

    # Big enough that 100 tokens stream over several of the timer's 5 ms ticks.
    folder = make_gpt2_folder(tmp_path / "longer", tiny_tokenizer, n_layer=4, n_embd=128, n_positions=1024)
    figures = ui_thread_gaps.measure(str(folder), tokens=100, rounds=2, scratch=tmp_path)
    assert len(figures["events"]) == 2 and all(events >= 100 for events in figures["events"])  # no stop rule
    assert figures["streaming_s"] and figures["idle_s"]
    assert all(gap > 0 for gap in figures["streaming_s"] + figures["idle_s"])


def test_decode_step_models_measures_both_folders_in_turns_as_the_app_loads_them(tiny_gpt2_folder):
    import decode_step_models

    figures = decode_step_models.measure({"reference": str(tiny_gpt2_folder), "candidate": str(tiny_gpt2_folder)},
                                         "The captain watched the coast", repeats=2, weights="auto")
    assert list(figures) == ["reference", "candidate"]
    for per_token_ms, first_token_ms, storage in figures.values():
        assert per_token_ms > 0 and first_token_ms > 0
        assert storage == "float32"  # a tiny model stays in float32 under "auto", as the app loads it


def test_memory_overhead_reports_how_many_tokens_each_side_generated(tiny_gpt2):
    import memory_overhead

    import engine

    settings = engine.DecodingSettings(strategy="greedy", max_new_tokens=4, stop=None, no_repeat_ngram_size=0,
                                       dry_multiplier=0.0, whole_words=False)
    times, tokens = memory_overhead.per_token_ms(tiny_gpt2, "The captain watched the coast grow small. " * 3,
                                                 settings, repeats=2)
    assert all(len(times[memory]) == 2 and min(times[memory]) > 0 for memory in (False, True))
    assert all(count == 4 for memory in (False, True) for count in tokens[memory])  # nothing cut it short


def test_long_lines_types_into_each_case_with_and_without_the_rule(qtbot):
    import long_lines as benchmark
    from PySide6.QtWidgets import QApplication

    text = "x" * 20_000  # past the suggestions limit, short of the read-only one
    app = QApplication.instance()
    times, load_s, decided = benchmark.keystroke_times(app, text, 2, rule=True)
    assert len(times) == 2 and min(times) > 0 and load_s > 0 and decided == "wrap anywhere, no suggestions"
    assert benchmark.keystroke_times(app, text, 1, rule=False)[2] == "as usual"
    assert list(benchmark.texts([1])) == ["1 KiB word, no space", "1 KiB line of words"]
