"""A word the writer has finished stays finished: it is lengthened only when the longer word is likelier than
ending it ("Could we move our meeting to" -> " the", not "day,")."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import engine
from engine.decoding.first_words import FirstWordBranches
from engine.decoding.stopping import StopRule
from engine.decoding.word_ends import WordEnds, lengthens_word

TOKENS = [b"<eos>", b" to", b"day", b" the", b" a", b" in", b",", b"morrow", b"-day", b" towards"]
ID = {spelled: index for index, spelled in enumerate(TOKENS)}


def branches(prefix: bytes = b" to") -> FirstWordBranches:
    return FirstWordBranches(4, 3, 8, TOKENS, 0, prefix, StopRule(None, True, "to"), torch.device("cpu"),
                             word_ends=WordEnds(TOKENS, "cpu"))


def logprobs(probabilities: dict[bytes, float], rows: int = 1) -> torch.Tensor:
    values = torch.full((rows, len(TOKENS)), 1e-6)
    for spelled, p in probabilities.items():
        values[:, ID[spelled]] = p
    return (values / values.sum(dim=-1, keepdim=True)).log()


def streamed_after_typed_word(second_step: dict[bytes, float]) -> str:
    search = branches()
    step = search.step(logprobs({b" to": 0.9, b" towards": 0.1}))  # the typed word as it stands: the trunk
    assert step is not None and step[1][0] == ID[b" to"] and not search.branched
    step = search.step(logprobs(second_step, rows=4))
    assert step is not None and search.branched
    return TOKENS[step[1][0]].decode()  # row 0: the branch that streams


def test_the_typed_word_ends_when_ending_it_is_likelier_in_all_than_the_likeliest_longer_word():
    # "day" is the likeliest single token (30%), but the word ends with 60% in all: " the" streams.
    assert streamed_after_typed_word({b"day": 0.3, b" the": 0.2, b" a": 0.15, b" in": 0.15, b",": 0.1,
                                      b"morrow": 0.05, b"-day": 0.05}) == " the"


def test_the_longer_word_streams_when_it_is_likelier_than_every_ending_together():
    assert streamed_after_typed_word({b"day": 0.6, b" the": 0.2, b" a": 0.1, b"morrow": 0.1}) == "day"


def test_a_hyphen_glued_onto_a_word_lengthens_it():
    assert lengthens_word(b"-day") and lengthens_word(b"-")
    assert not lengthens_word(b" -") and not lengthens_word(b",")


@pytest.fixture(scope="module")
def default_lm():
    return engine.load("default", device="cpu")


def test_finished_word_odds_favour_ending_the_typed_word_by_that_factor(default_lm):
    generator = default_lm.generator
    settings = engine.DecodingSettings(finished_word_odds=4.0)
    prompt = generator.prepare("Could we move our meeting to", settings)
    typed = prompt.typed_word_token
    assert typed is not None and generator.token_bytes[typed] == b" to"
    assert prompt.finished_word_boost == pytest.approx(math.log(4.0))
    scores = torch.zeros(2, generator.vocab_size)
    boosted = generator._favour_finished_word(scores, prompt, [[typed], [typed, 5]], first=False)
    enders = generator.word_ends.ends
    assert torch.allclose(boosted[0][enders], torch.tensor(math.log(4.0)))
    assert torch.all(boosted[0][~enders] == 0) and torch.all(boosted[1] == 0)  # the word has moved on in row 1
    first = generator._favour_finished_word(scores[:1], prompt, [[]], first=True)
    assert first[0, typed] == pytest.approx(math.log(4.0)) and first.abs().sum() == pytest.approx(math.log(4.0))
    assert generator.prepare("Could we move our meeting ", settings).typed_word_token is None
    assert generator.prepare("Could we move our meeting to", engine.DecodingSettings.plain(token_healing=True)).typed_word_token is None
    with pytest.raises(ValueError, match="finished_word_odds"):
        engine.DecodingSettings(finished_word_odds=0.5)
    assert dataclasses.asdict(engine.DecodingSettings.plain())["finished_word_odds"] == 1.0


@pytest.mark.bundled_weights
@pytest.mark.parametrize("prompt", ["Could we move our meeting to", "Dear Sir, I am writing to",
                                    "Please send it to"])
def test_the_default_does_not_glue_letters_onto_a_finished_word(default_lm, prompt):
    completions = default_lm.complete(prompt, engine.DecodingSettings(memory=False))
    assert completions and not completions[0].text[:1].isalnum() and not completions[0].text.startswith("-")
