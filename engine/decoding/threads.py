"""How many CPU threads the token-by-token phase uses.

A decoding step is a handful of small matrix-vector products. Split over all cores, each of the ~50 operations of
a step ends in a barrier where every thread must have run; when the machine is busy (the editor redrawing ghost
text, a browser, a training run) one descheduled thread stalls the step for a whole scheduler time slice, and
small steps get many times slower. Steps therefore leave one core free: on a 2-core machine they run on one
thread, which also keeps the editor's own thread responsive while a suggestion streams. Reading a prompt (large
matrix products, where threads pay off) keeps torch's full thread count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

# A chunk of at most this many tokens (all rows together) is "small": it runs with the step thread count.
SMALL_CHUNK_TOKENS = 16


def step_thread_count(device: torch.device) -> int | None:
    """Threads for decoding steps on ``device``; None leaves torch's setting alone (GPU, or 1 core anyway)."""
    if device.type != "cpu":
        return None
    available = torch.get_num_threads()
    cores = os.cpu_count() or available
    wanted = max(1, min(available, cores - 1))
    return wanted if wanted < available else None


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads (None: unchanged); the previous count comes back after."""
    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    if previous == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
