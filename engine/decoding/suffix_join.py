"""Suggesting in the middle of a document: stop where the continuation runs into the text after the cursor.

A model that only reads the text before the cursor often goes on to write what already follows it ("The quick
brown | jumps over" -> "fox jumps over"). ``SuffixJoin`` watches the continuation and, as soon as its tail
repeats the start of the following text by at least one whole word, answers with the length to cut it to, so
the suggestion joins the following text instead of duplicating it ("fox").

It has the interface of ``stopping.StopRule`` (``active``, ``cut``), and ``joined_stop`` combines the two, so
greedy, sampling and beam search all stop the same way.
"""

from __future__ import annotations

import re

from engine.decoding.stopping import is_word_char

# Only the start of the following text can be duplicated by a suggestion of ordinary length.
JOIN_CHARS = 200
# A complete word inside the matched part: a word character followed by something that ends the word.
_COMPLETE_WORD = re.compile(r"\w\W")


class SuffixJoin:
    def __init__(self, suffix: str, max_chars: int = JOIN_CHARS) -> None:
        if not isinstance(suffix, str):
            raise TypeError(f"suffix must be a str, not {type(suffix).__name__}")
        head = suffix[:max_chars]
        self.following = head.lstrip()  # the visible start of the following text
        self.starts_with_space = head[:1].isspace()
        # A match covering all of a short following text confirms it even without a word end after it.
        self.whole = len(suffix) <= max_chars

    @property
    def active(self) -> bool:
        return bool(self.following)

    def cut(self, text: str) -> int | None:
        """Length to cut ``text`` to when its tail repeats the start of the following text, else None."""
        start = self.overlap_start(text)
        if start is None:
            return None
        kept = text[:start]
        # The following text brings its own leading whitespace; without any it needs the continuation's.
        return len(kept.rstrip()) if self.starts_with_space else start

    def safe_length(self, text: str) -> int:
        """How much of a continuation still being generated can be shown: all of it, unless its tail may be the
        start of a repetition (not confirmed yet); then only what comes before that tail."""
        start = self.overlap_start(text, confirmed=False)
        if start is None:
            return len(text)
        return len(text[:start].rstrip()) if self.starts_with_space else start

    def overlap_start(self, text: str, confirmed: bool = True) -> int | None:
        """Where, in ``text``, the earliest repetition of the following text begins (None: none); with
        ``confirmed`` only one that holds a whole word (or all of a short following text)."""
        following = self.following
        if not following:
            return None
        first = max(0, len(text) - len(following))
        for start in range(first, len(text)):
            tail = text[start:]
            if tail[0].isspace() or not following.startswith(tail):
                continue
            if start > 0 and is_word_char(text[start - 1]) and is_word_char(tail[0]):
                continue  # "jumps" inside "outjumps" is not the word "jumps"
            if not confirmed or _COMPLETE_WORD.search(tail) or (self.whole and len(tail) == len(following)):
                return start
        return None


class JoinedStop:
    """A ``StopRule`` and a ``SuffixJoin`` as one rule: the earlier cut wins."""

    def __init__(self, rule, join: SuffixJoin) -> None:
        self.rule = rule
        self.join = join

    @property
    def active(self) -> bool:
        return self.rule.active or self.join.active

    def cut(self, text: str) -> int | None:
        cuts = [c for c in (self.rule.cut(text) if self.rule.active else None, self.join.cut(text)) if c is not None]
        return min(cuts) if cuts else None


def joined_stop(rule, suffix: str):
    """``rule`` itself when there is no following text, else the rule joined with a ``SuffixJoin``."""
    join = SuffixJoin(suffix)
    return JoinedStop(rule, join) if join.active else rule
