"""``MixtureWeights``: how much to trust the memory, as a table over what the context alone shows.

The weight ``w`` of ``p = (1 - w) * p_model + w * p_memory`` is looked up from three facts of the match, never from
the token being scored: the matched suffix's length, how often it was seen, and how many different tokens followed
it. ``fit`` chooses each cell's weight to maximise the mixture's log-likelihood on held-out text; the package ships
one fitted table (``default_weights.json``, made by ``tools/fit_memory_weights.py``).
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.memory.hidden_cache import CacheWeights
from engine.memory.match import Match
from engine.owned_files import write_owned_text

FORMAT = "inkling-memory-weights"
VERSION = 1
DEFAULT_PATH = Path(__file__).with_name("default_weights.json")
LENGTH_EDGES = (1, 2, 3, 4, 5, 6, 8, 10, 12)
COUNT_EDGES = (1, 2, 3, 5, 10, 20)
DISTINCT_EDGES = (1, 2, 3, 5)
# A cell needs this many held-out predictions to get its own weight; sparser ones take their length's weight.
MIN_CELL_SAMPLES = 40
_GRID = np.linspace(0.0, 0.99, 100)


def _bucket(edges: tuple[int, ...], value: int) -> int:
    return max(0, bisect.bisect_right(edges, value) - 1)


@dataclass(frozen=True)
class MixtureWeights:
    table: np.ndarray  # [len(LENGTH_EDGES), len(COUNT_EDGES), len(DISTINCT_EDGES)], each in [0, 1)
    note: str = ""
    #: The continuous cache's weights (``hidden_cache``), mixed after the n-gram memory; None: no cache.
    cache: CacheWeights | None = None

    def with_cache(self, cache: CacheWeights | None) -> MixtureWeights:
        return replace(self, cache=cache)

    def cell(self, match: Match) -> tuple[int, int, int]:
        return (_bucket(LENGTH_EDGES, match.length), _bucket(COUNT_EDGES, match.count),
                _bucket(DISTINCT_EDGES, match.distinct))

    def weight(self, match: Match | None) -> float:
        if match is None or not match.ids:
            return 0.0
        return float(self.table[self.cell(match)])

    @classmethod
    def zeros(cls) -> MixtureWeights:
        return cls(np.zeros((len(LENGTH_EDGES), len(COUNT_EDGES), len(DISTINCT_EDGES))))

    @classmethod
    def constant(cls, w: float) -> MixtureWeights:
        return cls(np.full((len(LENGTH_EDGES), len(COUNT_EDGES), len(DISTINCT_EDGES)), float(w)))

    # --- files -------------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        data = {"format": FORMAT, "version": VERSION, "length_edges": LENGTH_EDGES, "count_edges": COUNT_EDGES,
                "distinct_edges": DISTINCT_EDGES, "note": self.note,
                "weights": np.round(self.table, 4).tolist()}
        if self.cache is not None:
            data["continuous_cache"] = self.cache.to_dict()
        write_owned_text(path, json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> MixtureWeights:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(f"{path} is not an Inkling memory-weights file of version {VERSION}")
        edges = (tuple(data["length_edges"]), tuple(data["count_edges"]), tuple(data["distinct_edges"]))
        if edges != (LENGTH_EDGES, COUNT_EDGES, DISTINCT_EDGES):
            raise ValueError(f"{path} was fitted for other buckets than this version uses")
        table = np.asarray(data["weights"], dtype=np.float64)
        try:
            cache = CacheWeights.from_dict(data["continuous_cache"]) if "continuous_cache" in data else None
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: its continuous-cache weights are unreadable ({exc})") from exc
        return cls(np.clip(table, 0.0, 0.99), data.get("note", ""), cache)

    @classmethod
    def default(cls) -> MixtureWeights:
        """The shipped table; all zeros (memory off in effect) when it is missing, which a test prevents."""
        if not DEFAULT_PATH.exists():
            return cls.zeros()
        return cls.load(DEFAULT_PATH)


def fit(samples: list[tuple[Match, float, float]], note: str = "") -> MixtureWeights:
    """Weights maximising ``sum log((1 - w) * p_model + w * p_memory)`` per cell, from (match, p_model of the
    true next token, p_memory of it) triples; cells with few samples take the weight fitted on their length."""
    empty = MixtureWeights.zeros()
    by_cell: dict[tuple[int, int, int], list[tuple[float, float]]] = {}
    by_length: dict[int, list[tuple[float, float]]] = {}
    for match, p_model, p_memory in samples:
        cell = empty.cell(match)
        by_cell.setdefault(cell, []).append((p_model, p_memory))
        by_length.setdefault(cell[0], []).append((p_model, p_memory))
    table = np.zeros_like(empty.table)
    length_weight = {length: best_weight(pairs) for length, pairs in by_length.items()
                     if len(pairs) >= MIN_CELL_SAMPLES}
    for index in np.ndindex(table.shape):
        pairs = by_cell.get(index, [])
        if len(pairs) >= MIN_CELL_SAMPLES:
            table[index] = best_weight(pairs)
        else:
            table[index] = length_weight.get(index[0], 0.0)
    return MixtureWeights(table, note)


def best_weight(pairs: list[tuple[float, float]]) -> float:
    values = np.asarray(pairs, dtype=np.float64)  # [n, 2]
    mixed = (1 - _GRID)[:, None] * values[None, :, 0] + _GRID[:, None] * values[None, :, 1]
    likelihood = np.log(np.maximum(mixed, 1e-300)).sum(axis=1)
    return float(_GRID[int(np.argmax(likelihood))])
