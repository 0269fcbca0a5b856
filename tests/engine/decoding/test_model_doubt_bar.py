"""The doubt cut's bar kept with a model: used where the settings leave it to the model (None, the default), and
a bar the writer sets wins."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import engine
from engine.decoding.settings import DEFAULT_MIN_WORD_PROBABILITY
from engine.loading.model_defaults import measured_min_word_probability
from engine.training.keystrokes import LanguageModelSuggester, default_length_doubt_cut
from tests.support.decoding import ModelWrapper

PROMPT = "Count:"
SCRIPT = " fox dog sun rain weather."  # each token of the tiny tokenizer's once
DOUBTFUL = " rain"  # the one word the scripted model gives a 20% chance; every other token is near certain
GREEDY = engine.DecodingSettings(strategy="greedy", max_new_tokens=16)


class _Scripted(ModelWrapper):
    """The model's logits replaced by a table: after each token of the script, its next token at a chosen
    probability and every other token equally unlikely."""

    def __init__(self, inner: nn.Module, table: torch.Tensor) -> None:
        super().__init__(inner)
        self.register_buffer("table", table)

    def forward(self, tokens, cache=None):
        logits, cache = self.inner(tokens, cache)
        return torch.zeros_like(logits) + self.table[tokens], cache


def _logit(probability: float, vocab: int) -> float:
    """The logit that gives one token ``probability`` against ``vocab - 1`` tokens at logit 0."""
    return math.log(probability * (vocab - 1) / (1 - probability))


def _with_bar(folder: Path, bar: float | None) -> engine.LanguageModel:
    """The tiny model of ``folder`` with ``bar`` kept in its generation_config.json, scripted to write SCRIPT."""
    config: dict = {"do_sample": False, "max_new_tokens": 16}
    if bar is not None:
        config["inkling"] = {"min_word_probability": bar}
    (folder / "generation_config.json").write_text(json.dumps(config), encoding="utf-8")
    lm = engine.load(str(folder), device="cpu")
    vocab = lm.model.vocab_size
    before = lm.tokenizer.encode(SCRIPT[: SCRIPT.index(DOUBTFUL)])
    doubtful = lm.tokenizer.encode(DOUBTFUL)
    script = lm.tokenizer.encode(PROMPT)[-1:] + lm.tokenizer.encode(SCRIPT) + [lm.eos_token_id]
    assert script[1:1 + len(before) + len(doubtful)] == before + doubtful
    table = torch.zeros(vocab, vocab)
    for index, (current, following) in enumerate(itertools.pairwise(script)):
        chance = 0.2 if index == len(before) else 0.999
        table[current, following] = _logit(chance, vocab)
    lm.model = _Scripted(lm.model, table)
    return lm


def test_a_model_folder_gives_its_bar_and_a_model_without_one_the_fallback(tiny_gpt2_folder):
    assert _with_bar(tiny_gpt2_folder, 0.25).doubt_cut_default == 0.25
    lm = _with_bar(tiny_gpt2_folder, None)
    assert lm.measured_doubt_cut is None and lm.doubt_cut_default == DEFAULT_MIN_WORD_PROBABILITY


@pytest.mark.parametrize("section", [{"min_word_probability": 1.5}, {"min_word_probability": "0.2"}, [0.2]])
def test_a_bar_that_is_not_a_probability_is_ignored(section):
    assert measured_min_word_probability({"inkling": section}, None) is None


def test_decoding_uses_the_models_bar_when_the_settings_leave_it_to_the_model(tiny_gpt2_folder):
    whole = _with_bar(tiny_gpt2_folder, None).complete(PROMPT, GREEDY)[0].text
    assert whole == SCRIPT  # the fallback bar, 10%, keeps the 20% word
    [left] = _with_bar(tiny_gpt2_folder, 0.5).complete(PROMPT, GREEDY)  # min_word_probability None
    assert left.text == SCRIPT[: SCRIPT.index(DOUBTFUL)]
    beam = _with_bar(tiny_gpt2_folder, 0.5).complete(PROMPT, GREEDY.replace(strategy="beam"))
    assert beam[0].text == left.text


@pytest.mark.parametrize(("chosen", "expected"), [(0.0, SCRIPT), (0.1, SCRIPT), (0.3, " fox dog sun")])
def test_a_bar_the_writer_sets_wins_over_the_models(tiny_gpt2_folder, chosen, expected):
    for bar in (None, 0.05, 0.5):
        lm = _with_bar(tiny_gpt2_folder, bar)
        assert lm.complete(PROMPT, GREEDY.replace(min_word_probability=chosen))[0].text == expected
    assert engine.DecodingSettings.plain().for_model(0.95).doubt_cut == 0.0  # Raw never cuts


def test_the_keystroke_simulation_measures_the_models_bar(tiny_gpt2_folder):
    lm = _with_bar(tiny_gpt2_folder, 0.3)
    settings = GREEDY.replace(stop=None)
    assert default_length_doubt_cut(settings, lm) == 0.3
    assert default_length_doubt_cut(settings.replace(min_word_probability=0.05), lm) == 0.05
    assert LanguageModelSuggester(lm, settings=settings).doubt == 0.3


def test_a_catalogue_gguf_gets_its_entrys_bar_by_file_name(tmp_path, monkeypatch):
    from engine.loading import catalogue

    entry = {"id": "small", "name": "Small", "repo_id": "org/small-GGUF", "file_name": "small.Q4_0.gguf",
             "size_bytes": 1000, "architecture": "llama", "licence": "MIT", "min_word_probability": 0.15}
    unmeasured = {**entry, "id": "other", "file_name": "other.gguf", "min_word_probability": None}
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps({"models": [entry, unmeasured]}), encoding="utf-8")
    monkeypatch.setattr(catalogue, "CATALOGUE_FILE", path)
    assert measured_min_word_probability({}, Path("/anywhere/small.Q4_0.gguf")) == 0.15
    assert measured_min_word_probability({}, Path("/anywhere/other.gguf")) is None
    assert measured_min_word_probability({}, Path("/anywhere/unknown.gguf")) is None
    path.write_text(json.dumps({"models": [{**entry, "min_word_probability": 1.5}]}), encoding="utf-8")
    with pytest.raises(catalogue.CatalogueError, match="min_word_probability"):
        catalogue.load_catalogue()
