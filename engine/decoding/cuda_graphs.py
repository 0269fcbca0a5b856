"""One-token decoding replayed from a CUDA graph, so small models on a GPU are not bound by kernel launches.

A 135M-parameter model launches hundreds of tiny kernels per token; from Python that costs more than the GPU
work itself. ``GraphedDecodeStep`` records the whole one-token step once (a CUDA graph over the model's forward
in its fixed-shape form, ``model(tokens, cache, positions=..., span=...)``, and a preallocated cache) and then
replays it with new inputs.

It is model-agnostic: any model whose cache says ``fixed_shape`` gets the graph; any other (or a CPU, or a failed
capture) gets the ordinary eager ``model(tokens, cache)`` call behind the same interface. ``INKLING_CUDA_GRAPHS=0``
turns graphs off. Its one user is ``engine.decoding.prefix_cache``.

Attention in a graph has a fixed span, so a step attends over the first ``span`` cache slots, where ``span`` is
the smallest of 256, 512, 1024 ... (up to the capacity) that holds the new token; one graph is recorded per span
used. The cost per token thus follows the text's length, not the cache's capacity.

Usage (the decoding generator)::

    cache = model.new_cache(batch_size, capacity)      # keep it (and the step) across requests
    step = GraphedDecodeStep(model, cache)
    model(prompt_ids, cache)                           # prefill eagerly, or step.load_prefix(prompt_cache)
    logits = step(next_ids)                            # [batch, vocab]; cache.length grows by one
    cache.reorder(beam_rows)                           # in place: the graph stays valid
"""

from __future__ import annotations

import os

import torch
from torch import nn

from engine.models.base import ModelCache
from engine.models.kv_cache import KVCache

ENV_SWITCH = "INKLING_CUDA_GRAPHS"
MODES = ("auto", "graph", "static", "eager")


def cuda_graphs_enabled(device: torch.device | str) -> bool:
    """Graphs are used on CUDA devices unless the environment switch turns them off."""
    if torch.device(device).type != "cuda":
        return False
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "off", "no")


class GraphedDecodeStep:
    """Feeds one token per cache row and returns the next-token logits ``[batch, vocab]``.

    ``mode``: "auto" (a graph where possible, else eager), "graph" (try a graph, fall back to eager), "static"
    (the fixed-shape step without a graph, for testing it anywhere) or "eager". After a fallback ``mode`` says
    "eager" and ``fallback_reason`` says why. The graph is tied to the cache's tensors: reorder and crop the cache
    in place freely; if its tensors are replaced (a batch-size change) the step is recorded again.
    """

    def __init__(
        self, model: nn.Module, cache: ModelCache, *, mode: str = "auto", warmup_steps: int = 2, span_step: int = 256
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.model = model
        self.cache = cache
        self.fallback_reason: str | None = None
        self.captures = 0  # how many graphs were recorded (tests and benchmarks read it)
        self._warmup_steps = warmup_steps
        self._span_step = span_step
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}  # span -> (graph, logits)
        self._bound_to: tuple | None = None
        device = _device_of(model)
        if mode == "auto":
            mode = "graph" if cuda_graphs_enabled(device) and cache.fixed_shape else "eager"
        if mode in ("graph", "static") and not cache.fixed_shape:
            self._fall_back(f"{type(model).__name__} has no fixed-shape decoding step")
            mode = "eager"
        self.mode = mode

    @property
    def graphed(self) -> bool:
        return self.mode == "graph"

    @torch.inference_mode()
    def __call__(self, token_ids: torch.Tensor) -> torch.Tensor:
        tokens = torch.as_tensor(token_ids).reshape(-1, 1)
        if tokens.shape[0] != self.cache.batch_size:
            raise ValueError(f"{tokens.shape[0]} tokens for a cache of {self.cache.batch_size} rows")
        if self.mode == "eager":
            logits, _ = self.model(tokens.to(_device_of(self.model)), self.cache)
            return logits[:, -1]
        cache = self._fixed_cache()
        if cache.length >= cache.capacity:
            raise ValueError(f"KV cache full: {cache.length + 1} positions needed, capacity {cache.capacity}")
        span = self.span_for(cache.length + 1)
        if self.mode == "static":
            device = cache.keys.device
            position = torch.tensor([cache.length], device=device)
            logits = self._fixed_step(tokens.to(device), position, span)
            cache.advance(1)
            return logits
        if self._bound_to != self._binding():
            self._graphs.clear()
            self._bound_to = None
        if span not in self._graphs:
            try:
                self._capture(span)
            except Exception as exc:  # noqa: BLE001 - any capture failure: decoding goes on, only slower
                self._fall_back(f"CUDA graph capture failed: {type(exc).__name__}: {exc}")
                self._graphs.clear()
                self.mode = "eager"
                return self(token_ids)
        graph, logits = self._graphs[span]
        self._tokens.copy_(tokens, non_blocking=True)
        self._position.fill_(cache.length)
        graph.replay()
        cache.advance(1)
        return logits.clone()

    def span_for(self, positions: int) -> int:
        """The attention span of a step that needs ``positions`` slots: a doubling bucket, capped at capacity."""
        span = self._span_step
        while span < positions:
            span *= 2
        return min(span, self._fixed_cache().capacity)

    def load_prefix(self, source: ModelCache) -> None:
        """Make this step's cache hold ``source``'s positions: row 0 fanned out to every row when ``source`` has
        one row (a prompt read once for all beams), else row for row. The graph stays valid (copied in place)."""
        with torch.inference_mode():
            self.cache.crop(0)
            self.cache.fill_from(source)

    def _fixed_step(self, tokens: torch.Tensor, position: torch.Tensor, span: int) -> torch.Tensor:
        logits, _ = self.model(tokens, self.cache, positions=position, span=span)
        return logits[:, -1]

    def _fixed_cache(self) -> KVCache:
        # Only a fixed_shape cache reaches the graph and static modes (checked in __init__): a preallocated one.
        return self.cache  # type: ignore[return-value]

    def _binding(self) -> tuple:
        cache = self._fixed_cache()
        return cache.keys.data_ptr(), cache.values.data_ptr(), cache.batch_size, cache.capacity

    def _capture(self, span: int) -> None:
        cache = self._fixed_cache()
        device = cache.keys.device
        if device.type != "cuda":
            raise RuntimeError(f"the cache is on {device}, not a CUDA device")
        if self._bound_to is None:  # inputs shared by the graphs of every span
            self._tokens = torch.zeros((cache.batch_size, 1), dtype=torch.long, device=device)
            self._position = torch.zeros((1,), dtype=torch.long, device=device)
        self._position.fill_(cache.length)
        # Warm-up and capture write keys/values only into the slot at cache.length, which the first real step
        # overwrites before anything reads it; cache.length itself is advanced by __call__, never here.
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(self._warmup_steps):
                self._fixed_step(self._tokens, self._position, span)
        torch.cuda.current_stream(device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            logits = self._fixed_step(self._tokens, self._position, span)
        self._graphs[span] = (graph, logits)
        self._bound_to = self._binding()
        self.captures += 1

    def _fall_back(self, reason: str) -> None:
        # No exception and no warning: decoding goes on eagerly; callers may surface fallback_reason to the user.
        self.fallback_reason = reason


def _device_of(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")
