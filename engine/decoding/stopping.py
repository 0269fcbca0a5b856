"""Where a completion should end under the ``stop`` setting ("word", "sentence", "line").

A rule looks at the whole continuation so far and answers with the length to cut it to, or None to keep going.
Rules never cut a continuation to nothing: a completion is empty only when the model generated nothing.
"""

from __future__ import annotations

import re

from engine.decoding.word_units import (
    APOSTROPHES,
    WORD_PATTERN,
    ends_inside_word,
    first_word,
    is_word_char,
    word_tail_end,
)

__all__ = ["APOSTROPHES", "WORD_PATTERN", "StopRule", "ends_inside_word", "is_word_char"]

# Sentence end: terminal punctuation, any closing quotes/brackets, then whitespace (which is not kept), so
# "3.14" or "e.g" in the middle of a token run does not end a sentence before the next character is known.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)")
_NON_SPACE = re.compile(r"\S")


class StopRule:
    def __init__(self, rule: str | None, prompt_ends_inside_word: bool = False, before: str = "") -> None:
        """``before``: the end of the prompt, so the word it ends with is only finished by what goes on with it
        ("ありがと" + "う", not + "東"); without it any word characters do."""
        if rule not in (None, "word", "sentence", "line"):
            raise ValueError(f"stop must be None, 'word', 'sentence' or 'line', not {rule!r}")
        self.rule = rule
        self.prompt_ends_inside_word = prompt_ends_inside_word
        self.before = before[-2:]

    @property
    def active(self) -> bool:
        return self.rule is not None

    def cut(self, text: str) -> int | None:
        """Length of the finished completion if ``text`` already reaches the stop point, else None."""
        if self.rule == "word":
            return self._word_cut(text)
        if self.rule == "sentence":
            match = _SENTENCE_END.search(text)
            return match.end() if match else None
        if self.rule == "line":
            return _line_cut(text)
        return None

    def _word_cut(self, text: str) -> int | None:
        """End of the first whole new word, once the character after it shows that the word is over. A word is
        what ``word_units`` says: in Chinese one character, in Japanese a kanji or a run of kana."""
        end = word_tail_end(self.before, text) if self.prompt_ends_inside_word else 0
        if end == 0:  # not finishing the user's word ("wn" after "bro", which is the one word): the next one
            span = first_word(text)
            if span is None:
                return None
            end = span[1]
        if end == len(text) and ends_inside_word(text):
            return None  # the word may go on in the next token
        if end + 1 == len(text) and text[end] in APOSTROPHES:
            return None  # "don" + "'" may still become "don't"
        return end


def _line_cut(text: str) -> int | None:
    """Before the first newline that follows something visible (leading blank lines belong to the completion)."""
    visible = _NON_SPACE.search(text)
    if visible is None:
        return None
    newline = text.find("\n", visible.start())
    if newline < 0:
        return None
    if newline > visible.start() + 1 and text[newline - 1] == "\r":
        newline -= 1
    return newline
