"""Token healing: completing text that ends in the middle of a token.

"The quick bro" tokenizes as [..., " quick", " bro"], but in training text " bro" is almost never followed by
"wn": the model saw " brown" as one token. So the last prompt token is backed off and the first generated token
is constrained to start with its bytes (" bro" -> " brown", " brother", ...). The backed-off bytes are then
removed from the output, so the completion never repeats or alters what the user typed: "wn fox".
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import torch

from engine.decoding.word_units import is_word_char, last_word_start

# One word being typed, as bytes: an optional leading space, then letters or digits (any script: UTF-8 bytes >= 0x80).
_PARTIAL_WORD = re.compile(rb" ?(?:[A-Za-z0-9_]|[\x80-\xff])+")


class TokenPrefixIndex:
    """Token ids sorted by their bytes, so the tokens that start with given bytes form one contiguous slice.

    Built once per tokenizer; a lookup is two binary searches and a tensor slice. Special tokens and tokens
    without bytes are left out: they are never healing candidates.
    """

    def __init__(self, token_bytes: list[bytes], excluded: frozenset[int] | set[int] = frozenset()) -> None:
        pairs = sorted((data, index) for index, data in enumerate(token_bytes) if data and index not in excluded)
        self._keys = [data for data, _ in pairs]
        self._ids = torch.tensor([index for _, index in pairs], dtype=torch.long)
        self._on_device: dict[torch.device, torch.Tensor] = {}

    def ids_starting_with(self, prefix: bytes, device: torch.device | None = None) -> torch.Tensor:
        """Ids of the tokens whose bytes start with ``prefix`` (a view of a sorted tensor)."""
        ids = self._ids
        if device is not None and device.type != "cpu":
            if device not in self._on_device:
                self._on_device[device] = self._ids.to(device)
            ids = self._on_device[device]
        low = bisect.bisect_left(self._keys, prefix)
        after = _successor(prefix)
        high = len(self._keys) if after is None else bisect.bisect_left(self._keys, after)
        return ids[low:high]


    def id_of(self, spelled: bytes) -> int | None:
        """The token whose bytes are exactly ``spelled`` (the lowest id where several are), None if none is."""
        low = bisect.bisect_left(self._keys, spelled)
        return int(self._ids[low]) if low < len(self._keys) and self._keys[low] == spelled else None


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string that starts with ``prefix``; None if there is none."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


@dataclass(frozen=True)
class HealedPrompt:
    tokens: list[int]
    prefix: bytes  # what the first generated token must start with; b"" when nothing was backed off
    allowed: torch.Tensor | None  # ids the first generated token may be, None when unconstrained


def should_heal(text: str) -> bool:
    """Heal when the cursor is right after a word character ("The quick bro", also after a Han character, which a
    token may join to the next) or right after whitespace ("The quick ")."""
    return bool(text) and (is_word_char(text[-1]) or text[-1].isspace())


def partial_word(text: str) -> bytes:
    """The bytes healing may back off at the end of ``text``: the word it ends with (``word_units``: "quee", or
    one Han character of a Chinese sentence, never the whole sentence) with the space before it, if any."""
    start = last_word_start(text)
    if start < len(text) and start > 0 and text[start - 1] == " ":
        start -= 1
    return text[start:].encode("utf-8")


def heal(
    tokens: list[int],
    text: str,
    token_bytes: list[bytes],
    index: TokenPrefixIndex,
    special_ids: frozenset[int],
    device: torch.device | None = None,
    keep_at_least: int = 1,
) -> HealedPrompt:
    """Back off the last token of ``tokens`` (the tokenization of ``text``'s tail) when healing applies.

    ``keep_at_least`` tokens always stay, so the model has something to read.
    """
    if len(tokens) <= keep_at_least or not should_heal(text):
        return HealedPrompt(tokens, b"", None)
    last = tokens[-1]
    removed = token_bytes[last] if 0 <= last < len(token_bytes) else b""
    if last in special_ids or not removed:
        return HealedPrompt(tokens, b"", None)
    # A half-typed word is often split into pieces the model rarely saw in that order (" quee" -> " qu" + "ee",
    # after which "e" + "rforce" is as likely as "en"). Back off the whole partial word when some token spells
    # it from its start (" queen"), else the longest tail of it that a token can still extend.
    most = len(tokens) - keep_at_least
    for count in range(_word_token_count(tokens, token_bytes, special_ids, most, partial_word(text)), 1, -1):
        longer = b"".join(token_bytes[t] for t in tokens[-count:])
        allowed = index.ids_starting_with(longer, device)
        if allowed.numel():
            return HealedPrompt(tokens[:-count], longer, allowed)
    allowed = index.ids_starting_with(removed, device)
    if allowed.numel() == 0:  # cannot happen for a token of the vocabulary, but never constrain to nothing
        return HealedPrompt(tokens, b"", None)
    return HealedPrompt(tokens[:-1], removed, allowed)


def _word_token_count(tokens: list[int], token_bytes: list[bytes], special_ids: frozenset[int],
                      most: int, word: bytes) -> int:
    """How many of the last tokens together spell one partial word (an optional leading space, then letters), all
    within ``word``, the one the text ends with."""
    count = 0
    spelled = b""
    while count < most:
        token = tokens[-1 - count]
        if token in special_ids or not 0 <= token < len(token_bytes):
            break
        candidate = token_bytes[token] + spelled
        if not _PARTIAL_WORD.fullmatch(candidate) or not word.endswith(candidate):
            break
        spelled = candidate
        count += 1
        if spelled[:1] == b" ":
            break  # the word's start: nothing before it belongs to it
    return count
