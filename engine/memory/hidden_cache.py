"""The continuous cache (Grave et al. 2017): the document remembered by the model's own final hidden states.

For every earlier position of the document the cache keeps the model's final hidden state (unit length) and the
token that followed it. A new position whose state resembles earlier ones predicts what followed them:
``p_cache(w) ~ sum over earlier positions i followed by w of exp(theta * (cos(h, h_i) - 1))``. Where the n-gram
memory needs the exact tokens again, this recalls a name or a phrase after a context that is only alike.

It is mixed after the n-gram memory, ``p = (1 - lam) * p + lam * p_cache``, with ``lam`` looked up from the best
similarity to an earlier position: a fact of the context, never of the token scored. As in ``mixture``, the cache's
distribution is restricted to the tokens the scores still allow and renormalised there, so every row sums to one.
``CacheWeights`` are fitted on held-out text (``engine.memory.fitting``) and ship in a model's memory_weights.json.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.loading.devices import cpu_has_bf16

#: Buckets of the best cosine similarity to an earlier position; each gets its own weight.
SIMILARITY_EDGES = (-1.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
DEFAULT_THETA = 20.0
#: Positions the cache holds at most (the most recent). Every decoding step compares its rows with all of them,
#: the cache's largest cost; on 30k characters of the held-out books the newest 2k gain what 4k or every
#: position does (the n-gram memory still reaches the whole document).
MAX_POSITIONS = 2048


def key_dtype() -> torch.dtype:
    """bfloat16 where the CPU multiplies it natively: the similarity search, every decoding step's largest cost
    in the cache, runs ~2x faster and the states take half the memory. The cosines move by ~1e-4 (each key's
    rounding errors average out over its width), which the kernel ``exp(theta * (cos - 1))`` turns into ~0.2%."""
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


#: Buckets of how many earlier positions a row's cache can see. Near a document's start it sees a few, and what
#: it predicts from them deserves less trust: fitted on held-out books, about nothing below 64 positions and half
#: the full weight below 1,024, which keeps the cache from costing bits in short documents.
SIZE_EDGES = (0, 64, 256, 1024)


def _bucket(edges: tuple[float, ...], value: float) -> int:
    return max(0, bisect.bisect_right(edges, value) - 1)


@dataclass(frozen=True)
class CacheWeights:
    """``weights[s][b]``: the cache's share where a row sees a number of earlier positions in bucket ``s`` of
    ``size_edges`` and its best similarity falls in bucket ``b`` of ``edges``."""

    weights: tuple[tuple[float, ...], ...]
    theta: float = DEFAULT_THETA
    edges: tuple[float, ...] = SIMILARITY_EDGES
    size_edges: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.size_edges) or any(len(row) != len(self.edges) for row in self.weights):
            raise ValueError(f"cache weights must be {len(self.size_edges)} rows (sizes) of {len(self.edges)} "
                             "(similarity buckets)")
        if not all(0.0 <= w < 1.0 for row in self.weights for w in row) or not self.theta > 0:
            raise ValueError("cache weights must lie in [0, 1) and theta must be positive")

    @classmethod
    def by_similarity(cls, weights: tuple[float, ...], theta: float = DEFAULT_THETA) -> CacheWeights:
        """The same weights whatever the number of positions seen."""
        return cls((tuple(weights),), theta)

    def bucket(self, similarity: float) -> int:
        return _bucket(self.edges, similarity)

    def size_bucket(self, seen: int) -> int:
        return _bucket(tuple(float(e) for e in self.size_edges), seen)

    def weight(self, similarity: float, seen: int) -> float:
        return self.weights[self.size_bucket(seen)][self.bucket(similarity)]

    def weight_rows(self, best: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        """The weight of each row from its best similarity ``[rows]`` and the positions it sees ``[rows]``."""
        edges = torch.tensor(self.edges, dtype=best.dtype, device=best.device)
        column = (torch.bucketize(best, edges, right=True) - 1).clamp_min(0)
        size_edges = torch.tensor(self.size_edges, dtype=torch.long, device=best.device)
        row = (torch.bucketize(seen.to(torch.long), size_edges, right=True) - 1).clamp_min(0)
        return torch.tensor(self.weights, dtype=best.dtype, device=best.device)[row, column]

    def to_dict(self) -> dict:
        return {"theta": self.theta, "similarity_edges": list(self.edges), "size_edges": list(self.size_edges),
                "weights": [[round(w, 4) for w in row] for row in self.weights]}

    @classmethod
    def from_dict(cls, data: dict) -> CacheWeights:
        rows = data["weights"]
        if rows and not isinstance(rows[0], list):  # written before sizes were counted: one row for all
            rows = [rows]
        weights = tuple(tuple(min(max(float(w), 0.0), 0.99) for w in row) for row in rows)
        return cls(weights, float(data["theta"]), tuple(float(e) for e in data["similarity_edges"]),
                   tuple(int(e) for e in data.get("size_edges", [0])))


class HiddenStateCache:
    """Unit-length final hidden states of a token sequence and the token that followed each ("pairs").

    Pair ``i`` is the state after reading tokens ``0..i`` and the token ``i + 1``. ``end`` counts pairs from the
    start of the sequence; past ``max_positions`` the oldest are dropped (``start`` moves on)."""

    def __init__(self, max_positions: int = MAX_POSITIONS, dtype: torch.dtype | None = None) -> None:
        self.max_positions = max_positions
        self.start = 0
        self.dtype = dtype or key_dtype()
        self._states: torch.Tensor | None = None  # [capacity, width], rows [0, len) used
        self._followers = torch.zeros(0, dtype=torch.long)
        self._length = 0
        self._changes = 0  # counts every change of the pairs, so what is derived from them knows when to redo it
        self._columns: tuple[tuple[int, int], Columns] | None = None  # for (changes, vocab)

    def __len__(self) -> int:
        return self._length

    @property
    def end(self) -> int:
        return self.start + self._length

    @property
    def nbytes(self) -> int:
        return 0 if self._states is None else self._length * self._states.shape[1] * self._states.element_size()

    def clear(self) -> None:
        self.start, self._length = 0, 0
        self._changes += 1

    def truncate(self, end: int) -> None:
        """Keep the pairs before ``end`` (counted from the sequence's start)."""
        if end <= self.start:
            self.clear()
        elif end < self.end:
            self._length = end - self.start
            self._changes += 1

    @torch.inference_mode()  # the buffers are written in place, from decoding and from plain calls alike
    def extend(self, states: torch.Tensor, followers: list[int] | torch.Tensor) -> None:
        """Append pairs: ``states`` ``[n, width]`` (any scale; stored unit length) and the token after each."""
        n = states.shape[0]
        if n == 0:
            return
        self._changes += 1
        unit = F.normalize(states.detach().float().cpu(), dim=-1).to(self.dtype)
        next_ids = torch.as_tensor(followers, dtype=torch.long).cpu()
        if self._states is None or self._states.shape[1] != unit.shape[1]:
            self._states, self._followers, self._length = unit.new_zeros(0, unit.shape[1]), next_ids[:0], 0
        needed = self._length + n
        if needed > self._states.shape[0]:
            capacity = max(needed, 2 * self._states.shape[0], 256)
            states_grown = unit.new_zeros(capacity, unit.shape[1])
            states_grown[: self._length] = self._states[: self._length]
            followers_grown = next_ids.new_zeros(capacity)
            followers_grown[: self._length] = self._followers[: self._length]
            self._states, self._followers = states_grown, followers_grown
        self._states[self._length : needed] = unit
        self._followers[self._length : needed] = next_ids
        self._length = needed
        overflow = self._length - self.max_positions
        if overflow > 0:  # shift once the cap is passed: rare, and cheaper than a ring buffer's bookkeeping
            self._states[: self.max_positions] = self._states[overflow : self._length].clone()
            self._followers[: self.max_positions] = self._followers[overflow : self._length].clone()
            self.start += overflow
            self._length = self.max_positions

    def mix(self, logprobs: torch.Tensor, queries: torch.Tensor, weights: CacheWeights) -> torch.Tensor:
        """Rows of ``logprobs`` ``[rows, vocab]`` (normalised) mixed with what the cache predicts after the
        states ``queries`` ``[rows, width]``; rows the cache has nothing for are returned as they are."""
        queries = F.normalize(queries.float(), dim=-1)
        return _mixed(logprobs, queries, self._keys(), self._follower_columns(logprobs.shape[1]), weights)

    def mix_online(self, logprobs: torch.Tensor, states: torch.Tensor, followers: list[int],
                   weights: CacheWeights, observe: bool = False):
        """Scoring a text: row ``r`` (state ``states[r]``, predicting ``followers[r]``) is mixed with the cache
        of the pairs before it, this call's earlier rows included but never its own, then all rows are added.
        ``observe``: also return what learning the weights needs, as ``online_probabilities`` gives it (best
        similarity, positions seen, the cache's probability of each row's follower), from the same similarities."""
        queries, keys, key_ids, visible = self._online(states, followers)
        similarity = cosines(queries, keys) if keys.shape[0] and keys.shape[1] == queries.shape[1] else None
        mixed = _mixed(logprobs, queries, keys, Columns.of(key_ids, logprobs.shape[1]), weights, visible,
                       similarity)
        self.extend(states, followers)
        if not observe:
            return mixed
        if similarity is None:
            rows = len(followers)
            return mixed, (torch.full((rows,), -2.0), torch.zeros(rows), torch.zeros(rows))
        return mixed, _follower_probabilities(similarity, visible, key_ids, followers, weights.theta)

    def online_probabilities(self, states: torch.Tensor, followers: list[int],
                             theta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For fitting, with the visibility of ``mix_online``: each row's best similarity (-2: nothing before it),
        the cache's probability of the row's own follower over the whole vocabulary and how many positions the row
        sees; then the rows are added."""
        queries, keys, key_ids, visible = self._online(states, followers)
        best, seen, probability = _follower_probabilities(cosines(queries, keys), visible, key_ids, followers, theta)
        self.extend(states, followers)
        return best, probability, seen

    def _online(self, states: torch.Tensor, followers: list[int]):
        queries = F.normalize(states.detach().float().cpu(), dim=-1)
        known = self._keys() if self._keys().shape[1] == queries.shape[1] else queries[:0].to(self.dtype)
        keys = torch.cat((known, queries.to(known.dtype)))
        key_ids = torch.cat((self._next_ids()[: known.shape[0]], torch.as_tensor(followers, dtype=torch.long)))
        before = known.shape[0] + torch.arange(len(followers)).unsqueeze(1)
        visible = torch.arange(keys.shape[0]).unsqueeze(0) < before
        return queries, keys, key_ids, visible

    def explain(self, query: torch.Tensor, token: int, weights: CacheWeights) -> tuple[float, float, int | None]:
        """For a hover: the cache's weight after ``query`` ``[width]``, its probability of ``token`` (over the
        whole vocabulary) and the pair followed by ``token`` most like the query (counted from the sequence's
        start; None where no pair is followed by it)."""
        similarity = self._similarity_to(query)
        if similarity is None:
            return 0.0, 0.0, None
        kernel = torch.exp(weights.theta * (similarity - 1.0))
        followed = self._next_ids() == token
        lam = weights.weight(float(similarity.max()), similarity.shape[0])
        if not bool(followed.any()):
            return lam, 0.0, None
        nearest = int(torch.where(followed, similarity, -3.0).argmax())
        return lam, float(kernel[followed].sum() / kernel.sum()), self.start + nearest

    def likely_followers(self, query: torch.Tensor, k: int = 32) -> list[int]:
        """The tokens that followed the ``k`` pairs most like ``query``: where a hovered word may come from."""
        similarity = self._similarity_to(query)
        if similarity is None:
            return []
        top = similarity.topk(min(k, similarity.shape[0])).indices
        return sorted(set(self._next_ids()[top].tolist()))

    def best_similarity(self, queries: torch.Tensor) -> torch.Tensor:
        """The best cosine similarity of each query to a cached state (-2 where the cache is empty)."""
        keys = self._keys()
        if keys.shape[0] == 0:
            return torch.full((queries.shape[0],), -2.0)
        return cosines(F.normalize(queries.float(), dim=-1).cpu(), keys).max(dim=1).values

    def _similarity_to(self, query: torch.Tensor) -> torch.Tensor | None:
        """Cosine similarity of one state ``[width]`` to every cached one (None: nothing comparable cached)."""
        keys = self._keys()
        if keys.shape[0] == 0 or keys.shape[1] != query.shape[-1]:
            return None
        return cosines(F.normalize(query.float().cpu().reshape(1, -1), dim=-1), keys)[0]

    def _keys(self) -> torch.Tensor:
        if self._states is None:
            return torch.zeros(0, 0, dtype=self.dtype)
        return self._states[: self._length]

    def _follower_columns(self, vocab: int) -> Columns:
        """The distinct followers of the pairs, kept while the pairs do not change (a request's every step)."""
        version = (self._changes, vocab)
        if self._columns is None or self._columns[0] != version:
            self._columns = (version, Columns.of(self._next_ids(), vocab))
        return self._columns[1]

    def _next_ids(self) -> torch.Tensor:
        return self._followers[: self._length]


def cosines(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """``[rows, keys]`` float32 cosine similarities of unit ``queries`` to unit ``keys`` (in the keys' dtype)."""
    return (queries.cpu().to(keys.dtype) @ keys.T).float()


@dataclass(frozen=True)
class Columns:
    """The vocabulary columns the cache can put mass on: ``ids`` ``[distinct]``, the distinct followers inside the
    vocabulary, and ``slot`` ``[keys]``, each key's place among them (``distinct`` for one outside it). Mixing
    touches only these columns; every other column is the model's probability times ``1 - lam``."""

    ids: torch.Tensor
    slot: torch.Tensor

    @classmethod
    def of(cls, followers: torch.Tensor, vocab: int) -> Columns:
        ids, slot = torch.unique(followers, return_inverse=True)
        inside = ids < vocab
        if not bool(inside.all()):  # a follower the scores have no column for: its keys count for nothing
            slot = torch.where(inside[slot], slot, int(inside.sum()))
            ids = ids[inside]
        return cls(ids, slot)


def _follower_probabilities(similarity: torch.Tensor, visible: torch.Tensor, key_ids: torch.Tensor,
                            followers: list[int], theta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each row's best similarity to a key it sees (-2: none), how many it sees and the cache's probability of the
    row's own follower over the whole vocabulary."""
    similarity = similarity.masked_fill(~visible, -2.0)
    kernel = torch.exp(theta * (similarity - 1.0)).masked_fill(~visible, 0.0)
    same = key_ids.unsqueeze(0) == torch.as_tensor(followers, dtype=torch.long).unsqueeze(1)
    total = kernel.sum(dim=1)
    probability = torch.where(total > 0, (kernel * same).sum(dim=1) / total.clamp_min(1e-30), 0.0)
    return similarity.max(dim=1).values, visible.sum(dim=1), probability


def _mixed(logprobs: torch.Tensor, queries: torch.Tensor, keys: torch.Tensor, columns: Columns,
           weights: CacheWeights, visible: torch.Tensor | None = None,
           similarity: torch.Tensor | None = None) -> torch.Tensor:
    if keys.shape[0] == 0 or keys.shape[1] != queries.shape[1] or columns.ids.numel() == 0:
        return logprobs
    if similarity is None:
        similarity = cosines(queries, keys)  # [rows, keys]
    if visible is not None:
        similarity = similarity.masked_fill(~visible, -2.0)
    best = similarity.max(dim=1).values
    seen = torch.full_like(best, keys.shape[0]) if visible is None else visible.sum(dim=1)
    lam = weights.weight_rows(best, seen).masked_fill(best < -1.5, 0.0)  # -2: nothing visible to that row
    if not bool((lam > 0).any()):
        return logprobs
    kernel = torch.exp(weights.theta * (similarity - 1.0))
    if visible is not None:  # a masked key would still weigh exp(-3 theta)
        kernel = kernel.masked_fill(~visible, 0.0)
    rows, distinct = queries.shape[0], columns.ids.numel()
    # One spare slot collects the keys whose follower has no column; it is dropped.
    cache = torch.zeros(rows, distinct + 1, dtype=torch.float32).index_add_(1, columns.slot, kernel)[:, :distinct]
    ids = columns.ids.to(logprobs.device)
    model_there = logprobs.float().gather(1, ids.expand(rows, -1))
    cache = cache.to(logprobs.device).masked_fill(~torch.isfinite(model_there), 0.0)
    total = cache.sum(dim=1, keepdim=True)
    lam = lam.to(logprobs.device).masked_fill(total.squeeze(1) <= 0, 0.0).unsqueeze(1)
    use = lam > 0
    safe_lam = lam.clamp(1e-6, 0.99)
    keep = torch.log1p(-safe_lam)
    cache_log = torch.log(cache / total.clamp_min(1e-30)) + torch.log(safe_lam)
    mixed = (logprobs.float() + keep).scatter_(1, ids.expand(rows, -1), torch.logaddexp(model_there + keep, cache_log))
    return torch.where(use, mixed.to(logprobs.dtype), logprobs)
