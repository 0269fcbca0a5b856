"""``Generator``: turns the text before the cursor into streamed and finished completions.

The loop follows gpt-fast: the prompt is read once into a preallocated cache (``prefill``), then one token at a
time is chosen and fed back (``decode one token``), all under ``torch.inference_mode``. Around that loop:

- ``context_window``: only the tail of a long document is tokenized, in a window that moves in large steps;
- ``prefix_cache``: the state of the previous request is reused for the longest common token prefix;
- ``healing``: a prompt ending inside a token is backed off one token and the first new token constrained;
- ``engine.decoding.fim``: a model trained with fill-in-the-middle reads the text after the cursor too;
- ``processors``: penalties and sampling warpers; ``beam``: beam search bookkeeping;
- ``stopping``: the word/sentence/line stop rules; ``text_stream``: UTF-8-safe incremental text;
- ``stream_assembly``: the chosen tokens of greedy and sampling as text, and the events both strategies stream.

Each strategy is a next-token step (``_next_token``; beam search's ``BeamSearch.step``) inside one loop that
checks, between two tokens, the condition ``_stopped`` builds: the caller's cancel (the worker passes its request's
cancel event) or a newer request of this generator, which now owns the prompt cache (docs/ARCHITECTURE.md, "Stale
suggestions", says what the other layers drop).

Streams are Python generators: the consumer pulls one event per token (beam search: one per change of the best
hypothesis), and closing the generator, or ``cancelled()`` turning true, stops the work between two tokens. A
stream that stops that way ends without a ``done`` event.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.decoding.beam import BeamSearch, is_identity
from engine.decoding.cuda_graphs import cuda_graphs_enabled
from engine.decoding.doubt import without_doubtful_tails
from engine.decoding.fim import fim_prompt, fim_suffix_ids, model_fim_ids
from engine.decoding.first_words import FirstWordBranches, branch_rows
from engine.decoding.guards import DecodingGuards
from engine.decoding.healing import HealedPrompt, TokenPrefixIndex, heal
from engine.decoding.loops import with_loop_cut
from engine.decoding.prefix_cache import PromptCache
from engine.decoding.processors import SeenTokens, restrict_to, sampling_scores
from engine.decoding.results import Completion, EventStream
from engine.decoding.settings import MAX_BEAMS, DecodingSettings
from engine.decoding.stopping import StopRule, ends_inside_word
from engine.decoding.stream_assembly import Continuation, StreamAssembler
from engine.decoding.suffix_join import joined_stop
from engine.decoding.threads import StepThreads, torch_threads
from engine.decoding.token_window import (
    MAX_PROMPT_TOKENS,
    IncrementalEncoder,
    context_window,
    prompt_token_cap,
    token_budget,
)
from engine.decoding.word_ends import WordEnds
from engine.decoding.word_limit import WORD_RUN_ON_TOKENS, continues_word, stops_inside_word
from engine.models.hidden_states import FinalHiddenStates

CATCH_UP_WINDOW = 512  # tokens the memory's catch-up reads at once (see ``catch_up_states``)
LARGE_MODEL_CATCH_UP_IDLE_S = 1.0  # see ``Generator.catch_up_idle_s``

Cancelled = Callable[[], bool]


@dataclass(frozen=True)
class Prompt:
    """What the model reads and how the continuation is constrained."""

    tokens: list[int]
    healed_prefix: bytes  # typed bytes the first new token must start with; never part of the returned text
    allowed_first: torch.Tensor | None  # ids the first new token may be (None: any)
    ends_inside_word: bool
    max_new_tokens: int  # the setting, reduced where the model's context would overflow
    step_threads: int | None  # CPU threads for token-by-token work (see ``threads``)
    suffix: str = ""  # the text after the cursor: the continuation stops where it would repeat it
    run_on: int = 0  # tokens past ``max_new_tokens`` that may finish a word (``word_limit``), as the context allows
    before: str = ""  # the last characters of the text: the word a continuation may finish (``word_units``)
    # The token that ends the typed word as it stands, and the log-odds it gets at the first step (see
    # ``DecodingSettings.finished_word_odds``); None / 0 where the text does not end inside a word.
    typed_word_token: int | None = None
    finished_word_boost: float = 0.0

    @property
    def room(self) -> int:
        """The most tokens a continuation may take, run-on included: what the caches make room for."""
        return self.max_new_tokens + self.run_on


class Generator:
    """Decoding for one ``LanguageModel``; keeps the model state of the last request for the next one."""

    def __init__(self, lm, step_mode: str = "auto") -> None:
        """``step_mode`` picks how decoding steps run (``engine.decoding.cuda_graphs.GraphedDecodeStep``): "auto" replays
        CUDA graphs where the device and model allow; "static" and "eager" force a path (tests, benchmarks)."""
        self.lm = lm
        self.model = lm.model
        self.tokenizer = lm.tokenizer
        self.device = lm.device
        self.eos_token_id = lm.eos_token_id
        self.start_token_id = lm.start_token_id
        self.prompt_cap = prompt_token_cap(lm.parameter_count, lm.device.type)
        self.vocab_size = self.model.vocab_size
        table = list(self.tokenizer.token_bytes[: self.vocab_size])
        self.token_bytes: list[bytes] = table + [b""] * (self.vocab_size - len(table))
        self.special_ids = self.tokenizer.special_ids
        self.prefix_index = TokenPrefixIndex(self.token_bytes, self.special_ids)
        self.guards = DecodingGuards(self.token_bytes, self.device)  # DRY and the never-suggest list
        self.word_ends = WordEnds(self.token_bytes, self.device)
        self.prompt_cache = PromptCache(self.model, self.device, step_mode)
        self.encoder = IncrementalEncoder(self.tokenizer)
        self.fim_ids = model_fim_ids(self.tokenizer, self.model)
        self.control_ids = torch.tensor(self.fim_ids or [], dtype=torch.long, device=self.device)
        self._current: object | None = None  # the newest stream; an older one stops instead of using the cache
        #: CPU threads for token-by-token work; None lets ``thread_choice`` choose by the step times it measures.
        self.step_threads: int | None = None
        self.thread_choice = StepThreads(self.device)
        #: How the latest request's prompt was read: {"prefill_tokens": read now, "reused_tokens": from the cache}.
        self.last_prefill: dict[str, int] = {}
        # The final hidden states of each forward, for the continuous cache; recorded once a memory uses one.
        # A CUDA-graph replay runs no hooks, so there the cache is left out rather than fed stale states.
        self._hidden: FinalHiddenStates | None = None
        self._can_record_states = not cuda_graphs_enabled(self.device) or step_mode in ("static", "eager")

    # --- public API ----------------------------------------------------------------------------------------

    def complete(
        self, text: str, settings: DecodingSettings | None = None, cancelled: Cancelled | None = None,
        suffix: str = "",
    ) -> list[Completion]:
        """Continuations of ``text``, best first, without duplicate texts ([] when cancelled)."""
        final = None
        for event in self.stream(text, settings, cancelled, suffix=suffix):
            final = event
        if final is not None and final.done:
            self.catch_up_states(self.lm.memory if (settings is None or settings.memory) else None)
        return list(final.completions) if final is not None and final.done else []

    def stream(
        self, text: str, settings: DecodingSettings | None = None, cancelled: Cancelled | None = None,
        suffix: str = "",
    ) -> EventStream:
        """Events of one generation; the last has ``done`` set and carries the completions and timing stats.

        ``cancelled`` is polled between tokens (as is closing the iterator); a cancelled stream just ends.
        Starting a new stream makes every older one of this generator end at its next token. ``suffix`` is the
        text after the cursor (mid-document): the continuation stops where it would repeat its start.
        """
        # A bar left to the model (None, the default) becomes the one measured for it.
        settings = self._checked(text, settings).for_model(self.lm.doubt_cut_default)
        if not isinstance(suffix, str):
            raise TypeError(f"suffix must be a str, not {type(suffix).__name__}")
        started = time.perf_counter()
        prompt = self.prepare(text, settings, suffix)
        memory = self.memory_for(text, settings)
        if settings.strategy == "beam":
            return self._beam(prompt, settings, cancelled, started, memory)
        return self._single(prompt, settings, cancelled, started, memory)

    def forget(self) -> None:
        """Drop the cached model state: the next request starts cold (benchmarks, tests)."""
        self.prompt_cache.forget()

    @torch.inference_mode()
    def read_ahead(self, text: str, settings: DecodingSettings | None = None, suffix: str = "") -> int:
        """Read the prompt a request for ``text`` would read, so that request, if it comes, starts choosing at once
        (the editor reads ahead at each word the writer ends, before the pause that asks); returns the tokens read.
        Like a new request, it makes every older stream end."""
        settings = self._checked(text, settings).for_model(self.lm.doubt_cut_default)
        prompt = self.prepare(text, settings, suffix, self._settled_threads())
        self._current = object()
        _logits, _reused, read = self.prompt_cache.prefill(prompt.tokens, prompt.room, prompt.step_threads)
        return read

    @torch.inference_mode()
    def logits_after(self, tokens: list[int]) -> torch.Tensor:
        """The next-token logits ``[1, vocab]`` after ``tokens``, read through the prefix cache (so what the last
        request read is not read again); like a new request, it makes every older stream end."""
        self._current = object()
        logits, _reused, _read = self.prompt_cache.prefill(tokens, 1, self._settled_threads())
        return logits

    def _settled_threads(self) -> int | None:
        """The step thread count for work that is not a suggestion (it takes no turn of ``thread_choice``'s
        trials, whose times only suggestions record)."""
        return self.step_threads if self.step_threads is not None else self.thread_choice.best

    # --- the memory -------------------------------------------------------------------------------------------

    def memory_for(self, text: str, settings: DecodingSettings):
        """The memory to mix in while continuing ``text`` (brought up to date with it), or None when off."""
        if not settings.memory:
            return None
        memory = self.lm.memory
        memory.see_document(text)
        if memory.weights.cache is not None and self._hidden is None and self._can_record_states:
            self._hidden = self.prompt_cache.states = FinalHiddenStates(self.model)
        return memory

    def with_memory(self, scores: torch.Tensor, memory, contexts: list[list[int]]) -> torch.Tensor:
        """The one place where the memory enters decoding: the (penalised, restricted) scores of rows whose
        tokens so far are ``contexts``, read by the latest forward, with each row the memory has something to
        say about replaced by the mixture's log-probabilities (valid scores: their softmax is the mixture). Rows
        without a match, and everything when ``memory`` is None, are returned untouched, so the model alone
        decodes bit for bit as it would without a memory. Greedy, sampling, beam search, the hover candidates and
        every reported log-probability read what this returns."""
        if memory is None:
            return scores
        return memory.mix_scores(scores, contexts, self.latest_states(scores.shape[0]))

    def latest_states(self, rows: int) -> torch.Tensor | None:
        """The final hidden states behind the latest forward's last position ``[rows, width]``, if recorded."""
        latest = None if self._hidden is None else self._hidden.latest
        if latest is None or latest.shape[0] != rows:
            return None
        return latest[:, -1]

    @property
    def catch_up_idle_s(self) -> float:
        """A model that reads a short prompt for its size (a large model on a CPU) takes a few hundred
        milliseconds a catch-up read whatever its length (every weight is unpacked for a read of many tokens, and
        every position's logits are computed): it waits for a pause of this long first. SmolLM2 in the app:
        pause -> ghost p90 0.9 s when the read followed each suggestion at once."""
        return LARGE_MODEL_CATCH_UP_IDLE_S if self.prompt_cap < MAX_PROMPT_TOKENS else 0.0

    def catch_up_states(self, memory) -> int:
        """Read the document's pairs the memory still misses (one window at most): the continuous cache's states
        and the model's probabilities its weights are learned from; returns how many. Run after a request's
        last event (``complete`` does, the engine worker does when no request waits), so the reading never
        delays a suggestion."""
        if memory is None:
            return 0
        # At most CATCH_UP_WINDOW tokens a read, whatever the model's context: a long read would hold up the
        # next request behind it (SmolLM2's 8,192 tokens take many seconds on a CPU). A model that reads a short
        # prompt for its size (prompt_token_cap) reads a quarter of it: SmolLM2's 512-token read, every
        # position's logits over 49,152 tokens, held a request up to a second (GUI pause p90 1.1 s).
        window = min(self.model.max_context or CATCH_UP_WINDOW, CATCH_UP_WINDOW, self.prompt_cap // 4)
        return memory.update_states(self._read_document, window)

    @torch.inference_mode()
    def _read_document(self, tokens: list[int]) -> tuple[torch.Tensor | None, torch.Tensor]:
        logits, _ = self.model(torch.tensor([tokens], dtype=torch.long, device=self.device))
        states = None if self._hidden is None or self._hidden.latest is None else self._hidden.latest[0].float()
        return states, torch.log_softmax(logits[0].float(), dim=-1)

    # --- preparing the prompt ------------------------------------------------------------------------------

    @staticmethod
    def _checked(text: str, settings: DecodingSettings | None) -> DecodingSettings:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        if settings is None:
            return DecodingSettings()
        if not isinstance(settings, DecodingSettings):
            raise TypeError(f"settings must be DecodingSettings, not {type(settings).__name__}")
        return settings

    def prepare(self, text: str, settings: DecodingSettings, suffix: str = "", threads: int | None = None) -> Prompt:
        """The tokens the model reads for ``text`` under ``settings`` (windowed, healed); ``threads``: the step
        thread count, where not the generator's own or ``thread_choice``'s for a new request."""
        max_context = self.model.max_context
        budget = token_budget(max_context, settings.max_new_tokens, self.prompt_cap)
        suffix_ids = self.fim_suffix_tokens(suffix, budget) if settings.special_tokens else []
        if suffix_ids:
            budget -= len(suffix_ids) + len(self.fim_ids or ())
        start = self.start_token_id if settings.special_tokens else None
        window = context_window(text, self.tokenizer, budget, start, self.encoder.encode)
        if not window.tokens:
            reason = ("this model has no end-of-text token to start from" if settings.special_tokens
                      else "with special_tokens off no token is put before it")
            raise ValueError(f"cannot complete an empty text: {reason}")
        if settings.token_healing:
            healed = heal(window.tokens, text, self.token_bytes, self.prefix_index, self.special_ids, self.device)
        else:
            healed = HealedPrompt(window.tokens, b"", None)
        tokens = fim_prompt(healed.tokens, suffix_ids, self.fim_ids) if suffix_ids and self.fim_ids else healed.tokens
        max_new, run_on = settings.max_new_tokens, WORD_RUN_ON_TOKENS if settings.whole_words else 0
        if max_context is not None:
            max_new = max(1, min(max_new, max_context - len(tokens)))
            run_on = max(0, min(run_on, max_context - len(tokens) - max_new))
        if threads is None:
            threads = self.step_threads if self.step_threads is not None else self.thread_choice.choose()
        inside_word = ends_inside_word(text)
        typed_word = (self.prefix_index.id_of(healed.prefix) if inside_word and healed.prefix
                      and settings.finished_word_odds > 1 else None)
        return Prompt(tokens, healed.prefix, healed.allowed, inside_word, max_new, threads, suffix, run_on,
                      text[-2:], typed_word, math.log(settings.finished_word_odds) if typed_word is not None else 0.0)

    def fim_suffix_tokens(self, suffix: str, budget: int) -> list[int]:
        """The start of the text after the cursor as a fill-in-the-middle model reads it; [] for models without
        FIM tokens and where nothing but whitespace follows (then the prompt is the plain left context)."""
        if self.fim_ids is None or not suffix.strip():
            return []
        return fim_suffix_ids(self.tokenizer.encode, suffix, budget)

    def _read_prompt(
        self, prompt: Prompt, settings: DecodingSettings
    ) -> tuple[torch.Tensor, SeenTokens, int, int]:
        """Prefill the prompt through the prefix cache (recorded in ``last_prefill``) and start the penalties'
        record of seen tokens: the first-step logits, that record, and the tokens read now and reused."""
        logits, reused, read = self.prompt_cache.prefill(prompt.tokens, prompt.room, prompt.step_threads)
        self.last_prefill = {"prefill_tokens": read, "reused_tokens": reused}
        return logits, self._seen_tokens(prompt, settings), read, reused

    def _seen_tokens(self, prompt: Prompt, settings: DecodingSettings) -> SeenTokens:
        """A new record of the tokens the penalties see, holding the prompt."""
        return SeenTokens(prompt.tokens, self.vocab_size, prompt.room, self.device,
                          settings.repetition_penalty, settings.no_repeat_ngram_size,
                          self.guards.dry(settings), self.guards.banned(settings, prompt.tokens),
                          self.masked_ids(settings))

    def masked_ids(self, settings: DecodingSettings) -> torch.Tensor | None:
        """The tokens decoding never chooses under ``settings``: the prompt-structuring markers, unless the
        special tokens are off (then any token may come, as in ``transformers``)."""
        return self.control_ids if settings.special_tokens else None

    def _stop_rule(self, settings: DecodingSettings, prompt: Prompt) -> StopRule:
        rule = StopRule(settings.stop, prompt.ends_inside_word, prompt.before)
        return with_loop_cut(joined_stop(rule, prompt.suffix), settings)

    def _stopped(self, cancelled: Cancelled | None) -> Cancelled:
        """The check made between two tokens: the caller cancelled (the worker's request cancel event), or a
        newer request of this generator took over the prompt cache this stream would go on reading."""
        me = self._current = object()
        return lambda: self._current is not me or (cancelled is not None and cancelled())

    def _scores(
        self, logits: torch.Tensor, seen: SeenTokens, prompt: Prompt, memory, contexts: list, first: bool
    ) -> torch.Tensor:
        """Next-token scores of rows continuing the prompt with ``contexts`` (the tokens after it, per row):
        penalised, the first step restricted to what token healing allows, mixed with the memory."""
        scores = seen.apply(logits.float())
        if first and prompt.allowed_first is not None:
            scores = restrict_to(scores, prompt.allowed_first)
        if memory is not None:
            head = prompt.tokens[-64:]
            scores = self.with_memory(scores, memory, [head + list(tokens) for tokens in contexts])
        if prompt.typed_word_token is not None:
            scores = self._favour_finished_word(scores, prompt, contexts, first)
        return scores

    def _favour_finished_word(self, scores: torch.Tensor, prompt: Prompt, contexts: list, first: bool) -> torch.Tensor:
        """Rows that have added nothing to the typed word yet get ``finished_word_boost`` for ending it: at the
        first step the token of the word as typed, after it every token that ends a word. A longer word ("to" ->
        "today", in one token or as "to" + "day") is then taken only when it is that much likelier."""
        typed = prompt.typed_word_token
        if not first and len(contexts) == scores.shape[0] and not any(
                not tokens or (len(tokens) == 1 and tokens[0] == typed) for tokens in contexts):
            return scores  # every row has gone on past the typed word: the usual case after a step or two
        boost = torch.zeros_like(scores)
        for row in range(scores.shape[0]):
            tokens = contexts[row] if row < len(contexts) else []
            if first or not tokens:
                boost[row, typed] = prompt.finished_word_boost
            elif len(tokens) == 1 and tokens[0] == typed:
                boost[row] = self.word_ends.ends * prompt.finished_word_boost
        return scores + boost

    # --- greedy and sampling -------------------------------------------------------------------------------

    @torch.inference_mode()
    def _single(
        self, prompt: Prompt, settings: DecodingSettings, cancelled: Cancelled | None, started: float, memory=None
    ) -> EventStream:
        stopped = self._stopped(cancelled)
        logits, seen, read, reused = self._read_prompt(prompt, settings)
        seed, rng = self._random(settings)
        row = Continuation(self.token_bytes, prompt.healed_prefix, self._stop_rule(settings, prompt),
                           settings.doubt_cut)
        events = StreamAssembler(started)
        choice = None
        limit = prompt.max_new_tokens
        for step in range(prompt.room):
            if step and stopped():
                return
            choice, token, logprob = self._next_token(choice, logits, seen, prompt, row.ids, settings, rng, memory)
            events.chose_first_token()
            if token == self.eos_token_id:
                row.end_of_text()
                break
            if step >= limit and not continues_word(self.token_bytes[token], row.text):
                break  # past the limit the word has ended: the token that starts what follows is not kept
            ended = row.add(token, logprob)
            if not ended or events.grows(row.text):
                yield events.update(row.text, row.mean_logprob, len(row.logprobs), token_logprob=logprob)
            if ended or (step + 1 >= limit and not stops_inside_word(row.text)):
                break
        else:
            if settings.whole_words:  # the run-on (if there was room for one) ended inside a word too
                row.end_at_last_whole_word()
        yield events.final([row.completion(seed)], row.steps, read, reused)

    def _random(self, settings: DecodingSettings) -> tuple[int | None, torch.Generator | None]:
        """The seed and random generator of a sampling request (None, None for greedy)."""
        if settings.strategy != "sample":
            return None, None
        seed = settings.seed if settings.seed is not None else secrets.randbits(63)
        return seed, torch.Generator(device=self.device).manual_seed(seed)

    def _next_token(
        self, previous: torch.Tensor | None, logits: torch.Tensor, seen: SeenTokens, prompt: Prompt, ids: list[int],
        settings: DecodingSettings, rng: torch.Generator | None, memory,
    ) -> tuple[torch.Tensor, int, float]:
        """One step of greedy or sampling: read the ``previous`` choice (None at the first step, which chooses from
        the prompt's ``logits``), then choose the next token; returns it as ``_choose`` does."""
        with torch_threads(prompt.step_threads):
            if previous is not None:
                seen.append(previous[:, 0])
                started = time.perf_counter()
                logits = self.prompt_cache.feed(previous, ids[-1])
                self.thread_choice.record(prompt.step_threads, 1, time.perf_counter() - started)
            scores = self._scores(logits, seen, prompt, memory, [ids], first=previous is None)
            inside_word = bool(ids) and self.word_ends.inside[ids[-1]]
            return self._choose(scores, settings, rng, inside_word)

    def _choose(
        self, scores: torch.Tensor, settings: DecodingSettings, rng: torch.Generator | None,
        inside_word: bool = False,
    ) -> tuple[torch.Tensor, int, float]:
        """The next token ``[1, 1]`` (as a tensor, an int) and its log-probability under ``scores``;
        ``inside_word``: the continuation so far ends inside a word (greedy may end it, see ``word_ends``)."""
        logprobs = torch.log_softmax(scores, dim=-1)
        if rng is not None and settings.temperature > 0:
            warped = sampling_scores(scores, settings.temperature, settings.top_k, settings.top_p, settings.min_p)
            choice = torch.multinomial(warped.softmax(dim=-1), 1, generator=rng)
        else:
            choice = scores.argmax(dim=-1, keepdim=True)
            if inside_word and settings.greedy_word_ends:
                choice = self.word_ends.choose(scores, choice)
        picked = logprobs.gather(-1, choice)
        # One transfer for both numbers (float64 holds any token id exactly).
        token, logprob = torch.cat((choice.double(), picked.double()), dim=-1)[0].tolist()
        return choice, int(token), logprob

    # --- beam search ---------------------------------------------------------------------------------------

    @torch.inference_mode()
    def _beam(
        self, prompt: Prompt, settings: DecodingSettings, cancelled: Cancelled | None, started: float, memory=None
    ) -> EventStream:
        stopped = self._stopped(cancelled)
        logits, seen, read, reused = self._read_prompt(prompt, settings)
        search = self._search(prompt, settings)
        events = StreamAssembler(started)
        with torch_threads(prompt.step_threads):
            scores = self._scores(logits, seen, prompt, memory, search.row_tokens(), first=True)
            step = search.step(torch.log_softmax(scores, dim=-1))
        events.chose_first_token()
        rows = None
        settled = False
        while step is not None:
            best, mean_logprob, length = search.best()
            if not settled and search.streamed_final():
                # The shown branch has ended while others run on: say so now, not when the last one ends.
                settled = True
                yield events.update(best, mean_logprob, length, settled=True)
            elif best != events.streamed:
                yield events.update(best, mean_logprob, length)
            if stopped():
                return
            with torch_threads(prompt.step_threads):
                if search.restart is not None:  # the streamed branch has ended: the others from the prompt on
                    rows, logits, seen = self._restart_rows(search.restart, prompt, settings)
                else:
                    rows, logits = self._advance_beams(rows, step, seen, prompt.step_threads)
                scores = self._scores(logits, seen, prompt, memory, search.row_tokens(), first=False)
                step = search.step(torch.log_softmax(scores, dim=-1))
        # Beams compete on whole hypotheses, so their doubtful tails are cut once the search is over.
        results = without_doubtful_tails(search.results(), settings.doubt_cut)
        yield events.final(results, search.steps, read, reused)

    def _search(self, prompt: Prompt, settings: DecodingSettings) -> BeamSearch | FirstWordBranches:
        stop = self._stop_rule(settings, prompt)
        if settings.branch_first_word:
            rows = branch_rows(settings.num_beams, settings.num_alternatives, MAX_BEAMS)
            return FirstWordBranches(rows, settings.num_alternatives, prompt.max_new_tokens, self.token_bytes,
                                     self.eos_token_id, prompt.healed_prefix, stop, self.device, prompt.run_on,
                                     settings.doubt_cut, self.word_ends if prompt.ends_inside_word else None)
        return BeamSearch(
            whole_words=settings.whole_words,
            num_beams=settings.num_beams,
            num_alternatives=settings.num_alternatives,
            length_penalty=settings.length_penalty,
            max_new_tokens=prompt.max_new_tokens,
            token_bytes=self.token_bytes,
            eos_token_id=self.eos_token_id,
            healed_prefix=prompt.healed_prefix,
            stop=stop,
            device=self.device,
        )

    def _restart_rows(self, continuations: list[tuple[int, ...]], prompt: Prompt, settings: DecodingSettings):
        """Rows that each continue the prompt with their own tokens (all as many), read in one batched forward
        from the prompt's cache; returns the rows, the next logits ``[rows, vocab]`` and their seen tokens."""
        seen = self._seen_tokens(prompt, settings)
        seen.fan_out(len(continuations))
        chunk = torch.tensor(continuations, dtype=torch.long, device=self.device)
        for column in chunk.t():
            seen.append(column)
        rows = self.prompt_cache.beam_rows(len(continuations))
        return rows, rows.read(chunk), seen

    def _advance_beams(self, rows, step: tuple[list[int], list[int]], seen: SeenTokens, threads: int | None):
        """Reshuffle the beam rows to the chosen parents and read each beam's new token, in one batched
        forward; returns the rows and the next logits ``[beams, vocab]``."""
        parents, tokens = step
        if rows is None:  # first step: every beam continues the single prompt row
            rows = self.prompt_cache.beam_rows(len(tokens))
            seen.fan_out(len(tokens))
        elif not is_identity(parents):
            order = torch.tensor(parents, dtype=torch.long, device=self.device)
            rows.cache.reorder(order)
            seen.reorder(order)
        chosen = torch.tensor(tokens, dtype=torch.long, device=self.device)
        seen.append(chosen)
        started = time.perf_counter()
        logits = rows.step(chosen.unsqueeze(1))
        self.thread_choice.record(threads, len(tokens), time.perf_counter() - started)
        return rows, logits
