"""Fitting ``MixtureWeights`` on held-out text: what the online document memory knew before each token, and how
likely the model and the memory found the token that came."""

from __future__ import annotations

import math

from engine.memory.match import Match
from engine.memory.ngram import DEFAULT_MAX_ORDER, NgramCounts
from engine.memory.weights import MixtureWeights, fit


def collect_samples(lm, text: str, max_order: int = DEFAULT_MAX_ORDER) -> list[tuple[Match, float, float]]:
    """(match, p_model of the true token, p_memory of it) for every token of ``text`` the memory had a match
    for; the memory holds only the tokens before the one predicted."""
    ids = lm.tokenizer.encode(text)
    if lm.eos_token_id is not None:
        ids = [lm.eos_token_id] + ids
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
