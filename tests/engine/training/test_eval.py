"""Keystroke savings, ExactMatch, the word-trigram baseline and ``inkling eval``, on texts whose answers are known."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import engine
from engine.cli import main
from engine.training.keystrokes import (
    LanguageModelSuggester,
    exact_match_rates,
    simulate_typing,
    trim_to_words,
    word_starts,
    word_units,
)
from engine.training.trainer import TrainSettings, train
from engine.training.trigram import WordTrigramModel, tokenize

TEXT = ("Mr. Utterson the lawyer was a man of a rugged countenance that was never lighted by a smile; cold, "
        "scanty and embarrassed in discourse; backward in sentiment; lean, long, dusty, dreary and yet somehow "
        "lovable.")
OTHER = ("The ship left the harbour at dawn. The sailors sang as they raised the sails, and the wind carried "
         "them out to the open sea. The captain watched the coast grow small behind them. ") * 3


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Memorised:
    """A predictor that knows the text by heart: it always suggests exactly what comes next."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self, prefix: str) -> str:
        return self.text[len(prefix):]


def test_a_predictor_that_knows_the_text_saves_all_but_one_key_per_suggestion():
    report = simulate_typing(Memorised(TEXT), TEXT, max_words=3)
    units = len(word_units(TEXT))
    assert report.keys == math.ceil(units / 3) == report.tab_accepts  # one Tab per 3-word suggestion
    assert report.typed_characters == 0
    assert report.ksr == pytest.approx(1 - math.ceil(units / 3) / len(TEXT))
    assert report.ksr > 0.8


def test_a_predictor_that_never_helps_saves_nothing():
    for useless in (lambda prefix: "", lambda prefix: " zzz qqq"):
        report = simulate_typing(useless, TEXT)
        assert report.keys == report.characters == len(TEXT)
        assert report.ksr == 0.0


def test_word_by_word_acceptance_costs_one_key_per_word_and_no_new_suggestion_until_a_key():
    text = "a bb cc dd"
    asked = []

    def right_then_wrong(prefix: str) -> str:
        asked.append(prefix)
        units = word_units(text[len(prefix):])
        return "".join(units[:2]) + " WRONG"

    report = simulate_typing(right_then_wrong, text, max_words=3)
    # "a"," bb" accepted (2 keys), " " typed (1 key), then "cc"," dd" accepted (2 keys)
    assert report.keys == 5 and report.word_accepts == 4 and report.typed_characters == 1
    assert asked == ["", "a bb "]
    assert report.ksr == pytest.approx(0.5)


class SecondKnows:
    """Lists a wrong alternative first and the right one second (KSR@1 gets nothing, KSR@2 everything)."""

    def __init__(self, text: str, partial: bool = False) -> None:
        self.text = text
        self.partial = partial

    def alternatives(self, prefix: str) -> list[str]:
        right = self.text[len(prefix):]
        if self.partial:  # only its first unit is right
            right = "".join(word_units(right)[:1]) + " WRONG"
        return [" zzz qqq", right]


def test_ksr_at_k_lets_the_typist_take_any_of_the_first_k_alternatives():
    at_1 = simulate_typing(SecondKnows(TEXT), TEXT, choices=1)
    at_2 = simulate_typing(SecondKnows(TEXT), TEXT, choices=2)
    assert at_1.ksr == 0.0
    assert at_2.keys == at_2.tab_accepts == math.ceil(len(word_units(TEXT)) / 3)  # Ctrl+2: one key each
    partial = simulate_typing(SecondKnows("a bb", partial=True), "a bb", choices=2, max_words=3)
    # "a": one key to reach the second alternative, Ctrl+Right (2 keys); " " typed; "bb": the same again
    assert partial.keys == 5 and partial.word_accepts == 2 and partial.typed_characters == 1


def test_the_predictor_sees_the_text_typed_so_far_in_a_window_that_moves_in_jumps():
    text = " ".join(f"word{i}" for i in range(400))
    prefixes: list[str] = []
    simulate_typing(lambda prefix: prefixes.append(prefix) or "", text, context_chars=300)
    assert len(prefixes) == len(text)  # nothing accepted: one request per typed character
    starts = []
    for position, prefix in enumerate(prefixes):
        assert text[position - len(prefix) : position] == prefix and len(prefix) <= 300
        starts.append(position - len(prefix))
    moves = sum(1 for a, b in itertools.pairwise(starts) if a != b)
    assert 0 < moves <= len(text) // 100  # consecutive requests share their start (cache-friendly)


def test_exact_match_rates():
    starts = len(word_starts(TEXT))
    rates = exact_match_rates(Memorised(TEXT), TEXT)
    # at the last word starts fewer than 3 (5) words remain, so those cannot match
    assert rates == {1: 1.0, 3: (starts - 2) / starts, 5: (starts - 4) / starts}
    assert exact_match_rates(lambda prefix: "", TEXT) == {1: 0.0, 3: 0.0, 5: 0.0}
    assert exact_match_rates(Memorised(TEXT), TEXT, (1,), max_positions=5) == {1: 1.0}


# --- the word-trigram baseline ------------------------------------------------------------------------------


def test_trigram_tokens_rebuild_the_text_exactly():
    sample = "It's 5 o'clock,  he said\u2014\n\n\"Don't!\" \t"
    assert "".join(tokenize(sample)) == sample


def test_trigram_probabilities_sum_to_one_and_unknown_words_stay_finite():
    model = WordTrigramModel.train([TEXT, OTHER])
    everything = np.arange(1, model.size)  # every token but <s>, <unk> included
    for u, v in [(0, 0), (0, model.ids[" The"]), (0, 1), (model.ids[" the"], model.ids[" ship"])]:
        total = model.probabilities(np.full_like(everything, u), np.full_like(everything, v), everything).sum()
        assert total == pytest.approx(1.0)
    unseen = "Zyxqv glorped the frumious bandersnatch."
    assert math.isfinite(model.bits_per_byte(unseen)) and model.bits_per_byte(unseen) > 2


def test_trigram_bits_per_byte_is_low_on_text_it_has_seen():
    memorised = WordTrigramModel.train([TEXT] * 3 + [OTHER])
    stranger = WordTrigramModel.train([OTHER])
    assert memorised.bits_per_byte(TEXT) < 1.0 < stranger.bits_per_byte(TEXT)


def test_trigram_completes_the_word_being_typed_then_the_next_words():
    model = WordTrigramModel.train([OTHER], max_words=3)
    assert model.suggest("The sailors sa") == "ng as they"
    assert model.suggest("The sailors sang ") == "as they raised"
    assert model.suggest("The captain watched the co") == "ast grow small"
    assert model.suggest("The qx") == ""  # no known word starts so


def test_trigram_ksr_is_high_on_seen_text_and_it_survives_save_and_load(tmp_path):
    model = WordTrigramModel.train([TEXT] * 3 + [OTHER])
    seen = simulate_typing(model, TEXT)
    assert seen.ksr > 0.6
    assert simulate_typing(WordTrigramModel.train([OTHER]), TEXT).ksr < seen.ksr / 2
    model.save(tmp_path / "trigram.npz")
    loaded = WordTrigramModel.load(tmp_path / "trigram.npz")
    assert loaded.bits_per_byte(TEXT) == pytest.approx(model.bits_per_byte(TEXT))
    assert simulate_typing(loaded, TEXT) == seen


# --- a language model -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def memorised_model(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny Transformer trained until it knows TEXT by heart (a few seconds on one thread)."""
    root = tmp_path_factory.mktemp("memorised")
    data = root / "data"
    data.mkdir()
    for name in "abc":  # three copies: one may be held out for validation, the others still hold all of it
        (data / f"{name}.txt").write_text(TEXT, encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainSettings(data=[str(data)], out=str(root / "model"), size="tiny", steps=100, batch_size=4,
                            block_size=128, learning_rate=1e-2, vocab_size=300, eval_every=1000, eval_batches=1,
                            device="cpu", cache_dir=str(root / "cache")))
    finally:
        torch.set_num_threads(threads)
    return root / "model", data


def test_a_model_that_memorised_the_text_gets_a_high_ksr_and_low_bits(memorised_model):
    lm = engine.load(str(memorised_model[0]), device="cpu")
    report = simulate_typing(LanguageModelSuggester(lm), TEXT)
    assert report.ksr > 0.8
    assert report.typed_characters <= 3
    assert lm.bits_per_byte(TEXT) < 0.3


def test_stopping_a_suggestion_after_enough_words_gives_the_same_text(tiny_gpt2):
    full, early = LanguageModelSuggester(tiny_gpt2), LanguageModelSuggester(tiny_gpt2, max_words=2)
    for end in range(1, 60, 7):
        assert trim_to_words(early(TEXT[:end]), 2) == trim_to_words(full(TEXT[:end]), 2)


def test_a_random_model_barely_helps(tiny_gpt2):
    assert simulate_typing(LanguageModelSuggester(tiny_gpt2), TEXT[:80]).ksr < 0.2


def test_inkling_eval_prints_model_and_baseline_figures(memorised_model, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("INKLING_CACHE_DIR", str(tmp_path / "cache"))
    folder, data = memorised_model
    text_file = data / "a.txt"
    assert main(["eval", "--model", str(folder), "--text", str(text_file), "--device", "cpu", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    lm = engine.load(str(folder), device="cpu")
    assert figures["model"]["ksr"] == pytest.approx(simulate_typing(LanguageModelSuggester(lm), TEXT).ksr)
    assert figures["model"]["bits_per_byte"] == pytest.approx(lm.bits_per_byte(TEXT))
    assert figures["alternatives_by"] == "first-word branching"
    assert set(figures["ksr_at"]) == {"1", "3"} and figures["ksr_at"]["3"] >= figures["ksr_at"]["1"] > 0.5
    baseline = WordTrigramModel.train([TEXT, TEXT])  # the training split: the copies not held out
    assert figures["baseline"]["bits_per_byte"] < 2 and figures["baseline"]["ksr"] > 0.3
    assert figures["baseline"]["ksr"] == pytest.approx(simulate_typing(baseline, TEXT).ksr, abs=0.05)
    assert figures["baseline_data"] == [str(data.resolve())]
    assert any("training split" in note for note in figures["notes"])
    for _ in range(2):  # the second run replaces the card's evaluation section instead of adding another
        assert main(["eval", "--model", str(folder), "--text", str(text_file), "--device", "cpu",
                     "--update-card"]) == 0
    table = capsys.readouterr().out
    assert "bits/byte" in table and "word-trigram baseline" in table and "KSR of the model / KSR of the" in table
    assert "KSR@1" in table and "KSR@3" in table
    card = (folder / "README.md").read_text()
    assert card.count("## Evaluation (inkling eval)") == 1 and "## Training data" in card
    assert table.strip().splitlines()[-1] in card


def test_inkling_eval_without_known_training_data_says_how_to_give_it(tiny_gpt2_folder, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(TEXT, encoding="utf-8")
    assert main(["eval", "--model", str(tiny_gpt2_folder), "--text", str(text), "--max-chars", "40",
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "--baseline-data" in out and "word-trigram baseline" not in out


def test_eval_progress_goes_into_a_log_every_half_minute_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    from engine.commands import evaluate

    clock = [1000.0]
    monkeypatch.setattr(evaluate.time, "monotonic", lambda: clock[0])
    meter = evaluate._TypingProgress()
    assert not meter.interactive  # capsys: stderr is not a terminal
    for seconds, position in ((10, 100), (31, 400), (40, 500), (62, 900)):
        clock[0] = 1000.0 + seconds
        meter("default", position, 10_000)
    meter.finish()
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["typing with default: 400 / 10,000 characters", "typing with default: 900 / 10,000 characters"]
