"""Fitting ``MixtureWeights`` on held-out text: what the online document memory knew before each token, and how
likely the model and the memory found the token that came; then the continuous cache's weights, mixed after."""

from __future__ import annotations

import math

from engine.memory.hidden_cache import (
    DEFAULT_THETA,
    SIMILARITY_EDGES,
    SIZE_EDGES,
    CacheWeights,
    HiddenStateCache,
)
from engine.memory.match import Match
from engine.memory.ngram import DEFAULT_MAX_ORDER, NgramCounts
from engine.memory.weights import MIN_CELL_SAMPLES, MixtureWeights, best_weight, fit


def _scored_ids(lm, text: str) -> list[int]:
    """The tokens of ``text`` as ``bits_per_byte`` scores them: after end-of-text, so every token is predicted."""
    ids = lm.tokenizer.encode(text)
    return [lm.eos_token_id] + ids if lm.eos_token_id is not None else ids


def collect_samples(lm, text: str, max_order: int = DEFAULT_MAX_ORDER) -> list[tuple[Match, float, float]]:
    """(match, p_model of the true token, p_memory of it) for every token of ``text`` the memory had a match
    for; the memory holds only the tokens before the one predicted."""
    ids = _scored_ids(lm, text)
    model_logprobs = lm.token_logprobs(ids, memory=False)  # entry i - 1 predicts ids[i]
    counts = NgramCounts(max_order)
    counts.append(ids[:1])
    samples = []
    for position in range(1, len(ids)):
        match = counts.longest(ids[max(0, position - max_order) : position])
        target = ids[position]
        if match is not None:
            memory_p = match.counts[match.ids.index(target)] / match.count if target in match.ids else 0.0
            samples.append((match, math.exp(model_logprobs[position - 1]), memory_p))
        counts.append([target])
    return samples


def fit_on_texts(lm, texts: list[str], note: str = "") -> MixtureWeights:
    samples = [sample for text in texts for sample in collect_samples(lm, text)]
    return fit(samples, note)


#: Positions scored at a time, as ``bits_per_byte``'s passes do, so the cache's cap drops the same positions.
_CACHE_WINDOW = 512


def collect_cache_samples(lm, text: str,
                          thetas: tuple[float, ...]) -> dict[float, list[tuple[int, float, float, float]]]:
    """Per theta: (positions the cache sees, best similarity, p of the true token under the model and the n-gram
    memory, p_cache of it) for every token of ``text``; the continuous cache holds only the positions before the
    one predicted, at most as many as decoding and scoring keep."""
    ids = _scored_ids(lm, text)
    weights = lm.memory.prior
    lm.memory.weights = weights.with_cache(None)  # what the cache is mixed into: the n-gram mixture alone
    try:
        before_cache = [math.exp(p) for p in lm.token_logprobs(ids, memory=True)]
    finally:
        lm.memory.weights = weights
    states = lm.hidden_states(ids)
    samples: dict[float, list[tuple[int, float, float, float]]] = {}
    for theta in thetas:
        cache = HiddenStateCache()
        found: list[tuple[int, float, float, float]] = []
        for start in range(0, len(ids) - 1, _CACHE_WINDOW):
            end = min(len(ids) - 1, start + _CACHE_WINDOW)
            best, cache_p, seen = cache.online_probabilities(states[start:end], ids[start + 1 : end + 1], theta)
            found += zip(seen.tolist(), best.tolist(), before_cache[start:end], cache_p.tolist())
        samples[theta] = found
    return samples


def fit_cache_on_texts(lm, texts: list[str], thetas: tuple[float, ...] = (10.0, 20.0, 40.0)) -> CacheWeights:
    """The continuous cache's weights for ``lm`` (whose memory weights are the n-gram table to mix after), at the
    ``theta`` of ``thetas`` that fits the held-out texts best."""
    samples: dict[float, list[tuple[int, float, float, float]]] = {theta: [] for theta in thetas}
    for text in texts:
        for theta, found in collect_cache_samples(lm, text, thetas).items():
            samples[theta].extend(found)
    best_fit, best_bits = None, math.inf
    for theta in thetas:
        weights = fit_cache_weights(samples[theta], theta)
        bits = 0.0
        for seen, best, p, q in samples[theta]:
            w = weights.weight(best, seen)
            bits -= math.log2(max((1 - w) * p + w * q, 1e-300))
        if bits < best_bits:
            best_fit, best_bits = weights, bits
    assert best_fit is not None  # thetas is not empty
    return best_fit


def fit_cache_weights(samples: list[tuple[int, float, float, float]], theta: float = DEFAULT_THETA,
                      min_samples: int = MIN_CELL_SAMPLES) -> CacheWeights:
    """Weights maximising ``sum log((1 - lam) * p + lam * p_cache)`` per cell of (positions seen, best
    similarity), from (seen, best similarity, p of the true token before the cache, p_cache of it); sparse cells
    get no cache."""
    probe = CacheWeights((tuple(0.0 for _ in SIMILARITY_EDGES),) * len(SIZE_EDGES), theta, SIMILARITY_EDGES,
                         SIZE_EDGES)
    by_cell: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for seen, best, p, q in samples:
        by_cell.setdefault((probe.size_bucket(seen), probe.bucket(best)), []).append((p, q))
    weights = tuple(tuple(best_weight(by_cell[s, b]) if len(by_cell.get((s, b), [])) >= min_samples else 0.0
                          for b in range(len(SIMILARITY_EDGES)))
                    for s in range(len(SIZE_EDGES)))
    return CacheWeights(weights, theta, SIMILARITY_EDGES, SIZE_EDGES)
