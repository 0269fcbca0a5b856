"""A preallocated key/value cache for attention models (as in gpt-fast): no re-allocation per token."""

from __future__ import annotations

import torch


class KVCache:
    """Keys and values of every layer for ``batch_size`` rows, up to ``capacity`` positions."""

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

    @property
    def length(self) -> int:
        return self._length

    @property
    def batch_size(self) -> int:
        return self.keys.shape[1]

    @property
    def capacity(self) -> int:
        return self.keys.shape[3]

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new positions' keys and values for one layer; returns all keys and values so far."""
        start, end = self._length, self._length + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"KV cache full: {end} positions needed, capacity {self.capacity}")
        self.keys[layer, :, :, start:end] = k
        self.values[layer, :, :, start:end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def advance(self, steps: int) -> None:
        """Called once per forward, after every layer has appended ``steps`` positions."""
        self._length += steps

    def crop(self, length: int) -> int:
        self._length = max(0, min(length, self._length))
        return self._length

    def reorder(self, rows: torch.Tensor) -> None:
        """Row i becomes the old row ``rows[i]``; ``rows`` may also shrink or grow the batch."""
        rows = torch.as_tensor(rows, dtype=torch.long, device=self.keys.device).reshape(-1)
        if rows.numel() != self.batch_size:
            self.keys = self.keys.index_select(1, rows)
            self.values = self.values.index_select(1, rows)
            return
        n = self._length
        # The right-hand side is gathered into a new tensor first, so overlapping rows are read before written.
        self.keys[:, :, :, :n] = self.keys[:, rows, :, :n]
        self.values[:, :, :, :n] = self.values[:, rows, :, :n]

    def repeat_rows(self, batch_size: int) -> KVCache:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        clone = KVCache.__new__(KVCache)
        clone.keys = self.keys[:, :1].repeat(1, batch_size, 1, 1, 1)
        clone.values = self.values[:, :1].repeat(1, batch_size, 1, 1, 1)
        clone._length = self._length
        return clone

    def nbytes(self) -> int:
        return self.keys.numel() * self.keys.element_size() * 2


def attention_mask(query_len: int, key_len: int, device: torch.device) -> torch.Tensor | None:
    """Boolean mask letting query i (the last ``query_len`` positions of ``key_len``) see keys up to itself.

    None when a single query looks at everything before it, which lets SDPA take its fastest path.
    """
    if query_len == 1:
        return None
    offset = key_len - query_len
    q = torch.arange(query_len, device=device).unsqueeze(1) + offset
    k = torch.arange(key_len, device=device).unsqueeze(0)
    return k <= q
