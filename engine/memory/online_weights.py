"""``OnlineWeights``: the mixture weights learned from the document's own tokens, so they suit whatever model is
loaded.

A fitted table (``MixtureWeights``) suits the model it was fitted for; mixed into a stronger model, whose context
already copies most of what the memory offers, the same weights cost bits (SmolLM2-135M with the bundled default's
table: 1.144 -> 1.162 bits/byte on three held-out books). So each cell's weight is learned per document: for every
token already read, the model's and the memory's probability of it are known, and each cell keeps the
log-likelihood of every weight on a grid over its tokens; its weight is the grid point with the highest likelihood
plus a prior, the fitted weight counted as ``strength`` pseudo-observations (``strength * (w0 log w + (1 - w0)
log(1 - w))``, the prior online EM would use). A model the memory does not help turns it down within a few hundred
tokens; one it helps keeps the fitted weights. The continuous cache's weights are learned the same way, from the
probability before the cache and the cache's own.

Only tokens already read count: scoring learns from a text's tokens after they are scored, decoding from the
document pairs the catch-up reads (never from the text after the cursor: an edit retracts what was learned from
the changed pairs), in the same steps of ``UPDATE_EVERY`` pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.memory.hidden_cache import CacheWeights
from engine.memory.match import Match
from engine.memory.weights import MixtureWeights

GRID = np.linspace(0.0, 0.99, 100)
_LOG_GRID = np.log(np.maximum(GRID, 1e-6))  # w = 0 keeps a finite prior where the fitted weight is 0
_LOG_REST = np.log1p(-GRID)
#: Pairs learned at a time: each pair's weights come from the pairs before its step. Per token gains ~0.0001
#: bits/byte on held-out books, at 32 times the table refreshes.
UPDATE_EVERY = 32
#: Pseudo-observations the prior counts for, per n-gram cell: a table fitted for this model (its own
#: memory_weights.json) is trusted more than the package's, fitted for another model. On 30k characters of three
#: held-out books, the bundled default keeps its gain best at 10 (-0.0370 vs -0.0374 fixed), SmolLM2 with the
#: package table gains most at 2 (-0.0034; fixed: +0.018).
OWN_PRIOR_STRENGTH = 10.0
FALLBACK_PRIOR_STRENGTH = 2.0
#: The continuous cache's cells see many more tokens each (32 cells against 216): 20 for both.
CACHE_PRIOR_STRENGTH = 20.0
#: For the pooled weight of one match length (2, 10 and 50 within 0.0003 bits/byte of each other).
GROUP_PRIOR_STRENGTH = 10.0


class CellLikelihoods:
    """Per cell, the summed log-likelihood of each grid weight over the (p_model, p_memory) pairs observed in it.

    ``group_size``: consecutive cells form a group (the n-gram table's cells of one match length) whose pooled
    tokens rescale the prior of all its cells, so a cell seen rarely still follows what its length has shown
    (on 30k characters of three held-out books, SmolLM2: -0.0048 bits/byte against -0.0034 per cell alone)."""

    def __init__(self, prior: np.ndarray, strength: float, group_size: int = 0) -> None:
        self.prior = np.asarray(prior, dtype=np.float64).ravel()
        self.strength = strength
        self.likelihood = np.zeros((self.prior.size, GRID.size))
        self.observed = np.zeros(self.prior.size, dtype=np.int64)
        self.group_size = group_size
        self.groups = (CellLikelihoods(self.prior.reshape(-1, group_size).mean(axis=1), GROUP_PRIOR_STRENGTH)
                       if group_size else None)
        self._weights: np.ndarray | None = None

    def add(self, cells: np.ndarray, p: np.ndarray, q: np.ndarray, sign: int = 1) -> None:
        if len(cells) == 0:
            return
        mixed = (1 - GRID)[None] * p[:, None] + GRID[None] * q[:, None]
        np.add.at(self.likelihood, cells, sign * np.log(np.maximum(mixed, 1e-300)))
        np.add.at(self.observed, cells, sign)
        if self.groups is not None:
            self.groups.add(cells // self.group_size, p, q, sign)
        self._weights = None

    def centres(self) -> np.ndarray:
        """Where each cell's prior is centred: the fitted weight, scaled by what its group learned."""
        if self.groups is None:
            return self.prior
        fitted = self.groups.prior
        scale = np.where(fitted > 0, self.groups.weights() / np.maximum(fitted, 1e-12), 1.0)
        return np.clip(self.prior.reshape(-1, self.group_size) * scale[:, None], 0.0, GRID[-1]).ravel()

    def weights(self) -> np.ndarray:
        """Each cell's weight: the prior's centre where nothing was observed in it, else the grid's MAP point."""
        if self._weights is None:
            centre = self.centres()
            w0 = centre[:, None]
            prior = self.strength * (w0 * _LOG_GRID[None] + (1 - w0) * _LOG_REST[None])
            best = GRID[np.argmax(prior + self.likelihood, axis=1)]
            self._weights = np.where(self.observed > 0, best, centre)
        return self._weights


@dataclass
class _Step:
    """What one learning step added, kept so an edit can take it back."""

    first: int  # the first pair of the step
    ngram: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # pair, cell, p_model, p_memory
    cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # pair, cell, p before the cache, p_cache


class OnlineWeights:
    """The weights for one document, learned from its pairs ``first .. end - 1`` (pair ``i``: the tokens up to
    ``i`` and the token ``i + 1`` that followed)."""

    def __init__(self, prior: MixtureWeights, strength: float = FALLBACK_PRIOR_STRENGTH) -> None:
        self.prior = prior
        per_length = int(np.prod(prior.table.shape[1:]))  # the table's cells of one match length
        self.ngram = CellLikelihoods(prior.table, strength, per_length)
        cache = prior.cache
        self.cache = CellLikelihoods(np.asarray(cache.weights), CACHE_PRIOR_STRENGTH) if cache is not None else None
        self.end = 0
        self._steps: list[_Step] = []
        self._current: MixtureWeights | None = None

    def current(self) -> MixtureWeights:
        """The weights the next pair (and decoding after the last one) is mixed with."""
        if self._current is None:
            table = self.ngram.weights().reshape(self.prior.table.shape)
            cache = self.prior.cache
            if cache is not None and self.cache is not None:
                rows = self.cache.weights().reshape(len(cache.size_edges), len(cache.edges))
                cache = CacheWeights(tuple(tuple(float(w) for w in row) for row in rows), cache.theta, cache.edges,
                                     cache.size_edges)
            self._current = MixtureWeights(table, self.prior.note, cache)
        return self._current

    def learn(self, first: int, p_model: np.ndarray, matches: list[Match | None], targets: list[int],
              cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        """Learn from pairs ``first ..``: the model's probability of each target, the memory's match before it and,
        for the cache, (best similarity, positions seen, p_cache of the target), -2 similarity where it saw none.
        Every pair is mixed with the weights as they were before this call, as it was when it was predicted."""
        weights = self.current()
        p_model = np.asarray(p_model, dtype=np.float64)
        n = len(targets)
        pairs = first + np.arange(n)
        cells = np.zeros(n, dtype=np.int64)
        q = np.zeros(n)
        w = np.zeros(n)
        matched = np.zeros(n, dtype=bool)
        shape = weights.table.shape
        for r, (match, target) in enumerate(zip(matches, targets)):
            if match is None or not match.ids:
                continue
            matched[r] = True
            cells[r] = np.ravel_multi_index(weights.cell(match), shape)
            w[r] = weights.weight(match)
            q[r] = match.counts[match.ids.index(target)] / match.count if target in match.ids else 0.0
        ngram = (pairs[matched], cells[matched], p_model[matched], q[matched])
        empty = (pairs[:0], cells[:0], p_model[:0], q[:0])
        cache_part = empty
        if cache is not None and self.cache is not None and weights.cache is not None:
            best, seen, p_cache = (np.asarray(a, dtype=np.float64) for a in cache)
            visible = best >= -1.5
            c = weights.cache
            size = np.clip(np.searchsorted(c.size_edges, seen, side="right") - 1, 0, None)
            column = np.clip(np.searchsorted(c.edges, best, side="right") - 1, 0, None)
            before = (1 - w) * p_model + w * q
            cache_part = (pairs[visible], (size * len(c.edges) + column)[visible], before[visible], p_cache[visible])
        self._apply(_Step(first, ngram, cache_part), 1)
        self.end = first + n

    def truncate(self, end: int) -> None:
        """Forget what was learned from pairs ``end`` and after (an edit changed their tokens)."""
        end = max(0, end)
        while self._steps and self._steps[-1].first >= end:
            self._apply(self._steps.pop(), -1)
        if self._steps:
            last = self._steps.pop()
            kept = _Step(last.first, _rows(last.ngram, last.ngram[0] < end), _rows(last.cache, last.cache[0] < end))
            dropped = _Step(last.first, _rows(last.ngram, last.ngram[0] >= end),
                            _rows(last.cache, last.cache[0] >= end))
            self._apply(dropped, -1)
            self._steps.append(kept)
        self.end = min(self.end, end)

    def _apply(self, step: _Step, sign: int) -> None:
        _pairs, cells, p, q = step.ngram
        self.ngram.add(cells, p, q, sign)
        if self.cache is not None:
            _pairs, cells, p, q = step.cache
            self.cache.add(cells, p, q, sign)
        if sign > 0:
            self._steps.append(step)
        self._current = None


def _rows(part: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
          keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (part[0][keep], part[1][keep], part[2][keep], part[3][keep])
