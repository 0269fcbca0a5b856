"""How many CPU threads the token-by-token phase uses.

A decoding step is a handful of small matrix-vector products. Split over all cores, each of the ~50 operations of
a step ends in a barrier where every thread must have run. On an idle machine that is the fastest way (two threads
decode a 135M model 1.35-1.5x as fast as one on a 2-core CPU). On a busy one (a browser, a build, a training run) one
descheduled thread stalls the step for a whole scheduler time slice, and steps get several times slower than on
one core fewer. Which case holds changes from minute to minute, so ``StepThreads`` measures rather than guesses:
it times the steps run with each count, takes all cores only where they are clearly faster, and tries the other
count now and then. Reading a prompt (large matrix products, where threads pay off) keeps torch's full thread
count.
"""

from __future__ import annotations

import os
import statistics
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import torch

# A chunk of at most this many tokens (all rows together) is "small": it runs with the step thread count.
SMALL_CHUNK_TOKENS = 16

# Step times kept per (thread count, rows): a suggestion or two, so a change of load shows at once.
KEPT_STEP_TIMES = 16
# Steps of a thread count needed before its time is compared with the other's.
MIN_STEP_TIMES = 4
# All cores are chosen only when their steps are this much faster than one core fewer's (medians): where the two
# are close, the machine is busy enough for a stalled step to be near, and one core fewer never stalls.
ALL_CORES_MARGIN = 0.9
# After this many requests one runs with the count not chosen, in case the machine's load has changed; the wait
# doubles each time the choice stands (a busy machine pays for fewer slow tries), up to the last.
FIRST_RETRY_AFTER, LAST_RETRY_AFTER = 16, 128


def thread_counts(device: torch.device) -> tuple[int, ...]:
    """The step thread counts worth comparing on ``device``: all of torch's threads and one core fewer; () where
    there is no choice (a GPU, or a single core)."""
    if device.type != "cpu":
        return ()
    available = torch.get_num_threads()
    fewer = max(1, min(available, (os.cpu_count() or available) - 1))
    return (available, fewer) if fewer < available else ()


class StepThreads:
    """Chooses each request's step thread count from the step times measured with each (see the module's text):
    one core fewer until all cores have shown themselves clearly faster."""

    def __init__(self, device: torch.device) -> None:
        self.counts = thread_counts(device)
        self._times: dict[tuple[int, int], deque[float]] = {}
        self._best: int | None = self.counts[-1] if self.counts else None
        self._requests = 0
        self._tried: set[int] = set()
        self._retry_after = FIRST_RETRY_AFTER
        self._retry_at = FIRST_RETRY_AFTER

    @property
    def best(self) -> int | None:
        """The count that ran the latest steps best (one core fewer until measured); None: leave torch alone."""
        return self._best

    def step_times(self, threads: int, rows: int) -> list[float]:
        """The latest step times of ``rows`` rows run with ``threads`` threads, oldest first (seconds)."""
        return list(self._times.get((threads, rows), ()))

    def choose(self) -> int | None:
        """The count for a new request: the best, or one not yet tried, or now and then the other."""
        if not self.counts:
            return None
        self._requests += 1
        for count in reversed(self.counts):
            if count not in self._tried:  # once each: a stream closed early may leave it without times
                self._tried.add(count)
                return count
        if self._requests >= self._retry_at:
            self._retry_after = min(2 * self._retry_after, LAST_RETRY_AFTER)
            self._retry_at = self._requests + self._retry_after
            return next(count for count in self.counts if count != self._best)
        return self._best

    def record(self, threads: int | None, rows: int, seconds: float) -> None:
        """One step of ``rows`` rows took ``seconds`` with ``threads`` threads."""
        if threads not in self.counts:
            return
        self._times.setdefault((threads, rows), deque(maxlen=KEPT_STEP_TIMES)).append(seconds)
        medians = self._medians(rows)
        if medians is None:
            return
        every, fewer = self.counts
        best = every if medians[every] < ALL_CORES_MARGIN * medians[fewer] else fewer
        if best != self._best:
            self._best = best
            self._retry_after = FIRST_RETRY_AFTER
            self._retry_at = self._requests + FIRST_RETRY_AFTER

    def _medians(self, rows: int) -> dict[int, float] | None:
        """Each count's median step time at ``rows`` rows, where every count has enough of them."""
        medians = {}
        for count in self.counts:
            times = self._times.get((count, rows))
            if times is None or len(times) < MIN_STEP_TIMES:
                return None
            medians[count] = statistics.median(times)
        return medians


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
