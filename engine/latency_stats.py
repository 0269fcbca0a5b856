"""Percentiles of suggestion latencies, shared by the in-app evaluation and the status bar."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation between ranks (numpy's default); None if empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, not {q}")
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def p50_p90(values: Iterable[float]) -> tuple[float | None, float | None]:
    ordered = sorted(values)
    return percentile(ordered, 50), percentile(ordered, 90)
