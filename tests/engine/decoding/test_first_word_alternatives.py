"""Alternatives that differ where a writer chooses: in their first word, by default, through every door."""

from __future__ import annotations

import pytest
import torch

import engine
from engine.decoding.first_words import FirstWordBranches, branch_rows
from engine.decoding.results import Completion, first_word, opening_logprob, percent, shares, worth_listing
from engine.decoding.settings import MAX_BEAMS
from engine.decoding.stopping import StopRule
from tests.support.settings import plain_settings

PROMPTS = ["It was a dark and stormy night; the rain", "She opened the door and", "The quick bro", "Once upon a time"]


@pytest.fixture(scope="module")
def default_lm():
    return engine.load("default", device="cpu")


@pytest.mark.bundled_weights
@pytest.mark.parametrize("prompt", PROMPTS)
def test_the_default_beam_alternatives_start_with_different_words(default_lm, prompt):
    completions = default_lm.complete(prompt, engine.DecodingSettings(strategy="beam", num_alternatives=3))
    assert len(completions) == 3
    assert len({first_word(c.text) for c in completions}) == 3, [c.text for c in completions]
    split = shares(completions)
    assert split == sorted(split, reverse=True)  # listed by the probability that is shown
    assert all(percent(s) != "0%" for s in split)


@pytest.mark.parametrize("prompt", ["Dear John, thank you for your letter. I", "She opened the door and",
                                    "I went to the market and", "We should talk about"])
def test_what_streams_is_the_start_of_the_first_alternative(default_lm, prompt):
    """One branch streams from start to end and is listed first: no switch to another branch when it ends, no
    doubtful tail cut away at the end ("I have been writing to you for a week" -> " have been")."""
    events = list(default_lm.stream(prompt, engine.DecodingSettings()))
    final = events[-1]
    assert final.done and final.completions
    assert not any(event.replaces for event in events)
    assert all(final.completions[0].text.startswith(event.text) for event in events)
    assert final.text == final.completions[0].text


@pytest.mark.bundled_weights
def test_plain_beam_search_is_still_there_and_differs_late(default_lm):
    prompt = PROMPTS[0]
    plain = default_lm.complete(prompt, engine.DecodingSettings(strategy="beam", num_alternatives=3,
                                                                branch_first_word=False))
    assert len({first_word(c.text) for c in plain}) < 3  # why the default branches at the first word


def test_branching_on_a_tiny_model_keeps_distinct_words_and_drops_junk(tiny_gpt2):
    settings = plain_settings(strategy="beam", num_beams=4, num_alternatives=3, branch_first_word=True,
                              max_new_tokens=6)
    for prompt in ("The quick brown fox", "It was a bright cold", "Hello"):
        completions = tiny_gpt2.complete(prompt, settings)
        assert completions and len(completions) <= 3
        assert len({first_word(c.text) for c in completions}) == len(completions)
        assert all(first_word(c.text) for c in completions)  # never punctuation or blanks only
        for c in completions:
            assert len(c.token_ids) == len(c.token_logprobs) == len(c.token_texts)
            assert "".join(c.token_texts) == c.text


def test_branches_stream_and_finish_like_beam_search(tiny_gpt2):
    settings = plain_settings(strategy="beam", num_beams=4, num_alternatives=3, branch_first_word=True,
                              max_new_tokens=5)
    events = list(tiny_gpt2.stream("The quick brown fox", settings))
    assert events[-1].done and events[-1].completions
    assert events[-1].text == events[-1].completions[0].text


def test_the_opening_is_the_probability_up_to_the_first_word_and_junk_is_dropped():
    c = Completion(", and then", -6.0, (1, 2, 3), (-1.0, -2.0, -3.0), (",", " and", " then"))
    assert opening_logprob(c) == -3.0 and first_word(c.text) == "and"
    listed = worth_listing([c, Completion(" ...", -1.0), Completion(", and  then", -7.0), Completion("\n", -1.0)])
    assert listed == [c]


@pytest.mark.bundled_weights
def test_the_stream_says_when_its_text_is_final_before_the_other_branches_end(default_lm):
    """A branch cut short (one word here) settles while the others run on: one ``settled`` event, carrying the
    text the ``done`` event lists first, arrives before it, so the app need not wait for the alternatives."""
    seen = 0
    for prompt in PROMPTS + ["Dear John, thank you for your letter. I", "I went to the market and"]:
        events = list(default_lm.stream(prompt, engine.DecodingSettings()))
        settled = [index for index, event in enumerate(events) if event.settled]
        final = events[-1]
        assert len(settled) <= 1
        if settled and settled[0] < len(events) - 1:
            seen += 1
            assert events[settled[0]].text == final.completions[0].text
            assert all(not event.settled for event in events[settled[0] + 1:])
    assert seen > 0


# --- the streamed branch first, the others behind it --------------------------------------------------------

BRANCH_TOKENS = [b"<eos>", b" the", b" a", b" in", b" cat", b" dog", b" sat", b"."]
BRANCH_ID = {spelled: index for index, spelled in enumerate(BRANCH_TOKENS)}


def branch_logprobs(*rows: dict[bytes, float]) -> torch.Tensor:
    values = torch.full((len(rows), len(BRANCH_TOKENS)), 1e-6)
    for row, probabilities in enumerate(rows):
        for spelled, p in probabilities.items():
            values[row, BRANCH_ID[spelled]] = p
    return (values / values.sum(dim=-1, keepdim=True)).log()


def four_branches() -> FirstWordBranches:
    return FirstWordBranches(4, 3, 3, BRANCH_TOKENS, 0, b"", StopRule(None), torch.device("cpu"))


def test_the_streamed_branch_runs_alone_and_the_others_start_again_from_the_branch_point():
    search = four_branches()
    first = {b" the": 0.4, b" a": 0.3, b" in": 0.2, b" cat": 0.1}
    assert search.step(branch_logprobs(first)) == ([0], [BRANCH_ID[b" the"]])  # one row: the streamed one
    assert search.restart is None and search.row_tokens() == [(BRANCH_ID[b" the"],)]
    assert search.step(branch_logprobs({b" cat": 0.9})) == ([0], [BRANCH_ID[b" cat"]])
    # Its third token reaches the length: it ends (on its last whole word), and the three others start from the
    # branch point.
    step = search.step(branch_logprobs({b" sat": 0.9}))
    assert search.streamed_final() and search.best()[0] == " the cat"
    assert search.restart == [(BRANCH_ID[b" a"],), (BRANCH_ID[b" in"],), (BRANCH_ID[b" cat"],)]
    assert step == ([0, 1, 2], [BRANCH_ID[b" a"], BRANCH_ID[b" in"], BRANCH_ID[b" cat"]])
    # They get the whole length again, counted from the branch point, in one batch.
    step = search.step(branch_logprobs({b" dog": 0.9}, {b" dog": 0.9}, {b" sat": 0.9}))
    assert search.restart is None and step == ([0, 1, 2], [BRANCH_ID[b" dog"]] * 2 + [BRANCH_ID[b" sat"]])
    assert search.step(branch_logprobs({b".": 0.9}, {b" sat": 0.9}, {b".": 0.9})) is None
    assert search.steps == 5  # forwards read, both phases together (the speed a stream reports)
    assert [c.text for c in search.results()] == [" the cat", " a dog.", " in dog"]


def test_rows_that_ended_at_the_branch_point_pad_the_others_to_one_batch_size():
    search = four_branches()
    search.step(branch_logprobs({b" the": 0.4, b" a": 0.3, b"<eos>": 0.2, b" cat": 0.1}))  # one ends at once
    search.step(branch_logprobs({b" cat": 0.9}))
    step = search.step(branch_logprobs({b" sat": 0.9}))
    assert search.restart is not None and len(search.restart) == 3  # two rows and a padding one
    assert step is not None and len(step[1]) == 3


def test_a_default_suggestion_streams_from_one_row_and_reads_the_others_behind_it(tiny_gpt2):
    """No forward carries every branch at once: the streamed one runs alone (its steps cost a fraction of a
    batch of six on a CPU), and the stream says its text is final before the others start."""
    settings = plain_settings(strategy="beam", num_beams=4, num_alternatives=3, branch_first_word=True,
                              max_new_tokens=6)
    batches: list[int] = []
    handle = tiny_gpt2.model.register_forward_pre_hook(lambda _module, args: batches.append(args[0].shape[0]))
    try:
        events = []
        for event in tiny_gpt2.stream("The quick brown fox", settings):
            events.append((event, len(batches)))
    finally:
        handle.remove()
    rows = branch_rows(4, 3, MAX_BEAMS)
    assert rows not in batches and batches[0] == 1
    others = batches.index(rows - 1)
    assert set(batches[:others]) == {1} and set(batches[others:]) == {rows - 1}
    settled = [forwards for event, forwards in events if event.settled]
    assert settled and settled[0] <= others + 1
    assert events[-1][0].completions and events[-1][0].text == events[-1][0].completions[0].text
