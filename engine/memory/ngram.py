"""``NgramCounts``: counts of every context of 1..``max_order`` tokens and the token that followed it, over a token
sequence that grows and shrinks at its end (the open document), each change costing ``max_order`` dict updates per
token added or removed.

A context's key is a chained hash built from the nearest token outwards (``h_k = hash((h_{k-1}, t_{i-k}))``), so all
orders of one position cost ``max_order`` small hashes, not ``max_order ** 2`` tuple copies; Python's hash of ints
and tuples is not randomised, so keys are stable. A value is the single following token while a context has been
seen once (most high-order contexts are), else a ``{token: count}`` dict: a document of 100k characters stays in
tens of MB.
"""

from __future__ import annotations

from engine.memory.match import Match

DEFAULT_MAX_ORDER = 12
_ROOT = 0x1D0C  # the key of the empty context; any constant works


def context_keys(tail: list[int], max_order: int) -> list[int]:
    """Keys of the suffixes of ``tail`` of length 1, 2, ... (at most ``max_order``), nearest token first."""
    keys = []
    key = _ROOT
    for k in range(1, min(max_order, len(tail)) + 1):
        key = hash((key, tail[-k]))
        keys.append(key)
    return keys


class NgramCounts:
    def __init__(self, max_order: int = DEFAULT_MAX_ORDER) -> None:
        self.max_order = max_order
        self.tokens: list[int] = []
        self._table: dict[int, int | dict[int, int]] = {}

    def __len__(self) -> int:
        return len(self.tokens)

    def append(self, tokens: list[int]) -> None:
        """Add tokens at the end: each becomes the continuation of every context that ends just before it."""
        for token in tokens:
            for key in context_keys(self.tokens, self.max_order):
                self._add(key, token)
            self.tokens.append(token)

    def truncate(self, length: int) -> None:
        """Remove the tokens after the first ``length``, undoing exactly what ``append`` added for them."""
        if length < len(self.tokens) - length:
            # Most of it goes: counting the rest again is cheaper than uncounting each removed token.
            kept = self.tokens[:length]
            self.tokens, self._table = [], {}
            self.append(kept)
            return
        while len(self.tokens) > length:
            token = self.tokens.pop()
            for key in context_keys(self.tokens, self.max_order):
                self._remove(key, token)

    def longest(self, tail: list[int]) -> Match | None:
        """The longest suffix of ``tail`` that has been followed by a token, with its continuations."""
        found = None
        length = 0
        for k, key in enumerate(context_keys(tail, self.max_order), 1):
            value = self._table.get(key)
            if value is None:
                break  # a longer suffix cannot have been seen when this one was not
            found, length = value, k
        if found is None:
            return None
        if isinstance(found, int):
            return Match(length, (found,), (1,))
        ids = tuple(sorted(found))
        return Match(length, ids, tuple(found[t] for t in ids))

    def snapshot(self) -> dict[int, dict[int, int]]:
        """Every context's continuation counts, in one canonical form (tests compare updates with rebuilds)."""
        return {key: ({value: 1} if isinstance(value, int) else dict(value)) for key, value in self._table.items()}

    def _add(self, key: int, token: int) -> None:
        value = self._table.get(key)
        if value is None:
            self._table[key] = token
        elif isinstance(value, int):
            self._table[key] = {value: 2} if value == token else {value: 1, token: 1}
        else:
            value[token] = value.get(token, 0) + 1

    def _remove(self, key: int, token: int) -> None:
        value = self._table[key]
        if isinstance(value, int):
            del self._table[key]
            return
        if value[token] == 1:
            del value[token]
        else:
            value[token] -= 1
        if len(value) == 1:  # back to the compact form append would have built
            (only, count), = value.items()
            if count == 1:
                self._table[key] = only
