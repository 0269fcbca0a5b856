"""What decoding hands back: finished completions and the events of a stream."""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field

from engine.decoding import word_units


@dataclass(frozen=True)
class Completion:
    """One continuation, to be inserted right after the prompt text."""

    text: str
    logprob: float  # summed natural-log probability of the continuation's tokens
    token_ids: tuple[int, ...] = ()
    token_logprobs: tuple[float, ...] = ()  # per token, for confidence shading
    token_texts: tuple[str, ...] = ()  # what each token adds to ``text`` (healed prefix removed)
    finish_reason: str = "length"  # "length" | "stop" | "eos"
    seed: int | None = None

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)

    @property
    def mean_logprob(self) -> float:
        return self.logprob / max(1, len(self.token_ids))


@dataclass(frozen=True)
class StreamEvent:
    """One step of a streamed generation.

    ``text`` is the whole continuation so far. ``replaces`` is True when ``text`` does not simply extend the
    previous event's text (beam search switched to another hypothesis): the receiver must redraw, not append.
    The last event of a stream has ``done`` set and carries the final ``completions`` (best first). An event with
    ``settled`` set says its ``text`` is final, the first completion the ``done`` event will carry: what is left of
    the request only fills in the alternatives beside it (a gate may decide on it as on a finished suggestion).
    """

    text: str
    delta: str = ""
    replaces: bool = False
    token_logprob: float | None = None
    # Mean log-probability per token of ``text`` so far and how many tokens that is (None / 0 where unknown):
    # what a confidence gate needs to decide whether to show a suggestion before it has finished.
    mean_logprob: float | None = None
    tokens: int = 0
    done: bool = False
    settled: bool = False
    completions: tuple[Completion, ...] = ()
    # done event only: first_token_s, tokens_per_s, prefill_tokens, reused_tokens, generated_tokens, total_s
    stats: dict = field(default_factory=dict)


SHARE_MEANING = "how likely each alternative's first word is, as a share of the alternatives listed"


#: What ``stream`` returns: pulled one event per token; ``close()`` stops the work between two tokens.
EventStream = Generator["StreamEvent", None, None]


def first_word(text: str) -> str:
    """The first word of a continuation, lower case ("" when it has none): what tells alternatives apart."""
    span = word_units.first_word(text)
    return text[span[0] : span[1]].lower() if span else ""


def opening_logprob(completion: Completion) -> float:
    """Log-probability of the continuation up to the end of its first word: where a writer chooses between
    alternatives. The whole continuation's when per-token numbers are missing or it has no word."""
    span = word_units.first_word(completion.text)
    if span is None or len(completion.token_logprobs) != len(completion.token_texts) or not completion.token_texts:
        return completion.logprob
    total, length = 0.0, 0
    for piece, logprob in zip(completion.token_texts, completion.token_logprobs):
        total += logprob
        length += len(piece)
        if length >= span[1]:
            break
    return total


def worth_listing(completions: list[Completion]) -> list[Completion]:
    """Without alternatives that hold no word (only punctuation or blanks) or that repeat an earlier one."""
    kept, seen = [], set()
    for completion in completions:
        key = " ".join(completion.text.split())
        if word_units.first_word(completion.text) is None or key in seen:
            continue
        seen.add(key)
        kept.append(completion)
    return kept


def shares(completions: list[Completion] | tuple[Completion, ...]) -> list[float]:
    """The one probability Inkling shows for alternatives: each one's first-word probability over the sum of the
    listed ones' (computed in log space); one alternative alone has the whole share. The first word's, not the
    whole text's: a whole sentence's probability mostly says how long it is."""
    if not completions:
        return []
    openings = [opening_logprob(c) for c in completions]
    top = max(openings)
    weights = [math.exp(o - top) for o in openings]
    total = sum(weights)
    return [w / total for w in weights]


def percent(share: float) -> str:
    """A share as a person reads it: whole percent, never "0%" or "100%" for a share that is neither."""
    if share >= 1.0:
        return "100%"
    if share <= 0.0:
        return "0%"
    if share < 0.005:
        return "<1%"
    if share > 0.995:
        return ">99%"
    return f"{share * 100:.0f}%"
