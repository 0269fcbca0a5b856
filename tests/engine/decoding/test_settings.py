"""``DecodingSettings`` validation: every bad value is refused at construction, naming its field."""

from __future__ import annotations

import json
import math

import pytest

from engine.decoding.settings import (
    DEFAULT_MIN_WORD_PROBABILITY,
    MAX_BEAMS,
    MAX_NEW_TOKENS_LIMIT,
    DecodingSettings,
)

BAD_VALUES = [
    ("strategy", "nucleus"),
    ("strategy", None),
    ("max_new_tokens", 0),
    ("max_new_tokens", MAX_NEW_TOKENS_LIMIT + 1),
    ("max_new_tokens", 2.5),
    ("max_new_tokens", True),
    ("max_new_tokens", "16"),
    ("num_beams", 0),
    ("num_beams", MAX_BEAMS + 1),
    ("num_beams", True),
    ("num_alternatives", 0),
    ("num_alternatives", 1.0),
    ("temperature", -0.1),
    ("temperature", math.nan),
    ("temperature", math.inf),
    ("temperature", "hot"),
    ("temperature", True),
    ("top_k", -1),
    ("top_k", 1.5),
    ("top_k", False),
    ("top_p", 0.0),
    ("top_p", 1.01),
    ("top_p", math.nan),
    ("min_p", -0.1),
    ("min_p", 1.0),
    ("repetition_penalty", 0.0),
    ("repetition_penalty", -1.0),
    ("repetition_penalty", math.inf),
    ("no_repeat_ngram_size", -1),
    ("no_repeat_ngram_size", 2.0),
    ("no_repeat_ngram_size", True),
    ("length_penalty", math.nan),
    ("length_penalty", "long"),
    ("seed", -1),
    ("seed", 1.5),
    ("seed", True),
    ("token_healing", 1),
    ("token_healing", "yes"),
    ("stop", "paragraph"),
    ("stop", ""),
    ("special_tokens", 0),
    ("whole_words", None),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES, ids=[f"{f}={v!r}" for f, v in BAD_VALUES])
def test_bad_values_raise_a_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        DecodingSettings(**{field: value})


def test_more_alternatives_than_beams_is_refused():
    with pytest.raises(ValueError, match="num_alternatives"):
        DecodingSettings(num_beams=2, num_alternatives=3)
    assert DecodingSettings(num_beams=3, num_alternatives=3).num_alternatives == 3


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValueError) as info:
        DecodingSettings(temperature=-1, top_p=2.0, stop="page")
    message = str(info.value)
    assert "temperature" in message and "top_p" in message and "stop" in message


def test_replace_validates_too():
    settings = DecodingSettings()
    assert settings.replace(top_k=5).top_k == 5
    with pytest.raises(ValueError, match="top_k"):
        settings.replace(top_k=-5)


@pytest.mark.parametrize(
    "good",
    [
        {},
        {"strategy": "sample", "temperature": 0.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0, "seed": 0},
        {"strategy": "beam", "num_beams": MAX_BEAMS, "num_alternatives": 1, "length_penalty": -2.0},
        {"max_new_tokens": MAX_NEW_TOKENS_LIMIT, "repetition_penalty": 0.5, "no_repeat_ngram_size": 3},
        {"stop": "word"}, {"stop": "sentence"}, {"stop": "line"}, {"token_healing": False},
    ],
)
def test_good_values_are_accepted(good):
    settings = DecodingSettings(**good)
    for key, value in good.items():
        assert getattr(settings, key) == value


def test_round_trip_through_a_dict_ignores_unknown_keys():
    settings = DecodingSettings(strategy="beam", num_beams=6, stop="word", seed=7)
    data = settings.to_dict()
    assert DecodingSettings.from_dict(data) == settings
    assert DecodingSettings.from_dict({**data, "from_a_newer_version": 1}) == settings
    with pytest.raises(ValueError, match="top_p"):
        DecodingSettings.from_dict({**data, "top_p": 5})


def test_plain_turns_off_everything_the_app_adds_to_the_model():
    plain = DecodingSettings.plain()
    assert plain.strategy == "greedy"
    assert (plain.no_repeat_ngram_size, plain.dry_multiplier, plain.repetition_penalty, plain.banned_words) == (
        0, 0.0, 1.0, ())
    assert (plain.stop, plain.min_word_probability) == (None, 0.0)
    assert not (plain.token_healing or plain.greedy_word_ends or plain.branch_first_word or plain.memory
                or plain.special_tokens or plain.whole_words)
    assert (plain.temperature, plain.top_k, plain.top_p, plain.min_p, plain.length_penalty) == (1.0, 0, 1.0, 0.0, 1.0)


def test_plain_takes_changes_on_top_and_validates_them():
    beam = DecodingSettings.plain(strategy="beam", num_beams=4, num_alternatives=4, max_new_tokens=8)
    assert (beam.strategy, beam.num_beams, beam.num_alternatives, beam.max_new_tokens) == ("beam", 4, 4, 8)
    assert beam.no_repeat_ngram_size == 0 and not beam.special_tokens
    with pytest.raises(ValueError, match="num_alternatives"):
        DecodingSettings.plain(num_alternatives=9)


def test_the_doubt_cut_applies_only_where_the_model_chooses_the_length():
    default = DecodingSettings()
    assert default.stop == "sentence" and default.min_word_probability is None  # the model's own bar
    assert default.doubt_cut == DEFAULT_MIN_WORD_PROBABILITY == 0.1  # before a model gives its bar
    assert DecodingSettings(strategy="greedy", min_word_probability=0.25).doubt_cut == 0.25
    for stop in (None, "word", "line"):
        assert DecodingSettings(stop=stop).doubt_cut == 0.0
    assert DecodingSettings(strategy="sample").doubt_cut == 0.0


def test_a_bar_left_to_the_model_takes_the_models_and_a_chosen_one_wins():
    left = DecodingSettings()
    assert left.for_model(0.05).min_word_probability == 0.05
    assert left.for_model(None).min_word_probability == DEFAULT_MIN_WORD_PROBABILITY
    chosen = DecodingSettings(min_word_probability=0.3)
    assert chosen.for_model(0.05) is chosen
    assert DecodingSettings(min_word_probability=0.0).for_model(0.05).doubt_cut == 0.0  # 0: the writer's "off"
    assert DecodingSettings.plain().min_word_probability == 0.0


@pytest.mark.parametrize("value", [None, 0.0, 0.05, 0.35])
def test_the_bar_survives_saving_and_reading_back(value):
    settings = DecodingSettings(min_word_probability=value)
    data = json.loads(json.dumps(settings.to_dict()))
    assert data["min_word_probability"] == value
    assert DecodingSettings.from_dict(data) == settings


@pytest.mark.parametrize("value", [-0.1, 1.0, math.nan, math.inf, True, "0.1"])
def test_a_bar_that_is_neither_none_nor_a_probability_is_refused(value):
    with pytest.raises(ValueError, match="min_word_probability must be None"):
        DecodingSettings(min_word_probability=value)
