"""Ending a suggestion before its first doubtful word (``engine.decoding.doubt``), by hand and through decoding."""

from __future__ import annotations

import math

import pytest

import engine
from engine.decoding.doubt import doubt_cut, unit_of_pieces, without_doubtful_tails
from engine.decoding.results import Completion
from engine.training.keystrokes import word_units


def test_pieces_fall_in_the_units_ctrl_right_accepts():
    pieces = ["wn", " fox", " jum", "ps", ".", "\n", "The", "", " end"]
    units = unit_of_pieces(pieces)
    assert units == [0, 1, 2, 2, 2, 3, 3, 3, 4]
    assert len(word_units("".join(pieces))) == units[-1] + 1


def test_the_cut_comes_before_the_first_unlikely_word_after_the_first():
    log = math.log
    # The first word stays however unlikely; " jumps" is 0.3 * 0.2 = 0.06 likely: cut before it.
    assert doubt_cut(["wn", " fox", " jum", "ps"], [log(0.01), log(0.5), log(0.3), log(0.2)], 0.1) == 2
    assert doubt_cut(["wn", " fox", " jum", "ps"], [log(0.01), log(0.5), log(0.3), log(0.9)], 0.1) is None
    # Units before the first word are kept with it: ", the" is one word after a comma.
    assert doubt_cut([",", " the", " US"], [log(0.9), log(0.05), log(0.01)], 0.1) == 2
    assert doubt_cut([" a", " b"], [log(0.5), log(0.01)], 0.0) is None  # 0 never cuts


def test_cut_completions_keep_their_numbers_and_lose_duplicates():
    log = math.log
    first = Completion(" the door opened", log(0.5 * 0.6 * 0.05), (1, 2, 3), (log(0.5), log(0.6), log(0.05)),
                       (" the", " door", " opened"))
    second = Completion(" the door closed", log(0.5 * 0.6 * 0.04), (1, 2, 4), (log(0.5), log(0.6), log(0.04)),
                        (" the", " door", " closed"))
    [cut] = without_doubtful_tails([first, second], 0.1)
    assert cut.text == " the door" and cut.token_ids == (1, 2) and cut.finish_reason == "stop"
    assert cut.logprob == pytest.approx(log(0.3))


@pytest.fixture(scope="module")
def default_lm():
    return engine.load("default", device="cpu")


PROMPTS = ["It was a dark and stormy night; the rain", "She opened the door and", "Once upon a time"]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_streams_only_what_it_keeps_and_stops_before_the_doubt(default_lm, prompt):
    full = engine.DecodingSettings(strategy="greedy", stop=None, min_word_probability=0.0)
    [whole] = default_lm.complete(prompt, full)
    events = list(default_lm.stream(prompt, full.replace(min_word_probability=0.1)))
    final = events[-1].completions[0]
    assert whole.text.startswith(final.text) and len(final.text) < len(whole.text)
    assert all(final.text.startswith(event.text) for event in events)  # nothing shown is taken back
    assert doubt_cut(final.token_texts, final.token_logprobs, 0.1) is None
    # The next token of the uncut suggestion begins the doubtful word.
    keep = len(final.token_ids)
    assert doubt_cut(whole.token_texts[: keep + 1], whole.token_logprobs[: keep + 1], 0.1) == keep


@pytest.mark.parametrize("branch_first_word", [True, False])
def test_beam_alternatives_lose_their_doubtful_tails(default_lm, branch_first_word):
    settings = engine.DecodingSettings(strategy="beam", num_alternatives=3, branch_first_word=branch_first_word)
    uncut = default_lm.complete(PROMPTS[0], settings.replace(min_word_probability=0.0))
    cut = default_lm.complete(PROMPTS[0], settings)
    assert len({c.text for c in cut}) == len(cut)
    assert all(doubt_cut(c.token_texts, c.token_logprobs, 0.1) is None for c in cut)
    assert sum(len(c.text) for c in cut) < sum(len(c.text) for c in uncut)


@pytest.mark.parametrize("value", [-0.1, 1.0, math.nan])
def test_an_absurd_bar_is_refused_with_its_name(value):
    with pytest.raises(ValueError, match="min_word_probability"):
        engine.DecodingSettings(min_word_probability=value)
