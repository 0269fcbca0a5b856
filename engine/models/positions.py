"""Where a chunk of tokens sits in the sequence, and what its attention may see: shared by the attention families.

One forward serves every use (as in gpt-fast): training and scoring read a whole sequence without a cache;
prefill and decoding read a chunk after what a ``KVCache`` holds, at the positions that follow its length; the
fixed-shape step a CUDA graph replays gets its position as a device tensor from the caller and attends over a
fixed number of cache slots under a mask, so no shape depends on the data and nothing syncs with the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.models.kv_cache import KVCache


@dataclass(frozen=True)
class Placement:
    positions: torch.Tensor  # [time] long: the position of each token of the chunk
    span: int  # keys attention reads: the cache's first ``span`` slots, or the chunk itself without a cache
    #: True for the fixed-shape step: positions came from the caller, and the caller advances the cache.
    fixed: bool


def place(
    tokens: torch.Tensor,
    cache: KVCache | None,
    max_context: int,
    positions: torch.Tensor | None = None,
    span: int | None = None,
) -> Placement:
    """The placement of ``tokens`` ``[batch, time]``; ValueError for what would silently compute garbage."""
    batch, time = tokens.shape
    if positions is not None:
        if cache is None:
            raise ValueError("positions are given only with a cache (the fixed-shape decoding step)")
        return Placement(positions, cache.capacity if span is None else span, fixed=True)
    start = cache.length if cache is not None else 0
    end = start + time
    if cache is not None and cache.batch_size != batch:
        # Without this check a batch of one would silently broadcast into every row of the cache.
        raise ValueError(f"{batch} rows of tokens for a cache of {cache.batch_size} rows")
    if end > max_context:
        raise ValueError(f"sequence of {end} tokens exceeds the model's context of {max_context}")
    if cache is not None and end > cache.capacity:
        raise ValueError(f"KV cache full: {end} positions needed, capacity {cache.capacity}")
    return Placement(torch.arange(start, end, device=tokens.device), end, fixed=False)


def attention_mask(placement: Placement, window: int | None, cached: bool) -> torch.Tensor | None:
    """Boolean ``[time, span]`` mask letting each query see the keys up to itself (and, with a sliding
    ``window``, no further back than ``window`` positions).

    None where SDPA needs none, which lets it take its fastest path: a whole sequence without a window (SDPA's
    own causal mask) and an unwindowed single query after the cache, which may see everything there is.
    """
    if placement.fixed:
        return _mask(placement, window)
    time, end = placement.positions.shape[0], placement.span
    if not cached and window is None:
        return None
    if cached and time == 1 and (window is None or end <= window):
        return None
    return _mask(placement, window)


def _mask(placement: Placement, window: int | None) -> torch.Tensor:
    queries = placement.positions.unsqueeze(1)
    keys = torch.arange(placement.span, device=queries.device).unsqueeze(0)
    mask = keys <= queries
    if window is not None:
        mask &= keys > queries - window
    return mask
