"""What a memory knows about the next token after a context: the longest matched suffix and what followed it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Match:
    """The longest suffix of the context seen before (``length`` tokens), seen ``count`` times, followed by the
    tokens ``ids`` with the counts ``counts`` (parallel tuples; ``distinct == len(ids)``)."""

    length: int
    ids: tuple[int, ...]
    counts: tuple[int, ...]

    @property
    def count(self) -> int:
        return sum(self.counts)

    @property
    def distinct(self) -> int:
        return len(self.ids)


def merge(matches: list[Match | None]) -> Match | None:
    """One match from several sources: the longest wins; sources tied at that length add their counts."""
    found = [m for m in matches if m is not None and m.ids]
    if not found:
        return None
    longest = max(m.length for m in found)
    totals: dict[int, int] = {}
    for m in found:
        if m.length == longest:
            for token, count in zip(m.ids, m.counts):
                totals[token] = totals.get(token, 0) + count
    ids = tuple(sorted(totals))
    return Match(longest, ids, tuple(totals[t] for t in ids))
