"""Which part of a long document the model reads: the tail before the cursor, moved in large steps.

Only a tail window of characters is tokenized, so the cost of a keystroke does not grow with the document. The
window's start is quantised (and then moved to a whitespace boundary) so that consecutive keystrokes share the
same start, hence the same leading tokens, hence the cached model state: the prefix cache then only has to read
the last few tokens. When the text is denser in tokens than expected, whole blocks of tokens are dropped from the
front, again in steps, for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.tokenizer import TextTokenizer

# A generous guess at characters per token for prose; denser text is trimmed in token space afterwards.
CHARS_PER_TOKEN = 4
# A window start moves in steps of this fraction of the window, so it stays put over many keystrokes.
STEPS_PER_WINDOW = 4
# A recurrent model has no hard context limit; this many tokens of context keep its prefill affordable.
RECURRENT_CONTEXT_TOKENS = 1024


@dataclass(frozen=True)
class ContextWindow:
    tokens: list[int]
    text: str  # the window's text: the tail of the document that ``tokens`` encode (before any eos)
    starts_document: bool  # the window begins where the document begins


def token_budget(max_context: int | None, max_new_tokens: int) -> int:
    """How many prompt tokens to keep: room for ``max_new_tokens`` within the context (at least half of it)."""
    if max_context is None:
        return RECURRENT_CONTEXT_TOKENS
    return max(max_context - max_new_tokens, max_context // 2, 1)


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
    text: str, tokenizer: TextTokenizer, budget: int, bos_token_id: int | None = None
) -> ContextWindow:
    """Tokens of the tail of ``text`` (at most ``budget``); ``bos_token_id`` is put first when the window
    reaches back to the start of the document (GPT-2 style models saw end-of-text before every document)."""
    start = window_start(text, budget * CHARS_PER_TOKEN)
    tail = text[start:]
    tokens = tokenizer.encode(tail)
    if start == 0 and bos_token_id is not None:
        tokens = [bos_token_id] + tokens
    trimmed = trim_front(tokens, budget)
    return ContextWindow(trimmed, tail, starts_document=start == 0 and len(trimmed) == len(tokens))
