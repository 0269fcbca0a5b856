"""Penalties and sampling warpers on hand-made scores."""

from __future__ import annotations

import math

import pytest
import torch

from engine.decoding.dry import DryPenalty
from engine.decoding.processors import (
    GUARD_LOOKBACK,
    SeenTokens,
    ban_repeated_ngrams,
    keep_min_p,
    keep_top_k,
    keep_top_p,
    penalize_repetitions,
    restrict_to,
    sampling_scores,
)

INF = math.inf


def kept(scores: torch.Tensor) -> list[int]:
    return torch.isfinite(scores[0]).nonzero().flatten().tolist()


def log_probs(*probs: float) -> torch.Tensor:
    return torch.tensor([probs]).log()


def test_top_k_keeps_the_k_best():
    scores = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0]])
    assert kept(keep_top_k(scores, 2)) == [1, 3]
    assert kept(keep_top_k(scores, 1)) == [1]
    assert torch.equal(keep_top_k(scores, 0), scores)  # 0 turns it off
    assert torch.equal(keep_top_k(scores, 9), scores)
    assert keep_top_k(scores, 2)[0, 1] == 5.0  # kept scores are unchanged


def test_top_k_applies_per_row():
    scores = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    out = keep_top_k(scores, 1)
    assert torch.isfinite(out).tolist() == [[False, False, True], [True, False, False]]


def test_top_p_keeps_the_smallest_set_reaching_p():
    scores = log_probs(0.5, 0.3, 0.1, 0.06, 0.04)
    assert kept(keep_top_p(scores, 0.5)) == [0]
    assert kept(keep_top_p(scores, 0.75)) == [0, 1]
    assert kept(keep_top_p(scores, 0.85)) == [0, 1, 2]
    assert kept(keep_top_p(scores, 0.95)) == [0, 1, 2, 3]
    assert kept(keep_top_p(scores, 1e-9)) == [0]  # the most likely token always stays
    assert torch.equal(keep_top_p(scores, 1.0), scores)


def test_top_p_works_on_unsorted_scores():
    scores = log_probs(0.1, 0.5, 0.06, 0.3, 0.04)
    assert kept(keep_top_p(scores, 0.75)) == [1, 3]


def test_min_p_drops_tokens_far_below_the_best():
    scores = log_probs(0.5, 0.3, 0.1, 0.06, 0.04)
    assert kept(keep_min_p(scores, 0.5)) == [0, 1]  # threshold 0.25
    assert kept(keep_min_p(scores, 0.1)) == [0, 1, 2, 3]  # threshold 0.05
    assert kept(keep_min_p(scores, 0.99)) == [0]
    assert torch.equal(keep_min_p(scores, 0.0), scores)


def test_temperature_sharpens_or_flattens():
    scores = log_probs(0.6, 0.3, 0.1)
    cold = sampling_scores(scores, 0.5, 0, 1.0, 0.0).softmax(-1)
    hot = sampling_scores(scores, 2.0, 0, 1.0, 0.0).softmax(-1)
    same = sampling_scores(scores, 1.0, 0, 1.0, 0.0).softmax(-1)
    assert torch.allclose(same, scores.exp())
    assert cold[0, 0] > 0.6 > hot[0, 0]
    assert hot[0, 2] > 0.1 > cold[0, 2]


def test_warpers_combine_in_order():
    scores = log_probs(0.4, 0.3, 0.2, 0.1)
    # top-k 3 leaves 0.4/0.3/0.2 (renormalised 0.44/0.33/0.22); top-p 0.7 then keeps the first two.
    assert kept(sampling_scores(scores, 1.0, 3, 0.7, 0.0)) == [0, 1]


def test_repetition_penalty_makes_seen_tokens_less_likely_whatever_their_sign():
    scores = torch.tensor([[2.0, -2.0, 2.0, -2.0]])
    seen = torch.tensor([[True, True, False, False]])
    out = penalize_repetitions(scores, seen, 2.0)
    assert out.tolist() == [[1.0, -4.0, 2.0, -2.0]]
    # A penalty below 1 rewards repetition instead.
    assert penalize_repetitions(scores, seen, 0.5).tolist() == [[4.0, -1.0, 2.0, -2.0]]


def test_no_repeat_ngram_bans_tokens_that_would_repeat_an_ngram():
    sequences = torch.tensor([[5, 6, 7, 5, 6, 9, 5]])
    scores = torch.zeros(1, 10)
    # The last token 5 was followed by 6 and 6 before: bigram (5, 6) must not happen a third time.
    out = ban_repeated_ngrams(scores.clone(), sequences, 2)
    assert torch.isinf(out[0]).nonzero().flatten().tolist() == [6]
    # Trigrams: the last two tokens (9, 5) never occurred before, nothing is banned.
    assert torch.isfinite(ban_repeated_ngrams(scores.clone(), sequences, 3)).all()
    # Unigrams: every token seen so far is banned.
    assert torch.isinf(ban_repeated_ngrams(scores.clone(), sequences, 1)[0]).nonzero().flatten().tolist() == [
        5, 6, 7, 9]


def test_no_repeat_ngram_is_per_row():
    sequences = torch.tensor([[1, 2, 1], [3, 1, 2]])
    out = ban_repeated_ngrams(torch.zeros(2, 4), sequences, 2)
    assert torch.isinf(out).tolist() == [[False, False, True, False], [False, False, False, False]]


def test_restrict_to_leaves_only_the_allowed_ids():
    scores = torch.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
    out = restrict_to(scores, torch.tensor([0, 2]))
    assert out.tolist() == [[1.0, -INF, 3.0, -INF], [4.0, -INF, 2.0, -INF]]


def test_seen_tokens_track_rows_through_fan_out_and_reorder():
    seen = SeenTokens([1, 2], vocab_size=6, max_new_tokens=4, device=torch.device("cpu"),
                      repetition_penalty=2.0, no_repeat_ngram_size=2)
    seen.fan_out(2)
    seen.append(torch.tensor([1, 3]))  # row 0 now reads 1 2 1, row 1 reads 1 2 3
    out = seen.apply(torch.ones(2, 6))
    assert out[0, 2] == -INF  # (1, 2) would repeat in row 0
    assert torch.isfinite(out[1]).all()
    assert out[1, 3] == 0.5 and out[1, 4] == 1.0  # seen tokens penalised, unseen ones not
    seen.reorder(torch.tensor([1, 1]))
    assert torch.isfinite(seen.apply(torch.ones(2, 6))).all()
    assert seen.length == 3


def test_seen_tokens_do_nothing_when_switched_off():
    seen = SeenTokens([1, 2], vocab_size=6, max_new_tokens=4, device=torch.device("cpu"))
    scores = torch.randn(1, 6)
    assert not seen.active and seen.apply(scores) is scores
    seen.append(torch.tensor([3]))
    assert seen.length == 3


@pytest.mark.parametrize("size", [0, 5])
def test_ngram_ban_needs_enough_history(size):
    scores = torch.zeros(1, 4)
    assert torch.isfinite(ban_repeated_ngrams(scores, torch.tensor([[1, 2, 1]]), size)).all()


def test_repeat_guards_read_only_the_prompts_tail_and_the_continuation():
    # A document repeats its names and phrases on purpose: a repeat of something far back in the prompt is
    # neither banned nor penalised; the same repeat within the prompt's last GUARD_LOOKBACK tokens is.
    filler = list(range(10, 10 + GUARD_LOOKBACK))
    dry = DryPenalty(multiplier=1.0, base=1.75, allowed_length=1)
    far = SeenTokens([7, 8, 9] + filler + [7, 8], vocab_size=40, max_new_tokens=3, device=torch.device("cpu"),
                     no_repeat_ngram_size=3, dry=dry)
    assert torch.equal(far.apply(torch.zeros(1, 40)), torch.zeros(1, 40))
    near = SeenTokens(filler + [7, 8, 9] + [7, 8], vocab_size=40, max_new_tokens=2, device=torch.device("cpu"),
                      no_repeat_ngram_size=3, dry=dry)
    assert kept(near.apply(torch.zeros(1, 40))) == [t for t in range(40) if t != 9]
    # The continuation counts in full: once it has written 7 8 9, writing it again is banned.
    for token in (9, 7, 8):
        far.append(torch.tensor([token]))
    assert far.length == len(filler) + 8
    assert math.isinf(far.apply(torch.zeros(1, 40))[0, 9])
