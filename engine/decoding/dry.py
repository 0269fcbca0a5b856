"""DRY ("don't repeat yourself"): a penalty on tokens that would make the text repeat a sequence it already has.

After p-e-w's DRY sampler (text-generation-webui, llama.cpp). For the next token ``t`` of a row, look at every
earlier place where the row's last token occurred and ``t`` followed it: the match length ``n`` is how many tokens
before that place equal the tokens just before the end (the last token included). Choosing ``t`` would make a
repeat of ``n + 1`` tokens; when ``n >= allowed_length`` its score loses ``multiplier * base ** (n -
allowed_length)``. Short, natural repeats ("of the") cost nothing; long verbatim loops quickly become impossible,
and unlike a no-repeat n-gram ban the penalty grows smoothly with the length of the repeat.

Sequence breakers (here: tokens containing a line break) end a match, so a repeat never spans a new line: lists and
dialogue repeat their line openings on purpose. Decoding hands it the continuation and only the last few prompt
tokens (``processors.GUARD_LOOKBACK``): a document's names and phrases come back on purpose.
"""

from __future__ import annotations

import torch

# Beyond this the penalty is astronomically large anyway; the cap bounds the backwards scan.
MAX_MATCH_LENGTH = 64
SEQUENCE_BREAKERS = ("\n",)


def breaker_mask(token_bytes: list[bytes], breakers: tuple[str, ...] = SEQUENCE_BREAKERS) -> torch.Tensor:
    """Bool ``[vocab]``: tokens whose text contains a sequence breaker."""
    encoded = [b.encode("utf-8") for b in breakers]
    return torch.tensor([any(b in data for b in encoded) for data in token_bytes], dtype=torch.bool)


def dry_match_lengths(sequence: torch.Tensor, breakers: torch.Tensor | None = None,
                      max_match: int = MAX_MATCH_LENGTH) -> dict[int, int]:
    """For one row's tokens ``[length]`` (on the CPU): next token -> the longest repeat it would extend."""
    length = sequence.shape[0]
    if length < 2:
        return {}
    last = int(sequence[-1])
    if breakers is not None and bool(breakers[last]):
        return {}
    starts = (sequence[:-1] == last).nonzero().squeeze(1)  # earlier places of the last token
    if starts.numel() == 0:
        return {}
    followers = sequence[starts + 1]
    if breakers is not None:
        keep = ~breakers[followers]
        starts, followers = starts[keep], followers[keep]
        if starts.numel() == 0:
            return {}
    lengths = torch.ones_like(starts)
    alive = torch.ones_like(starts, dtype=torch.bool)
    for back in range(1, min(max_match, length - 1)):
        before = sequence[length - 1 - back]  # the token ``back`` places before the end
        if breakers is not None and bool(breakers[before]):
            break
        earlier = starts - back
        alive &= earlier >= 0
        alive &= sequence[earlier.clamp(min=0)] == before
        if not bool(alive.any()):
            break
        lengths += alive
    result: dict[int, int] = {}
    for token, match in zip(followers.tolist(), lengths.tolist()):
        if match > result.get(token, 0):
            result[token] = match
    return result


def apply_dry(scores: torch.Tensor, sequences: torch.Tensor, multiplier: float, base: float,
              allowed_length: int, breakers: torch.Tensor | None = None) -> torch.Tensor:
    """``scores`` ``[rows, vocab]`` minus the DRY penalty of each row (``sequences`` ``[rows, length]``); returns a
    new tensor when anything is penalised."""
    if multiplier <= 0:
        return scores
    rows_cpu = sequences.to("cpu")
    row_ids: list[int] = []
    token_ids: list[int] = []
    penalties: list[float] = []
    for row in range(rows_cpu.shape[0]):
        for token, match in dry_match_lengths(rows_cpu[row], breakers).items():
            if match >= allowed_length:
                row_ids.append(row)
                token_ids.append(token)
                penalties.append(multiplier * base ** (match - allowed_length))
    if not penalties:
        return scores
    device = scores.device
    penalised = scores.clone()
    index = (torch.tensor(row_ids, device=device), torch.tensor(token_ids, device=device))
    penalised.index_put_(index, -torch.tensor(penalties, dtype=scores.dtype, device=device), accumulate=True)
    return penalised


class DryPenalty:
    """The DRY settings of one request, ready to apply to ``[rows, vocab]`` scores."""

    def __init__(self, multiplier: float, base: float, allowed_length: int,
                 breakers: torch.Tensor | None = None) -> None:
        self.multiplier = multiplier
        self.base = base
        self.allowed_length = allowed_length
        self.breakers = breakers

    def apply(self, scores: torch.Tensor, sequences: torch.Tensor) -> torch.Tensor:
        return apply_dry(scores, sequences, self.multiplier, self.base, self.allowed_length, self.breakers)
