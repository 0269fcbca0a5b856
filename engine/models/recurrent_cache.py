"""Decoding state of a recurrent model: LSTM state per row, the attention memory, and rewind points.

An LSTM's state after ``n`` tokens cannot be recovered from its state after ``m > n`` tokens, so ``crop``
can only rewind to a position where a snapshot of ``(h, c)`` was kept. Snapshots are kept at every multiple
of ``snapshot_interval`` (cheap: one per interval) and at the last positions of every forward call, which
covers each single-token decoding step and the "the user retyped the last word" case; recent ones are
dropped once they fall more than two intervals behind. The attention memory keeps the top-layer output of
every position read, so the window before any rewind point is still there.
"""

from __future__ import annotations

import torch

SNAPSHOT_INTERVAL = 16
_TAIL_SNAPSHOTS = 2  # snapshot the last two positions of each forward, not only the last


class RecurrentCache:
    """State of an attention-LSTM after reading ``length`` tokens in each of ``batch_size`` rows."""

    fixed_shape = False  # the LSTM's step has no fixed-shape form for a CUDA graph

    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        hidden_size: int,
        window: int,
        capacity: int,
        device: torch.device | str,
        dtype: torch.dtype,
        snapshot_interval: int = SNAPSHOT_INTERVAL,
    ) -> None:
        self.window = window
        self.interval = snapshot_interval
        self.h = torch.zeros(n_layer, batch_size, hidden_size, device=device, dtype=dtype)
        self.c = torch.zeros_like(self.h)
        self.memory = torch.zeros(batch_size, max(capacity, 1), hidden_size, device=device, dtype=dtype)
        # anchors[i] = (h, c) after i * interval tokens; anchor 0 is the zero start state.
        self.anchors = torch.zeros(
            capacity // snapshot_interval + 2, 2, *self.h.shape, device=device, dtype=dtype
        )
        self.recent: dict[int, torch.Tensor] = {}
        self._length = 0
        # Positions before this are identical in every row (after repeat_rows), so reorder can skip them.
        self._shared = 0

    @property
    def length(self) -> int:
        return self._length

    @property
    def batch_size(self) -> int:
        return self.h.shape[1]

    def can_hold(self, length: int) -> bool:
        return True  # the buffers grow as needed

    def nbytes(self) -> int:
        snapshots = self.anchors.numel() + sum(s.numel() for s in self.recent.values())
        return (self.memory.numel() + snapshots + 2 * self.h.numel()) * self.h.element_size()

    # --- used by the model's forward ---------------------------------------------------------------------

    def state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h, c)``, each ``[n_layer, batch, hidden]``."""
        return self.h, self.c

    def recent_outputs(self) -> torch.Tensor:
        """Top-layer outputs of the last ``window`` positions (fewer at the start): ``[batch, P, hidden]``."""
        return self.memory[:, max(0, self._length - self.window) : self._length].clone()

    def snapshot_points(self, start: int, time: int) -> list[int]:
        """Where a forward of ``time`` tokens from ``start`` stops for snapshots; the last is the end."""
        end = start + time
        points = set(range((start // self.interval + 1) * self.interval, end + 1, self.interval))
        points.update(p for p in range(end - _TAIL_SNAPSHOTS + 1, end + 1) if p > start)
        return sorted(points)

    def advance(self, outputs: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> None:
        """Record a segment: its top-layer ``outputs`` ``[batch, t, hidden]`` and the state after it."""
        start, end = self._length, self._length + outputs.shape[1]
        self._ensure_capacity(end)
        self.memory[:, start:end] = outputs
        self.h, self.c = h, c
        self._length = end
        snapshot = torch.stack((h, c))
        if end % self.interval == 0:
            self.anchors[end // self.interval] = snapshot
        else:
            self.recent[end] = snapshot
        stale = [p for p in self.recent if p < end - 2 * self.interval]
        for p in stale:
            del self.recent[p]

    def _ensure_capacity(self, length: int) -> None:
        if length > self.memory.shape[1]:
            grown = max(length, 2 * self.memory.shape[1])
            memory = self.memory.new_zeros(self.memory.shape[0], grown, self.memory.shape[2])
            memory[:, : self._length] = self.memory[:, : self._length]
            self.memory = memory
        needed = length // self.interval + 1
        if needed > self.anchors.shape[0]:
            anchors = self.anchors.new_zeros(max(needed, 2 * self.anchors.shape[0]), *self.anchors.shape[1:])
            anchors[: self.anchors.shape[0]] = self.anchors
            self.anchors = anchors

    # --- the ModelCache protocol -------------------------------------------------------------------------

    def crop(self, length: int) -> int:
        """Rewind to the latest snapshot at or before ``length``; returns that position."""
        if length >= self._length:
            return self._length
        length = max(0, length)
        anchor = (length // self.interval) * self.interval
        recent = max((p for p in self.recent if p <= length), default=-1)
        kept = max(anchor, recent)
        snapshot = self.recent[kept] if kept == recent else self.anchors[kept // self.interval]
        self.h, self.c = snapshot[0].clone(), snapshot[1].clone()
        for p in [p for p in self.recent if p > kept]:
            del self.recent[p]
        self._length = kept
        self._shared = min(self._shared, kept)
        return kept

    def reorder(self, rows: torch.Tensor) -> None:
        rows = rows.to(self.h.device)
        same_size = rows.numel() == self.batch_size
        self.h = self.h[:, rows]
        self.c = self.c[:, rows]
        self.recent = {p: (s if p <= self._shared else s[:, :, rows]) for p, s in self.recent.items()}
        if same_size:
            # Same batch size: only the part after the shared prefix differs between rows.
            lo, hi = self._shared, self._length
            self.memory[:, lo:hi] = self.memory[rows, lo:hi]
            first = self._shared // self.interval + 1
            last = self._length // self.interval + 1
            if last > first:
                self.anchors[first:last] = self.anchors[first:last][:, :, :, rows]
        else:
            self.memory = self.memory[rows]
            self.anchors = self.anchors[:, :, :, rows]

    def repeat_rows(self, batch_size: int) -> RecurrentCache:
        clone = RecurrentCache.__new__(RecurrentCache)
        clone.window, clone.interval = self.window, self.interval
        clone.h = self.h[:, :1].repeat(1, batch_size, 1)
        clone.c = self.c[:, :1].repeat(1, batch_size, 1)
        clone.memory = self.memory[:1, : max(self._length, 1)].repeat(batch_size, 1, 1)
        used = self._length // self.interval + 1
        clone.anchors = self.anchors[:used, :, :, :1].repeat(1, 1, 1, batch_size, 1)
        clone.recent = {p: s[:, :, :1].repeat(1, 1, batch_size, 1) for p, s in self.recent.items()}
        clone._length = self._length
        clone._shared = self._length
        return clone

    def fill_from(self, source: RecurrentCache) -> None:
        """Hold ``source``'s state: row 0 in every row (one-row source) or row for row. An LSTM state cannot be
        patched from a shared prefix, so everything is copied."""
        if source.batch_size not in (1, self.batch_size):
            raise ValueError(f"cannot load a cache of {source.batch_size} rows into one of {self.batch_size}")
        copy = source.repeat_rows(self.batch_size) if source.batch_size == 1 else source._clone()
        self.__dict__.update(copy.__dict__)

    def _clone(self) -> RecurrentCache:
        clone = RecurrentCache.__new__(RecurrentCache)
        clone.__dict__.update(self.__dict__)
        clone.h, clone.c = self.h.clone(), self.c.clone()
        clone.memory, clone.anchors = self.memory.clone(), self.anchors.clone()
        clone.recent = {p: s.clone() for p, s in self.recent.items()}
        return clone
