"""Short loops inside one suggestion ("been been", "to be to be", "and then, and there") are cut where they start."""

from __future__ import annotations

import pytest

import engine
from engine.decoding.loops import loop_cut
from tests.support.decoding import scripted
from tests.support.settings import plain_settings


def _cut(text: str) -> str:
    cut = loop_cut(text)
    return text if cut is None else text[:cut]


@pytest.mark.parametrize(("text", "kept"), [
    (" been been to be to be", " been"),
    (" to be to be.", " to be"),
    (" and then, and there was not a little man", " and then"),
    (" and the old man of the old lady, and a little man,", " and the old man"),
    (" first time, the first time of the first day", " first time"),
    (" the the end", " the"),
])
def test_loops_are_cut_before_the_repeat(text, kept):
    assert _cut(text) == kept


@pytest.mark.parametrize("text", [
    " more and more people came", " as soon as he could", " I want to go to the shop", " one of the best of the year",
    " over the lazy dog. It was cold", " the door was open, and she was glad", " the first", " been",
])
def test_ordinary_english_is_left_alone(text):
    assert loop_cut(text) is None


def test_the_last_word_may_still_grow_so_it_does_not_count_yet():
    assert loop_cut(" the first time of the first") is None  # "first" may become "firstly"
    assert _cut(" the first time of the first ") == " the first time"


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_with_the_repetition_guards_on_a_looping_model_is_cut(tiny_gpt2, strategy):
    # " And" is another token than " and" (a scripted model needs each token's successor to be unique).
    generator = scripted(tiny_gpt2, " The dog sleeps and so, And fox runs")
    looping = plain_settings(strategy=strategy, max_new_tokens=16, token_healing=False)
    [plain, *_] = generator.complete(" The dog", looping)
    assert plain.text == " sleeps and so, And fox runs"  # guards off: what the model says
    guarded = engine.DecodingSettings(strategy=strategy, max_new_tokens=16, token_healing=False, stop=None)
    [best, *_] = generator.complete(" The dog", guarded)
    assert best.text == " sleeps and so" and best.finish_reason == "stop"
