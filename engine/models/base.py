"""The small interface every model family implements, so decoding never asks which family it drives.

A model takes a chunk of token ids ``[batch, time]`` and a cache holding everything it has already seen,
returns logits ``[batch, time, vocab]`` for the chunk and the updated cache. Decoding code only ever calls
``forward``, ``new_cache`` and the cache methods below.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class ModelCache(Protocol):
    """State of a model after reading ``length`` tokens in each of ``batch_size`` rows."""

    @property
    def length(self) -> int: ...

    @property
    def batch_size(self) -> int: ...

    def crop(self, length: int) -> int:
        """Forget everything after the first ``length`` tokens; returns the length actually kept.

        A family that can only rewind to some positions keeps the longest one not past ``length``; the caller
        then feeds the tokens after the returned length again.
        """
        ...

    def reorder(self, rows: torch.Tensor) -> None:
        """Replace the rows by ``rows`` (indices into the current rows), in place: beam search's reshuffle."""
        ...

    def repeat_rows(self, batch_size: int) -> ModelCache:
        """A new cache with row 0 copied ``batch_size`` times (a prompt read once, then fanned out to beams)."""
        ...


@runtime_checkable
class CausalLanguageModel(Protocol):
    """A decoder that predicts the next token."""

    #: Longest sequence the model can attend over, or None when it has no hard limit (recurrent models).
    max_context: int | None
    vocab_size: int

    def new_cache(self, batch_size: int, capacity: int) -> ModelCache: ...

    def forward(
        self, tokens: torch.Tensor, cache: ModelCache | None = None
    ) -> tuple[torch.Tensor, ModelCache | None]: ...
