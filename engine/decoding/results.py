"""What decoding hands back: finished completions and the events of a stream."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


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
    The last event of a stream has ``done`` set and carries the final ``completions`` (best first).
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
    completions: tuple[Completion, ...] = ()
    # done event only: first_token_s, tokens_per_s, prefill_tokens, reused_tokens, generated_tokens, total_s
    stats: dict = field(default_factory=dict)


SHARE_MEANING = "each alternative's share of the probability of the alternatives listed"


def shares(completions: list[Completion] | tuple[Completion, ...]) -> list[float]:
    """What the model's probabilities say about choosing among exactly these continuations: each one's sequence
    probability over their sum. Computed in log space, so long continuations with tiny probabilities still divide
    well; one continuation alone has the whole share."""
    if not completions:
        return []
    top = max(c.logprob for c in completions)
    weights = [math.exp(c.logprob - top) for c in completions]
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
