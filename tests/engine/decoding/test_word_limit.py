"""No cut-off words at the token limit (``engine.decoding.word_limit``): by hand, and through every strategy."""

from __future__ import annotations

import pytest

import engine
from engine.decoding.stopping import is_word_char
from engine.decoding.word_limit import continues_word, last_whole_word_end, stops_inside_word


@pytest.mark.parametrize("text, expected", [
    (" University of Ill", len(" University of")),
    (" arrested on Thurs", len(" arrested on")),
    (" said, (Agricult", len(" said,")),
    (" Hello. Thurs", len(" Hello.")),
    (" don'", len("")),  # its only word: it stays
    ("wn", None),  # finishing the word being typed: the first word stays
    (" the end.", None),
    (" the end ", None),
    ("", None),
])
def test_the_text_ends_at_its_last_whole_word(text, expected):
    assert last_whole_word_end(text) == (expected or None)


def test_which_tokens_go_on_with_a_word():
    assert continues_word(b"inois") and continues_word(b"'t") and continues_word("’s".encode())
    assert continues_word("é".encode()[:1])  # the first byte of a letter
    assert not continues_word(b" the") and not continues_word(b",") and not continues_word(b"")
    assert stops_inside_word("Ill") and stops_inside_word("don'") and not stops_inside_word("Ill ")
    assert not stops_inside_word("'") and not stops_inside_word("")


@pytest.fixture(scope="module")
def default_lm():
    return engine.load("default", device="cpu")


PROMPTS = ["She graduated from the University of", "The Department of", "He was arrested on", "Once upon a time"]
PLAIN_LENGTH = {"stop": None, "no_repeat_ngram_size": 0, "dry_multiplier": 0.0, "min_word_probability": 0.0}


def _ends_on_a_word_boundary_of(text: str, whole: str) -> bool:
    """``text`` begins ``whole`` and does not stop in the middle of one of its words."""
    cut_off = stops_inside_word(text) and len(text) < len(whole) and is_word_char(whole[len(text)])
    return whole.startswith(text) and not cut_off


@pytest.mark.parametrize("strategy", ["greedy", "sample"])
def test_greedy_and_sampling_run_on_to_the_end_of_the_word(default_lm, strategy):
    settings = engine.DecodingSettings(strategy=strategy, seed=5, **PLAIN_LENGTH)
    for prompt in PROMPTS:
        [whole] = default_lm.complete(prompt, settings.replace(max_new_tokens=40, whole_words=False))
        for limit in range(2, 12):
            events = list(default_lm.stream(prompt, settings.replace(max_new_tokens=limit)))
            [shown] = events[-1].completions
            assert _ends_on_a_word_boundary_of(shown.text, whole.text), (prompt, limit, shown.text)
            assert len(shown.token_ids) >= limit or shown.finish_reason == "eos"
            assert all(shown.text.startswith(event.text) for event in events)  # what streamed stays


def test_whole_words_off_stops_at_exactly_the_limit(default_lm):
    settings = engine.DecodingSettings(strategy="greedy", whole_words=False, max_new_tokens=5, **PLAIN_LENGTH)
    assert all(len(default_lm.complete(prompt, settings)[0].token_ids) == 5 for prompt in PROMPTS)


@pytest.mark.bundled_weights
def test_first_word_branches_run_on_to_the_end_of_their_words(default_lm):
    """"The Department of" at 4 tokens gave " Agricult"; each branch is greedy after its first token, so a longer
    run shows where its words end."""
    settings = engine.DecodingSettings(strategy="beam", num_alternatives=3, memory=False, **PLAIN_LENGTH)
    cut_off = {True: 0, False: 0}
    for prompt in PROMPTS:
        whole = [c.text for c in default_lm.complete(prompt, settings.replace(max_new_tokens=40, whole_words=False))]
        for limit in range(2, 8):
            for whole_words in (True, False):
                for shown in default_lm.complete(prompt, settings.replace(max_new_tokens=limit,
                                                                          whole_words=whole_words)):
                    longer = next((text for text in whole if text.startswith(shown.text)), None)
                    if longer is not None and not _ends_on_a_word_boundary_of(shown.text, longer):
                        cut_off[whole_words] += 1
    assert cut_off == {True: 0, False: cut_off[False]} and cut_off[False] > 0


@pytest.mark.bundled_weights
def test_plain_beam_search_ends_its_beams_at_their_last_whole_word(default_lm):
    """The same search (a cut beam keeps its whole score), with the unfinished last word of each text left out."""
    settings = engine.DecodingSettings(strategy="beam", branch_first_word=False, num_beams=4, num_alternatives=4,
                                       **PLAIN_LENGTH)
    cut_any = False
    for prompt in PROMPTS:
        for limit in (3, 4, 5):
            [uncut, *_] = default_lm.complete(prompt, settings.replace(max_new_tokens=limit, whole_words=False))
            [shown, *_] = default_lm.complete(prompt, settings.replace(max_new_tokens=limit))
            cut = last_whole_word_end(uncut.text) if uncut.finish_reason == "length" else None
            assert shown.text == uncut.text[:cut], (prompt, limit)
            cut_any |= cut is not None
    assert cut_any  # without the rule some beams did end inside a word
