"""The one place where the memory meets the model: mixing next-token log-probabilities row by row.

``p = (1 - w) * p_model + w * p_memory``, with both distributions over the same support: the memory's counts are
restricted to the tokens the model side still allows (a token masked to -inf by token healing, a penalty or the
never-suggest list stays impossible) and renormalised there, so every mixed row sums to one. Computed in log space
(``logaddexp`` on the memory's few tokens), so no probability underflows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from engine.memory.match import Match
from engine.memory.weights import MixtureWeights


def mix_logprobs(logprobs: torch.Tensor, matches: Sequence[Match | None], weights: MixtureWeights) -> torch.Tensor:
    """Mixed log-probabilities ``[rows, vocab]`` from normalised model log-probabilities and one match per row
    (None: no memory there, the row is returned as it is). The input is not modified."""
    out = logprobs
    for row, match in enumerate(matches):
        w = weights.weight(match)
        if match is None or w <= 0.0:
            continue
        ids = torch.tensor(match.ids, dtype=torch.long, device=logprobs.device)
        counts = torch.tensor(match.counts, dtype=logprobs.dtype, device=logprobs.device)
        allowed = torch.isfinite(logprobs[row, ids])
        if not bool(allowed.all()):
            ids, counts = ids[allowed], counts[allowed]
            if ids.numel() == 0:
                continue
        if out is logprobs:
            out = logprobs.clone()
        memory = torch.log(counts / counts.sum()) + math.log(w)
        out[row] += math.log1p(-w)
        out[row, ids] = torch.logaddexp(out[row, ids], memory)
    return out
