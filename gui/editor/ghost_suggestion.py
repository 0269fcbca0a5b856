"""The state of one suggestion, with no Qt: what was streamed, the alternatives, what the user already took.

A suggestion continues the text at ``anchor``. As the user types characters that match it (or accepts a word),
they move into ``consumed``; what is still shown is the chosen candidate minus that prefix. Candidates that no
longer agree with what was typed drop out.

A branch (the user picked another next token) starts with a ``lead``: text that is shown, and accepted, before
whatever the engine streams after it, yet is not in the document until accepted. ``hold_back`` keeps the tail of
a streaming continuation off the screen while it may still turn out to repeat the text after the cursor.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.decoding.results import Completion, StreamEvent, opening_logprob, worth_listing
from engine.decoding.word_units import next_unit_length

# Control characters (other than tab and newline) and U+FFFD (undecodable bytes) are never worth inserting.
_UNWANTED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd]")


def clean(text: str) -> str:
    """What of a model's text may be shown and inserted; removing characters one by one keeps the pieces of a
    continuation adding up to the cleaned whole."""
    return _UNWANTED.sub("", text)


@dataclass(frozen=True)
class GhostSegment:
    """A piece of the continuation and the log-probability of the token that produced it (None: unknown)."""

    text: str
    logprob: float | None = None

    @property
    def probability(self) -> float | None:
        return None if self.logprob is None else math.exp(self.logprob)


@dataclass(frozen=True)
class Candidate:
    """One continuation the user can take: its full text from the anchor, and its pieces for shading."""

    text: str
    segments: tuple[GhostSegment, ...]
    logprob: float | None = None  # of the whole continuation, when the stream has finished
    opening: float | None = None  # log-probability up to its first word (``results.opening_logprob``)


def next_word_length(text: str) -> int:
    """How much of ``text`` Ctrl+Right takes: leading spaces plus the next word with its punctuation
    ("kindness," in one step, not "kindness" then ","; in Chinese one character: "我" of "我们明天见。"). The same
    unit the keystroke-savings evaluation simulates (``engine.decoding.word_units``)."""
    return next_unit_length(text)


class GhostSuggestion:
    def __init__(self, request_id: int, anchor: int, lead: str = "",
                 lead_segments: tuple[GhostSegment, ...] = (),
                 hold_back: Callable[[str], int] | None = None) -> None:
        self.request_id = request_id
        self.anchor = anchor  # document position the continuation starts at
        self.lead = clean(lead)  # shown (and accepted) before the generated text: a branch's chosen start
        if "".join(s.text for s in lead_segments) != self.lead:
            lead_segments = (GhostSegment(self.lead, None),) if self.lead else ()
        self.lead_segments = tuple(lead_segments)
        self.hold_back = hold_back  # streamed text -> how much of it may be shown yet
        self.origin: object = None  # what produced it (model, settings, seed), for whoever records that
        self.consumed = ""  # continuation text already in the document
        self.finished = False
        self._streamed: list[GhostSegment] = []
        self._streamed_text = ""
        self._alternatives: list[Candidate] = []
        self._chosen_text: str | None = None  # the candidate the user cycled to, by text

    # --- feeding it ------------------------------------------------------------------------------------

    def apply_stream(self, event: StreamEvent) -> None:
        text = clean(event.text)
        if not event.replaces and text.startswith(self._streamed_text):
            added = text[len(self._streamed_text):]
            if added:
                self._streamed.append(GhostSegment(added, event.token_logprob))
        else:  # beam search switched hypothesis: the per-token breakdown of the new text is not known yet
            self._streamed = [GhostSegment(text, None)] if text else []
        self._streamed_text = text

    def apply_completions(self, completions: tuple[Completion, ...] | list[Completion]) -> None:
        """Take the finished alternatives: those worth listing (not punctuation or blanks only, no repeats),
        ordered by the probability the panel shows (their first word's), the likeliest first. The one shown stays
        the one that was streamed (``_keeping_what_was_shown``), wherever the panel lists it."""
        self.finished = True
        seen = set()
        alternatives = []
        listed = list(completions)
        if not self.lead:  # after a branch's chosen start even "." is worth having
            listed = worth_listing(listed) or listed[:1]
        listed.sort(key=opening_logprob, reverse=True)  # stable: ties keep the engine's order
        for completion in listed:
            text = clean(completion.text)
            if not (self.lead or text) or text in seen:
                continue
            seen.add(text)
            alternatives.append(Candidate(self.lead + text, self.lead_segments + _segments_of(completion, text),
                                          completion.logprob, opening_logprob(completion)))
        if alternatives:
            kept = self._keeping_what_was_shown(alternatives)
            self._alternatives = alternatives
            if kept is not None:
                self._chosen_text = kept

    def _keeping_what_was_shown(self, alternatives: list[Candidate]) -> str | None:
        """The alternative to show now that they are in: the one that goes on with the text shown so far (the
        streamed text, or the one the typist chose by typing), else the one it ends with, so that what was read
        stays where it is; None when none agrees with it (then the likeliest)."""
        shown = self._chosen_text if self._chosen_text is not None else self.lead + self._streamed_text
        if not shown[len(self.lead):]:
            return None
        if any(c.text == shown for c in alternatives):
            return shown
        going_on = next((c for c in alternatives if c.text.startswith(shown)), None)
        if going_on is not None:
            return going_on.text
        # Shown further than any alternative goes (a cut at the end): the longest one it begins with.
        within = [c for c in alternatives if shown.startswith(c.text) and len(c.text) > len(self.lead)]
        return max(within, key=lambda c: len(c.text)).text if within else None

    # --- reading it ------------------------------------------------------------------------------------

    def candidates(self) -> list[Candidate]:
        """Continuations still consistent with what the user typed, best first, each with something left."""
        pool = self._alternatives or self._streaming_candidates()
        return [c for c in pool if c.text.startswith(self.consumed) and len(c.text) > len(self.consumed)]

    def _streaming_candidates(self) -> list[Candidate]:
        text, segments = self._streamed_text, list(self._streamed)
        if self.hold_back is not None and not self.finished:
            shown = self.hold_back(text)
            if shown < len(text):
                text, segments = text[:shown], _cut_segments(segments, shown)
        if not (self.lead or text):
            return []
        return [Candidate(self.lead + text, self.lead_segments + tuple(segments))]

    def chosen_index(self) -> int:
        candidates = self.candidates()
        for index, candidate in enumerate(candidates):
            if candidate.text == self._chosen_text:
                return index
        return 0

    def chosen(self) -> Candidate | None:
        candidates = self.candidates()
        return candidates[self.chosen_index()] if candidates else None

    def visible_text(self) -> str:
        chosen = self.chosen()
        return chosen.text[len(self.consumed):] if chosen else ""

    def visible_segments(self) -> list[GhostSegment]:
        """The chosen candidate's pieces with the consumed prefix cut away."""
        chosen = self.chosen()
        if chosen is None:
            return []
        return remaining_segments(chosen, len(self.consumed))

    # --- changing it -----------------------------------------------------------------------------------

    def matches(self, typed: str) -> bool:
        """True when ``typed`` is the start of what is shown, or of another alternative's rest."""
        return self._taking(typed) is not None

    def consume(self, typed: str) -> bool:
        """The user typed ``typed``; True (and remembered) when it matches the start of the visible text, or of
        another alternative, which then becomes the one shown: typing "the" where the ghost says "then" and an
        alternative says "the door" is choosing that alternative."""
        taking = self._taking(typed)
        if taking is None:
            return False
        self.consumed += typed
        self._chosen_text = taking.text
        return True

    def _taking(self, typed: str) -> Candidate | None:
        if not typed:
            return None
        chosen = self.chosen()
        start = len(self.consumed)
        if chosen is not None and chosen.text[start:].startswith(typed):
            return chosen
        return next((c for c in self.candidates() if c.text[start:].startswith(typed)), None)

    def choose(self, index: int) -> None:
        candidates = self.candidates()
        if candidates:
            self._chosen_text = candidates[index % len(candidates)].text

    def cycle(self, step: int) -> None:
        self.choose(self.chosen_index() + step)


def remaining_segments(candidate: Candidate, skip: int) -> list[GhostSegment]:
    segments = list(candidate.segments)
    if "".join(s.text for s in segments) != candidate.text:
        segments = [GhostSegment(candidate.text, None)]
    result = []
    for segment in segments:
        if skip >= len(segment.text):
            skip -= len(segment.text)
            continue
        result.append(GhostSegment(segment.text[skip:], segment.logprob))
        skip = 0
    return result


def _cut_segments(segments: list[GhostSegment], length: int) -> list[GhostSegment]:
    """The pieces cut so that they join to their first ``length`` characters."""
    kept, position = [], 0
    for segment in segments:
        if position >= length:
            break
        kept.append(GhostSegment(segment.text[: length - position], segment.logprob))
        position += len(kept[-1].text)
    return kept


def _segments_of(completion: Completion, text: str) -> tuple[GhostSegment, ...]:
    texts, logprobs = completion.token_texts, completion.token_logprobs
    if texts and len(texts) == len(logprobs) and "".join(texts) == completion.text:
        pieces = [(clean(t), lp) for t, lp in zip(texts, logprobs)]
        return tuple(GhostSegment(t, lp) for t, lp in pieces if t)
    return (GhostSegment(text, None),)
