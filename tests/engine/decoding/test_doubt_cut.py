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


@pytest.mark.bundled_weights
@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_streams_only_what_it_keeps_and_stops_before_the_doubt(default_lm, prompt):
    full = engine.DecodingSettings(strategy="greedy", stop="sentence", min_word_probability=0.0)
    [whole] = default_lm.complete(prompt, full)
    events = list(default_lm.stream(prompt, full.replace(min_word_probability=0.1)))
    final = events[-1].completions[0]
    assert whole.text.startswith(final.text) and len(final.text) < len(whole.text)
    assert all(final.text.startswith(event.text) for event in events)  # nothing shown is taken back
    assert doubt_cut(final.token_texts, final.token_logprobs, 0.1) is None
    # The next token of the uncut suggestion begins the doubtful word.
    keep = len(final.token_ids)
    assert doubt_cut(whole.token_texts[: keep + 1], whole.token_logprobs[: keep + 1], 0.1) == keep


@pytest.mark.bundled_weights
@pytest.mark.parametrize("branch_first_word", [True, False])
def test_beam_alternatives_lose_their_doubtful_tails(default_lm, branch_first_word):
    settings = engine.DecodingSettings(strategy="beam", num_alternatives=3, branch_first_word=branch_first_word)
    uncut = default_lm.complete(PROMPTS[0], settings.replace(min_word_probability=0.0))
    cut = default_lm.complete(PROMPTS[0], settings)  # the model's own bar
    assert len({c.text for c in cut}) == len(cut)
    assert all(doubt_cut(c.token_texts, c.token_logprobs, default_lm.doubt_cut_default) is None for c in cut)
    assert sum(len(c.text) for c in cut) < sum(len(c.text) for c in uncut)


@pytest.mark.bundled_weights
@pytest.mark.parametrize("stop", [None, "line"])
def test_a_length_the_writer_chose_is_not_cut_by_doubt(default_lm, stop):
    """One Line, or `--stop none --max-new-tokens 16`: the whole length, not the first word."""
    chosen = engine.DecodingSettings(strategy="greedy", stop=stop, max_new_tokens=16)
    for prompt in PROMPTS:
        [whole] = default_lm.complete(prompt, chosen.replace(min_word_probability=0.0))
        [shown] = default_lm.complete(prompt, chosen)
        assert shown.text == whole.text
    [beam] = default_lm.complete(PROMPTS[0], chosen.replace(strategy="beam", num_alternatives=1))
    [beam_whole] = default_lm.complete(PROMPTS[0], chosen.replace(strategy="beam", num_alternatives=1,
                                                                  min_word_probability=0.0))
    assert beam.text == beam_whole.text
    # The sentence default is where the cut applies: it ends these suggestions earlier.
    sentence = chosen.replace(stop="sentence")
    assert any(len(default_lm.complete(p, sentence)[0].text)
               < len(default_lm.complete(p, sentence.replace(min_word_probability=0.0))[0].text) for p in PROMPTS)


@pytest.mark.bundled_weights
def test_sampling_gives_different_suggestions_over_seeds(default_lm):
    """The Creative preset (and Alt+R, which samples) at the sentence default: the cut would end nearly every draw
    after its first word, " States" again and again."""
    creative = engine.DecodingSettings(strategy="sample", temperature=1.0, top_p=0.95, min_p=0.02,
                                       repetition_penalty=1.15, no_repeat_ngram_size=0)  # as the GUI's preset
    assert creative.stop == "sentence" and creative.doubt_cut == 0.0
    texts = [default_lm.complete("The Prime Minister of the United", creative.replace(seed=seed))[0].text
             for seed in range(8)]
    assert len(set(texts)) == len(texts)
    assert sum(len(text.split()) > 2 for text in texts) >= 6


def test_the_evaluation_measures_the_cut_the_app_makes_at_its_default_length(default_lm):
    from engine.training.keystrokes import AlternativesOfLanguageModel, LanguageModelSuggester

    greedy = engine.DecodingSettings(strategy="greedy", stop=None, max_new_tokens=12)
    for prompt in PROMPTS:
        uncut = default_lm.complete(prompt, greedy.replace(min_word_probability=0.0))
        expected = without_doubtful_tails(uncut, default_lm.doubt_cut_default)[0].text
        assert LanguageModelSuggester(default_lm, settings=greedy)(prompt) == expected
        assert LanguageModelSuggester(default_lm, settings=greedy, max_words=50)(prompt) == expected
    beam = AlternativesOfLanguageModel(default_lm, alternatives=3, max_new_tokens=12)
    expected = without_doubtful_tails(default_lm.complete(PROMPTS[0], beam.settings.replace(min_word_probability=0.0)),
                                      default_lm.doubt_cut_default)
    assert beam.alternatives(PROMPTS[0]) == [c.text for c in expected]


@pytest.mark.parametrize("value", [-0.1, 1.0, math.nan])
def test_an_absurd_bar_is_refused_with_its_name(value):
    with pytest.raises(ValueError, match="min_word_probability"):
        engine.DecodingSettings(min_word_probability=value)
