"""From chosen tokens to what a stream hands out: the text of one continuation, and the events of a stream.

Both decoding strategies share ``StreamAssembler``: greedy and sampling show every token, beam search only the
changes of its best hypothesis, and both end with the same ``done`` event. ``Continuation`` is the one row of
greedy and sampling: UTF-8-safe text, the stop rule, and the finished ``Completion`` (beam search keeps its rows as
``beam.Hypothesis``).
"""

from __future__ import annotations

import time

from engine.decoding.doubt import doubt_cut
from engine.decoding.results import Completion, StreamEvent
from engine.decoding.stopping import StopRule
from engine.decoding.text_stream import TextStream, truncate_pieces
from engine.decoding.word_limit import last_whole_word_end


class Continuation:
    """The tokens chosen so far after the prompt, and the text they make."""

    def __init__(self, token_bytes: list[bytes], healed_prefix: bytes, stop: StopRule,
                 min_word_probability: float = 0.0) -> None:
        self.token_bytes = token_bytes
        self.stop = stop
        self.min_word_probability = min_word_probability
        self.ids: list[int] = []
        self.logprobs: list[float] = []
        self.pieces: list[str] = []  # what each token adds to the text
        self.finish = "length"
        self._stream = TextStream(skip=healed_prefix)
        self._cut: int | None = None  # where the stop rule cut the text

    @property
    def text(self) -> str:
        """The text so far, cut where the stop rule ended it."""
        text = self._stream.text
        return text if self._cut is None else text[: self._cut]

    @property
    def mean_logprob(self) -> float:
        """Over every token chosen, those after a stop cut included."""
        return sum(self.logprobs) / len(self.logprobs)

    def end_of_text(self) -> None:
        self.finish = "eos"

    def add(self, token: int, logprob: float) -> bool:
        """Append one token; True when the stop rule ends the continuation with it."""
        self.pieces.append(self._stream.push(self.token_bytes[token]))
        self.ids.append(token)
        self.logprobs.append(logprob)
        cuts = []
        if self.stop.active and (cut := self.stop.cut(self._stream.text)) is not None:
            cuts.append(cut)
        # A unit's probability only falls as its tokens come, so a cut made here never has to be taken back.
        if (keep := doubt_cut(self.pieces, self.logprobs, self.min_word_probability)) is not None:
            cuts.append(len("".join(self.pieces[:keep])))
        if cuts:
            self.finish, self._cut = "stop", min(cuts)
            return True
        return False

    def end_at_last_whole_word(self) -> None:
        """At the token limit inside a word that did not end in time: keep the text up to the last whole word."""
        cut = last_whole_word_end(self.text)
        if cut is not None:
            self._cut = cut

    def _kept(self) -> list[str]:
        return self.pieces if self._cut is None else truncate_pieces(self.pieces, self._cut)

    @property
    def steps(self) -> int:
        """Tokens kept in the completion, plus the end-of-text token that ended it."""
        return len(self._kept()) + (1 if self.finish == "eos" else 0)

    def completion(self, seed: int | None) -> Completion:
        pieces = self._kept()
        logprobs = self.logprobs[: len(pieces)]
        return Completion(
            text="".join(pieces),
            logprob=float(sum(logprobs)),
            token_ids=tuple(self.ids[: len(pieces)]),
            token_logprobs=tuple(logprobs),
            token_texts=tuple(pieces),
            finish_reason=self.finish,
            seed=seed,
        )


class StreamAssembler:
    """Turns the text of the best continuation so far into events, each relative to what was already shown."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first_token_at: float | None = None
        self.streamed = ""  # the text of the last event

    def chose_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def grows(self, text: str) -> bool:
        """Whether ``text`` shows more than the last event (a stop cut may end the text before it)."""
        return len(text) > len(self.streamed)

    def update(
        self, text: str, mean_logprob: float | None, tokens: int, token_logprob: float | None = None,
        settled: bool = False,
    ) -> StreamEvent:
        """The event showing ``text``: an extension of the last one, or a redraw when it is not; ``settled``: the
        text is final (see ``StreamEvent``)."""
        if text.startswith(self.streamed):
            event = StreamEvent(text=text, delta=text[len(self.streamed):], token_logprob=token_logprob,
                                mean_logprob=mean_logprob, tokens=tokens, settled=settled)
        else:
            event = StreamEvent(text=text, delta=text, replaces=True, mean_logprob=mean_logprob, tokens=tokens,
                                settled=settled)
        self.streamed = text
        return event

    def final(self, completions: list[Completion], steps: int, read: int, reused: int) -> StreamEvent:
        """The ``done`` event: the completions, best first, and the timing stats."""
        text = completions[0].text if completions else ""
        extends = text.startswith(self.streamed)
        return StreamEvent(
            text=text,
            delta=text[len(self.streamed):] if extends else text,
            replaces=not extends,
            done=True,
            completions=tuple(completions),
            stats=self._stats(steps, read, reused),
        )

    def _stats(self, steps: int, read: int, reused: int) -> dict:
        ended = time.perf_counter()
        first = self.first_token_at
        decode_s = ended - first if first is not None else 0.0
        return {
            "first_token_s": None if first is None else first - self.started,
            # Speed of the token-by-token phase (the prompt's prefill is in first_token_s).
            "tokens_per_s": (steps - 1) / decode_s if steps > 1 and decode_s > 0 else None,
            "prefill_tokens": read,
            "reused_tokens": reused,
            "generated_tokens": steps,
            "total_s": ended - self.started,
        }
