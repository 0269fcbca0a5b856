"""The one place where the memory meets the model: mixing next-token log-probabilities row by row.

``p = (1 - w) * p_model + w * p_memory``, with both distributions over the same support: the memory's counts are
restricted to the tokens the model side still allows (a token masked to -inf by token healing, a penalty or the
never-suggest list stays impossible) and renormalised there, so every mixed row sums to one. Computed in log space
(``logaddexp`` on the memory's few tokens), so no probability underflows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from engine.memory.match import Match
from engine.memory.weights import MixtureWeights


def mix_logprobs(logprobs: torch.Tensor, matches: Sequence[Match | None], weights: MixtureWeights) -> torch.Tensor:
    """Mixed log-probabilities ``[rows, vocab]`` from normalised model log-probabilities and one match per row
    (None: no memory there, the row is returned as it is). The input is not modified.

    All rows at once (a beam step mixes several): the matched tokens of every row go in one flat list, so the
    cost is a dozen tensor operations whatever the number of rows."""
    rows: list[int] = []
    ids: list[int] = []
    counts: list[int] = []
    shares: list[tuple[int, float]] = []
    for row, match in enumerate(matches):
        w = weights.weight(match)
        if match is None or w <= 0.0:
            continue
        rows += [row] * len(match.ids)
        ids += match.ids
        counts += match.counts
        shares.append((row, w))
    if not shares:
        return logprobs
    device = logprobs.device
    row_of = torch.tensor(rows, dtype=torch.long, device=device)
    token = torch.tensor(ids, dtype=torch.long, device=device)
    model_there = logprobs[row_of, token]
    # The memory's counts on the tokens the scores still allow, renormalised per row.
    count = torch.tensor(counts, dtype=logprobs.dtype, device=device).masked_fill(~torch.isfinite(model_there), 0.0)
    total = torch.zeros(logprobs.shape[0], dtype=logprobs.dtype, device=device).index_add_(0, row_of, count)
    share = torch.zeros(logprobs.shape[0], dtype=logprobs.dtype, device=device)
    share[[row for row, _ in shares]] = torch.tensor([w for _, w in shares], dtype=logprobs.dtype, device=device)
    share = share.masked_fill(total <= 0, 0.0)  # every token it saw is ruled out here: the row stays as it is
    keep = torch.log1p(-share).unsqueeze(1)
    memory = torch.log(count / total[row_of].clamp_min(1e-30)) + torch.log(share[row_of].clamp_min(1e-30))
    out = logprobs + keep
    out[row_of, token] = torch.logaddexp(model_there + keep[row_of, 0], memory)
    return out
