"""Cutting a suggestion where it starts to loop: "been been", "to be to be", "and then, and there", "the first
time of the first day".

The no-repeat n-gram ban and DRY work on tokens and leave short loops through (a 2-token repeat is allowed, a comma
breaks a DRY sequence). This rule reads the words of the continuation itself and ends it before the repeat, so what
is shown reads as one thought. It is on whenever the repetition guards are (``blocks_repetition``).
"""

from __future__ import annotations

import re

from engine.decoding.settings import DecodingSettings
from engine.decoding.word_units import ends_inside_word, first_word, has_spaceless_script, word_spans

LONGEST_LOOP = 3  # English words in a back-to-back repeat ("and then and then")
# Words that start a new clause again and again when a small model loops ("and then, and there was"). Not "to" or
# "as": "to go to", "as soon as" are ordinary English.
_RESTARTERS = frozenset({"and", "but", "or", "the"})
# Pairs made only of these are too common to count as a loop when they come back ("of the ... of the").
_FUNCTION_WORDS = frozenset({
    "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as", "is",
    "was", "it", "he", "she", "they", "i", "you", "we", "that", "this", "his", "her", "their", "be", "had", "has",
})
_TRAILING = re.compile(r"(?:[\s,;:—–\-，、；：]|\b(?:" + "|".join(sorted(_FUNCTION_WORDS)) + r")\b)+$", re.IGNORECASE)


def loop_start(text: str) -> int | None:
    """Where in ``text`` the first loop begins (the start of the repeated words), or None. Only finished words
    count: the last one may still grow ("the first" + "ly").

    Words are ``word_units``' words, so a Chinese or Japanese phrase is several short ones ("明", "天"): each
    counts as half an English word, so a back-to-back repeat takes two of them ("谢谢" is not a loop, "我们我们" is)
    and a pair that comes back takes four ("明天见面 ... 明天见面")."""
    spans = list(word_spans(text))
    if spans and spans[-1][1] == len(text) and ends_inside_word(text):
        spans.pop()
    words = [text[start:end].lower() for start, end in spans]
    weights = [1 if has_spaceless_script(word) else 2 for word in words]
    ngrams: dict[tuple[str, ...], int] = {}
    for j, word in enumerate(words):
        for length in range(1, 2 * LONGEST_LOOP + 1):
            if j + 1 < 2 * length:
                break
            weight = sum(weights[j + 1 - length : j + 1])
            if 2 <= weight <= 2 * LONGEST_LOOP and \
                    words[j + 1 - length : j + 1] == words[j + 1 - 2 * length : j + 1 - length]:
                return spans[j + 1 - length][0]
        if word in _RESTARTERS and word in words[max(0, j - 2) : j]:
            return spans[j][0]
        # The shortest run of words ending here that weighs as much as a pair of English words.
        start, weight = j, weights[j]
        while weight < 4 and start > 0:
            start -= 1
            weight += weights[start]
        if weight >= 4:
            ngram = tuple(words[start : j + 1])
            earlier = ngrams.get(ngram)
            if earlier is not None and earlier + len(ngram) <= start and not set(ngram) <= _FUNCTION_WORDS:
                return spans[start][0]
            ngrams.setdefault(ngram, start)
    return None


def loop_cut(text: str) -> int | None:
    """The length to cut ``text`` to so it ends before its first loop, without a dangling comma or "of the";
    None when it does not loop, or when the cut would leave nothing."""
    start = loop_start(text)
    if start is None:
        return None
    kept = text[:start]
    trimmed = _TRAILING.sub("", kept)
    if first_word(trimmed) is not None:
        return len(trimmed)
    return len(kept.rstrip()) if first_word(kept) is not None else None


class LoopCut:
    """A stop rule and the loop cut as one rule: the earlier cut wins."""

    def __init__(self, rule) -> None:
        self.rule = rule

    @property
    def active(self) -> bool:
        return True

    def cut(self, text: str) -> int | None:
        cuts = [c for c in (self.rule.cut(text) if self.rule.active else None, loop_cut(text)) if c is not None]
        return min(cuts) if cuts else None


def with_loop_cut(rule, settings: DecodingSettings):
    """``rule`` with the loop cut added when the settings block repetition; ``rule`` itself otherwise."""
    blocks = settings.no_repeat_ngram_size > 0 or settings.dry_multiplier > 0
    return LoopCut(rule) if blocks else rule
