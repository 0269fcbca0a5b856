"""Fill-in-the-middle (Bavarian et al. 2022): training rows in prefix-suffix-middle order, and the prompt that
asks a FIM model for the middle.

A FIM row reads ``<|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> middle``: the model sees the text
after the gap before it writes the gap. Decoding uses the same layout with an empty middle, so a suggestion in the
middle of a document reads what follows the cursor.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

FIM_PREFIX = "<|fim_prefix|>"
FIM_SUFFIX = "<|fim_suffix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_TOKENS = (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE)
#: config.json key a model trained without FIM rows carries when its tokenizer has the tokens anyway (a tokenizer
#: shared with a FIM model): its FIM embeddings are untrained, so decoding must not frame prompts with them.
FIM_CONFIG_KEY = "fill_in_the_middle"
#: Targets the loss skips: where the gap starts and where the suffix ends is not the model's to predict.
IGNORE_INDEX = -100
#: How much of the text after the cursor a fill-in-the-middle prompt reads: at most ``SUFFIX_CHARS`` characters (a
#: caller such as the editor sends no more), and of their tokens at most ``SUFFIX_TOKEN_SHARE`` of the prompt's
#: token budget. What follows the gap, not the whole rest: every keystroke changes the text before the cursor, so
#: each request reads these tokens again.
SUFFIX_CHARS = 200
SUFFIX_TOKEN_SHARE = 0.25


def fim_token_ids(tokenizer) -> tuple[int, int, int] | None:
    """(prefix, suffix, middle) ids when the tokenizer declares all three FIM tokens, else None."""
    ids = tuple(tokenizer.token_id(token) for token in FIM_TOKENS)
    return None if any(i is None for i in ids) else ids


def model_fim_ids(tokenizer, model) -> tuple[int, int, int] | None:
    """The FIM ids decoding may use for ``model``: the tokenizer's, unless the model says it was not trained on
    FIM rows (``"fill_in_the_middle": false`` in its config)."""
    extra = getattr(getattr(model, "config", None), "extra", None) or {}
    if extra.get(FIM_CONFIG_KEY) is False:
        return None
    return fim_token_ids(tokenizer)


def suffix_head(after: str) -> str:
    """The start of the text after the cursor that a fill-in-the-middle prompt reads."""
    return after[:SUFFIX_CHARS]


def suffix_token_limit(budget: int) -> int:
    """The most suffix tokens a prompt of ``budget`` tokens keeps (at least one)."""
    return max(1, int(budget * SUFFIX_TOKEN_SHARE))


def fim_suffix_ids(encode: Callable[[str], list[int]], after: str, budget: int) -> list[int]:
    """The tokens of the text after the cursor that a prompt of ``budget`` tokens reads."""
    return encode(suffix_head(after))[: suffix_token_limit(budget)]


def fim_prompt(prefix_ids: list[int], suffix_ids: list[int], ids: tuple[int, int, int]) -> list[int]:
    """The tokens that ask for the text between ``prefix_ids`` and ``suffix_ids``."""
    pre, suf, mid = ids
    return [pre, *prefix_ids, suf, *suffix_ids, mid]


def fim_rows(rows: np.ndarray, rate: float, ids: tuple[int, int, int], rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets for ``rows`` [batch, block + 1] of plain text tokens, a ``rate`` share of them
    rearranged into prefix-suffix-middle order.

    A rearranged row keeps its length: it is cut from the first ``block + 1 - 3`` tokens of the row at two random
    points, and the three FIM tokens fill the rest. The targets of the tokens that open the suffix and the middle
    are ignored; everything else is learned as usual.
    """
    inputs, targets = rows[:, :-1].copy(), rows[:, 1:].copy()
    length = rows.shape[1]
    if rate <= 0 or length < 4:
        return inputs, targets
    pre, suf, mid = ids
    body = length - 3
    for r in np.flatnonzero(rng.random(len(rows)) < rate):
        cut_a, cut_b = np.sort(rng.integers(0, body + 1, size=2))
        window = rows[r, :body]
        row = np.concatenate(([pre], window[:cut_a], [suf], window[cut_b:], [mid], window[cut_a:cut_b]))
        inputs[r], targets[r] = row[:-1], row[1:]
        targets[r][np.isin(row[1:], (suf, mid))] = IGNORE_INDEX
    return inputs, targets
