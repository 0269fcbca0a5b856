"""``LanguageModel``: a loaded model with its tokenizer and device, and what users ask of it."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F

from engine.collector import collection_paused, freeze_startup_objects
from engine.decoding.results import Completion, EventStream
from engine.decoding.settings import DEFAULT_MIN_WORD_PROBABILITY, DecodingSettings
from engine.loading.checkpoint import LoadedCheckpoint, load_checkpoint
from engine.loading.devices import cpu_has_bf16, default_dtype, resolve_device
from engine.loading.families import FAMILIES
from engine.loading.gguf_file import is_gguf_file
from engine.loading.model_defaults import measured_min_word_probability
from engine.loading.registry import resolve_model_path
from engine.loading.weights_plan import refuse_if_too_big
from engine.models.base import CausalLanguageModel
from engine.models.fused_projections import fuse_model_projections
from engine.models.int8 import int8_helps, quantize_linears

MODEL_WEIGHTS_FILE = "memory_weights.json"  # in a model folder: mixture weights fitted for that model


class LanguageModel:
    def __init__(self, loaded: LoadedCheckpoint, name: str, device: torch.device, dtype: torch.dtype) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.config = loaded.config
        self.generation_config = loaded.generation_config
        self.path: Path | None = loaded.path
        self.name = name
        self.device = device
        self.dtype = dtype
        self.eos_token_id = loaded.eos_token_id
        self.start_token_id = loaded.start_token_id
        self._generator = None
        #: How the weights are stored for decoding: "int8" (engine.models.int8) or the float dtype's name.
        self.weights = str(dtype).removeprefix("torch.")
        self.stored_parameters: int | None = None  # the checkpoint's count (int8 layers hold buffers, not parameters)
        self._memory = None
        self._measured_doubt_cut: tuple[float | None] | None = None

    @property
    def max_context(self) -> int | None:
        return cast(CausalLanguageModel, self.model).max_context

    @property
    def weight_bytes(self) -> int:
        """What the weights take in memory: every parameter and buffer once (tied weights share theirs; int4 and
        int8 layers hold theirs as buffers)."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return sum({t.data_ptr(): t.numel() * t.element_size() for t in tensors}.values())

    @property
    def architecture(self) -> str:
        return FAMILIES[self.config["model_type"]].architecture

    @property
    def parameter_count(self) -> int:
        if self.stored_parameters is not None:
            return self.stored_parameters
        return sum(p.numel() for p in self.model.parameters())

    @property
    def measured_doubt_cut(self) -> float | None:
        """The doubt cut's bar measured for this model and kept with it (``engine.loading.model_defaults``: its
        folder's ``generation_config.json`` or its catalogue entry), or None where none was."""
        if self._measured_doubt_cut is None:
            self._measured_doubt_cut = (measured_min_word_probability(self.generation_config, self.path),)
        return self._measured_doubt_cut[0]

    @property
    def doubt_cut_default(self) -> float:
        """The ``min_word_probability`` decoding uses when the settings leave it to the model (None, the default):
        the bar measured for this model, else ``DEFAULT_MIN_WORD_PROBABILITY``."""
        measured = self.measured_doubt_cut
        return DEFAULT_MIN_WORD_PROBABILITY if measured is None else measured

    def __repr__(self) -> str:
        return f"LanguageModel({self.name!r}, {self.architecture}, device={self.device}, dtype={self.dtype})"

    # --- quality ------------------------------------------------------------------------------------------

    @property
    def memory(self):
        """The ``engine.memory.Memory`` decoding and ``bits_per_byte`` mix in: the document, attached folders."""
        if self._memory is None:
            from engine.memory import Memory, MixtureWeights

            # A model may ship weights fitted for it; otherwise the package's global default.
            own = self.path / MODEL_WEIGHTS_FILE if self.path is not None else None
            weights = MixtureWeights.load(own) if own is not None and own.is_file() else None
            self._memory = Memory(self.tokenizer, weights)
            if weights is not None:  # fitted for this model: learning from the document moves it less
                from engine.memory.online_weights import OWN_PRIOR_STRENGTH

                self._memory.trust_prior(OWN_PRIOR_STRENGTH)
        return self._memory

    @torch.inference_mode()
    def token_logprobs(self, token_ids: list[int], memory: bool = False) -> list[float]:
        """log p(token_i | tokens before it) for i >= 1, windowed over long inputs (half-window stride).

        ``memory``: the mixture decoding uses, with an online memory of ``token_ids[:i]`` (plus attached folders)
        for token i: it never holds the token being scored or anything after it."""
        if len(token_ids) < 2:
            return []
        picker = _Picker(token_ids, self.memory if memory else None)
        scores: list[float] = []
        for first, logprobs, states in self.scoring_passes(token_ids, states=picker.wants_states):
            scores.extend(picker.pick(logprobs, first, states))
        return scores

    @torch.inference_mode()
    def hidden_states(self, token_ids: list[int]) -> torch.Tensor:
        """Row i: the final hidden state that predicts ``token_ids[i + 1]``, read as ``token_logprobs`` reads."""
        rows = [states for _first, _logprobs, states in self.scoring_passes(token_ids, states=True)]
        return torch.cat(rows) if rows else torch.zeros(0, 0)

    def scoring_passes(self, token_ids: list[int], states: bool = False):
        """Yields (first, log-probabilities ``[rows, vocab]``, final hidden states ``[rows, width]`` or None): row
        r predicts ``token_ids[first + r]``; together the passes cover every token from the second on once."""
        tokens = torch.tensor(token_ids, device=self.device)
        from engine.models.hidden_states import FinalHiddenStates

        with FinalHiddenStates(self.model) if states else nullcontext() as hidden:
            window = self.max_context
            if window is None:  # recurrent: one pass, chunked through the cache
                yield from self._recurrent_passes(tokens, hidden)
                return
            stride = max(1, window // 2)
            scored_until = 1  # index of the next token whose log-probability is still needed
            start = 0
            while scored_until < len(token_ids):
                end = min(start + window, len(token_ids))
                logits, _ = self.model(tokens[start:end].unsqueeze(0))
                # Row r of the chunk predicts token start + 1 + r.
                rows = slice(scored_until - (start + 1), end - start - 1)
                logprobs = F.log_softmax(logits[0, rows].float(), dim=-1)
                yield scored_until, logprobs, _rows_of(hidden, rows)
                scored_until = end
                start = min(start + stride, max(0, len(token_ids) - window)) if end < len(token_ids) else end

    def _recurrent_passes(self, tokens: torch.Tensor, hidden, chunk: int = 512):
        cache = cast(CausalLanguageModel, self.model).new_cache(1, len(tokens))
        previous = None  # the last row of the previous chunk: it predicts this chunk's first token
        for start in range(0, len(tokens), chunk):
            logits, cache = self.model(tokens[start : start + chunk].unsqueeze(0), cache)
            logprobs = F.log_softmax(logits[0].float(), dim=-1)
            states = _rows_of(hidden, slice(None))
            if previous is not None:
                yield start, previous[0], previous[1]
            yield start + 1, logprobs[:-1], None if states is None else states[:-1]
            previous = (logprobs[-1:], None if states is None else states[-1:])

    def bits_per_byte(self, text: str, *, before: str = "", after: str = "", memory: bool = True) -> float:
        """Bits per UTF-8 byte of ``text``: comparable across tokenizers.

        ``before`` and ``after`` are the text around it, read but not scored; ``after`` only by models trained
        with fill-in-the-middle (others cannot read ahead). ``memory`` (the default) scores what suggestions use:
        the model mixed with the memory of the text before each token (``before`` included, and any attached
        folders); ``memory=False`` scores the model alone. A fill-in-the-middle frame holds ``after``, which the
        memory must never see, so with one the model is scored alone. With an end-of-text token every token of
        ``text`` is predicted; without one and without ``before`` the first token has no prediction and its bytes
        are left out of the count.
        """
        ids = self.tokenizer.encode(text)
        if not ids:
            raise ValueError("bits_per_byte needs a non-empty text")
        n_bytes = len(text.encode("utf-8"))
        context, framed = self._scoring_context(before, after, len(ids))
        if not context:
            n_bytes -= len(self.tokenizer.token_bytes_of(ids[:1]))
            if len(ids) < 2 or n_bytes <= 0:
                raise ValueError("text too short to measure without an end-of-text token")
        scores = self.token_logprobs(context + ids, memory=memory and not framed)
        nats = -sum(scores[max(0, len(context) - 1):])
        return nats / math.log(2) / n_bytes

    def _scoring_context(self, before: str, after: str, text_tokens: int) -> tuple[list[int], bool]:
        """The tokens read before the scored text: end-of-text, the tail of ``before`` and, for a FIM model, the
        fill-in-the-middle frame holding the start of ``after``; and whether that frame is there."""
        from engine.decoding.fim import fim_prompt, fim_suffix_ids

        start = [self.start_token_id] if self.start_token_id is not None else []
        prefix = self.tokenizer.encode(before) if before else []
        window = self.max_context
        fim_ids = self.generator.fim_ids
        if not (after.strip() and fim_ids and window):
            if window:  # earlier text beyond half a window would be read only to be windowed away
                prefix = prefix[-(window // 2):]
            return start + prefix, False
        suffix = fim_suffix_ids(self.tokenizer.encode, after, window)
        room = window - len(suffix) - len(fim_ids) - len(start) - text_tokens
        if room < 0:
            raise ValueError(f"text of {text_tokens} tokens is too long to score between before and after in this "
                             f"model's context of {window} tokens: score a shorter passage")
        return fim_prompt(start + (prefix[-room:] if room else []), suffix, fim_ids), True

    # --- decoding -----------------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Make the first, slow calls now: allocator growth, oneDNN kernel selection, the cache buffers, for the
        sampling and the beam paths. Then forget that state, so the next request starts like any other."""
        for settings in (DecodingSettings(strategy="greedy", max_new_tokens=2),
                         DecodingSettings(strategy="beam", num_beams=2, num_alternatives=2, max_new_tokens=2)):
            self.complete("The", settings)
        self.generator.forget()

    @property
    def generator(self):
        if self._generator is None:
            from engine.decoding.generator import Generator

            self._generator = Generator(self)
        return self._generator

    def complete(
        self, text: str, settings: DecodingSettings | None = None, cancelled: Callable[[], bool] | None = None,
        suffix: str = "",
    ) -> list[Completion]:
        """Continuations of ``text``, best first, without duplicates ([] when ``cancelled()`` turned true).
        ``suffix``: the text after the cursor; a continuation stops where it would repeat its start."""
        return self.generator.complete(text, settings or DecodingSettings(), cancelled, suffix=suffix)

    def stream(
        self, text: str, settings: DecodingSettings | None = None, cancelled: Callable[[], bool] | None = None,
        suffix: str = "",
    ) -> EventStream:
        """Token-by-token events. Closing the iterator cancels the generation; so does ``cancelled()`` turning
        true, which is polled between any two tokens, also inside beam search where events are sparser.
        ``suffix``: the text after the cursor; the continuation stops where it would repeat its start."""
        return self.generator.stream(text, settings or DecodingSettings(), cancelled, suffix=suffix)

    def read_ahead(self, text: str, settings: DecodingSettings | None = None, suffix: str = "") -> int:
        """Read the prompt a later ``stream(text, settings, suffix=suffix)`` would read, so that stream starts
        choosing at once; returns how many tokens were read now."""
        return self.generator.read_ahead(text, settings or DecodingSettings(), suffix)

    def next_token_candidates(
        self, text: str, continuation: str = "", k: int = 10, settings: DecodingSettings | None = None,
        next_text: str = "",
    ) -> list[tuple[str, float]]:
        """The model's ``k`` most likely next tokens after ``text + continuation``, as (text, probability), most
        likely first: the distribution decoding ``text`` under ``settings`` uses at that point (same window, token
        healing and repetition penalties; see ``engine.decoding.inspection``). ``next_text``: the suggestion's
        text from that point, so that its first word's candidates are those of the step that wrote it, not of the
        token healing step that only ended the typed word."""
        from engine.decoding.inspection import next_token_candidates

        return next_token_candidates(self.generator, text, continuation, k, settings, next_text)

    @property
    def catch_up_idle_s(self) -> float:
        """How long the engine thread waits for the writer to pause before ``catch_up_memory`` (0: at once)."""
        return self.generator.catch_up_idle_s

    def catch_up_memory(self) -> int:
        """Read the next window of the open document's hidden states into the continuous cache, if the memory
        uses one and a window's worth is missing; returns how many were read. For idle moments: after a request,
        before the next."""
        return self.generator.catch_up_states(self.memory)

    def memory_source(self, text: str, continuation: str, next_text: str, settings: DecodingSettings | None = None):
        """Where the memory got the token that starts ``next_text`` after ``text + continuation`` (file or the
        document, line, passage) and its share of that token's probability; None when the memory had no part
        (``engine.decoding.inspection.memory_source``)."""
        from engine.decoding.inspection import memory_source

        return memory_source(self.generator, text, continuation, next_text, settings)


class _Picker:
    """Picks each target's log-probability from rows of a scoring pass, through the memory mixture when there is
    one; the online document memory (n-gram counts, and the continuous cache when the weights have one) is grown
    token by token, each after its own prediction, and the mixture weights are learned from the tokens already
    scored (``OnlineWeights``), a step of ``UPDATE_EVERY`` rows at a time, as decoding's catch-up learns them."""

    def __init__(self, token_ids: list[int], memory) -> None:
        self.ids = token_ids
        self.memory = memory
        self.online = None
        self.cache = None
        self.learned = None
        if memory is not None:
            from engine.memory import HiddenStateCache, NgramCounts
            from engine.memory.online_weights import OnlineWeights

            self.online = NgramCounts(memory.max_order)
            self.learned = OnlineWeights(memory.prior, memory.prior_strength) if memory.learning else None
            if memory.prior.cache is not None:
                self.cache = HiddenStateCache()  # the cap decoding has too

    @property
    def wants_states(self) -> bool:
        return self.cache is not None

    def pick(self, rows: torch.Tensor, first: int, states: torch.Tensor | None = None) -> list[float]:
        """``rows[r]``: log-probabilities for token ``first + r``; ``states[r]``: the hidden state behind them."""
        if self.memory is None or self.learned is None:
            return self._pick(rows, first, states)
        from engine.memory.online_weights import UPDATE_EVERY

        picked: list[float] = []
        for start in range(0, len(rows), UPDATE_EVERY):
            part = slice(start, start + UPDATE_EVERY)
            picked += self._pick(rows[part], first + start, None if states is None else states[part])
        return picked

    def _pick(self, rows: torch.Tensor, first: int, states: torch.Tensor | None) -> list[float]:
        if len(rows) == 0:
            return []
        targets = self.ids[first : first + len(rows)]
        column = torch.tensor(targets, device=rows.device).unsqueeze(1)
        if self.memory is None or self.online is None:  # both or neither
            return rows.gather(1, column).squeeze(1).tolist()
        weights = self.learned.current() if self.learned is not None else self.memory.prior
        matches = []
        for position in range(first, first + len(rows)):
            self.online.append(self.ids[len(self.online) : position])
            matches.append(self.memory.longest(self.ids[max(0, position - self.memory.max_order) : position],
                                               document=self.online))
        from engine.memory import mix_logprobs

        model = rows.gather(1, column).squeeze(1)
        rows = mix_logprobs(rows, matches, weights)
        seen = None
        if self.cache is not None and states is not None and weights.cache is not None:
            rows, seen = self.cache.mix_online(rows, states, targets, weights.cache, observe=True)
        if self.learned is not None:
            # Pair i predicts token i + 1: row r (token first + r) is pair first + r - 1.
            self.learned.learn(first - 1, model.detach().exp().cpu().numpy(), matches, targets, seen)
        return rows.gather(1, column).squeeze(1).tolist()


def _rows_of(hidden, rows: slice) -> torch.Tensor | None:
    """The rows of the latest forward's final hidden states (batch row 0), or None when they are not recorded."""
    if hidden is None or hidden.latest is None:
        return None
    return hidden.latest[0, rows].float()


def load(name_or_path: str = "default", device: str | torch.device = "auto", dtype: torch.dtype | None = None,
         weights: str = "auto") -> LanguageModel:
    """Load a bundled model by name, a user model, a cached Hugging Face repo id, or a model folder.

    ``weights``: "auto" stores them as weight-only int8 where that decodes faster (``engine.models.int8``: a CPU
    with native bfloat16 and weights too big for its cache), unless ``dtype`` is given; "int8" always; "float"
    never (the checkpoint's values in ``dtype``, e.g. for parity checks).
    """
    freeze_startup_objects()
    with collection_paused():  # a model's thousands of new objects would start a pass over all the others
        return _load(name_or_path, device, dtype, weights)


def _load(name_or_path: str, device: str | torch.device, dtype: torch.dtype | None, weights: str) -> LanguageModel:
    if weights not in ("auto", "int8", "float"):
        raise ValueError(f"weights must be 'auto', 'int8' or 'float', not {weights!r}")
    target = resolve_device(device)
    path = resolve_model_path(name_or_path)
    if is_gguf_file(path):
        return _load_gguf(path, str(name_or_path), target, dtype, weights)
    refuse_if_too_big(path, str(name_or_path), target)
    loaded = load_checkpoint(path, device=target, dtype=dtype or default_dtype(target))
    parameters = sum(p.numel() for p in loaded.model.parameters())
    int8 = weights == "int8" or (weights == "auto" and dtype is None and int8_helps(
        loaded.model, loaded.config["model_type"], target, cpu_has_bf16()))
    if int8:
        if target.type != "cpu":
            raise ValueError("int8 weights are for decoding on the CPU; on a GPU load with weights='float'")
        loaded.model.to(torch.bfloat16)
        quantize_linears(loaded.model)
        fuse_model_projections(loaded.model)
    lm = LanguageModel(loaded, str(name_or_path), target, torch.bfloat16 if int8 else loaded_dtype(loaded))
    lm.weights = "int8" if int8 else str(lm.dtype).removeprefix("torch.")
    lm.stored_parameters = parameters
    return lm


def _load_gguf(path: Path, name: str, target: torch.device, dtype: torch.dtype | None,
               weights: str) -> LanguageModel:
    """A GGUF file: on the CPU its blocks stay quantized (int4 / int8, computing in bfloat16) unless ``weights`` is
    "float" or a ``dtype`` is asked for; elsewhere every weight is dequantized into the device's float type."""
    from engine.loading.gguf_checkpoint import load_gguf

    quantized = target.type == "cpu" and weights != "float" and dtype is None
    float_dtype = dtype or default_dtype(target)
    loaded = load_gguf(path, target, quantized=quantized, dtype=float_dtype, name=name)
    lm = LanguageModel(loaded.checkpoint, name, target, torch.bfloat16 if quantized else float_dtype)
    lm.weights = loaded.storage
    lm.stored_parameters = loaded.parameters
    return lm


def loaded_dtype(loaded: LoadedCheckpoint) -> torch.dtype:
    return next((p.dtype for p in loaded.model.parameters() if p.is_floating_point()), torch.float32)
