"""One-query attention for rows that share a prompt: read the shared keys once, not once per row.

Beam search and first-word branches fan one prompt out to every row of the cache, so the first ``shared``
positions hold the same keys and values in every row (``KVCache.shared``). Plain SDPA still reads them once per
row: with 6 rows of a 450-token prompt that is ~6 MB a layer in float32, more than the CPU's caches hold, and it
made attention the largest cost of a branching step. Here every row's query meets row 0's copy of the shared
prefix in one batched product, each row's own tail separately, and one softmax runs over both parts (the same
arithmetic as the attention over the whole row, in another order), as in cascade / Hydragen attention.
"""

from __future__ import annotations

import math

import torch

#: Below this many shared positions the rows' copies are cheap to read and SDPA's single call wins.
MIN_SHARED = 64


def worth_sharing(batch: int, time: int, shared: int, mask: torch.Tensor | None) -> bool:
    """Whether ``attend_with_shared_prefix`` applies: several rows, one query each, no mask, a long shared part."""
    return batch > 1 and time == 1 and mask is None and shared >= MIN_SHARED


def attend_with_shared_prefix(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, shared: int) -> torch.Tensor:
    """Attention of one query per row, ``q`` ``[batch, heads, 1, dim]``, over ``keys`` / ``values``
    ``[batch, kv_heads, span, dim]`` whose first ``shared`` positions are the same in every row; every key is
    visible (the single new token comes last). Returns ``[batch, heads, 1, dim]``, as SDPA would."""
    batch, heads, _, dim = q.shape
    kv_heads = keys.shape[1]
    groups = heads // kv_heads
    scale = 1.0 / math.sqrt(dim)
    by_kv_head = q.view(batch, kv_heads, groups, dim)  # a kv head's group of query heads sit side by side
    # Shared part: all rows' queries of a kv head against the one copy, [kv_heads, batch * groups, shared].
    rows_first = by_kv_head.permute(1, 0, 2, 3).reshape(kv_heads, batch * groups, dim)
    shared_scores = torch.matmul(rows_first, keys[0, :, :shared].transpose(1, 2))
    shared_scores = shared_scores.view(kv_heads, batch, groups, shared).permute(1, 0, 2, 3)
    own_scores = torch.matmul(by_kv_head, keys[:, :, shared:].transpose(2, 3))  # [batch, kv_heads, groups, tail]
    weights = torch.softmax(torch.cat((shared_scores, own_scores), dim=-1) * scale, dim=-1)
    shared_weights = weights[..., :shared].permute(1, 0, 2, 3).reshape(kv_heads, batch * groups, shared)
    out = torch.matmul(shared_weights, values[0, :, :shared]).view(kv_heads, batch, groups, dim).permute(1, 0, 2, 3)
    out = out + torch.matmul(weights[..., shared:], values[:, :, shared:])
    return out.reshape(batch, heads, 1, dim)
