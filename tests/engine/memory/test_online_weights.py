"""The mixture weights learned from the document's own tokens (engine/memory/online_weights.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.memory import Match, MixtureWeights
from engine.memory.hidden_cache import SIMILARITY_EDGES, CacheWeights
from engine.memory.online_weights import UPDATE_EVERY, OnlineWeights
from tests.support.samples import SAMPLE_TEXT
from tests.support.settings import plain_settings

SHORT = Match(1, (5, 6), (1, 1))  # the length-1, count-2, two-followers cell


def test_a_memory_that_never_helps_is_turned_down_and_one_that_helps_up():
    learned = OnlineWeights(MixtureWeights.constant(0.5), strength=2.0)
    # The model gives the true token 0.6; the memory's match never had it.
    learned.learn(0, np.full(200, 0.6), [SHORT] * 200, [7] * 200)
    assert learned.current().weight(SHORT) <= 0.01
    assert learned.current().weight(Match(9, (5,), (30,))) == 0.5  # a cell nothing was seen in keeps the prior
    helped = OnlineWeights(MixtureWeights.constant(0.1), strength=2.0)
    helped.learn(0, np.full(200, 0.01), [SHORT] * 200, [5] * 200)  # the memory had it half the time: 0.5
    assert helped.current().weight(SHORT) > 0.9


def test_the_fitted_table_counts_as_pseudo_observations():
    few = OnlineWeights(MixtureWeights.constant(0.5), strength=50.0)
    few.learn(0, np.full(3, 0.6), [SHORT] * 3, [7] * 3)
    assert 0.3 < few.current().weight(SHORT) < 0.5  # three tokens move a strong prior a little


def test_an_edit_takes_back_exactly_what_the_changed_pairs_taught():
    prior = MixtureWeights.constant(0.5)
    learned = OnlineWeights(prior, strength=2.0)
    learned.learn(0, np.full(40, 0.6), [SHORT] * 40, [7] * 40)
    before = learned.current().table.copy()
    learned.learn(40, np.full(40, 0.01), [SHORT] * 40, [5] * 40)
    learned.truncate(40)
    assert learned.end == 40
    assert np.array_equal(learned.current().table, before)
    learned.truncate(10)  # inside the first step
    again = OnlineWeights(prior, strength=2.0)
    again.learn(0, np.full(10, 0.6), [SHORT] * 10, [7] * 10)
    assert np.allclose(learned.ngram.likelihood, again.ngram.likelihood)
    learned.truncate(-1)
    assert learned.end == 0 and np.array_equal(learned.current().table, prior.table)


def test_the_cache_weight_is_learned_from_the_probability_before_it():
    cache = CacheWeights.by_similarity(tuple(0.3 for _ in SIMILARITY_EDGES))
    learned = OnlineWeights(MixtureWeights.zeros().with_cache(cache), strength=2.0)
    n = 300
    best, seen = np.full(n, 0.97), np.full(n, 500)
    learned.learn(0, np.full(n, 0.5), [None] * n, [1] * n, (best, seen, np.zeros(n)))  # the cache never had it
    assert learned.current().cache is not None and learned.current().cache.weight(0.97, 500) <= 0.02
    assert learned.current().cache.weight(0.3, 500) == 0.3  # another bucket: nothing learned there
    unseen = OnlineWeights(MixtureWeights.zeros().with_cache(cache), strength=2.0)
    unseen.learn(0, np.full(n, 0.5), [None] * n, [1] * n, (np.full(n, -2.0), seen, np.zeros(n)))
    assert unseen.current().cache == cache  # rows that saw no earlier position teach nothing


def _bits(p: np.ndarray) -> float:
    return float(-np.log2(p).sum())


def test_memory_on_is_no_worse_than_off_for_a_model_the_memory_cannot_help():
    # A synthetic document for a strong model: it gives the true token 0.7; the memory's match (every length and
    # count) had it only 30% of the time. The fitted table trusts the memory as for a weak model.
    rng = np.random.default_rng(0)
    n = 4000
    lengths = rng.integers(1, 5, n)
    matches = [Match(int(k), (1, 2), (int(rng.integers(1, 5)), 1)) for k in lengths]
    targets = [1 if hit else 3 for hit in rng.random(n) < 0.3]
    p_model = np.full(n, 0.7)
    prior = MixtureWeights.constant(0.6)
    learned = OnlineWeights(prior, strength=2.0)
    mixed = []
    for first in range(0, n, UPDATE_EVERY):
        part = slice(first, first + UPDATE_EVERY)
        weights = learned.current()
        for match, target, p in zip(matches[part], targets[part], p_model[part]):
            q = match.counts[0] / match.count if target == 1 else 0.0
            w = weights.weight(match)
            mixed.append((1 - w) * p + w * q)
        learned.learn(first, p_model[part], matches[part], targets[part])
    fixed = [(1 - 0.6) * p + 0.6 * (m.counts[0] / m.count if t == 1 else 0.0)
             for m, t, p in zip(matches, targets, p_model)]
    assert _bits(np.array(fixed)) > _bits(p_model)  # the fitted table hurts this model
    later = slice(n // 2, n)  # once learned, memory on costs at most 3% (the prior keeps w near 0.01) ...
    assert _bits(np.array(mixed)[later]) <= _bits(p_model[later]) * 1.03
    assert _bits(np.array(mixed)) < _bits(np.array(fixed)) * 0.8  # ... and far less than the fitted table overall


def test_scoring_never_learns_from_the_token_it_predicts(tiny_gpt2):
    memory = tiny_gpt2.memory
    memory.weights = MixtureWeights.constant(0.5)
    ids = [0] + tiny_gpt2.tokenizer.encode(SAMPLE_TEXT[:600])
    full = tiny_gpt2.token_logprobs(ids, memory=True)
    assert len(ids) > 3 * UPDATE_EVERY
    for cut in (UPDATE_EVERY - 1, UPDATE_EVERY, UPDATE_EVERY + 1, 2 * UPDATE_EVERY + 5):
        changed = ids[:cut] + [(ids[cut] + 1) % tiny_gpt2.model.vocab_size] + ids[cut + 1 :]
        other = tiny_gpt2.token_logprobs(changed, memory=True)
        # Every prediction before the changed token's is what it was (entry i - 1 predicts token i), those in
        # the same learning step included: the step learns from its tokens only after mixing them.
        assert other[: cut - 1] == pytest.approx(full[: cut - 1], abs=1e-6)


def test_decoding_learns_from_the_document_it_reads_and_forgets_what_an_edit_removed(tiny_gpt2):
    memory = tiny_gpt2.memory
    memory.weights = MixtureWeights.constant(0.95)
    settings = plain_settings(memory=True, max_new_tokens=2, token_healing=False)
    tiny_gpt2.complete(SAMPLE_TEXT, settings)
    while tiny_gpt2.catch_up_memory():
        pass
    pairs = len(memory.document.tokens) - 1
    assert memory.learned.end == pairs
    assert not np.array_equal(memory.weights.table, memory.prior.table)  # learned from the document
    # The same rule as scoring: the weights scoring had learned after the same tokens.
    ids = memory.document.tokens
    from engine.language_model import _Picker

    picker = _Picker(ids, memory)
    for first, rows, states in tiny_gpt2.scoring_passes(ids, states=picker.wants_states):
        picker.pick(rows, first, states)
    assert picker.learned is not None and picker.learned.end == memory.learned.end
    assert np.allclose(picker.learned.current().table, memory.weights.table)
    tiny_gpt2.complete(SAMPLE_TEXT[:60], settings)  # most of the document deleted
    assert memory.learned.end <= max(0, len(memory.document.tokens) - 1)


def test_a_cell_never_seen_follows_what_its_match_length_learned():
    learned = OnlineWeights(MixtureWeights.constant(0.5), strength=2.0)
    learned.learn(0, np.full(300, 0.6), [SHORT] * 300, [7] * 300)  # length 1, count 2: useless
    unseen_same_length = Match(1, (5,), (30,))  # length 1, count 30, one follower
    assert learned.current().weight(unseen_same_length) < 0.1
    assert learned.current().weight(Match(9, (5,), (30,))) == 0.5  # another length: the fitted weight
