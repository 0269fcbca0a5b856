"""A preallocated key/value cache for attention models (as in gpt-fast): no re-allocation per token.

The model writes each chunk's keys and values at their positions (``update``); everything else decoding does with
the cache (rewinding, beam reshuffles, fanning a prompt out to beams) goes through the ``ModelCache`` methods.
"""

from __future__ import annotations

import torch


def cache_dtype(weights_dtype: torch.dtype, device: torch.device) -> torch.dtype:
    """The cache keeps float32 on the CPU whatever the weights: there a one-query attention step in bfloat16
    costs ~5x the float32 one (no fast bf16 kernel for it), and the cache of a small model is small."""
    return torch.float32 if device.type == "cpu" and weights_dtype in (torch.bfloat16, torch.float16) else weights_dtype


class KVCache:
    """Keys and values of every layer for ``batch_size`` rows, up to ``capacity`` positions."""

    #: The model can run its fixed-shape step over this cache (``engine.decoding.cuda_graphs``).
    fixed_shape = True

    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_kv_head: int,
        capacity: int,
        head_dim: int,
        device: torch.device | str,
        dtype: torch.dtype,
    ) -> None:
        shape = (n_layer, batch_size, n_kv_head, capacity, head_dim)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self._length = 0
        # Positions before this are identical in every row (a prompt fanned out to beams), so reorder skips them.
        self._shared = 0

    @property
    def length(self) -> int:
        return self._length

    @property
    def batch_size(self) -> int:
        return self.keys.shape[1]

    @property
    def shared(self) -> int:
        """Leading positions that hold the same keys and values in every row (``engine.models.shared_prefix``)."""
        return self._shared

    @property
    def capacity(self) -> int:
        return self.keys.shape[3]

    def can_hold(self, length: int) -> bool:
        return length <= self.capacity

    def update(
        self, layer: int, positions: torch.Tensor, k: torch.Tensor, v: torch.Tensor, span: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write one layer's keys and values ``[batch, heads, time, dim]`` at ``positions`` ``[time]``; returns
        that layer's first ``span`` slots. Writing by a position tensor keeps shapes fixed (CUDA graphs)."""
        self.keys[layer].index_copy_(2, positions, k.to(self.keys.dtype))
        self.values[layer].index_copy_(2, positions, v.to(self.values.dtype))
        return self.keys[layer, :, :, :span], self.values[layer, :, :, :span]

    def advance(self, steps: int) -> None:
        """Called once per forward, after every layer has written ``steps`` positions."""
        self._length += steps

    def crop(self, length: int) -> int:
        self._length = max(0, min(length, self._length))
        self._shared = min(self._shared, self._length)
        return self._length

    def reorder(self, rows: torch.Tensor) -> None:
        """Row i becomes the old row ``rows[i]``; ``rows`` may also shrink or grow the batch."""
        rows = torch.as_tensor(rows, dtype=torch.long, device=self.keys.device).reshape(-1)
        if rows.numel() != self.batch_size:
            self.keys = self.keys.index_select(1, rows)
            self.values = self.values.index_select(1, rows)
            return
        start, end = self._shared, self._length
        if end > start:
            # In place, so a recorded CUDA graph stays valid. The right-hand side is gathered into a new tensor
            # first, so overlapping rows are read before they are written.
            self.keys[:, :, :, start:end] = self.keys[:, rows, :, start:end]
            self.values[:, :, :, start:end] = self.values[:, rows, :, start:end]

    def repeat_rows(self, batch_size: int) -> KVCache:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        clone = KVCache.__new__(KVCache)
        clone.keys = self.keys[:, :1].repeat(1, batch_size, 1, 1, 1)
        clone.values = self.values[:, :1].repeat(1, batch_size, 1, 1, 1)
        clone._length = self._length
        clone._shared = self._length
        return clone

    def fill_from(self, source: KVCache) -> None:
        """Hold ``source``'s positions: its row 0 in every row when it has one row, else row for row. Only the
        positions after this cache's own length are copied (crop first to what is still valid), in place."""
        if source.batch_size not in (1, self.batch_size):
            raise ValueError(f"cannot load a cache of {source.batch_size} rows into one of {self.batch_size}")
        n = source.length
        if n > self.capacity:
            raise ValueError(f"{n} cached positions do not fit a capacity of {self.capacity}")
        if source.keys.shape[2:] != self.keys.shape[2:] or source.keys.shape[0] != self.keys.shape[0]:
            raise ValueError("the caches belong to different models")
        start = min(self._length, n)
        if n > start:
            self.keys[:, :, :, start:n] = source.keys[:, :, :, start:n]
            self.values[:, :, :, start:n] = source.values[:, :, :, start:n]
        self._length = n
        self._shared = n if source.batch_size == 1 else min(self._shared, start)

    def nbytes(self) -> int:
        return self.keys.numel() * self.keys.element_size() * 2
