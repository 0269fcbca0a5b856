"""DRY penalty and the never-suggest list: hand-made scores first, then through the generator on tiny models."""

from __future__ import annotations

import re

import pytest
import torch

from engine.decoding.banned_words import BannedWordIndex, BannedWordMask
from engine.decoding.dry import apply_dry, breaker_mask, dry_match_lengths
from engine.decoding.settings import DecodingSettings
from tests.support.quality import make_confident_model
from tests.support.settings import plain_settings

torch.set_num_threads(1)


def _seq(*tokens: int) -> torch.Tensor:
    return torch.tensor([tokens], dtype=torch.long)


# --- DRY on hand-made logits -------------------------------------------------------------------------------


def test_dry_penalises_only_the_token_that_would_extend_a_repeat():
    scores = torch.zeros(1, 10)
    # "1 2 3 ... 1 2": choosing 3 would repeat "1 2 3"; the match before it is 2 tokens long.
    penalised = apply_dry(scores, _seq(1, 2, 3, 4, 1, 2), multiplier=0.8, base=1.75, allowed_length=2)
    expected = torch.zeros(1, 10)
    expected[0, 3] = -0.8  # multiplier * base ** (2 - 2)
    assert torch.equal(penalised, expected)


def test_dry_penalty_grows_with_the_length_of_the_repeat():
    scores = torch.zeros(1, 10)
    # "5 1 2 3 9 ... 5 1 2 3": 9 would make a repeat whose match is 4 tokens long.
    penalised = apply_dry(scores, _seq(5, 1, 2, 3, 9, 7, 5, 1, 2, 3), multiplier=0.5, base=2.0, allowed_length=2)
    assert penalised[0, 9].item() == pytest.approx(-0.5 * 2.0 ** (4 - 2))
    assert torch.count_nonzero(penalised).item() == 1


def test_dry_leaves_repeats_shorter_than_the_allowed_length_alone():
    scores = torch.randn(1, 10)
    assert torch.equal(apply_dry(scores, _seq(1, 2, 3, 4, 1, 2), 0.8, 1.75, allowed_length=3), scores)
    assert torch.equal(apply_dry(scores, _seq(1, 2, 3, 4, 1, 2), 0.0, 1.75, allowed_length=2), scores)


def test_dry_takes_the_longest_match_when_a_token_followed_several_times():
    # The end "9 1 2" was followed by 3 once (match 3: "9 1 2"); "8 1 2" was also followed by 3 (match 2).
    assert dry_match_lengths(torch.tensor([8, 1, 2, 3, 9, 1, 2, 3, 6, 9, 1, 2])) == {3: 3}
    # Two different followers keep their own lengths.
    assert dry_match_lengths(torch.tensor([4, 1, 2, 5, 7, 1, 2, 6, 4, 1, 2])) == {5: 3, 6: 2}


def test_a_sequence_breaker_ends_the_match():
    token_bytes = [b"a", b"b", b"c", b"\n", b"d"]
    breakers = breaker_mask(token_bytes)
    assert breakers.tolist() == [False, False, False, True, False]
    # "0 3 1 2 4 ... 0 3 1 2": the line break (3) stops the match at "1 2".
    assert dry_match_lengths(torch.tensor([0, 3, 1, 2, 4, 0, 3, 1, 2]), breakers) == {4: 2}
    assert dry_match_lengths(torch.tensor([0, 3, 1, 2, 4, 0, 3, 1, 2])) == {4: 4}
    # A break as the last token, or as the token that would follow, is never penalised.
    assert dry_match_lengths(torch.tensor([1, 3, 2, 1, 3]), breakers) == {}
    assert dry_match_lengths(torch.tensor([1, 2, 3, 1, 2]), breakers) == {}


def test_dry_treats_each_beam_row_on_its_own():
    scores = torch.zeros(2, 10)
    sequences = torch.tensor([[1, 2, 3, 4, 1, 2], [1, 2, 3, 4, 5, 6]])
    penalised = apply_dry(scores, sequences, 1.0, 1.75, 2)
    assert penalised[0, 3].item() == -1.0
    assert torch.count_nonzero(penalised[1]).item() == 0


def _longest_repeat(tokens: list[int], generated_from: int) -> int:
    """The longest token run ending in the generated part that also occurs earlier in ``tokens``."""
    longest = 0
    for end in range(generated_from + 1, len(tokens) + 1):
        for size in range(1, end):
            run = tokens[end - size : end]
            if any(tokens[i : i + size] == run for i in range(end - size)):
                longest = max(longest, size)
    return longest


def test_dry_through_the_generator_breaks_a_loop(tmp_path, tiny_tokenizer):
    import engine

    lm = engine.load(str(make_confident_model(tmp_path / "loop", tiny_tokenizer)), device="cpu")
    prompt = "The quick brown fox"
    plain = plain_settings(max_new_tokens=8, token_healing=False)
    [looping] = lm.complete(prompt, plain)
    assert looping.text == " fox" * 8  # the model built for it repeats its word forever
    prompt_ids = lm.tokenizer.encode(prompt)
    for strategy in ("greedy", "beam"):
        settings = plain.replace(strategy=strategy, dry_multiplier=1000.0, dry_allowed_length=2)
        best = lm.complete(prompt, settings)[0]
        tokens = prompt_ids + list(best.token_ids)
        # Any repeat reaching allowed_length + 1 tokens would have cost at least the multiplier.
        assert _longest_repeat(tokens, len(prompt_ids)) <= 2, (strategy, best.text)
        assert best.text.count(" fox") < 4


# --- the never-suggest list ----------------------------------------------------------------------------------

VOCAB = [b"", b" cat", b"cat", b"ca", b"t", b"s", b" bobcat", b"Cat.", b" dog", b"t.", b"(cat", b" the", b"bob", b" "]


def test_the_word_index_finds_tokens_that_spell_a_banned_word():
    index = BannedWordIndex(["Cat"], VOCAB)
    assert sorted(index.always.tolist()) == [1, 10]  # " cat", "(cat": the word after a boundary of their own
    assert sorted(index.masked_after("").tolist()) == [2, 7]  # "cat", "Cat." right after a space
    assert sorted(index.masked_after("ca").tolist()) == [4, 9]  # "ca" + "t" / "t."
    assert index.masked_after("bob") is None  # "bobcat" is another word
    assert index.masked_after("cat") is None  # nothing generated would complete it


def test_the_mask_follows_each_row_and_never_blocks_what_the_user_typed():
    index = BannedWordIndex(["cat"], VOCAB)
    mask = BannedWordMask(index, [11, 13, 3], VOCAB, torch.device("cpu"))  # " the ca": the user typed "ca"
    scores = mask.apply(torch.zeros(1, len(VOCAB)))
    blocked = set(torch.nonzero(torch.isinf(scores[0])).flatten().tolist())
    assert blocked == {1, 10, 4, 9}
    mask.fan_out(2)
    mask.append(torch.tensor([5, 13]))  # row 0: "cas", row 1: "ca "
    scores = mask.apply(torch.zeros(2, len(VOCAB)))
    assert set(torch.nonzero(torch.isinf(scores[0])).flatten().tolist()) == {1, 10}
    assert set(torch.nonzero(torch.isinf(scores[1])).flatten().tolist()) == {1, 10, 2, 7}
    mask.reorder(torch.tensor([1, 1]))
    scores = mask.apply(torch.zeros(2, len(VOCAB)))
    assert set(torch.nonzero(torch.isinf(scores[0])).flatten().tolist()) == {1, 10, 2, 7}
    typed = BannedWordMask(index, [11, 13, 2], VOCAB, torch.device("cpu"))  # the user typed "cat" in full
    scores = typed.apply(torch.zeros(1, len(VOCAB)))
    assert set(torch.nonzero(torch.isinf(scores[0])).flatten().tolist()) == {1, 10}


def _words(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"\w+", text)]


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_a_never_suggest_word_is_masked_and_the_model_says_something_else(tmp_path, tiny_tokenizer, strategy):
    import engine

    lm = engine.load(str(make_confident_model(tmp_path / "fox", tiny_tokenizer)), device="cpu")
    settings = plain_settings(strategy=strategy, max_new_tokens=6, token_healing=False)
    before = lm.complete("The quick brown fox", settings)
    assert "fox" in _words(before[0].text)
    after = lm.complete("The quick brown fox", settings.replace(banned_words=("FOX",)))
    assert after and after[0].text
    for completion in after:
        assert "fox" not in _words(completion.text), completion.text


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_a_never_suggest_word_is_not_finished_from_what_the_user_typed(tmp_path, tiny_tokenizer, strategy):
    import engine

    lm = engine.load(str(make_confident_model(tmp_path / "fox", tiny_tokenizer)), device="cpu")
    settings = plain_settings(strategy=strategy, max_new_tokens=6)  # token healing on: " fo" is backed off
    assert lm.complete("The quick brown fo", settings)[0].text.startswith("x fox")
    after = lm.complete("The quick brown fo", settings.replace(banned_words=("fox",)))
    assert after and after[0].text
    for completion in after:
        assert "fox" not in _words("fo" + completion.text), completion.text


# --- the settings that switch them on ------------------------------------------------------------------------

BAD_GUARD_VALUES = [
    ("dry_multiplier", -0.1), ("dry_multiplier", float("nan")), ("dry_multiplier", True),
    ("dry_base", 0.9), ("dry_base", float("inf")), ("dry_allowed_length", 0), ("dry_allowed_length", 2.0),
    ("banned_words", "cat"), ("banned_words", ("two words",)), ("banned_words", ("",)), ("banned_words", (3,)),
]


@pytest.mark.parametrize(("field", "value"), BAD_GUARD_VALUES, ids=[f"{f}={v!r}" for f, v in BAD_GUARD_VALUES])
def test_bad_guard_settings_raise_a_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        DecodingSettings(**{field: value})


def test_guard_settings_survive_a_json_round_trip_and_default_to_the_apps():
    import json

    default = DecodingSettings()
    assert default.dry_multiplier == 0.8 and default.no_repeat_ngram_size == 3 and default.banned_words == ()
    settings = DecodingSettings(dry_multiplier=1.2, dry_base=2.0, dry_allowed_length=3, banned_words=("Cat", "dog"))
    restored = DecodingSettings.from_dict(json.loads(json.dumps(settings.to_dict())))
    assert restored == settings
    assert restored.banned_words == ("Cat", "dog")


# --- what a confidence gate reads off a stream ---------------------------------------------------------------


def test_greedy_stream_events_carry_the_running_mean_log_probability(tiny_gpt2):
    settings = plain_settings(max_new_tokens=6, token_healing=False)
    events = list(tiny_gpt2.stream("The quick brown", settings))
    [completion] = events[-1].completions
    steps = [e for e in events if not e.done]
    assert [e.tokens for e in steps] == list(range(1, len(steps) + 1))
    for event in steps:
        expected = sum(completion.token_logprobs[: event.tokens]) / event.tokens
        assert event.mean_logprob == pytest.approx(expected)


def test_beam_stream_events_carry_the_mean_of_the_hypothesis_they_show(tiny_gpt2):
    settings = DecodingSettings(strategy="beam", num_beams=3, num_alternatives=3, max_new_tokens=5, stop=None,
                                token_healing=False)
    events = list(tiny_gpt2.stream("The quick brown", settings))
    steps = [e for e in events if not e.done and e.text]
    assert steps and all(e.mean_logprob is not None and e.mean_logprob <= 0 and e.tokens >= 1 for e in steps)
    best = events[-1].completions[0]
    on_the_best_path = [e for e in steps if best.text.startswith(e.text)]
    assert on_the_best_path  # this model's best beam leads all the way
    for event in on_the_best_path:
        expected = sum(best.token_logprobs[: event.tokens]) / event.tokens
        assert event.mean_logprob == pytest.approx(expected)
