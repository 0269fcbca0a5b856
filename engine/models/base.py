"""The small interface every model family implements, so decoding never asks which family it drives.

A model takes a chunk of token ids ``[batch, time]`` and a cache holding everything it has already seen,
returns logits ``[batch, time, vocab]`` for the chunk and the updated cache: one forward for training, scoring,
prefill, decoding and beams. Decoding code only ever calls ``forward``, ``new_cache`` and the cache methods below.
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

    #: True when the model offers its fixed-shape step over this cache (``positions`` and ``span`` given to
    #: ``forward``), which a CUDA graph can replay; False for caches that grow or rewind by snapshots.
    fixed_shape: bool

    def can_hold(self, length: int) -> bool:
        """Whether ``length`` positions fit without a new cache (a cache that grows by itself always says so)."""
        ...

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

    def fill_from(self, source: ModelCache) -> None:
        """In place, hold what ``source`` (a cache of the same model) holds: its row 0 in every row when it has
        one row, else row for row. What this cache already shares with it (up to its own ``length``; ``crop``
        first) may be kept rather than copied again, so refilling beam rows costs only what changed."""
        ...


@runtime_checkable
class CausalLanguageModel(Protocol):
    """A decoder that predicts the next token."""

    #: Longest sequence the model can attend over, or None when it has no hard limit (recurrent models).
    max_context: int | None
    vocab_size: int

    def new_cache(self, batch_size: int, capacity: int) -> ModelCache: ...

    def __call__(
        self,
        tokens: torch.Tensor,
        cache: ModelCache | None = None,
        positions: torch.Tensor | None = None,
        span: int | None = None,
    ) -> tuple[torch.Tensor, ModelCache | None]: ...  # nn.Module's __call__, which runs ``forward``

    def forward(
        self,
        tokens: torch.Tensor,
        cache: ModelCache | None = None,
        positions: torch.Tensor | None = None,
        span: int | None = None,
    ) -> tuple[torch.Tensor, ModelCache | None]:
        """Logits for ``tokens`` read after what ``cache`` holds (the cache is updated in place and returned).

        ``positions`` (a device tensor) and ``span`` ask for the fixed-shape step over a ``fixed_shape`` cache:
        the tokens are written at ``positions``, attention reads the first ``span`` slots under a mask, and the
        caller advances the cache. Models whose caches are not ``fixed_shape`` refuse them.
        """
        ...
