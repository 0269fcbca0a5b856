"""The never-suggest list: words the continuation must not spell, enforced by masking tokens while decoding.

Masking, rather than dropping finished completions, lets the model say something else instead. A word is banned as a
whole word, in any case: "cat" bans "Cat" and "cat." but not "bobcat" or "cats". Per row, the decoder knows the
*fragment*: the word the text so far ends in (the user's half-typed word included). A token is masked when

- its leading word characters would complete the fragment into a banned word ("ca" + "t", "" + "cat",
  "" + "cat," ), the generated part adding at least one letter (a word the user typed in full is theirs), or
- it contains a banned word after a word boundary of its own (" cat", "(cat").

A token that ends exactly at the end of a banned word ("cat" before a possible "alog") is masked too: waiting for
the next token would leave the model no way out but to lengthen the word. So "catalog" is only reachable through
other token splits. Tokens with an incomplete UTF-8 character are judged on their complete characters; a word that
slips through that way is caught by the suggestion filter in ``engine.quality.suggestion_quality``.
"""

from __future__ import annotations

import re
from collections import OrderedDict

import torch

_WORD = re.compile(r"\w+")
_LEADING_WORD = re.compile(r"\w*")
_TRAILING_WORD = re.compile(r"\w*\Z")
_INDEX_CACHE_SIZE = 4


def normalise_words(words) -> tuple[str, ...]:
    """Lower-cased, without duplicates, in the order given."""
    return tuple(dict.fromkeys(w.lower() for w in words if w))


class BannedWordIndex:
    """What masking needs about one word list and one vocabulary; built once (one pass over the vocabulary)."""

    def __init__(self, words, token_bytes: list[bytes]) -> None:
        self.words = normalise_words(words)
        self.longest = max((len(w) for w in self.words), default=0)
        wanted_leads = {w[i:] for w in self.words for i in range(len(w))}
        by_lead: dict[str, list[int]] = {}
        always: list[int] = []
        banned = set(self.words)
        for token, data in enumerate(token_bytes):
            if not data:
                continue
            text = data.decode("utf-8", errors="ignore").lower()
            lead_match = _LEADING_WORD.match(text)  # matches "" at least
            lead = lead_match.group() if lead_match is not None else ""
            if lead in wanted_leads:
                by_lead.setdefault(lead, []).append(token)
            if any(word in banned for word in _WORD.findall(text, len(lead))):
                always.append(token)
        self._by_lead = {lead: torch.tensor(ids, dtype=torch.long) for lead, ids in by_lead.items()}
        self.always = torch.tensor(always, dtype=torch.long)
        self._after_fragment: dict[str, torch.Tensor | None] = {}

    def masked_after(self, fragment: str) -> torch.Tensor | None:
        """Ids that would turn ``fragment`` (the whole word the text ends in, lower case) into a banned word."""
        if fragment in self._after_fragment:
            return self._after_fragment[fragment]
        parts = [self._by_lead[w[len(fragment):]] for w in self.words
                 if len(w) > len(fragment) and w.startswith(fragment) and w[len(fragment):] in self._by_lead]
        ids = torch.cat(parts).unique() if parts else None
        self._after_fragment[fragment] = ids
        return ids


class BannedWordIndexes:
    """A few recently used indexes for one vocabulary (the list rarely changes, and building one costs a pass)."""

    def __init__(self, token_bytes: list[bytes]) -> None:
        self.token_bytes = token_bytes
        self._cache: OrderedDict[tuple[str, ...], BannedWordIndex] = OrderedDict()

    def get(self, words) -> BannedWordIndex | None:
        key = normalise_words(words)
        if not key:
            return None
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        index = self._cache[key] = BannedWordIndex(key, self.token_bytes)
        while len(self._cache) > _INDEX_CACHE_SIZE:
            self._cache.popitem(last=False)
        return index


class BannedWordMask:
    """The per-row state of one request: each row's fragment, following beam search's row moves."""

    def __init__(self, index: BannedWordIndex, prompt_tokens: list[int], token_bytes: list[bytes],
                 device: torch.device) -> None:
        self.index = index
        self.token_bytes = token_bytes
        self.device = device
        # Enough bytes to hold the longest banned word (4 bytes a character at most) and tell where it starts.
        self._keep_bytes = 4 * index.longest + 8
        self._always = index.always.to(device)
        self._moved: dict[str, torch.Tensor | None] = {}
        tail = b"".join(token_bytes[t] for t in prompt_tokens[-self._keep_bytes:])[-self._keep_bytes:]
        self._tails: list[bytes] = [tail]

    def apply(self, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.clone()
        if self._always.numel():
            scores[:, self._always] = float("-inf")
        for row, tail in enumerate(self._tails):
            fragment = self._fragment(tail)
            if fragment is None:
                continue
            ids = self._on_device(fragment)
            if ids is not None:
                scores[row, ids] = float("-inf")
        return scores

    def _on_device(self, fragment: str) -> torch.Tensor | None:
        if fragment not in self._moved:  # one copy to the device per fragment and request, not per step
            ids = self.index.masked_after(fragment)
            self._moved[fragment] = None if ids is None else ids.to(self.device)
        return self._moved[fragment]

    def _fragment(self, tail: bytes) -> str | None:
        """The word the row's text ends in, lower case; None when it is longer than any banned word."""
        text = tail.decode("utf-8", errors="ignore").lower()
        found = _TRAILING_WORD.search(text)  # matches "" at least
        fragment = found.group() if found is not None else ""
        if len(fragment) >= self.index.longest or (fragment and len(fragment) == len(text)
                                                   and len(tail) >= self._keep_bytes):
            return None
        return fragment

    def append(self, tokens: torch.Tensor) -> None:
        for row, token in enumerate(tokens.tolist()):
            self._tails[row] = (self._tails[row] + self.token_bytes[token])[-self._keep_bytes:]

    def fan_out(self, rows: int) -> None:
        self._tails = self._tails[:1] * rows

    def reorder(self, rows: torch.Tensor) -> None:
        self._tails = [self._tails[row] for row in rows.tolist()]
