"""``LanguageModel.next_token_candidates``: the distribution behind a suggestion, at any point of it, equals a
direct forward pass and softmax over what decoding reads there, and the log-probabilities decoding reports."""

from __future__ import annotations

import math

import pytest
import torch

from tests.support.decoding import FAMILIES, ModelWrapper, generator_with, load_tiny, scripted
from tests.support.settings import plain_settings

S = plain_settings
MODEL_ALONE = S()  # what a plain forward pass gives; the memory's own tests are in tests/engine/memory


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def direct_distribution(lm, ids: list[int], allowed_prefix: bytes = b"") -> list[tuple[str, float]]:
    """Every insertable token after ``ids`` by a plain forward pass, most likely first; with ``allowed_prefix``
    only the tokens that start with it, renormalised, and their text without it (what healing does)."""
    with torch.no_grad():
        logits, _ = lm.model(torch.tensor([ids]), None)
    scores = logits[0, -1].float()
    table = lm.tokenizer.token_bytes
    if allowed_prefix:
        mask = torch.tensor([bool(table[i]) and table[i].startswith(allowed_prefix) and i not in lm.tokenizer.special_ids
                             for i in range(lm.model.vocab_size)])
        scores = scores.masked_fill(~mask, float("-inf"))
    probabilities = torch.softmax(scores, dim=-1)
    result = []
    for token in torch.argsort(probabilities, descending=True).tolist():
        if token in lm.tokenizer.special_ids or not table[token] or probabilities[token] == 0:
            continue
        try:
            result.append((table[token][len(allowed_prefix):].decode("utf-8"), float(probabilities[token])))
        except UnicodeDecodeError:
            continue
    return result


def is_whole_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class WholeTextModel(ModelWrapper):
    """Never predicts a token that ends inside a character (random tiny models love them), so that what it
    writes reads back as the same tokens often enough to compare at many points."""

    def __init__(self, inner, token_bytes: list[bytes]) -> None:
        super().__init__(inner)
        partial = [not is_whole_text(token_bytes[i]) for i in range(inner.vocab_size)]
        self.register_buffer("penalty", torch.tensor(partial, dtype=torch.float32) * -1e4)

    def forward(self, tokens, cache=None):
        logits, cache = self.inner(tokens, cache)
        return logits + self.penalty, cache


def assert_same_candidates(got, expected, k):
    assert len(got) == min(k, len(expected))
    assert [text for text, _ in got] == [text for text, _ in expected[:k]]
    assert [p for _, p in got] == pytest.approx([p for _, p in expected[:k]], abs=1e-5)


def test_candidates_after_a_text_equal_a_forward_pass_and_softmax(tiny_gpt2):
    text = "The dog sleeps in the warm sun."  # ends with punctuation: no token healing
    ids = [tiny_gpt2.eos_token_id] + tiny_gpt2.tokenizer.encode(text)
    got = tiny_gpt2.next_token_candidates(text, k=8, settings=MODEL_ALONE)
    assert_same_candidates(got, direct_distribution(tiny_gpt2, ids), 8)
    assert sorted((p for _, p in got), reverse=True) == [p for _, p in got]


def test_candidates_inside_a_continuation_read_the_continuation_after_the_text(tiny_gpt2):
    text = "The dog sleeps in the warm sun."
    continuation = " The fox runs into the"
    tokenizer = tiny_gpt2.tokenizer
    ids = [tiny_gpt2.eos_token_id] + tokenizer.encode(text) + tokenizer.encode(continuation)
    got = tiny_gpt2.next_token_candidates(text, continuation, k=5, settings=MODEL_ALONE)
    assert_same_candidates(got, direct_distribution(tiny_gpt2, ids), 5)


def test_candidates_after_a_half_typed_word_are_healed_like_decoding(tiny_gpt2):
    text = "The quick brown fox jumps over the la"
    ids = [tiny_gpt2.eos_token_id] + tiny_gpt2.tokenizer.encode(text)
    prompt = tiny_gpt2.generator.prepare(text, S())
    assert prompt.healed_prefix.endswith(b"la") and prompt.tokens == ids[: len(prompt.tokens)]
    got = tiny_gpt2.next_token_candidates(text, k=4)
    expected = direct_distribution(tiny_gpt2, prompt.tokens, allowed_prefix=prompt.healed_prefix)
    assert_same_candidates(got, expected, 4)
    # Without healing the prompt is read as typed and nothing is constrained.
    unhealed = tiny_gpt2.next_token_candidates(text, k=4, settings=S(token_healing=False, memory=False))
    assert_same_candidates(unhealed, direct_distribution(tiny_gpt2, ids), 4)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("penalties", [{}, {"repetition_penalty": 1.6, "no_repeat_ngram_size": 2},
                                       {"dry_multiplier": 2.0, "dry_allowed_length": 1, "banned_words": ("the",)}],
                         ids=["plain", "penalties", "dry-and-never-suggest"])
def test_every_token_decoding_draws_is_a_candidate_with_the_probability_decoding_reported(
        family, penalties, tmp_path, tiny_tokenizer):
    lm = load_tiny(family, tmp_path / family, tiny_tokenizer)
    generator_with(lm, lambda model: WholeTextModel(model, lm.tokenizer.token_bytes))
    text = "It was a bright cold day in April."
    settings = S(strategy="sample", seed=3, max_new_tokens=12, **penalties)
    [completion] = lm.complete(text, settings)
    checked = 0
    for step, (token, piece, logprob) in enumerate(
            zip(completion.token_ids, completion.token_texts, completion.token_logprobs)):
        shown = "".join(completion.token_texts[:step])
        # The point is read as the tokenizer splits the text; compare where that is how the model wrote it.
        if lm.tokenizer.encode(shown) != list(completion.token_ids[:step]):
            continue
        if not is_whole_text(lm.tokenizer.token_bytes[token]):
            continue  # a byte of a character: not something one can insert, so never a candidate
        candidates = dict(lm.next_token_candidates(text, shown, k=lm.model.vocab_size, settings=settings))
        assert candidates[piece] == pytest.approx(math.exp(logprob), rel=1e-4)
        checked += 1
    assert checked >= 4


def test_the_first_token_after_a_healed_prompt_has_the_probability_decoding_reported(tiny_gpt2):
    text = "The quick brown fox jumps over the la"
    settings = S(max_new_tokens=3)
    [completion] = tiny_gpt2.complete(text, settings)
    best_text, best_probability = tiny_gpt2.next_token_candidates(text, k=2, settings=settings)[0]
    assert best_text == completion.token_texts[0]
    assert best_probability == pytest.approx(math.exp(completion.token_logprobs[0]), rel=1e-4)


def test_asking_for_candidates_stops_an_older_stream_instead_of_corrupting_it(tiny_gpt2):
    stream = tiny_gpt2.stream("The dog sleeps.", S(max_new_tokens=10))
    next(stream)
    tiny_gpt2.next_token_candidates("A brother and a sister walked", k=2)
    assert list(stream) == []  # it ends at its next token, as it would for a newer request


def test_bad_arguments_are_refused_with_a_clear_message(tiny_gpt2):
    with pytest.raises(ValueError, match="k must be"):
        tiny_gpt2.next_token_candidates("The dog", k=0)
    with pytest.raises(TypeError, match="continuation must be a str"):
        tiny_gpt2.next_token_candidates("The dog", continuation=None)
    with pytest.raises(TypeError, match="settings must be DecodingSettings"):
        tiny_gpt2.next_token_candidates("The dog", settings={"strategy": "greedy"})


def test_the_first_shown_word_after_a_word_ended_as_typed_has_the_candidates_of_its_own_step(tiny_gpt2):
    # Healing backs off " the"; the model ends the word as typed (the token " the" again, which shows nothing),
    # then writes " lazy": hovering " lazy" is about the step after healing, not the healing step.
    generator = scripted(tiny_gpt2, "The quick brown fox jumps over the lazy dog.", bonus=30.0)
    text = "The quick brown fox jumps over the"
    settings = S(max_new_tokens=4)
    [completion] = tiny_gpt2.complete(text, settings)
    assert completion.token_texts[0] == "" and completion.text.startswith(" laz")
    healing_step = tiny_gpt2.next_token_candidates(text, k=3, settings=settings)
    assert healing_step[0][0] == ""  # its table: "(the word ends as typed)", then " they"...

    got = tiny_gpt2.next_token_candidates(text, k=3, settings=settings, next_text=completion.text)
    assert got[0][0] == completion.token_texts[1]
    assert got[0][1] == pytest.approx(math.exp(completion.token_logprobs[1]), rel=1e-4)
    prompt = generator.prepare(text, settings)
    after_healing = prompt.tokens + tiny_gpt2.tokenizer.encode(" the")
    assert_same_candidates(got, direct_distribution(tiny_gpt2, after_healing), 3)


def test_a_word_the_healing_step_wrote_keeps_that_steps_candidates(tiny_gpt2):
    text = "The quick brown fox jumps over the la"
    settings = S(max_new_tokens=3)
    [completion] = tiny_gpt2.complete(text, settings)
    assert completion.token_texts[0]  # it wrote the rest of the word: that is the step hovered
    assert (tiny_gpt2.next_token_candidates(text, k=4, settings=settings, next_text=completion.text)
            == tiny_gpt2.next_token_candidates(text, k=4, settings=settings))
