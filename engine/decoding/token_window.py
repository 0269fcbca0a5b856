"""Which part of a long document the model reads: the tail before the cursor, moved in large steps.

Only a tail window of characters is tokenized, so the cost of a keystroke does not grow with the document. The
window's start is quantised (and then moved to a whitespace boundary) so that consecutive keystrokes share the
same start, hence the same leading tokens, hence the cached model state: the prefix cache then only has to read
the last few tokens. When the text is denser in tokens than expected, whole blocks of tokens are dropped from the
front, again in steps, for the same reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from engine.loading.tokenizer import TextTokenizer

# A generous guess at characters per token for prose; denser text is trimmed in token space afterwards.
CHARS_PER_TOKEN = 4
# A window start moves in steps of this fraction of the window, so it stays put over many keystrokes.
STEPS_PER_WINDOW = 4
# A recurrent model has no hard context limit; this many tokens of context keep its prefill affordable.
RECURRENT_CONTEXT_TOKENS = 1024
# Long-context models read at most this much: a cold start (or a re-window) stays affordable on a CPU, and so do
# the cache's memory and the tokenizing of the window on every keystroke.
MAX_PROMPT_TOKENS = 2048
# A model this large reads a shorter window on a CPU: reading a prompt costs parameters x tokens, and a 135M model
# takes seconds over 2,048 tokens, paid at the first request in a document and at every re-window.
LARGE_MODEL_PARAMETERS = 50_000_000
LARGE_MODEL_CPU_PROMPT_TOKENS = 512


def prompt_token_cap(parameters: int, device_type: str) -> int:
    """The most prompt tokens a model of ``parameters`` reads on ``device_type``."""
    if device_type == "cpu" and parameters >= LARGE_MODEL_PARAMETERS:
        return LARGE_MODEL_CPU_PROMPT_TOKENS
    return MAX_PROMPT_TOKENS


@dataclass(frozen=True)
class ContextWindow:
    tokens: list[int]
    text: str  # the window's text: the tail of the document that ``tokens`` encode (before any eos)
    starts_document: bool  # the window begins where the document begins


def token_budget(max_context: int | None, max_new_tokens: int, cap: int = MAX_PROMPT_TOKENS) -> int:
    """How many prompt tokens to keep: room for ``max_new_tokens`` within the context (at least half of it),
    and never more than ``cap`` (``prompt_token_cap``)."""
    if max_context is None:
        return RECURRENT_CONTEXT_TOKENS
    return min(max(max_context - max_new_tokens, max_context // 2, 1), cap)


def window_start(text: str, window_chars: int) -> int:
    """Character offset where the tail window starts: quantised, then moved forward to whitespace.

    The window is about ``window_chars`` to ``window_chars * (1 + 1/STEPS_PER_WINDOW)`` characters long.
    """
    if len(text) <= window_chars:
        return 0
    step = max(1, window_chars // STEPS_PER_WINDOW)
    start = (len(text) - window_chars) // step * step
    # Start at whitespace, where a token boundary is certain (the tokenizer would give the same tokens in context).
    for offset in range(start, min(len(text), start + step)):
        if text[offset].isspace():
            return offset
    return start


def trim_front(tokens: list[int], budget: int) -> list[int]:
    """Drop tokens from the front, in blocks of a quarter budget, until at most ``budget`` remain."""
    excess = len(tokens) - budget
    if excess <= 0:
        return tokens
    step = max(1, budget // STEPS_PER_WINDOW)
    drop = -(-excess // step) * step
    return tokens[drop:]


def context_window(
    text: str,
    tokenizer: TextTokenizer,
    budget: int,
    bos_token_id: int | None = None,
    encode: Callable[[str], list[int]] | None = None,
) -> ContextWindow:
    """Tokens of the tail of ``text`` (at most ``budget``); ``bos_token_id`` is put first when the window
    reaches back to the start of the document (GPT-2 style models saw end-of-text before every document).
    ``encode`` replaces ``tokenizer.encode`` (an ``IncrementalEncoder``'s, say)."""
    start = window_start(text, budget * CHARS_PER_TOKEN)
    tail = text[start:]
    tokens = (encode or tokenizer.encode)(tail)
    if start == 0 and bos_token_id is not None:
        tokens = [bos_token_id] + tokens
    trimmed = trim_front(tokens, budget)
    return ContextWindow(trimmed, tail, starts_document=start == 0 and len(trimmed) == len(tokens))


# Characters at the end of the text that are always tokenized afresh: typing and healing happen there.
FRESH_TAIL_CHARS = 64


class IncrementalEncoder:
    """Tokenizes successive versions of a text that mostly grows at its end, re-reading only the end.

    For a GPT-2-style byte-level tokenizer (no normalizer, the GPT-2 split regex, no added prefix space) the
    text splits into independent pieces at every space that follows a non-space and precedes one: such a space
    always starts a new pre-token (" word"), and no token crosses a pre-token boundary. The tokens before such a
    split point are kept from the previous call as long as the text still starts with the same characters; only
    the rest is tokenized again. Any other tokenizer is simply called on the whole text.
    """

    def __init__(self, tokenizer: TextTokenizer) -> None:
        self.tokenizer = tokenizer
        self.splittable = _splits_at_spaces(tokenizer)
        self._head = ""
        self._head_ids: list[int] = []

    def encode(self, text: str) -> list[int]:
        if not self.splittable:
            return self.tokenizer.encode(text)
        if not text.startswith(self._head):
            self._head, self._head_ids = "", []
        if len(text) - len(self._head) > 4 * FRESH_TAIL_CHARS:
            split = _split_point(text, len(self._head) + 1, len(text) - FRESH_TAIL_CHARS)
            if split is not None:
                self._head_ids = self._head_ids + self.tokenizer.encode(text[len(self._head) : split])
                self._head = text[:split]
        return self._head_ids + self.tokenizer.encode(text[len(self._head) :])


def _split_point(text: str, low: int, high: int) -> int | None:
    """The last index in [low, high) of a space between two non-space characters."""
    position = text.rfind(" ", low, high)
    while position >= low:
        if position + 1 < len(text) and not text[position - 1].isspace() and not text[position + 1].isspace():
            return position
        position = text.rfind(" ", low, position)
    return None


def _splits_at_spaces(tokenizer: TextTokenizer) -> bool:
    try:
        config = json.loads(tokenizer.backend.to_str())
    except (AttributeError, ValueError):
        return False
    pre = config.get("pre_tokenizer") or {}
    return (
        config.get("normalizer") is None
        and pre.get("type") == "ByteLevel"
        and pre.get("use_regex", True)
        and not pre.get("add_prefix_space", False)
    )
