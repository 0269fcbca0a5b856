"""``SuffixIndex``: longest-matching-suffix lookups over a large, fixed token sequence (folders of the user's
writing), in the manner of infini-gram (Liu et al. 2024), with numpy.

The sequence is stored reversed, and its suffix array is sorted on the first ``depth`` tokens only. A context read
backwards is then a prefix of reversed suffixes: every further context token narrows the previous range of the
suffix array by two binary searches, and the tokens that followed the context (forward) sit just before each
match in the reversed sequence. Files are joined with a separator that matches nothing.
"""

from __future__ import annotations

import bisect

import numpy as np

from engine.memory.match import Match

SEPARATOR = -2
PAD = -3  # after the end: sorts before everything, as "the suffix ends here" does in the sorted order
# Continuations are counted over at most this many matches of a short, frequent context (an even sample of them).
MAX_COUNTED = 4096


class SuffixIndex:
    def __init__(self, reversed_tokens: np.ndarray, suffix_array: np.ndarray, depth: int) -> None:
        """``reversed_tokens``: int32, the reversed sequence followed by ``depth`` PADs; ``suffix_array``: int32."""
        self.depth = depth
        self.reversed_tokens = reversed_tokens
        self.suffix_array = suffix_array
        # memoryviews index into Python ints several times faster than numpy scalars (the binary searches).
        self._tokens = reversed_tokens.data
        self._order = suffix_array.data

    @property
    def size(self) -> int:
        return len(self.suffix_array)

    @classmethod
    def build(cls, documents: list[list[int]], depth: int) -> SuffixIndex:
        pieces: list[np.ndarray] = []
        for tokens in documents:
            if pieces:
                pieces.append(np.array([SEPARATOR], dtype=np.int32))
            pieces.append(np.asarray(tokens, dtype=np.int32))
        forward = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
        reversed_tokens = np.concatenate((forward[::-1], np.full(depth, PAD, dtype=np.int32)))
        return cls(reversed_tokens, _sorted_suffixes(forward[::-1], depth), depth)

    def longest(self, tail: list[int]) -> Match | None:
        """The longest suffix of ``tail`` (at most ``depth`` tokens) that occurs followed by a token."""
        ranges = []
        low, high = 0, self.size
        for j in range(min(self.depth, len(tail))):
            token = tail[-1 - j]

            def key(m: int, j: int = j) -> int:
                return self._tokens[self._order[m] + j]

            low = bisect.bisect_left(range(self.size), token, low, high, key=key)
            high = bisect.bisect_right(range(self.size), token, low, high, key=key)
            if low == high:
                break
            ranges.append((low, high))
        for length in range(len(ranges), 0, -1):  # a range may only hold matches at a file's end
            low, high = ranges[length - 1]
            match = self._continuations(length, low, high)
            if match is not None:
                return match
        return None

    def occurrence(self, context: list[int], token: int) -> int | None:
        """A forward position where ``context`` is followed by ``token`` (the token's own position), or None."""
        low, high = 0, self.size
        for j in range(min(self.depth, len(context))):
            value = context[-1 - j]

            def key(m: int, j: int = j) -> int:
                return self._tokens[self._order[m] + j]

            low = bisect.bisect_left(range(self.size), value, low, high, key=key)
            high = bisect.bisect_right(range(self.size), value, low, high, key=key)
            if low == high:
                return None
        starts = self.suffix_array[low:high]
        starts = starts[starts > 0]
        hits = starts[self.reversed_tokens[starts - 1] == token]
        if not len(hits):
            return None
        # Reversed position r - 1 holds the token; forward positions count from the other end (less the padding).
        return self.size - int(hits.min())

    def forward_tokens(self, start: int, end: int) -> list[int]:
        """Tokens ``start:end`` of the forward sequence (separators included)."""
        n = self.size
        start, end = max(0, start), min(n, end)
        if start >= end:
            return []
        return self.reversed_tokens[n - end : n - start][::-1].tolist()

    def _continuations(self, length: int, low: int, high: int) -> Match | None:
        starts = self.suffix_array[low:high]
        if len(starts) > MAX_COUNTED:
            starts = starts[:: -(-len(starts) // MAX_COUNTED)]
        starts = starts[starts > 0]
        following = self.reversed_tokens[starts - 1]
        following = following[following >= 0]
        if not len(following):
            return None
        ids, counts = np.unique(following, return_counts=True)
        return Match(length, tuple(ids.tolist()), tuple(counts.tolist()))


def _sorted_suffixes(tokens: np.ndarray, depth: int) -> np.ndarray:
    """Start positions of the suffixes of ``tokens`` sorted on their first ``depth`` tokens (prefix doubling;
    ties keep position order)."""
    n = len(tokens)
    rank = tokens.astype(np.int64) - PAD + 1  # 0 is "beyond the end"; SEPARATOR -> 2, tokens from 4
    span = 1
    while span < depth and n:
        following = np.zeros(n, dtype=np.int64)
        if span < n:
            following[: n - span] = rank[span:]
        key = rank * (int(rank.max()) + 1) + following
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        fresh = np.empty(n, dtype=np.int64)
        fresh[order] = np.cumsum(np.concatenate(([1], ordered[1:] != ordered[:-1])))
        rank = fresh
        span *= 2
    return np.argsort(rank, kind="stable").astype(np.int32)
