"""Where a completion should end under the ``stop`` setting ("word", "sentence", "line").

A rule looks at the whole continuation so far and answers with the length to cut it to, or None to keep going.
Rules never cut a continuation to nothing: a completion is empty only when the model generated nothing.
"""

from __future__ import annotations

import re

# A word: letters/digits/underscore, with inner apostrophes ("don't", "l’eau").
WORD_PATTERN = re.compile(r"\w+(?:['’]\w+)*")
# The rest of the word the user was typing: "wn" after "bro", or "'t" after "don".
_WORD_TAIL = re.compile(r"\w*(?:['’]\w+)*")
APOSTROPHES = "'’"  # inside a word: "don't", "l’eau"
_WORD_CHAR = re.compile(r"\w")
# Sentence end: terminal punctuation, any closing quotes/brackets, then whitespace (which is not kept), so
# "3.14" or "e.g" in the middle of a token run does not end a sentence before the next character is known.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)")
_NON_SPACE = re.compile(r"\S")


def is_word_char(char: str) -> bool:
    """A letter, digit or underscore: what words are made of, for every rule that asks where a word ends."""
    return _WORD_CHAR.match(char) is not None


def ends_inside_word(text: str) -> bool:
    """True when the text before the cursor ends with a word character: the user may still be typing the word."""
    return bool(text) and is_word_char(text[-1])


class StopRule:
    def __init__(self, rule: str | None, prompt_ends_inside_word: bool = False) -> None:
        if rule not in (None, "word", "sentence", "line"):
            raise ValueError(f"stop must be None, 'word', 'sentence' or 'line', not {rule!r}")
        self.rule = rule
        self.prompt_ends_inside_word = prompt_ends_inside_word

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
        """End of the first whole new word, once the character after it shows that the word is over."""
        tail = _WORD_TAIL.match(text) if self.prompt_ends_inside_word else None  # matches "" at least
        end = tail.end() if tail is not None else 0
        if end == 0:  # not finishing the user's word ("wn" after "bro", which is the one word): the next one
            match = WORD_PATTERN.search(text)
            if match is None:
                return None
            end = match.end()
        if end == len(text):
            return None  # the word may go on in the next token
        if text[end] in APOSTROPHES and end + 1 == len(text):
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
