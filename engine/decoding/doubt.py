"""Ending a suggestion before its first doubtful word.

A suggestion is cut into the units Ctrl+Right accepts (``word_units``: optional whitespace and a word with its
punctuation: ``" lazy"``, ``" dog."``, in Chinese one character: ``"见。"``). The units up to its first word are
always kept (``", the"``): whether to show anything at all is the confidence gate's call (``engine.quality``).
Every later unit must be at least ``min_probability`` likely given the text before it (the product of its tokens'
probabilities), or the suggestion ends before it.

Why: Tab takes the whole ghost text, so a doubtful tail either gets typed over or deleted, and until the next key
no fresh suggestion comes. Ended before the doubt, the likely part is one Tab and the next suggestion comes at
once. On the held-out books (``inkling eval``, 4,000 characters each, greedy with memory, 3 words at most) a 10%
bar raised the simulated typist's keystroke savings from 27.8% to 28.8% (docs/TRAINING.md).

The bar that saves the most keystrokes differs from model to model, so it is measured per model
(``tools/measure_doubt_cut.py``) and kept with it (``engine.loading.model_defaults``); decoding uses it where the
settings leave the bar to the model (``DecodingSettings.min_word_probability`` None, the default).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import replace

from engine.decoding.results import Completion
from engine.decoding.word_units import is_word_char, word_units


def unit_of_pieces(pieces: Sequence[str]) -> list[int]:
    """For each token's text, the index of the unit its first character falls in: the Ctrl+Right steps of
    ``word_units`` (" lazy", " dog.", and in Chinese one character each). A piece that adds nothing (the re-typed
    prefix of token healing) belongs to the unit being written."""
    ends = list(itertools.accumulate(len(unit) for unit in word_units("".join(pieces))))
    units: list[int] = []
    position = 0
    for piece in pieces:
        at = position if piece else position - 1  # its first character, or the last one written before it
        units.append(bisect.bisect_right(ends, at) if at >= 0 else 0)
        position += len(piece)
    return units


def doubt_cut(pieces: Sequence[str], logprobs: Sequence[float], min_probability: float) -> int | None:
    """How many of the tokens to keep: those before the first unit after the first word whose probability is below
    ``min_probability`` (None: keep every token). ``pieces[i]`` is what token i adds to the text, ``logprobs[i]``
    its natural-log probability."""
    if min_probability <= 0 or not pieces:
        return None
    threshold = math.log(min_probability)
    units = unit_of_pieces(pieces)
    totals: dict[int, float] = {}
    for unit, logprob in zip(units, logprobs):
        totals[unit] = totals.get(unit, 0.0) + logprob
    # Kept whatever their probability: the units up to the first word (", the" is one word after a comma).
    first_word = next((unit for unit, piece in zip(units, pieces) if any(map(is_word_char, piece))), len(pieces))
    doubtful = [unit for unit, total in totals.items() if unit > first_word and total < threshold]
    if not doubtful:
        return None
    first = min(doubtful)
    return next(i for i, unit in enumerate(units) if unit >= first)


def without_doubtful_tail(completion: Completion, min_probability: float) -> Completion:
    """``completion`` ended before its first doubtful unit (itself when none is, or when it lacks per-token
    numbers)."""
    pieces, logprobs = completion.token_texts, completion.token_logprobs
    if len(pieces) != len(logprobs) or len(pieces) != len(completion.token_ids):
        return completion
    keep = doubt_cut(pieces, logprobs, min_probability)
    if keep is None:
        return completion
    return replace(completion, text="".join(pieces[:keep]), logprob=float(sum(logprobs[:keep])),
                   token_ids=completion.token_ids[:keep], token_logprobs=logprobs[:keep],
                   token_texts=pieces[:keep], finish_reason="stop")


def without_doubtful_tails(completions: Sequence[Completion], min_probability: float) -> list[Completion]:
    """Each completion ended before its first doubtful unit, best first; one that now reads like a better one
    is dropped (beam alternatives can differ only in their tail)."""
    kept: list[Completion] = []
    for completion in completions:
        cut = without_doubtful_tail(completion, min_probability)
        if all(cut.text != other.text for other in kept):
            kept.append(cut)
    return kept
