"""Model state kept between requests, so a keystroke only costs the tokens that changed.

``PromptCache`` holds a single-row cache and the token ids it has read (the last prompt, plus the tokens
generated after it). A new prompt reuses the longest common token prefix: the cache is cropped there (a
recurrent family may keep less, and says how much) and only the rest is read. The logits after a prompt are kept
until the next read, so a prompt read ahead (``Generator.read_ahead``, while the writer types) and then asked for
costs no forward at all.

Beam search fans the prompt out to several rows. The single-row state is never touched by it, so the next
request can reuse it. The beam rows live in a cache kept between requests too: refilling it (``fill_from``) copies
only the prompt positions that changed where the cache can keep the rest (the preallocated attention cache), and a
beam reshuffle only moves the positions after the prompt (identical in every row before it).

Decoding steps (one token per row) go through ``engine.decoding.cuda_graphs.GraphedDecodeStep``: on a CUDA
device with a fixed-shape cache it replays a CUDA graph; everywhere else it is the plain ``model(tokens, cache)``
call. Prompts are always read with the plain call.
"""

from __future__ import annotations

from typing import cast

import torch

from engine.decoding.cuda_graphs import GraphedDecodeStep
from engine.decoding.threads import SMALL_CHUNK_TOKENS, torch_threads
from engine.models.base import CausalLanguageModel, ModelCache
from engine.models.hidden_states import FinalHiddenStates
from engine.models.output_rows import last_position_logits

# Long-context models get caches sized to the request, in blocks of this many positions.
CAPACITY_BLOCK = 256


def common_prefix_length(a: list[int], b: list[int]) -> int:
    limit = min(len(a), len(b))
    for i in range(limit):
        if a[i] != b[i]:
            return i
    return limit


#: Sets of beam rows kept between requests, by size (each holds a copy of the prompt per row).
KEPT_ROW_SIZES = 2


class PromptCache:
    def __init__(self, model: torch.nn.Module, device: torch.device, step_mode: str = "auto") -> None:
        self.model = model
        # The same object, typed by what decoding asks of it (nn.Module types its attributes as Tensor | Module).
        self.decoder = cast(CausalLanguageModel, model)
        self.device = device
        self.step_mode = step_mode  # GraphedDecodeStep's mode: "auto", or "static"/"eager" to force one
        self.cache: ModelCache | None = None
        self.step: GraphedDecodeStep | None = None
        self.ids: list[int] = []  # tokens the cache has read, in order
        self._beams: dict[int, BeamRows] = {}  # by their number of rows
        #: Where the generator records the final hidden states of each forward (the memory reads the last
        #: position's); kept with the logits after a prompt and put back when that prompt is asked for again.
        self.states: FinalHiddenStates | None = None
        self._after_prompt: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def forget(self) -> None:
        """Drop everything read so far (the buffers are kept): the next request starts cold."""
        self.ids = []
        self._after_prompt = None
        if self.cache is not None:
            self.cache.crop(0)
        for beam in self._beams.values():
            beam.forget()

    def release(self) -> None:
        """Free the buffers too."""
        self.cache = None
        self.step = None
        self.ids = []
        self._beams = {}
        self._after_prompt = None

    def _capacity(self, needed: int) -> int:
        """Positions to allocate: the whole context for models up to ``CAPACITY_BLOCK * 4`` positions, else what
        is needed rounded up to a block (a later, longer request allocates again)."""
        max_context = self.decoder.max_context
        if max_context is None:
            return needed  # a recurrent cache grows by itself
        blocks = -(-max(needed, 1) // CAPACITY_BLOCK)
        return min(max_context, max(blocks * CAPACITY_BLOCK, 4 * CAPACITY_BLOCK))

    def prefill(self, tokens: list[int], room: int, step_threads: int | None = None) -> tuple[torch.Tensor, int, int]:
        """Read ``tokens`` (reusing what the cache shares with them); ``room`` more tokens must fit afterwards.

        A short remainder (the usual keystroke) is read with ``step_threads``, like a decoding step. Returns the logits after the last token ``[1, vocab]``, how many tokens were reused and how many read.
        """
        if not tokens:
            raise ValueError("cannot prefill an empty prompt")
        needed = len(tokens) + room
        if self.cache is None or self.cache.batch_size != 1 or not self.cache.can_hold(needed):
            self.cache = self.decoder.new_cache(1, self._capacity(needed))
            self.step = GraphedDecodeStep(self.model, self.cache, mode=self.step_mode)
            self.ids = []
        after = self._after_prompt
        # Read ahead: nothing new to read (unless the hidden states are wanted now and were not recorded then).
        if after is not None and self.ids == tokens and (self.states is None or after[1] is not None):
            logits, states = after
            if self.states is not None:
                self.states.latest = states
            return logits.clone(), len(tokens), 0
        # At least the last token is read again: its logits are what the first new token is chosen from.
        reuse = min(common_prefix_length(self.ids, tokens), len(tokens) - 1)
        kept = self.cache.crop(reuse)
        self.ids = self.ids[:kept]
        rest = tokens[kept:]
        threads = step_threads if len(rest) <= SMALL_CHUNK_TOKENS else None
        tensor = torch.tensor([rest], dtype=torch.long, device=self.device)

        def forward() -> torch.Tensor:
            with last_position_logits(self.model):
                logits, self.cache = self.decoder(tensor, self.cache)
            return logits[:, -1]

        logits = self._read(forward, rest, threads)
        # A copy: decoding may change what it is handed, and these must stay the logits after the prompt.
        self._after_prompt = (logits.clone(), None if self.states is None else self.states.latest)
        return logits, kept, len(rest)

    def feed(self, token: torch.Tensor, token_id: int) -> torch.Tensor:
        """One decoding step: read ``token`` ``[1, 1]``; returns the next logits ``[1, vocab]``."""
        step = self.step
        if step is None:
            raise RuntimeError("feed() before prefill(): there is no cache to step")
        return self._read(lambda: step(token), [token_id])

    def _read(self, forward, ids: list[int], threads: int | None = None) -> torch.Tensor:
        # If the forward fails half-way the cache holds an unknown state: start cold next time.
        known = self.ids
        self.ids = []
        self._after_prompt = None
        with torch_threads(threads):
            logits = forward()
        known.extend(ids)
        self.ids = known
        return logits

    def beam_rows(self, rows: int) -> BeamRows:
        """The current prompt state fanned out to ``rows`` rows, for beam search."""
        if self.cache is None:
            raise RuntimeError("beam rows fan out a prompt: prefill one first")
        # Two sizes kept, the latest used: first-word branches use one row and then the rest, every request.
        beam = self._beams.pop(rows, None)
        if beam is not None and beam.prompt is self.cache and beam.cache.batch_size == rows:
            beam.refill(self.ids)
        else:
            beam = BeamRows(self.model, self.cache, self.ids, rows, self.step_mode)
        while len(self._beams) >= KEPT_ROW_SIZES:
            del self._beams[next(iter(self._beams))]  # the least recently used size
        self._beams[rows] = beam
        return beam


class BeamRows:
    """The prompt's single-row cache fanned out to several rows, and their decode step; kept between requests."""

    def __init__(
        self, model: torch.nn.Module, prompt: ModelCache, prompt_ids: list[int], rows: int, step_mode: str = "auto"
    ) -> None:
        self.model = model
        self.prompt = prompt  # the single-row cache these rows continue
        self.cache = prompt.repeat_rows(rows)
        # Refills and reorders change the cache's tensors in place, so a recorded CUDA graph stays valid.
        self.step = GraphedDecodeStep(model, self.cache, mode=step_mode)
        self.ids = list(prompt_ids[: prompt.length])  # prompt tokens every row holds

    def forget(self) -> None:
        self.ids = []

    def read(self, tokens: torch.Tensor) -> torch.Tensor:
        """Read ``tokens`` ``[rows, time]`` after what the rows hold; returns the next logits ``[rows, vocab]``."""
        if tokens.shape[1] == 1:
            return self.step(tokens)
        with last_position_logits(self.model):
            logits, _ = self.model(tokens, self.cache)
        return logits[:, -1]

    def refill(self, prompt_ids: list[int]) -> None:
        """Make every row hold the prompt cache's row 0 again, copying only what differs from last time."""
        self.cache.crop(common_prefix_length(self.ids, prompt_ids))
        self.cache.fill_from(self.prompt)
        self.ids = list(prompt_ids[: self.prompt.length])
