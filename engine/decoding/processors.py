"""Reshaping next-token scores before a token is chosen.

Two kinds, applied in this order (as in Hugging Face ``transformers``):

- penalties, which change what the model may say and depend on the tokens a row has seen
  (``repetition_penalty``, ``no_repeat_ngram_size``, DRY in ``dry``, the never-suggest list in ``banned_words``);
  they apply to every strategy;
- sampling warpers (temperature, top-k, top-p, min-p), which only shape the distribution a token is drawn from.

Every function takes and returns scores ``[rows, vocab]``; masked-out tokens get ``-inf``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from engine.decoding.banned_words import BannedWordMask
    from engine.decoding.dry import DryPenalty

NEG_INF = float("-inf")


# --- penalties -----------------------------------------------------------------------------------------------


def penalize_repetitions(scores: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's repetition penalty: a token already seen has its score divided by ``penalty`` (multiplied when
    negative), so a penalty above 1 always makes it less likely. ``seen`` is a bool mask ``[rows, vocab]``."""
    penalized = torch.where(scores < 0, scores * penalty, scores / penalty)
    return torch.where(seen, penalized, scores)


def ban_repeated_ngrams(scores: torch.Tensor, sequences: torch.Tensor, size: int) -> torch.Tensor:
    """Forbid every token that would complete an n-gram of ``size`` tokens already present in its row.

    ``sequences`` ``[rows, length]`` holds each row's tokens so far (prompt included). In place; returns ``scores``.
    """
    length = sequences.shape[1]
    if size < 1 or length < size:
        return scores
    windows = sequences.unfold(1, size, 1)  # [rows, length - size + 1, size], a view
    current = sequences[:, length - size + 1 :]  # the last size-1 tokens: the n-gram being continued
    matches = (windows[:, :, :-1] == current.unsqueeze(1)).all(dim=-1)
    rows, starts = matches.nonzero(as_tuple=True)
    if rows.numel():
        scores[rows, windows[rows, starts, -1]] = NEG_INF
    return scores


#: How much of the prompt the repeat guards (no-repeat n-grams, DRY) read besides the continuation. A document
#: repeats its names and phrases on purpose ("said Mr. Jarndyce"), and suggesting them again is the point of
#: the memory; across the whole prompt the guards forbade exactly that (held-out books, ``inkling eval``: KSR
#: 25.7% with them over the whole prompt, 27.8% with this tail; docs/TRAINING.md). A loop starts in the
#: continuation or just before it, which this tail still covers.
GUARD_LOOKBACK = 16


class SeenTokens:
    """What the penalties need to know about each row: its tokens so far, kept in preallocated buffers.

    Rows follow beam search through ``fan_out`` (one prompt row to several beams) and ``reorder``.
    """

    def __init__(
        self,
        prompt: list[int],
        vocab_size: int,
        max_new_tokens: int,
        device: torch.device,
        repetition_penalty: float = 1.0,
        no_repeat_ngram_size: int = 0,
        dry: DryPenalty | None = None,
        banned: BannedWordMask | None = None,
        control_ids: torch.Tensor | None = None,
    ) -> None:
        """``dry`` and ``banned`` (the never-suggest list) are optional further penalties, None when off;
        ``control_ids`` are tokens that structure a prompt (fill-in-the-middle markers) and are never generated."""
        self.repetition_penalty = repetition_penalty
        self.ngram_size = no_repeat_ngram_size
        self.dry = dry
        self.banned = banned
        self.control_ids = control_ids if control_ids is not None and control_ids.numel() else None
        self.active = (repetition_penalty != 1.0 or no_repeat_ngram_size > 0 or dry is not None or banned is not None
                       or self.control_ids is not None)
        self.length = len(prompt)
        self.sequences: torch.Tensor | None = None
        self._sequence_start = 0  # the prompt position of ``sequences``' first column
        self.seen: torch.Tensor | None = None
        if not self.active:
            return
        prompt_tensor = torch.tensor([prompt], dtype=torch.long, device=device)
        if no_repeat_ngram_size > 0 or dry is not None:
            # The repeat guards read the continuation and only the prompt's last GUARD_LOOKBACK tokens (see there).
            tail = prompt_tensor[:, max(0, len(prompt) - GUARD_LOOKBACK) :]
            self._sequence_start = len(prompt) - tail.shape[1]
            self.sequences = torch.empty((1, tail.shape[1] + max_new_tokens), dtype=torch.long, device=device)
            self.sequences[:, : tail.shape[1]] = tail
        if repetition_penalty != 1.0:
            self.seen = torch.zeros((1, vocab_size), dtype=torch.bool, device=device)
            self.seen[0, prompt_tensor[0]] = True

    def apply(self, scores: torch.Tensor) -> torch.Tensor:
        """The penalised scores ``[rows, vocab]`` (float32)."""
        if not self.active:
            return scores
        if self.seen is not None:
            scores = penalize_repetitions(scores, self.seen, self.repetition_penalty)
        if self.sequences is not None and self.ngram_size > 0:
            scores = ban_repeated_ngrams(scores.clone(), self._guarded(), self.ngram_size)
        if self.dry is not None and self.sequences is not None:  # DRY always has the sequences
            scores = self.dry.apply(scores, self._guarded())
        if self.banned is not None:
            scores = self.banned.apply(scores)
        if self.control_ids is not None:
            scores = scores.index_fill(1, self.control_ids, NEG_INF)
        return scores

    def append(self, tokens: torch.Tensor) -> None:
        """Record one new token per row (``tokens`` ``[rows]``)."""
        if not self.active:
            self.length += 1
            return
        if self.sequences is not None:
            self.sequences[:, self.length - self._sequence_start] = tokens
        if self.seen is not None:
            self.seen[torch.arange(tokens.shape[0], device=tokens.device), tokens] = True
        if self.banned is not None:
            self.banned.append(tokens)
        self.length += 1

    def _guarded(self) -> torch.Tensor:
        """What the repeat guards read per row: the prompt's tail and the continuation so far."""
        assert self.sequences is not None
        return self.sequences[:, : self.length - self._sequence_start]

    def fan_out(self, rows: int) -> None:
        if self.sequences is not None:
            self.sequences = self.sequences[:1].repeat(rows, 1)
        if self.seen is not None:
            self.seen = self.seen[:1].repeat(rows, 1)
        if self.banned is not None:
            self.banned.fan_out(rows)

    def reorder(self, rows: torch.Tensor) -> None:
        if self.sequences is not None:
            self.sequences = self.sequences.index_select(0, rows)
        if self.seen is not None:
            self.seen = self.seen.index_select(0, rows)
        if self.banned is not None:
            self.banned.reorder(rows)


# --- sampling warpers ------------------------------------------------------------------------------------------


def keep_top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Only the ``k`` highest-scoring tokens of each row stay (ties with the k-th stay too); 0 keeps all."""
    if k <= 0 or k >= scores.shape[-1]:
        return scores
    kth = torch.topk(scores, k, dim=-1).values[..., -1:]
    return scores.masked_fill(scores < kth, NEG_INF)


def keep_top_p(scores: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus: the fewest most-likely tokens whose probabilities add up to at least ``p``; 1 keeps all."""
    if p >= 1.0:
        return scores
    sorted_scores, order = torch.sort(scores, dim=-1, descending=False)
    cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative <= 1 - p
    drop_sorted[..., -1] = False  # the most likely token always stays
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, NEG_INF)


def keep_min_p(scores: torch.Tensor, min_p: float) -> torch.Tensor:
    """Drop tokens less likely than ``min_p`` times the most likely token's probability; 0 keeps all."""
    if min_p <= 0.0:
        return scores
    probs = scores.softmax(dim=-1)
    threshold = min_p * probs.amax(dim=-1, keepdim=True)
    return scores.masked_fill(probs < threshold, NEG_INF)


def sampling_scores(scores: torch.Tensor, temperature: float, top_k: int, top_p: float, min_p: float) -> torch.Tensor:
    """Scores to draw from: divided by ``temperature`` (> 0), then top-k, top-p and min-p masks."""
    if temperature != 1.0:
        scores = scores / temperature
    scores = keep_top_k(scores, top_k)
    scores = keep_top_p(scores, top_p)
    return keep_min_p(scores, min_p)


def restrict_to(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Every token outside ``allowed`` (a 1-d tensor of ids) gets ``-inf``, in every row."""
    restricted = torch.full_like(scores, NEG_INF)
    restricted[:, allowed] = scores[:, allowed]
    return restricted
