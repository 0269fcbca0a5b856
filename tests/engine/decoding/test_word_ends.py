"""Greedy decoding ends a word where ending it is likelier in total than the best token that lengthens it."""

from __future__ import annotations

import pytest
import torch

from engine.decoding.word_ends import WordEnds, lengthens_word, token_ends_inside_word
from tests.support.decoding import ModelWrapper, generator_with, load_tiny
from tests.support.settings import plain_settings


@pytest.mark.parametrize(("token", "lengthens"), [
    (b"ened", True), (b"9", True), (b"_x", True), (b"'t", True), ("’s".encode(), True), ("é".encode(), True),
    ("é".encode()[:1], True),  # part of a letter: the word is not over yet
    (b" the", False), (b",", False), (b".\n", False), ("—".encode(), False), (b"", False),
])
def test_lengthens_word(token, lengthens):
    assert lengthens_word(token) is lengthens


def test_token_ends_inside_word():
    assert token_ends_inside_word(b" brown") and token_ends_inside_word(b"9")
    assert not token_ends_inside_word(b" brown,") and not token_ends_inside_word(b" ")
    assert not token_ends_inside_word(b"")


TABLE = [b"ened", b"y", b" hair", b",", b" and", b""]  # b"": a special token such as end-of-text


def scores_for(probabilities: list[float]) -> torch.Tensor:
    return torch.tensor([probabilities]).log()


def test_the_word_ends_when_all_endings_together_beat_the_best_lengthening_token():
    word_ends = WordEnds(TABLE, "cpu")
    scores = scores_for([0.30, 0.10, 0.25, 0.20, 0.10, 0.05])  # ending: 0.25 + 0.20 + 0.10 + 0.05 = 0.60 > 0.30
    choice = word_ends.choose(scores, scores.argmax(-1, keepdim=True))
    assert choice.tolist() == [[2]]  # " hair", the likeliest ending token


def test_the_word_goes_on_when_the_lengthening_token_is_likelier_than_every_ending_together():
    word_ends = WordEnds(TABLE, "cpu")
    scores = scores_for([0.55, 0.05, 0.20, 0.10, 0.05, 0.05])  # ending: 0.40 < 0.55
    assert word_ends.choose(scores, scores.argmax(-1, keepdim=True)).tolist() == [[0]]


def test_an_ending_argmax_is_kept():
    word_ends = WordEnds(TABLE, "cpu")
    scores = scores_for([0.10, 0.10, 0.50, 0.10, 0.10, 0.10])
    assert word_ends.choose(scores, scores.argmax(-1, keepdim=True)).tolist() == [[2]]


class Rigged(ModelWrapper):
    """After each token of ``rows`` the model's logits are that row: the real model runs underneath."""

    def __init__(self, inner, rows: dict[int, torch.Tensor]) -> None:
        super().__init__(inner)
        self.rows = rows

    def forward(self, tokens, cache=None):
        logits, cache = self.inner(tokens, cache)
        for token, row in self.rows.items():
            logits = torch.where((tokens == token).unsqueeze(-1), row, logits)
        return logits, cache


def test_greedy_decoding_ends_the_word_where_plain_argmax_lengthens_it(tmp_path, tiny_tokenizer):
    lm = load_tiny("gpt2", tmp_path / "m", tiny_tokenizer)
    table = lm.generator.token_bytes
    prompt = "The quick"
    last = lm.tokenizer.encode(prompt)[-1]
    word = next(i for i, b in enumerate(table) if b[:1] == b" " and b[1:].isalpha() and len(b) > 2 and i != last)
    lengthening = next(i for i, b in enumerate(table) if b.isalpha() and i not in (word, last))
    endings = [lm.tokenizer.encode(text)[0] for text in (",", ".", ";")]

    def row(high: dict[int, float]) -> torch.Tensor:
        logits = torch.full((lm.model.vocab_size,), -30.0)
        for token, value in high.items():
            logits[token] = value
        return logits

    # After the prompt the word comes; after the word one lengthening token is the likeliest single token, while
    # the three endings, each a little less likely, are far likelier together.
    rows = {last: row({word: 0.0}), word: row({lengthening: 0.0, **{e: -0.1 for e in endings}})}
    generator, _ = generator_with(lm, lambda model: Rigged(model, rows))
    settings = plain_settings(max_new_tokens=2, token_healing=False)

    [plain] = generator.complete(prompt, settings)
    assert list(plain.token_ids) == [word, lengthening]
    [whole] = generator.complete(prompt, settings.replace(greedy_word_ends=True))
    first, second = whole.token_ids
    assert first == word and second in endings
    # Sampling draws the ending with its true total probability and is left alone: same seed, same tokens.
    sampled = settings.replace(strategy="sample", seed=3)
    assert generator.complete(prompt, sampled)[0].token_ids == generator.complete(
        prompt, sampled.replace(greedy_word_ends=False))[0].token_ids


def test_greedy_word_ends_must_be_a_bool():
    from engine.decoding.settings import DecodingSettings

    with pytest.raises(ValueError, match="greedy_word_ends must be True or False"):
        DecodingSettings(greedy_word_ends="yes")
